#!/usr/bin/env bash
# Create ./.venv once (and again whenever pyproject.toml or constraints.txt change) with the
# pinned torch/torchvision from constraints.txt and logosim installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
stamp=.venv/.logosim-installed
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "setting up .venv (torch and friends: a few minutes the first time)…" >&2
"$python" -m venv .venv
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]' \
    > .venv/install.log 2>&1; then
  tail -n 40 .venv/install.log >&2
  echo "set-up failed; the whole log is in .venv/install.log" >&2
  exit 1
fi
echo "$want" > "$stamp"
