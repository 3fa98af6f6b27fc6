#!/usr/bin/env bash
# Install IREE for infermark's iree backend into its own venv, $ROOT/.venv-iree:
#
#   iree-base-compiler   iree-import-onnx and iree-compile (ONNX -> MLIR -> .vmfb), run by
#                        the plugin as subprocesses when a model is not in its cache
#   iree-base-runtime    the iree.runtime Python extension, which the plugin drives through
#                        an embedded CPython (the wheel has no C headers or C library)
#   onnx, numpy          fixing the batch dimension before import; numpy arrays at run
#
# Every wheel in the venv is pinned by scripts/deps/python-constraints-iree.txt (pip freeze).
# The plugin embeds Debian's libpython3.11, so the venv must be made from /usr/bin/python3
# (the same interpreter version and ABI as the extension modules).
#
# Idempotent: a second run finds the pinned versions and does nothing.
# Env knobs: IREE_FORCE=1 reinstalls the wheels; pip's own PIP_FIND_LINKS=DIR takes wheels
# already downloaded from DIR.
set -euo pipefail

IREE_VERSION="3.13.0"
ONNX_VERSION="1.23.2"
NUMPY_VERSION="2.4.6"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-iree"
PY="$VENV/bin/python"
CONSTRAINTS="$ROOT/scripts/deps/python-constraints-iree.txt"
FORCE="${IREE_FORCE:-0}"

log() { printf '[iree] %s\n' "$*"; }

if [[ ! -x "$PY" ]]; then
  log "creating venv $VENV ($(/usr/bin/python3 --version))"
  /usr/bin/python3 -m venv "$VENV"
fi

# One interpreter start checks every pin: prints the requirements not installed at their pin.
missing="$("$PY" - "iree-base-compiler==$IREE_VERSION" "iree-base-runtime==$IREE_VERSION" \
  "onnx==$ONNX_VERSION" "numpy==$NUMPY_VERSION" <<'PYEOF'
import sys, importlib.metadata as m
for req in sys.argv[1:]:
    name, version = req.split("==")
    try:
        ok = m.version(name) == version
    except m.PackageNotFoundError:
        ok = False
    if not ok:
        print(req)
PYEOF
)"
if [[ "$FORCE" == 1 ]]; then
  missing="iree-base-compiler==$IREE_VERSION iree-base-runtime==$IREE_VERSION onnx==$ONNX_VERSION numpy==$NUMPY_VERSION"
fi
if [[ -n "$missing" ]]; then
  # shellcheck disable=SC2086  # one requirement per word
  log "pip install" $missing
  "$PY" -m pip install --disable-pip-version-check --only-binary=:all: -c "$CONSTRAINTS" $missing
else
  log "present: iree-base-compiler/runtime==$IREE_VERSION onnx==$ONNX_VERSION numpy==$NUMPY_VERSION"
fi
