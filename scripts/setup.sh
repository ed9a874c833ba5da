#!/usr/bin/env bash
# Create .venv and install rnnpanel into it. Usage: scripts/setup.sh [--test]
# torch is installed first at a pinned CPU build, so the package's own `torch>=` requirement is
# already met and pip never pulls a multi-GB CUDA build (GPU workstations: see gpu/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${RNNPANEL_TORCH_VERSION:-2.13.0}"
PY="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q --upgrade pip
if ! "$VPY" -c "import torch" 2>/dev/null; then
    echo "[setup] installing torch==$TORCH_VERSION (CPU build)"
    "$VPY" -m pip install -q "torch==$TORCH_VERSION"
fi
if [ "${1:-}" = "--test" ]; then
    echo "[setup] installing rnnpanel with test extras"
    "$VPY" -m pip install -q -e ".[test]"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    if ! command -v chromium >/dev/null 2>&1; then
        echo "[setup] installing Chromium for the browser tests"
        $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium chromium-driver
    fi
    if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
        echo "[setup] installing nginx for the team-serving test (deploy/nginx-rnnpanel.conf)"
        $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends nginx-light
    fi
else
    echo "[setup] installing rnnpanel"
    "$VPY" -m pip install -q -e .
fi
echo "[setup] ready: $("$VPY" -c 'import rnnpanel, torch; print("rnnpanel", rnnpanel.__version__, "torch", torch.__version__)')"
