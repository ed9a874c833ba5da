"""The README's comparison commands, as written (fewer epochs and texts), on a fresh store."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
QUICK = {"--epochs 6 --checkpoints 2": "--epochs 2 --checkpoints 1", "--n 300": "--n 60"}

pytestmark = pytest.mark.slow


def compare_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("rnnpanel train   --dataset rotten_tomatoes --out models/rt-run")
    block = text[start:text.index("\n\n", start)]
    return [line.split(" # ")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_comparison_runs_as_written(shared_home, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "data").symlink_to(Path(shared_home) / "data", target_is_directory=True)
    env = {**os.environ, "RNNPANEL_HOME": str(home),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    commands = compare_block()
    assert [c.split()[1] for c in commands] == ["train", "extract", "project", "compare"]
    keys: list[str] = []
    for command in commands:
        for old, new in QUICK.items():
            command = command.replace(old, new)
        if "ENTRY_A ENTRY_B" in command:
            command = command.replace("ENTRY_A ENTRY_B", " ".join(keys[:2]))
        done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        if command.startswith("rnnpanel extract"):
            keys = [json.loads(line)["entry"] for line in done.stdout.splitlines()]
            assert len(keys) == 2
    result = json.loads((tmp_path / "compare.json").read_text())
    assert result["link"] == "step" and [r["epoch"] for r in result["checkpoints"]] == [1, 2]
    assert re.search(r"agreement: \d\.\d{4}", done.stdout)
