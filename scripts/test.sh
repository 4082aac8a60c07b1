#!/usr/bin/env bash
# The project's test command (README and CI): set up .venv if needed, lint, check the layering, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache  # the contracts in pyproject.toml: which package may import which
# One test process per core (LOGOSIM_TEST_WORKERS to choose; 0: none); a file's tests stay in one process, so a
# module's fixture (a crawled web, an index) is built once.
.venv/bin/python -m pytest -n "${LOGOSIM_TEST_WORKERS:-auto}" --dist loadfile "$@"
