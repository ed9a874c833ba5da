#!/usr/bin/env bash
# Install rnnpanel and open the app on the built-in demo (Rotten Tomatoes and Reuters R8).
# The first run fetches the corpora, trains the two demo models, extracts their states and
# projects them, showing progress; later runs start in seconds from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/rnnpanel serve "$@"
