#!/usr/bin/env bash
# Install rnnpanel with its test dependencies (Chromium included) and run the whole test suite,
# browser tests and slow tests too. Extra arguments go to pytest (e.g. -m "not slow").
# --lint (first argument) also runs ruff over the project, after the set-up and before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
lint=0
if [[ "${1:-}" == "--lint" ]]; then
    lint=1
    shift
fi
bash scripts/setup.sh --test
if (( lint )); then
    .venv/bin/ruff check .
fi
# Corpora are fetched once into this cache and reused by later runs.
export RNNPANEL_HOME="${RNNPANEL_HOME:-$PWD/.cache/rnnpanel-test}"
mkdir -p artifacts
exec .venv/bin/python -m pytest "$@"
