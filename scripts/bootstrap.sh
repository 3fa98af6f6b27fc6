#!/usr/bin/env bash
# One step that installs everything the project needs: Debian packages (pinned) and the
# frameworks' shipped SDKs from PyPI wheels into a project-local virtual environment.
# Idempotent: a second run checks and returns in a few seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/deps/apt.sh"
"$here/deps/frameworks.sh"
# The compilers and frameworks that bring their own Python dependencies, one venv each
# (.venv-<name>) so that their pins cannot conflict.
for fw in prepare tvm iree tensorflow pretrained serve; do
  if [[ -x "$here/deps/$fw.sh" ]]; then "$here/deps/$fw.sh"; fi
done
