"""Before making `.venv`, set-up checks the interpreter and names the one command that fixes it; a
half-made `.venv` is found on the next run. Stood in for: a Debian Python without python3-venv (an
`ensurepip` that fails to import, first on PYTHONPATH) and a Python too old for zarr 3."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts.conftest import SCRIPTS, load_script

check_python = load_script("check_python")


@pytest.fixture
def no_ensurepip(tmp_path) -> dict:
    """An environment whose Python lacks ensurepip, as Debian's does without python3.X-venv."""
    shadow = tmp_path / "shadow" / "ensurepip"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('ensurepip is disabled in Debian/Ubuntu')\n")
    return {**os.environ, "PYTHONPATH": str(shadow.parent)}


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of scripts/ and pyproject.toml: setup.sh works on the folder above its own."""
    root = tmp_path / "repo"
    shutil.copytree(SCRIPTS, root / "scripts")
    shutil.copy(SCRIPTS.parent / "pyproject.toml", root)
    return root


def test_a_python_without_ensurepip_gets_the_venv_package_named(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    found = check_python.problem((3, 11, 2), has_module=lambda name: name != "ensurepip", apt=True)
    assert found.endswith("Fix: sudo apt-get install python3.11-venv")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    found = check_python.problem((3, 12, 3), has_module=lambda name: name != "ensurepip", apt=True)
    assert found.endswith("Fix: apt-get install python3.12-venv")


def test_a_python_older_than_zarr_3_needs_is_refused():
    found = check_python.problem((3, 10, 12), has_module=lambda name: True, apt=False)
    assert found.startswith("rnnpanel needs Python 3.11 or newer; this is Python 3.10")
    assert "PYTHON=/path/to/python3.11 bash scripts/setup.sh" in found


def test_requires_python_says_the_same():
    text = (SCRIPTS.parent / "pyproject.toml").read_text()
    assert 'requires-python = ">={}.{}"'.format(*check_python.MIN_PYTHON) in text


def test_this_python_passes():
    assert check_python.problem() is None and check_python.venv_problem() is None


def test_setup_stops_before_making_anything(checkout, no_ensurepip):
    done = subprocess.run(["bash", str(checkout / "scripts" / "setup.sh")], env=no_ensurepip, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    ver = "{}.{}".format(*sys.version_info[:2])
    assert "cannot make a virtual environment (no ensurepip module). Fix: " in done.stderr
    assert f"apt-get install python{ver}-venv" in done.stderr
    assert not (checkout / ".venv").exists()


def test_a_half_made_venv_is_found_and_removed(checkout, no_ensurepip):
    """What a first run on Debian left: a venv with Python and no pip. Python still lacks ensurepip,
    so it cannot be mended in place: set-up says so, removes it, and names the fix."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(checkout / ".venv")], check=True)
    done = subprocess.run(["bash", str(checkout / "scripts" / "setup.sh")], env=no_ensurepip, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "[setup] .venv is unusable (it has no pip (a first run stopped while making it)); making it again" \
        in done.stdout
    assert "-venv" in done.stderr and not (checkout / ".venv").exists()


def test_a_venv_whose_python_is_gone_is_made_again(checkout, no_ensurepip):
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").symlink_to("/nonexistent/python3")
    done = subprocess.run(["bash", str(checkout / "scripts" / "setup.sh")], env=no_ensurepip, capture_output=True,
                          text=True, timeout=120)
    assert "[setup] .venv is unusable (its Python does not run); making it again" in done.stdout
    assert done.returncode == 1 and not (checkout / ".venv").exists()


def test_a_missing_interpreter_is_one_line(checkout):
    done = subprocess.run(["bash", str(checkout / "scripts" / "setup.sh")],
                          env={**os.environ, "PYTHON": "python3.99"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "[setup] no Python interpreter 'python3.99' found; install Python 3.11 or newer, or set "
        "PYTHON=/path/to/python3"]
