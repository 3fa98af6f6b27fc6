#!/usr/bin/env bash
# TensorFlow for infermark's tensorflow backend, in its own venv (its numpy, protobuf and
# onnx pins differ from .venv's):
#
#   $ROOT/.venv-tensorflow
#     tensorflow-cpu    the C API the plugin links (tensorflow/include/tensorflow/c/*.h,
#                       libtensorflow_cc.so.2, libtensorflow_framework.so.2) and the Python
#                       package the conversion helper runs at load
#     onnx2tf           the ONNX -> TensorFlow converter, with what it imports (onnx,
#                       onnx_graphsurgeon, sng4onnx, psutil, ai-edge-litert, tf_keras,
#                       onnxruntime)
#
# Every wheel is pinned by scripts/deps/python-constraints-tensorflow.txt. Idempotent: a
# stamp holds the constraints the venv was installed from; a second run with the same file
# does nothing. TENSORFLOW_FORCE=1 reinstalls.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-tensorflow"
PY="$VENV/bin/python"
CONSTRAINTS="$ROOT/scripts/deps/python-constraints-tensorflow.txt"
STAMP="$VENV/.infermark-constraints"

log() { printf '[tensorflow] %s\n' "$*"; }

if [[ "${TENSORFLOW_FORCE:-0}" != 1 && -x "$PY" ]] && cmp -s "$CONSTRAINTS" "$STAMP"; then
  log "venv present: $VENV ($(grep -E '^(tensorflow-cpu|onnx2tf)==' "$CONSTRAINTS" | tr '\n' ' '))"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  log "creating venv $VENV"
  /usr/bin/python3 -m venv "$VENV"
fi
pip_install() {
  "$PY" -m pip install --disable-pip-version-check --only-binary=:all: -c "$CONSTRAINTS" "$@"
}
log "pip install tensorflow-cpu, onnx2tf and their dependencies (about 2.5 GB)"
pip_install tensorflow-cpu onnx2tf onnx onnx_graphsurgeon sng4onnx psutil ai-edge-litert onnxruntime
# tf_keras requires the `tensorflow` distribution; tensorflow-cpu provides the same package.
pip_install --no-deps tf_keras
cp "$CONSTRAINTS" "$STAMP"
log "installed into $VENV"
