"""Converts an ONNX model into a TensorFlow SavedModel for infermark's tensorflow backend.

Run by the plugin (backends/tensorflow/tensorflow_backend.cc) with .venv-tensorflow's Python
at load, on a cache miss:

    python onnx_to_savedmodel.py --onnx MODEL.onnx --out DIR

The graph is translated by onnx2tf into TensorFlow operators with the same weights. onnx2tf
works in NHWC and transposes at the edges; the input named in keep_shape_absolutely_input_names
keeps the model's NCHW shape, so the harness's NCHW buffer is fed as is and the one transpose
is inside the graph.

DIR gets a SavedModel with two signatures over the same graph and one copy of the weights:
constants of the SavedModel, and beyond 128 MiB of those the largest weights as variables in
DIR/variables/ (see traced_with_large_weights_as_variables); no Keras object is saved.
  serving_default  the graph as is: TensorFlow's executor runs it op by op
  serving_xla      the same graph with jit_compile=True: XLA compiles the whole graph at
                   the first run of each input shape
and infermark.json: the signatures' feed/fetch tensor names and the model's input and output.

Exit status 0: converted. 3: the model uses what onnx2tf cannot convert. Anything else: an
error. On failure the last line of stderr starting with "infermark: " is the one-line reason.
"""

import argparse
import gc
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


# Weights kept as constants of the graph, at most (the largest weights beyond it are variables).
# INFERMARK_TF_CONSTANT_BUDGET (bytes) replaces it: the tests set 0 to have the small models'
# weights restored from variables/ through the C API too (the plugin keys its cache with it).
CONSTANT_BUDGET_BYTES = int(os.environ.get("INFERMARK_TF_CONSTANT_BUDGET", 128 << 20))


