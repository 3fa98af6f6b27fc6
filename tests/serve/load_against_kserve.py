"""`infermark load` against a server of another make: KServe's own Python model server
(kserve.ModelServer) serving a tiny deterministic model, over HTTP/REST with JSON tensors, with
the binary tensor data extension (which KServe's REST server decodes and answers), and over
gRPC. Each run must exit 0 and append one result line with every query answered, and the
model must have received at least as many requests as the result counts.

    run_in_venv.sh load_against_kserve.py --infermark build/infermark

With --kserve-server HTTP_PORT GRPC_PORT COUNT_FILE it is that server instead.
"""

import argparse
import os
import sys
import tempfile
import urllib.request

import numpy as np

from harness import Server, check, free_port, main, read_json_lines, run

MODEL = "tiny"
CLASSES = 10
IMAGE = [3, 8, 8]


def kserve_server(http_port, grpc_port, count_file):
    import kserve
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
    from kserve.utils.utils import generate_uuid

    class Tiny(kserve.Model):
        """output [N, 10] = the mean of each image times 1..10; counts the requests it gets."""

        def __init__(self):
            super().__init__(MODEL)
            self.requests = 0
            self.load()

        def load(self):
            self.ready = True
            return self.ready

        # The v2 model metadata (GET /v2/models/tiny, gRPC ModelMetadata).
        def get_input_types(self):
            return [{"name": "input", "datatype": "FP32", "shape": [-1] + IMAGE}]

        def get_output_types(self):
            return [{"name": "output", "datatype": "FP32", "shape": [-1, CLASSES]}]

        def predict(self, payload: InferRequest, headers=None, response_headers=None):
            self.requests += 1
            tmp = count_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(self.requests))
            os.replace(tmp, count_file)
            (inp,) = payload.inputs
            if inp.name != "input" or inp.datatype != "FP32" or list(inp.shape)[1:] != IMAGE:
                raise kserve.errors.InvalidInput(
                    f"input {inp.name} {inp.datatype} {inp.shape}: want 'input' FP32 [N, 3, 8, 8]")
            x = inp.as_numpy()
            y = (x.reshape(x.shape[0], -1).mean(axis=1, keepdims=True) *
                 np.arange(1, CLASSES + 1, dtype=np.float32)).astype(np.float32)
            out = InferOutput(name="output", shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(y, binary_data=payload.use_binary_outputs)
            return InferResponse(model_name=MODEL, infer_outputs=[out],
                                 response_id=payload.id or generate_uuid(),
                                 use_binary_outputs=payload.use_binary_outputs,
                                 requested_outputs=payload.request_outputs)

    kserve.ModelServer(http_port=http_port, grpc_port=grpc_port, workers=1,
                       enable_grpc=True).start([Tiny()])


def requests_received(count_file):
    try:
        with open(count_file) as f:
            return int(f.read())
    except FileNotFoundError:
        return 0


def http_ok(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


def test(infermark, work):
    http_port, grpc_port = free_port(), free_port()
    count_file = os.path.join(work, "requests")
    out = os.path.join(work, "r.jsonl")
    argv = [sys.executable, os.path.abspath(__file__), "--kserve-server", str(http_port),
            str(grpc_port), count_file]
    with Server(argv, os.path.join(work, "kserve.log")) as server:
        base = f"http://127.0.0.1:{http_port}"
        server.wait_for(lambda: http_ok(f"{base}/v2/models/{MODEL}/ready"), 120, "kserve")
        runs = [("http-json", [f"--url={base}"]),
                ("http-binary", [f"--url={base}", "--binary"]),
                ("grpc", [f"--url=grpc://127.0.0.1:{grpc_port}"])]
        for i, (name, url_args) in enumerate(runs):
            before = requests_received(count_file)
            text = run([infermark, "load", *url_args, "--model", MODEL, "--rate", "20",
                        "--duration", "3", "--out", out], f"infermark load ({name})")
            print(text, flush=True)
            after = requests_received(count_file)
            rows = read_json_lines(out)
            check(len(rows) == i + 1, f"{name}: {out} has {len(rows)} lines after {i + 1} runs")
            row = rows[-1]
            m = row.get("metrics", {})
            detail = (f"{name}: status {row.get('status')!r} message {row.get('message')!r} "
                      f"metrics {m}\nkserve's log:\n{server.log_tail()}")
            check(row.get("status") == "ok", detail)
            check(m.get("queries", 0) >= 50, f"queries < 50: {detail}")
            check(m.get("ok") == m.get("queries"), f"ok != queries: {detail}")
            check(after - before >= m["queries"],
                  f"{name}: kserve's model received {after - before} requests; the result counts "
                  f"{m['queries']} queries")
            print(f"{name}: {m['queries']} queries, all ok; kserve received {after - before}",
                  flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--infermark", help="the infermark program")
    parser.add_argument("--kserve-server", nargs=3, metavar=("HTTP_PORT", "GRPC_PORT", "COUNT"))
    args = parser.parse_args()
    if args.kserve_server:
        h, g, count = args.kserve_server
        kserve_server(int(h), int(g), count)
    else:
        if not args.infermark:
            parser.error("--infermark is required")
        with tempfile.TemporaryDirectory(prefix="infermark-load-") as work:
            main(lambda: test(os.path.abspath(args.infermark), work))
