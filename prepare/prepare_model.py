"""infermark's model preparation, run with .venv-prepare's Python before any framework sees
a model (prepare/prepare.cc calls it on a cache miss):

    python prepare_model.py IN.onnx OUT.onnx META.json [--simplify] [--height H --width W]
                            [--batch N] [--opset-at-least K]
                            [--quantize int8 --calibration-images N --calibration-seed S
                             [--reduce-range]]

What it does, in this order, each step recorded in META.json only when it changed the file:
  image size   the input's spatial dimensions fixed to H x W where the file leaves them free
               (the batch stays symbolic unless --batch N > 0 fixes it);
  opset        the default domain's opset raised to K where a framework needs it (onnx's
               version converter);
  simplify     onnxsim: shape inference and folding of what is constant once the input's
               shape is known (shape arithmetic, Identity of initializers, run-time pads),
               then dead nodes, identities and unused initializers removed. Every fusion pass
               of onnxsim's optimizer is skipped: fusing is the frameworks' job, and what we
               measure.
  quantize     post-training static quantization to int8 with ONNX Runtime's quantization
               tooling, as its guide asks: quant_pre_process (shape inference and ORT's basic
               optimizations, which fold batch norms into convolutions), then
               onnxruntime.quantization.quantize_static: a QDQ model, int8 weights
               per output channel, uint8 activations, ranges from MinMax calibration on N
               images of N(0, 1) values (numpy's default_rng(S)), 7-bit weights with
               --reduce-range. Random calibration images make a model for speed; a real
               image set is for accuracy.
META.json also gives the interface read from the file: input name, dims (-1 where free),
element type, layout (NCHW or NHWC, from where the channels are), output name and dims.

Exit status: 0 done; 2 a model outside what infermark runs (the reason says what); 1 any
other failure. The reason is one line on stderr.
"""

import argparse
import hashlib
import importlib.metadata
import json
import sys

import onnx
import onnx.version_converter

REFUSED = 2


class Refused(Exception):
    pass


def dims_of(value_info):
    return [d.dim_value if d.HasField("dim_value") else -1
            for d in value_info.type.tensor_type.shape.dim]


def graph_inputs(graph):
    initializers = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in initializers]


def layout_of(dims):
    """NCHW or NHWC from where a dimension of 1 or 3 channels sits; NCHW when both could be."""
    if len(dims) != 4:
        raise Refused(f"the input has rank {len(dims)}, an image batch has rank 4")
    if dims[1] in (1, 3):
        return "NCHW"
    if dims[3] in (1, 3):
        return "NHWC"
    raise Refused(f"the input {dims} has no channel dimension of 1 or 3 (NCHW or NHWC)")


def set_dim(value_info, index, value):
    d = value_info.type.tensor_type.shape.dim[index]
    d.Clear()
    d.dim_value = value


def default_opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 0


def interface(model):
    graph = model.graph
    x, y = graph_inputs(graph)[0], graph.output[0]
    dims = dims_of(x)
    return {
        "input": x.name,
        "input_dims": dims,
        "input_type": onnx.TensorProto.DataType.Name(x.type.tensor_type.elem_type).lower(),
        "layout": layout_of(dims),
        "output": y.name,
        "output_dims": dims_of(y),
        "opset": default_opset(model),
        "nodes": len(graph.node),
    }


def fix_input(model, height, width, batch):
    """The input's free spatial dims set to height x width, the batch to `batch` when > 0."""
    x = graph_inputs(model.graph)[0]
    dims = dims_of(x)
    layout = layout_of(dims)
    h, w = (2, 3) if layout == "NCHW" else (1, 2)
    changed = []
    for index, want, what in ((h, height, "height"), (w, width, "width")):
        if want <= 0:
            continue
        if dims[index] < 0:
            set_dim(x, index, want)
            changed.append(f"{what} {want}")
        elif dims[index] != want:
            raise Refused(f"input {x.name!r} has {what} {dims[index]}, {want} was asked")
    if batch > 0:
        if dims[0] < 0:
            set_dim(x, 0, batch)
            changed.append(f"batch {batch}")
        elif dims[0] != batch:
            raise Refused(f"input {x.name!r} has a fixed batch of {dims[0]}, {batch} was asked")
    return changed


def simplify(model):
    import onnxsim
    fusions = [p for p in default_passes() if p.startswith("fuse_") or p == "rewrite_where"]
    simplified, ok = onnxsim.simplify(model, perform_optimization=True, skip_fuse_bn=True,
                                      skipped_optimizers=fusions, check_n=0)
    if not ok:
        raise RuntimeError("onnxsim could not simplify the model")
    return simplified


