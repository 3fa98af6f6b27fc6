#!/usr/bin/env bash
# Install Apache TVM for infermark's tvm backend into its own venv, $ROOT/.venv-tvm:
#
#   apache-tvm       the compiler (Relax ONNX frontend, LLVM CPU code generation), run by the
#                    plugin's compile helper (backends/tvm/tvm_compile.py) on a cache miss;
#                    also libtvm_runtime.so, which the plugin links to run compiled models
#   apache-tvm-ffi   libtvm_ffi.so and the C++ headers (tvm/ffi, dlpack) the plugin uses;
#                    0.1.14.post0, the lowest the apache-tvm wheel accepts: under 0.1.15.post2
#                    MetaSchedule tuning segfaults (tvm::ffi::ToJSONGraph), under 0.1.14.post0
#                    it tunes
#   onnx             read by the Relax ONNX frontend (1.23: the version it is tested with
#                    here; onnx's own opset support is newer than the zoo's models need)
#   psutil, cloudpickle   MetaSchedule's builder and runner processes (tuning_trials > 0)
#   xgboost-cpu      MetaSchedule's default cost model (tuning_cost_model=xgb); the CPU-only
#                    build of XGBoost (the plain xgboost wheel brings NVIDIA's NCCL), with scipy
#
# Every wheel in the venv is pinned by scripts/deps/python-constraints-tvm.txt (pip freeze).
# Exporting a compiled model links it with g++ (Debian's build-essential, in apt-packages).
#
# Idempotent: a second run finds the pinned versions and does nothing; a venv holding another
# version of any of them (an older checkout's pins) gets the pinned one installed over it.
# Env knobs: TVM_FORCE=1 reinstalls the wheels; TVM_PIP_ARGS adds pip options (e.g.
# "--find-links DIR" for pre-downloaded wheels).
set -euo pipefail

TVM_VERSION="0.27.0.post1"
TVM_FFI_VERSION="0.1.14.post0"
ONNX_VERSION="1.23.2"
PSUTIL_VERSION="7.2.2"
CLOUDPICKLE_VERSION="3.1.3"
XGBOOST_VERSION="3.2.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-tvm"
PY="$VENV/bin/python"
CONSTRAINTS="$ROOT/scripts/deps/python-constraints-tvm.txt"
FORCE="${TVM_FORCE:-0}"
WANT=("apache-tvm==$TVM_VERSION" "apache-tvm-ffi==$TVM_FFI_VERSION" "onnx==$ONNX_VERSION"
      "psutil==$PSUTIL_VERSION" "cloudpickle==$CLOUDPICKLE_VERSION"
      "xgboost-cpu==$XGBOOST_VERSION")

log() { printf '[tvm] %s\n' "$*"; }

if [[ ! -x "$PY" ]]; then
  log "creating venv $VENV ($(/usr/bin/python3 --version))"
  /usr/bin/python3 -m venv "$VENV"
fi

# One interpreter start checks every pin: prints the requirements not installed at their pin.
missing="$("$PY" - "${WANT[@]}" <<'PYEOF'
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
[[ "$FORCE" == 1 ]] && missing="${WANT[*]}"
if [[ -n "$missing" ]]; then
  # shellcheck disable=SC2086  # one requirement per word
  log "pip install" $missing
  "$PY" -m pip install --disable-pip-version-check --only-binary=:all: -c "$CONSTRAINTS" \
    ${TVM_PIP_ARGS:-} $missing
else
  log "present: apache-tvm==$TVM_VERSION apache-tvm-ffi==$TVM_FFI_VERSION onnx==$ONNX_VERSION" \
    "xgboost-cpu==$XGBOOST_VERSION"
fi
