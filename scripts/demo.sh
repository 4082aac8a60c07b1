#!/usr/bin/env bash
# The README's first command: set up .venv if needed, then run the offline demo end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/logosim demo "$@"
