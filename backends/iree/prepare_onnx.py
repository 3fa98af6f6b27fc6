"""First step of the IREE backend's compile route, run by the plugin with .venv-iree's Python.

    python prepare_onnx.py MODEL.onnx OUT.onnx BATCH META.json

Checks that the model has the interface infermark runs (one float32 NCHW input, one float32
output), fixes the input's batch dimension to BATCH (0 keeps it as the model declares it) so
that IREE compiles static shapes, upgrades an opset older than 17 (the torch-mlir patterns
that lower IREE's ONNX import start at newer opsets for some operators, BatchNormalization at
15: an opset-13 ResNet fails to legalize; IREE's ONNX guide imports with --opset-version 17),
names the graph "main" (iree-import-onnx names the entry function after the graph), and
writes the interface to META.json for the plugin, which keeps it next to the compiled module.

Exit status: 0 done; 2 a valid model outside what infermark's IREE route runs; 1 any other
failure. The reason is one line on stderr.
"""

import json
import os
import sys

import onnx
import onnx.version_converter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from onnx_shapes import declared_shape  # noqa: E402  (backends/onnx_shapes.py)

UNSUPPORTED = 2
MIN_OPSET = 17


class Refused(Exception):
    pass


def fix_batch(value_info, batch):
    first = value_info.type.tensor_type.shape.dim[0]
    if first.HasField("dim_value") and first.dim_value != batch:
        raise Refused(
            f"batch {batch} requested, the model's {value_info.name!r} is fixed to "
            f"{first.dim_value}"
        )
    first.Clear()
    first.dim_value = batch


def prepare(model_in, model_out, batch):
    model = onnx.load(model_in)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise Refused(
            f"expected one input and one output, the model has {len(inputs)} and "
            f"{len(graph.output)}"
        )
    x, y = inputs[0], graph.output[0]
    float32 = onnx.TensorProto.FLOAT
    x_dims, _ = declared_shape(x)
    if x.type.tensor_type.elem_type != float32 or len(x_dims) != 4:
        raise Refused(f"input {x.name!r} must be a float32 tensor of rank 4 (NCHW)")
    if y.type.tensor_type.elem_type != float32:
        raise Refused(f"output {y.name!r} must be a float32 tensor")

    # An operator without a schema stops the opset upgrade with an unreadable assertion and
    # the importer with onnx's checker; name it here instead.
    for node in graph.node:
        if not onnx.defs.has(node.op_type, node.domain):
            domain = f" of domain {node.domain!r}" if node.domain else ""
            where = f" (node {node.name!r})" if node.name else ""
            raise Refused(
                f"operator {node.op_type}{domain}{where} is not an ONNX operator "
                f"that IREE's importer knows (onnx {onnx.__version__})"
            )

    if batch > 0:
        fix_batch(x, batch)
        if len(y.type.tensor_type.shape.dim) > 0:
            fix_batch(y, batch)
        # Intermediate shapes recorded with a free batch would contradict the fixed one;
        # the importer infers them again.
        del graph.value_info[:]
    graph.name = "main"
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        model = onnx.version_converter.convert_version(model, MIN_OPSET)
    onnx.save(model, model_out)

    in_dims, in_names = declared_shape(x)
    out_dims, out_names = declared_shape(y)
    return {
        "function": "main",
        "opset": opset,
        "opset_imported": max(opset, MIN_OPSET),
        "input": {"name": x.name, "dims": in_dims, "symbols": in_names},
        "output": {"name": y.name, "dims": out_dims, "symbols": out_names},
    }


def main():
    if len(sys.argv) != 5:
        print("usage: prepare_onnx.py MODEL.onnx OUT.onnx BATCH META.json", file=sys.stderr)
        return 1
    model_in, model_out, batch, meta_out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    try:
        meta = prepare(model_in, model_out, batch)
    except Refused as e:
        print(e, file=sys.stderr)
        return UNSUPPORTED
    except Exception as e:  # onnx's parse and I/O errors: one line, no traceback
        print(f"{type(e).__name__}: {e}".replace("\n", " "), file=sys.stderr)
        return 1
    with open(meta_out, "w") as f:
        json.dump(meta, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
