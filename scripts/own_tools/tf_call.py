"""TensorFlow's own Python call on the SavedModel infermark converted (the entry in its
cache): the serving_default signature, intra-op THREADS and inter-op 1 as infermark sets them,
batch 1. Then the same SavedModel the way infermark's C API plugin runs it, in a TF1 session
(tf.compat.v1 loader, Session.run on the signature's tensors), so that a difference between
the two Python calls can be told from one of ours. Prints one JSON line:
{"p50_ms", "runs", "session_p50_ms", "session_runs"}.

    python tf_call.py SAVEDMODEL_DIR THREADS SECONDS C H W
"""

import json
import sys

import numpy as np
import tensorflow as tf

from timing import loop


def main():
    path, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    c, h, w = (int(v) for v in sys.argv[4:7])
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    f = tf.saved_model.load(path).signatures["serving_default"]
    name = list(f.structured_input_signature[1].keys())[0]
    x = np.random.default_rng(1).random((1, c, h, w), dtype=np.float32)
    xt = tf.constant(x)
    result = loop(lambda: f(**{name: xt}), seconds)

    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                      inter_op_parallelism_threads=1)
    session = tf.compat.v1.Session(graph=graph, config=config)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    sig = meta.signature_def["serving_default"]
    feed = next(iter(sig.inputs.values())).name
    fetch = next(iter(sig.outputs.values())).name
    second = loop(lambda: session.run(fetch, {feed: x}), seconds)
    result.update(session_p50_ms=second["p50_ms"], session_runs=second["runs"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
