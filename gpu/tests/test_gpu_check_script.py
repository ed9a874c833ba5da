"""gpu/check.py end to end on this machine (small sizes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import requires_cuda

pytestmark = [pytest.mark.gpu, pytest.mark.slow, requires_cuda]

SCRIPT = Path(__file__).resolve().parents[1] / "check.py"


def test_check_script_passes(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "2000", "--projection-n", "3000",
                           "--speed-sizes", "20000", "--speed-dims", "64", "--json", str(out)],
                          check=False, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: 0 item(s) failed" in proc.stdout and out.is_file()
