"""Helpers for the set-up scripts' tests: the scripts as modules, and fake system commands on PATH."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str) -> ModuleType:
    """A script of scripts/ imported as a module (they are files, not a package)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module    # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def fake_command(folder: Path, name: str, body: str) -> Path:
    """A shell script called ``name`` in ``folder`` (put first on PATH to stand in for the real one)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def can_hide_system_files() -> bool:
    """Whether this process may make a private mount namespace (root, with unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


needs_namespace = pytest.mark.skipif(not can_hide_system_files(),
                                     reason="hiding installed Chromium and nginx needs root and unshare")


def hidden(paths: list[str], command: str) -> list[str]:
    """``command`` (a shell line) run in a private mount namespace where ``paths`` are not executable
    (each covered by /dev/null), so the scripts see a machine without them."""
    covers = " && ".join(f"mount --bind /dev/null {p}" for p in paths if Path(p).exists())
    return ["unshare", "--mount", "sh", "-c", f"{covers or 'true'} && {command}"]
