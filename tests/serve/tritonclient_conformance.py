"""`infermark serve` as NVIDIA Triton's own client library sees it (tritonclient, over HTTP/REST
with and without the binary tensor data extension, and over gRPC), serving a real pretrained
classifier (EfficientNet-Lite0 with its ImageNet weights, scripts/pretrained/efficientnet_lite0.py
in .venv-pretrained) on real photographs: health, server and model metadata, each photo's top-1
as `infermark infer` gives it on the same preprocessed tensor (and as PyTorch gives it), and
clear errors for an unknown model and a wrong shape; then SIGTERM stops it cleanly.

    run_in_venv.sh tritonclient_conformance.py --infermark build/infermark

Without .venv-pretrained (scripts/deps/pretrained.sh) the test fails, saying so.
"""

import argparse
import json
import os
import tempfile

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from harness import Failure, Server, check, main, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRETRAINED_PYTHON = os.path.join(ROOT, ".venv-pretrained", "bin", "python")
EXPORT = os.path.join(ROOT, "scripts", "pretrained", "efficientnet_lite0.py")
MODEL = "model"  # the served name of model.onnx: its file stem
PHOTOS = 12
IMAGES = [PHOTOS, 3, 224, 224]
CLASSES = 1000


def check_outputs(y, ref, what):
    check(y is not None, f"{what}: the response has no output")
    check(list(y.shape) == [IMAGES[0], CLASSES],
          f"{what}: output shape {list(y.shape)}, expected {[IMAGES[0], CLASSES]}")
    check(y.dtype == np.float32, f"{what}: output dtype {y.dtype}, expected float32")
    top1, ref_top1 = y.argmax(axis=1).tolist(), ref.argmax(axis=1).tolist()
    check(top1 == ref_top1, f"{what}: top-1 {top1}, `infermark infer` gives {ref_top1}")
    tolerance = 1e-4 * max(1.0, float(ref.max() - ref.min()))
    diff = float(np.abs(y - ref).max())
    check(diff <= tolerance,
          f"{what}: outputs differ from `infermark infer` by {diff:.3g} (tolerance {tolerance:.3g})")
    print(f"{what}: top-1 {top1}, max |diff| {diff:.3g}", flush=True)


def expect_error(call, what, must_mention=None):
    try:
        call()
    except InferenceServerException as e:
        message = str(e)
        print(f"{what}: error as expected: {message}", flush=True)
        if must_mention is not None:
            check(all(m in message for m in must_mention),
                  f"{what}: the error does not mention {must_mention}: {message}")
        return
    raise Failure(f"{what}: no error")


def check_metadata_json(server, model, what):
    check(server.get("name") == "infermark", f"{what}: server name {server.get('name')!r}")
    check("binary_tensor_data" in server.get("extensions", []),
          f"{what}: extensions {server.get('extensions')} lack binary_tensor_data")
    check(model.get("name") == MODEL, f"{what}: model name {model.get('name')!r}")
    (inp,), (out,) = model["inputs"], model["outputs"]
    check(isinstance(inp.get("name"), str) and inp["name"], f"{what}: input has no name: {inp}")
    check(inp.get("datatype") == "FP32", f"{what}: input datatype {inp.get('datatype')!r}")
    check([int(d) for d in inp.get("shape", [])] == [-1] + IMAGES[1:],
          f"{what}: input shape {inp.get('shape')}, expected {[-1] + IMAGES[1:]}")
    check(out.get("datatype") == "FP32", f"{what}: output datatype {out.get('datatype')!r}")
    check([int(d) for d in out.get("shape", [])] == [-1, CLASSES],
          f"{what}: output shape {out.get('shape')}, expected {[-1, CLASSES]}")
    return inp["name"], out["name"]


