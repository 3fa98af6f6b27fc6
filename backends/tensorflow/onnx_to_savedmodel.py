"""Converts an ONNX model into a TensorFlow SavedModel for infermark's tensorflow backend.

Run by the plugin (backends/tensorflow/tensorflow_backend.cc) with .venv-tensorflow's Python
at load, on a cache miss:

    python onnx_to_savedmodel.py --onnx MODEL.onnx --out DIR

The graph is translated by onnx2tf into TensorFlow operators with the same weights. onnx2tf
works in NHWC and transposes at the edges; the input named in keep_shape_absolutely_input_names
keeps the model's NCHW shape, so the harness's NCHW buffer is fed as is and the one transpose
is inside the graph.

DIR gets a SavedModel with two signatures over the same function and variables:
  serving_default  the graph as is: TensorFlow's executor runs it op by op
  serving_xla      the same function with jit_compile=True: XLA compiles the whole graph at
                   the first run of each input shape
and infermark.json: the signatures' feed/fetch tensor names and the model's input and output.

Exit status 0: converted. 3: the model uses what onnx2tf cannot convert. Anything else: an
error. On failure the last line of stderr starting with "infermark: " is the one-line reason.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from onnx_shapes import declared_shape  # noqa: E402  (backends/onnx_shapes.py)

EXIT_UNSUPPORTED = 3


def fail(message, status=1):
    print(f"infermark: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def unconvertible_nodes(graph):
    """Nodes whose operator onnx2tf has no translation for (it has one module per operator)."""
    bad = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            bad.append(node)
        elif importlib.util.find_spec(f"onnx2tf.ops.{node.op_type}") is None:
            bad.append(node)
    return bad


def signature_tensors(saved_model_dir):
    """{signature: {"input": feed tensor name, "output": fetch tensor name}} from the
    SavedModel's MetaGraphDef, as TF_LoadSessionFromSavedModel's graph names them."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    meta = next(m for m in sm.meta_graphs if "serve" in m.meta_info_def.tags)
    out = {}
    for key in ("serving_default", "serving_xla"):
        sig = meta.signature_def[key]
        out[key] = {
            "input": next(iter(sig.inputs.values())).name,
            "output": next(iter(sig.outputs.values())).name,
        }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onnx", required=True, help="the ONNX model")
    parser.add_argument("--out", required=True, help="folder for the SavedModel (created)")
    args = parser.parse_args()
    t0 = time.monotonic()

    import onnx

    try:
        model = onnx.load(args.onnx)
    except Exception as e:  # onnx raises DecodeError, OSError, ...
        fail(f"cannot read '{args.onnx}' as an ONNX model: {str(e).splitlines()[0]}")
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        fail(f"expected one input and one output, the model has {len(inputs)} and "
             f"{len(graph.output)}", EXIT_UNSUPPORTED)
    in_dims, in_symbols = declared_shape(inputs[0])
    out_dims, out_symbols = declared_shape(graph.output[0])
    if len(in_dims) != 4 or inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        fail(f"input '{inputs[0].name}' must be a float32 tensor of rank 4 (NCHW)",
             EXIT_UNSUPPORTED)

    import onnx2tf

    bad = unconvertible_nodes(graph)
    if bad:
        kinds = sorted({(n.domain + "." if n.domain else "") + n.op_type for n in bad})
        first = bad[0]
        fail(f"operator {(first.domain + '.' if first.domain else '') + first.op_type} "
             f"(node {first.name or '?'}) is not supported by onnx2tf {onnx2tf.__version__}"
             + (f" (unsupported: {', '.join(kinds)})" if len(kinds) > 1 else ""),
             EXIT_UNSUPPORTED)

    import tensorflow as tf

    try:
        keras_model = onnx2tf.convert(
            # The graph, not the path: given a path, onnx2tf writes its shape-inferred graph
            # back into the file, which would change the harness's model under every framework.
            onnx_graph=model,
            keep_shape_absolutely_input_names=[inputs[0].name],
            not_use_onnxsim=True,  # the zoo's graphs are already simple; no onnxsim in the venv
            # Strict mode runs the partly built model after each BatchNormalization and Concat
            # to check its layout guesses: quadratic in depth (DenseNet-201 at 64 px: minutes).
            # The zoo's graphs have no ambiguous layouts; the parity tests check the result.
            disable_strict_mode=True,
            disable_model_save=True,  # we save our own SavedModel below
            non_verbose=True,
        )
    except BaseException as e:  # onnx2tf ends some failures with sys.exit
        fail(f"onnx2tf {onnx2tf.__version__} failed: {type(e).__name__}: "
             f"{(str(e).splitlines() or [''])[0]}")

    # A free batch dimension stays free: one SavedModel serves every batch (XLA compiles one
    # executable per input shape at run time anyway).
    spec = tf.TensorSpec([d if d > 0 else None for d in in_dims], tf.float32,
                         name=inputs[0].name)
    output_name = graph.output[0].name

    def forward(x):
        y = keras_model(x, training=False)
        return {output_name: y[0] if isinstance(y, (list, tuple)) else y}

    module = tf.Module()
    # Both signatures call the one function of the Keras model, so its weights (constants in
    # the graph, as onnx2tf builds them) are stored once.
    module.model = keras_model
    module.plain = tf.function(forward, input_signature=[spec])
    module.xla = tf.function(forward, input_signature=[spec], jit_compile=True)
    tf.saved_model.save(module, args.out, signatures={
        "serving_default": module.plain.get_concrete_function(),
        "serving_xla": module.xla.get_concrete_function(),
    })

    info = {
        "tensorflow": tf.__version__,
        "onnx2tf": onnx2tf.__version__,
        "input": {"name": inputs[0].name, "dims": in_dims, "symbols": in_symbols},
        "output": {"name": output_name, "dims": out_dims, "symbols": out_symbols},
        "signatures": signature_tensors(args.out),
        "convert_s": round(time.monotonic() - t0, 3),
    }
    with open(os.path.join(args.out, "infermark.json"), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
