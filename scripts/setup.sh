#!/usr/bin/env bash
# Create .venv and install rnnpanel into it. Usage: scripts/setup.sh [--test]
#   (none)   the app, the command line and the notebook example
#   --test   also the test tools, and the system packages the tests use (Chromium, nginx)
# The interpreter is $PYTHON (default python3), checked first (scripts/check_python.py). torch goes
# in before rnnpanel, as the build this machine can use (scripts/torch_build.py: the CPU build
# without an NVIDIA driver, a CUDA build with one; RNNPANEL_TORCH=cpu|cuda forces either), so the
# package's own `torch>=` requirement is already met and pip never picks a build by itself. The
# libraries the app is tested with are pinned by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
TEST=""
case "${1:-}" in
    --test) TEST=1 ;;
    "") ;;
    *) echo "[setup] usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "[setup] no Python interpreter '$PY' found; install Python 3.11 or newer, or set PYTHON=/path/to/python3" >&2
    exit 1
fi
[ -z "$TEST" ] || bash scripts/system_packages.sh      # before anything: it may need root, and say so

VPY=.venv/bin/python
if [ -e .venv ]; then
    broken=""
    if [ ! -x "$VPY" ] || ! "$VPY" -c "" 2>/dev/null; then
        broken="its Python does not run"
    else
        status=0
        broken="$("$VPY" scripts/check_python.py --venv)" || status=$?
        if [ "$status" -eq 3 ] && "$VPY" -m ensurepip >/dev/null 2>&1; then    # 3: only pip is missing
            echo "[setup] .venv had no pip; installed it"
            broken=""
        fi
    fi
    if [ -n "$broken" ]; then
        echo "[setup] .venv is unusable ($broken); making it again"
        rm -rf .venv
    fi
fi
if [ ! -e .venv ]; then
    "$PY" scripts/check_python.py
    echo "[setup] creating .venv with $("$PY" -c 'import sys; print("Python %d.%d.%d" % sys.version_info[:3])')"
    if ! "$PY" -m venv .venv; then
        rm -rf .venv     # never leave a half-made environment for the next run to trip over
        echo "[setup] '$PY -m venv .venv' failed (above); nothing was installed" >&2
        exit 1
    fi
fi
"$VPY" -m pip install -q --upgrade pip

TORCH_ARGS="$("$VPY" scripts/torch_build.py)"
if [ -n "$TORCH_ARGS" ]; then
    # shellcheck disable=SC2086  # one argument per line, none with spaces
    "$VPY" -m pip install -q $TORCH_ARGS
fi
if [ -n "$TEST" ]; then
    echo "[setup] installing rnnpanel with the test tools"
    "$VPY" -m pip install -q -c constraints.txt -e ".[notebook,test]"
else
    echo "[setup] installing rnnpanel"
    "$VPY" -m pip install -q -c constraints.txt -e ".[notebook]"
fi
echo "[setup] ready: $("$VPY" -c 'import rnnpanel, torch; print("rnnpanel", rnnpanel.__version__, "torch", torch.__version__, "(CUDA)" if torch.version.cuda else "(CPU)")')"
