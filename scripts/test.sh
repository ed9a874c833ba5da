#!/usr/bin/env bash
# Install rnnpanel with its test dependencies (Chromium included) and run the whole test suite,
# browser tests and slow tests too. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# Corpora are fetched once into this cache and reused by later runs.
export RNNPANEL_HOME="${RNNPANEL_HOME:-$PWD/.cache/rnnpanel-test}"
mkdir -p artifacts
exec .venv/bin/python -m pytest "$@"
