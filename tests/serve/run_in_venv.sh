#!/usr/bin/env bash
# Runs a conformance test script with .venv-serve's Python (scripts/deps/serve.sh). Without
# that venv the test fails, saying how to make it, instead of being skipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
py="$root/.venv-serve/bin/python"
if [[ ! -x "$py" ]]; then
  echo "FAIL: $py is missing: run scripts/deps/serve.sh (or make deps)" >&2
  exit 1
fi
exec "$py" "$@"
