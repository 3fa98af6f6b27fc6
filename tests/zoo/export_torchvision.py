#!/usr/bin/env python3
"""Exports a torchvision model with PyTorch's own ONNX exporter, for the statistics tests.

Writes MODEL.onnx and MODEL.json (the facts PyTorch knows: parameter count, BatchNorm
channels that the exporter folds into convolutions). BatchNorm statistics and biases are
randomized first, as training leaves them: with their initial values many tensors are
equal and the exporter merges them into one initializer read through Identity nodes.
--initial-values keeps them, to get such a file on purpose.
"""
import argparse
import json

import torch
import torchvision


def randomize(model) -> None:
    """Biases and BatchNorm statistics as training leaves them (else many tensors are equal)."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
            with torch.no_grad():
                m.bias.uniform_(-0.1, 0.1)
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", help="torchvision model name, e.g. resnet50")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--out", required=True, help="output prefix (writes .onnx and .json)")
    parser.add_argument("--opset", type=int, default=13)
    parser.add_argument("--initial-values", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(weights=None).eval()
    bn_channels = sum(m.num_features for m in model.modules()
                      if isinstance(m, torch.nn.BatchNorm2d))
    if not args.initial_values:
        randomize(model)
    x = torch.randn(1, 3, args.input_size, args.input_size)
    torch.onnx.export(model, x, args.out + ".onnx", input_names=["input"],
                      output_names=["logits"], opset_version=args.opset,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    facts = {
        "model": args.model,
        "input_size": args.input_size,
        "torch_parameters": sum(p.numel() for p in model.parameters()),
        "batchnorm_channels": bn_channels,
        "torch_version": torch.__version__,
    }
    with open(args.out + ".json", "w") as f:
        json.dump(facts, f)


if __name__ == "__main__":
    main()
