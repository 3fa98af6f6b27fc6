#!/usr/bin/env bash
# Install the model preparation's tools (prepare/prepare_model.py) into their own venv,
# $ROOT/.venv-prepare, every wheel at the version of scripts/deps/python-constraints-prepare.txt:
#
#   onnxsim       shape inference, constant folding and dead-node removal of ONNX graphs
#                 (its fusion passes are skipped by prepare_model.py)
#   onnx          the model format and its version converter (opset upgrades)
#   onnxruntime   what onnxsim evaluates constant subgraphs with
#
# Idempotent: the venv remembers the constraints it was installed from and a second run
# with the same file does nothing. PREPARE_FORCE=1 reinstalls.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-prepare"
PINS="$ROOT/scripts/deps/python-constraints-prepare.txt"
STAMP="$VENV/.installed-from"

log() { printf '[prepare] %s\n' "$*"; }

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV ($(/usr/bin/python3 --version))"
  /usr/bin/python3 -m venv "$VENV"
fi
if [[ "${PREPARE_FORCE:-0}" != 1 && -f "$STAMP" ]] && cmp -s "$PINS" "$STAMP"; then
  log "present: $(grep -E '^(onnxsim|onnx)==' "$PINS" | tr '\n' ' ')"
  exit 0
fi
log "pip install -r $(basename "$PINS")"
"$VENV/bin/python" -m pip install --disable-pip-version-check --only-binary=:all: -q -r "$PINS"
cp "$PINS" "$STAMP"