def traced_with_large_weights_as_variables(tf, keras_model, spec):
    """(tf.Module holding the model's largest weights as tf.Variables, forward(x) -> output).

    onnx2tf's Keras model holds every weight as an eager tensor inside its layers' call
    arguments; traced, the model is a graph in which each weight is a captured input (a
    placeholder fed by the eager tensor). A tf.function that captures an eager tensor is saved
    with it as a constant of the SavedModel, and once loaded the weight is a constant of the
    session's graph. Constants are what TensorFlow's graph optimizer (Grappler) folds and fuses:
    batch normalizations into the convolutions' filters, additions into BiasAdd and then into
    oneDNN's fused convolutions. As variables, none of that happens (ResNet-50 ran about 30%
    slower). But Grappler also copies the graph's constants in several of its passes at load:
    with its 548 MiB of weights as constants, VGG-19 took 98 s and 7.9 GiB to load (converted;
    55 s from the cache). So the weights stay constants up to CONSTANT_BUDGET_BYTES in all,
    smallest first, and the largest ones beyond it (VGG-19's fully connected layers) become
    tf.Variables, stored in the SavedModel's variables/ folder.

    forward() imports the traced graph with its captured inputs mapped to the variables or
    to the same eager tensors, so the saved graph is onnx2tf's and no Keras object is saved.
    """
    concrete = tf.function(lambda x: keras_model(x, training=False)).get_concrete_function(spec)
    captures = concrete.graph.captures  # [(eager tensor, placeholder in the graph)]
    if len(concrete.inputs) != 1 + len(captures) or len(concrete.outputs) != 1:
        raise RuntimeError(f"onnx2tf's model has {len(concrete.outputs)} outputs and "
                           f"{len(concrete.inputs) - len(captures)} inputs")
    if any(value.dtype == tf.resource for value, _ in captures):
        raise RuntimeError("onnx2tf's model has variables of its own, which is not handled")
    graph_def = concrete.graph.as_graph_def()
    if graph_def.library.function:
        # Nested functions would need their captures mapped too; onnx2tf builds none for
        # CNNs' operators (it would for loops and conditionals).
        raise RuntimeError("onnx2tf's model traces into nested functions "
                           f"({len(graph_def.library.function)}), which is not handled")

    def nbytes(value):
        return value.shape.num_elements() * value.dtype.size

    # Only floating-point tensors of rank 2 or more can become variables: paddings, shapes and
    # permutations must stay constants (XLA needs them at compile time), and so do biases
    # and normalization parameters (Grappler folds them, and they are small).
    candidates = sorted((c for c in captures if c[0].dtype.is_floating and c[0].shape.rank >= 2),
                        key=lambda c: nbytes(c[0]))
    constant_bytes = sum(nbytes(value) for value, _ in captures)
    as_variables = set()
    while candidates and constant_bytes > CONSTANT_BUDGET_BYTES:
        value, placeholder = candidates.pop()  # the largest left
        as_variables.add(placeholder.name)
        constant_bytes -= nbytes(value)

    module = tf.Module()
    module.weights = []
    feeds = {}  # placeholder tensor of the traced graph -> the eager tensor or the variable
    for value, placeholder in captures:
        if placeholder.name in as_variables:
            variable = tf.Variable(value, trainable=False, name=placeholder.op.name)
            module.weights.append(variable)
            feeds[placeholder.name] = variable
        else:
            feeds[placeholder.name] = value
    # The placeholders are left out of the imported graph, their consumers reading from the
    # input map instead (a placeholder left in would stay in the function, unfed).
    x_name = concrete.inputs[0].name
    placeholders = {concrete.inputs[0].op.name} | {p.op.name for _, p in captures}
    kept = [node for node in graph_def.node if node.name not in placeholders]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    output_name = concrete.outputs[0].name
    del concrete, captures, candidates, kept

    def forward(x):
        input_map = {x_name: x}
        for name, source in feeds.items():
            # An eager tensor is captured by the function: saved as a constant of the
            # SavedModel, once for both signatures.
            input_map[name] = (source.read_value() if isinstance(source, tf.Variable)
                               else tf.convert_to_tensor(source))
        (y,) = tf.graph_util.import_graph_def(graph_def, input_map=input_map,
                                              return_elements=[output_name], name="model")
        return y

    return module, forward


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

    # onnx2tf names its TensorFlow operators after the ONNX nodes: unnamed nodes get a name
    # of their own, as onnx2tf's sng4onnx step would (disabled below).
    for index, node in enumerate(n for n in graph.node if not n.name):
        node.name = f"sng_{node.op_type}_{index}"

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
            # onnx2tf's step that names unnamed nodes (sng4onnx) copies the whole model and
            # infers its shapes (VGG-19: from 1.0 to 4.3 GiB resident), then discards its
            # result; the nodes are named above instead.
            not_use_opname_auto_generate=True,
            non_verbose=True,
        )
    except BaseException as e:  # onnx2tf ends some failures with sys.exit
        fail(f"onnx2tf {onnx2tf.__version__} failed: {type(e).__name__}: "
             f"{(str(e).splitlines() or [''])[0]}")

    # A free batch dimension stays free: one SavedModel serves every batch (XLA compiles one
    # executable per input shape at run time anyway).
    input_name, output_name = inputs[0].name, graph.output[0].name
    spec = tf.TensorSpec([d if d > 0 else None for d in in_dims], tf.float32, name=input_name)

    module = forward = None
    try:
        module, forward = traced_with_large_weights_as_variables(tf, keras_model, spec)
    except BaseException as e:
        fail(f"cannot trace the model onnx2tf built: {type(e).__name__}: "
             f"{(str(e).splitlines() or [''])[0]}")
    # What is no longer needed is released before saving: the ONNX model, and onnx2tf's Keras
    # model (the traced graph, its variables and captured tensors hold the weights now).
    del model, graph, inputs, keras_model
    gc.collect()

    def signature(x):
        return {output_name: forward(x)}

    # Saved: two tf.functions over the traced graph, not onnx2tf's Keras model. Attaching the
    # Keras model to the saved object (as this helper once did) makes TensorFlow save Keras's
    # metadata too: every layer's config, whose call arguments are the weights, serialized as
    # JSON; for VGG-19 (548 MiB of weights) that ran past 14 minutes and 17 GB. Both signatures
    # take the same constants and variables: the weights are stored once.
    module.plain = tf.function(signature, input_signature=[spec])
    module.xla = tf.function(signature, input_signature=[spec], jit_compile=True)
    tf.saved_model.save(module, args.out, signatures={
        "serving_default": module.plain.get_concrete_function(),
        "serving_xla": module.xla.get_concrete_function(),
    })

    info = {
        "tensorflow": tf.__version__,
        "onnx2tf": onnx2tf.__version__,
        "input": {"name": input_name, "dims": in_dims, "symbols": in_symbols},
        "output": {"name": output_name, "dims": out_dims, "symbols": out_symbols},
        "signatures": signature_tensors(args.out),
        "convert_s": round(time.monotonic() - t0, 3),
    }
    with open(os.path.join(args.out, "infermark.json"), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
