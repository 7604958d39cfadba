#!/usr/bin/env bash
# The README's test command: install from the project's files, lint, type-check, run every test.
# Run it inside a virtualenv (.ci/run makes one).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
python -m pip install -q --disable-pip-version-check -e '.[test]'
python tools/bundle.py --check  # scripts/ must equal a fresh build of src/
python -m ruff check .
python -m ruff format --check .
python -m mypy
python -m pytest -q
