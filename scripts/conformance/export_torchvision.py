#!/usr/bin/python3
"""Exports torchvision's classification architectures as users do, for `infermark conformance`.

For each architecture: random weights (seeded; no download), eval mode, PyTorch's own ONNX
exporter with a dynamic batch at the opset asked (default: the exporter's own, 14 for PyTorch
1.13), then beside OUT/NAME.onnx the input it was checked on (NAME.input.npy: a batch of seeded
N(0, 1) images) and PyTorch's outputs for it (NAME.expected.npy). An architecture that PyTorch
cannot export at that opset is listed in OUT/unexportable.txt with the exporter's reason, and
not counted. Runs with Debian's python3-torch and python3-torchvision (1.13 and 0.14).

  export_torchvision.py --out DIR [--opset N] [--set public|test] [NAME ...]

--set public (default): the smallest member of every family torchvision 0.14 offers.
--set test: three small members for the test suite (a mobile net with hard-swish and
squeeze-excitation, a channel-shuffle net, and a vision transformer of two layers built from
torchvision's own VisionTransformer), at small input sizes.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torchvision

# name -> (constructor, input size). The smallest member of each family.
PUBLIC = {
    "alexnet": (lambda: torchvision.models.alexnet(), 224),
    "vgg11_bn": (lambda: torchvision.models.vgg11_bn(), 224),
    "resnet18": (lambda: torchvision.models.resnet18(), 224),
    "resnext50_32x4d": (lambda: torchvision.models.resnext50_32x4d(), 224),
    "wide_resnet50_2": (lambda: torchvision.models.wide_resnet50_2(), 224),
    "densenet121": (lambda: torchvision.models.densenet121(), 224),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(), 224),
    "googlenet": (lambda: torchvision.models.googlenet(init_weights=True), 224),
    "inception_v3": (lambda: torchvision.models.inception_v3(init_weights=True), 299),
    "shufflenet_v2_x0_5": (lambda: torchvision.models.shufflenet_v2_x0_5(), 224),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), 224),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(), 224),
    "mnasnet0_5": (lambda: torchvision.models.mnasnet0_5(), 224),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), 224),
    "efficientnet_v2_s": (lambda: torchvision.models.efficientnet_v2_s(), 384),
    "regnet_x_400mf": (lambda: torchvision.models.regnet_x_400mf(), 224),
    "regnet_y_400mf": (lambda: torchvision.models.regnet_y_400mf(), 224),
    "convnext_tiny": (lambda: torchvision.models.convnext_tiny(), 224),
    "vit_b_32": (lambda: torchvision.models.vit_b_32(), 224),
    "swin_t": (lambda: torchvision.models.swin_t(), 224),
    "swin_v2_t": (lambda: torchvision.models.swin_v2_t(), 256),
    "maxvit_t": (lambda: torchvision.models.maxvit_t(), 224),
}


def tiny_vit():
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                             hidden_dim=32, mlp_dim=64, num_classes=10)


TEST = {
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(), 64),
    "shufflenet_v2_x0_5": (lambda: torchvision.models.shufflenet_v2_x0_5(), 64),
    "vit_tiny": (tiny_vit, 32),
}


def randomize(model):
    """BatchNorm statistics and biases as training leaves them, not their initial values."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        # torchvision starts some classifier heads at zero (the vision transformers'): outputs
        # all zero would agree with anything.
        if isinstance(m, torch.nn.Linear) and not m.weight.any():
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.2 - 0.1)
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def export(name, make, size, out, opset, batch):
    torch.manual_seed(0)
    model = make().eval()
    randomize(model)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((batch, 3, size, size),
                                                                   dtype=np.float32))
    onnx_file = os.path.join(out, name + ".onnx")
    with torch.no_grad():
        expected = model(x)
    # Exported with gradients on, as a training script does: under no_grad PyTorch 1.13's
    # attention takes its fused fast path (aten::_native_multi_head_attention), which its own
    # exporter cannot write.
    kwargs = {} if opset is None else {"opset_version": opset}
    torch.onnx.export(model, x, onnx_file, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True, **kwargs)
    np.save(os.path.join(out, name + ".input.npy"), x.numpy())
    np.save(os.path.join(out, name + ".expected.npy"), expected.numpy().astype(np.float32))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--opset", type=int, default=None,
                        help="ONNX opset (default: the exporter's own)")
    parser.add_argument("--set", choices=["public", "test"], default="public")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("names", nargs="*", help="only these architectures of the set")
    args = parser.parse_args()
    table = PUBLIC if args.set == "public" else TEST
    names = args.names or list(table)
    for n in names:
        if n not in table:
            sys.exit(f"export_torchvision.py: unknown architecture '{n}' (known: {', '.join(table)})")
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    refused = []
    for n in names:
        if all(os.path.exists(os.path.join(args.out, n + s))
               for s in (".onnx", ".input.npy", ".expected.npy")):
            print(f"{n}: already exported", flush=True)
            continue
        make, size = table[n]
        try:
            export(n, make, size, args.out, args.opset, args.batch)
            print(f"{n}: exported at {size} px", flush=True)
        except Exception as e:  # the exporter's refusal is a result: listed, not counted
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            refused.append(f"{n}\t{reason}")
            print(f"{n}: PyTorch cannot export it: {reason}", flush=True)
            for s in (".onnx", ".input.npy", ".expected.npy"):
                if os.path.exists(os.path.join(args.out, n + s)):
                    os.remove(os.path.join(args.out, n + s))
    with open(os.path.join(args.out, "unexportable.txt"), "w") as f:
        f.write("".join(r + "\n" for r in refused))


if __name__ == "__main__":
    main()
