#!/usr/bin/env bash
# One step that installs everything the project needs: Debian packages (pinned) and the
# frameworks' shipped SDKs from PyPI wheels into a project-local virtual environment.
# Idempotent: a second run checks and returns in a few seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/deps/apt.sh"
# Each framework's install step, named in backends/frameworks.cmake (the one list of frameworks;
# the second field of an entry's first line, - for none): each step once, in the list's order.
# The compilers and frameworks that bring their own Python dependencies get one venv each
# (.venv-<name>) so that their pins cannot conflict.
steps=$(awk -F'[^-_.a-zA-Z0-9]+' '$1 == "infermark_framework" && $3 != "-" && !seen[$3]++ { print $3 }' \
        "$here/../backends/frameworks.cmake")
for step in $steps; do
  if [[ "$step" != apt.sh ]]; then "$here/deps/$step"; fi
done
# The tools that bring their own Python dependencies, one venv each as well.
for tool in prepare pretrained serve; do
  if [[ -x "$here/deps/$tool.sh" ]]; then "$here/deps/$tool.sh"; fi
done