def http_checks(port, x, x_small, ref):
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    check(c.is_server_live(), "HTTP: is_server_live() is False")
    check(c.is_server_ready(), "HTTP: is_server_ready() is False")
    check(c.is_model_ready(MODEL), "HTTP: is_model_ready() is False")
    in_name, out_name = check_metadata_json(c.get_server_metadata(), c.get_model_metadata(MODEL),
                                            "HTTP metadata")

    for binary in (True, False):
        what = "HTTP binary" if binary else "HTTP JSON"
        inp = httpclient.InferInput(in_name, IMAGES, "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = httpclient.InferRequestedOutput(out_name, binary_data=binary)
        result = c.infer(MODEL, [inp], outputs=[out])
        check_outputs(result.as_numpy(out_name), ref, what)
    # No outputs named: the server answers every output.
    inp = httpclient.InferInput(in_name, IMAGES, "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    check_outputs(c.infer(MODEL, [inp]).as_numpy(out_name), ref, "HTTP, no output requested")

    expect_error(lambda: c.infer("no_such_model", [inp]), "HTTP unknown model")
    expect_error(lambda: c.get_model_metadata("no_such_model"), "HTTP unknown model metadata")
    small = httpclient.InferInput(in_name, list(x_small.shape), "FP32")
    small.set_data_from_numpy(x_small, binary_data=True)
    expect_error(lambda: c.infer(MODEL, [small]), "HTTP wrong shape", ["shape", "32"])
    c.close()


def grpc_checks(port, x, x_small, ref):
    c = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    check(c.is_server_live(), "gRPC: is_server_live() is False")
    check(c.is_server_ready(), "gRPC: is_server_ready() is False")
    check(c.is_model_ready(MODEL), "gRPC: is_model_ready() is False")
    # The messages themselves (as_json would turn int64 shapes into strings).
    s, m = c.get_server_metadata(), c.get_model_metadata(MODEL)
    server = {"name": s.name, "version": s.version, "extensions": list(s.extensions)}
    model = {"name": m.name,
             "inputs": [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
                        for t in m.inputs],
             "outputs": [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
                         for t in m.outputs]}
    in_name, out_name = check_metadata_json(server, model, "gRPC metadata")

    inp = grpcclient.InferInput(in_name, IMAGES, "FP32")
    inp.set_data_from_numpy(x)
    result = c.infer(MODEL, [inp], outputs=[grpcclient.InferRequestedOutput(out_name)])
    check_outputs(result.as_numpy(out_name), ref, "gRPC")

    expect_error(lambda: c.infer("no_such_model", [inp]), "gRPC unknown model")
    expect_error(lambda: c.get_model_metadata("no_such_model"), "gRPC unknown model metadata")
    small = grpcclient.InferInput(in_name, list(x_small.shape), "FP32")
    small.set_data_from_numpy(x_small)
    expect_error(lambda: c.infer(MODEL, [small]), "gRPC wrong shape", ["shape", "32"])
    c.close()


def pretrained_files(work):
    """The model, photos and PyTorch's top-1 (scripts/pretrained/efficientnet_lite0.py)."""
    check(os.access(PRETRAINED_PYTHON, os.X_OK),
          f"{PRETRAINED_PYTHON} is missing: run scripts/deps/pretrained.sh (or make deps)")
    files = os.path.join(work, "files")
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cache"))
    run([PRETRAINED_PYTHON, EXPORT, files], "the pretrained model and photos", env=env)
    with open(os.path.join(files, "meta.json")) as f:
        meta = json.load(f)
    with open(os.path.join(files, "preprocess.txt")) as f:
        preprocess = f.read().strip()
    return files, meta, preprocess


def test(infermark, work):
    files, meta, preprocess = pretrained_files(work)
    model = os.path.join(files, "model.onnx")
    x_path, ref_path = os.path.join(work, "x.npy"), os.path.join(work, "ref.npy")
    run([infermark, "infer", "--model", model, "--backend", "onnxruntime",
         "--images", os.path.join(files, "photos"), "--preprocess", preprocess,
         "--output", ref_path, "--save-input", x_path], "infermark infer (the reference)")
    x, ref = np.load(x_path), np.load(ref_path)
    check(list(x.shape) == IMAGES and x.dtype == np.float32,
          f"x.npy (--save-input) has shape {list(x.shape)} {x.dtype}, expected {IMAGES} float32")
    check(list(ref.shape) == [PHOTOS, CLASSES], f"ref.npy has shape {list(ref.shape)}")
    # The reference means something: real photos of different things, classified as PyTorch
    # classifies them (infermark reads the folder sorted by name, as meta.json lists it).
    ref_top1 = ref.argmax(axis=1).tolist()
    torch_top1 = [meta["torch_top1"][name] for name in sorted(meta["torch_top1"])]
    print(f"reference top-1 {ref_top1}, PyTorch's {torch_top1}", flush=True)
    check(len(set(ref_top1)) > 1, f"every photo's top-1 is class {ref_top1[0]}")
    check(ref_top1 == torch_top1,
          f"`infermark infer` top-1 {ref_top1} is not PyTorch's {torch_top1}")
    # The photos' outputs must differ by more than the tolerance, so that answers swapped
    # between images are caught.
    tolerance = 1e-4 * max(1.0, float(ref.max() - ref.min()))
    apart = min(float(np.abs(ref[i] - ref[j]).max()) for i in range(len(ref)) for j in range(i))
    check(apart > tolerance,
          f"the reference outputs of different photos differ by only {apart:.3g}")
    rng = np.random.default_rng(20240611)
    x_small = rng.standard_normal([4, 3, 32, 32], dtype=np.float32)

    port_file = os.path.join(work, "ports.json")
    argv = [infermark, "serve", "--models", model, "--backend", "onnxruntime",
            "--max-batch", "16", "--http-port", "0", "--grpc-port", "0", "--port-file", port_file]
    with Server(argv, os.path.join(work, "serve.log")) as server:
        server.wait_for(lambda: os.path.exists(port_file), 300, "infermark serve")
        with open(port_file) as f:
            ports = json.load(f)
        print("ports:", ports, flush=True)
        try:
            http_checks(ports["http"], x, x_small, ref)
            grpc_checks(ports["grpc"], x, x_small, ref)
        except Failure as e:
            raise Failure(f"{e}\nthe server's log:\n{server.log_tail()}")
        except InferenceServerException as e:
            raise Failure(f"unexpected error from the server: {e}\nthe server's log:\n"
                          + server.log_tail())
        code = server.stop(30)
        check(code is not None, "SIGTERM: the server did not exit within 30 s; its log:\n"
              + server.log_tail())
        check(code == 0, f"SIGTERM: the server exited with {code}; its log:\n"
              + server.log_tail())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--infermark", required=True, help="the infermark program")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="infermark-serve-") as work:
        main(lambda: test(os.path.abspath(args.infermark), work))