def default_passes():
    import subprocess
    out = subprocess.run([sys.executable, "-m", "onnxsim", "--list-default-optimizers"],
                         check=True, capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def quantize_int8(model, images, seed, reduce_range, out_path, calibration_npy=None):
    """The model quantized by ORT's quantize_static into out_path (QDQ, per-channel int8
    weights, uint8 activations, MinMax ranges over `images` seeded N(0, 1) images)."""
    import os
    import tempfile

    import numpy as np
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    x = graph_inputs(model.graph)[0]
    dims = dims_of(x)
    if any(d < 0 for d in dims[1:]):
        raise Refused(f"quantization needs the input's image size fixed, {x.name!r} has {dims}")
    batch = dims[0] if dims[0] > 0 else 1

    class Images(CalibrationDataReader):
        def __init__(self):
            if calibration_npy:
                real = np.load(calibration_npy).astype(np.float32)
                if list(real.shape[1:]) != dims[1:]:
                    raise Refused(f"calibration images {list(real.shape)} do not fit the input "
                                  f"{dims}")
                # Whole batches of the model's batch size (the last ones repeat the first).
                count = -(-len(real) // batch) * batch
                real = np.concatenate([real, real[:count - len(real)]]) if count > len(real) else real
                self.left = [real[i:i + batch] for i in range(0, count, batch)]
                return
            rng = np.random.default_rng(seed)
            shape = [batch] + dims[1:]
            self.left = [rng.standard_normal(shape, dtype=np.float32)
                         for _ in range(max(1, images // batch))]

        def get_next(self):
            return {x.name: self.left.pop(0)} if self.left else None

    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "fp32.onnx")
        onnx.save(model, source)
        # ONNX Runtime's quantization guide: pre-process first (ONNX's shape inference, then
        # ORT's basic graph optimizations, which fold each BatchNormalization into the
        # convolution before it; the symbolic shape inference is skipped: the image's size is
        # fixed here, and it would need sympy), so that the quantized graph has no float normalisation
        # between a DequantizeLinear and a QuantizeLinear for kernels to run in float.
        from onnxruntime.quantization.shape_inference import quant_pre_process
        ready = os.path.join(work, "preprocessed.onnx")
        quant_pre_process(source, ready, skip_symbolic_shape=True)
        folded = sum(n.op_type == "BatchNormalization" for n in model.graph.node) - sum(
            n.op_type == "BatchNormalization" for n in onnx.load(ready).graph.node)
        quantize_static(ready, out_path, Images(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, reduce_range=reduce_range,
                        calibrate_method=CalibrationMethod.MinMax)
    return onnx.load(out_path), folded


def tools():
    return {name: importlib.metadata.version(name) for name in ("onnxsim", "onnx", "onnxruntime")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_in")
    p.add_argument("model_out")
    p.add_argument("meta")
    p.add_argument("--simplify", action="store_true")
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--opset-at-least", type=int, default=0)
    p.add_argument("--quantize", choices=["int8"])
    p.add_argument("--calibration-images", type=int, default=16)
    p.add_argument("--calibration-seed", type=int, default=1)
    p.add_argument("--reduce-range", action="store_true")
    p.add_argument("--calibration-npy")
    a = p.parse_args()
    try:
        model = onnx.load(a.model_in)
        graph = model.graph
        if len(graph_inputs(graph)) != 1 or len(graph.output) != 1:
            raise Refused(f"expected one input and one output, the model has "
                          f"{len(graph_inputs(graph))} and {len(graph.output)}")
        before = interface(model)
        steps = [f"input {s}" for s in fix_input(model, a.height, a.width, a.batch)]
        opset = before["opset"]
        if a.opset_at_least > opset:
            model = onnx.version_converter.convert_version(model, a.opset_at_least)
            steps.append(f"opset {opset} to {a.opset_at_least}")
        if a.simplify:
            nodes = len(model.graph.node)
            model = simplify(model)
            steps.append(f"simplify: {nodes} nodes to {len(model.graph.node)} (shape inference, "
                         "constant folding, dead nodes; no fusion)")
        if a.quantize == "int8":
            opset = default_opset(model)
            if opset < 13:  # per-channel QuantizeLinear/DequantizeLinear (their axis) need 13
                model = onnx.version_converter.convert_version(model, 13)
                steps.append(f"opset {opset} to 13 (per-channel quantization)")
            model, folded = quantize_int8(model, a.calibration_images, a.calibration_seed,
                                          a.reduce_range, a.model_out, a.calibration_npy)
            q = sum(n.op_type == "QuantizeLinear" for n in model.graph.node)
            calibration = (f"{a.calibration_images} images of {a.calibration_npy}"
                           if a.calibration_npy else
                           f"{a.calibration_images} random N(0,1) images (seed {a.calibration_seed})")
            steps.append("quantize int8: pre-processed by onnxruntime.quantization.shape_inference"
                         f".quant_pre_process ({folded} BatchNormalization folded into "
                         "convolutions), then QDQ by onnxruntime.quantization.quantize_static, "
                         f"per-channel int8 weights{' (7-bit, reduce_range)' if a.reduce_range else ''}"
                         f", uint8 activations, MinMax on {calibration}; {q} QuantizeLinear nodes")
        onnx.save(model, a.model_out)
        with open(a.model_out, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        meta = {"steps": steps, "tools": tools(), "before": before, "after": interface(model),
                "sha256": digest}
        with open(a.meta, "w") as f:
            json.dump(meta, f, indent=1)
    except Refused as e:
        print(f"{a.model_in}: {e}", file=sys.stderr)
        return REFUSED
    except Exception as e:  # noqa: BLE001  one line for the harness, whatever onnx raised
        print(f"{a.model_in}: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
