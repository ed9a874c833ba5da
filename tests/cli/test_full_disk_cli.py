"""``rnnpanel extract`` and ``rnnpanel project`` on a disk that fills: one line, exit 2, what was
written kept, and the same command finishing the work once space is freed.

The real thing runs in a private mount namespace (root and ``unshare``) on a 10 MB tmpfs
(tests/cli/small_disk.py); without one, the in-process test below stands in with a write that
raises ``ENOSPC``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnpanel.cli import main
from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.store import StateStore
from rnnpanel.store import partial as partial_module
from tests.pipeline.conftest import synthetic_source

SCRIPT = Path(__file__).with_name("small_disk.py")
REPO = Path(__file__).resolve().parents[2]


def can_mount_tmpfs() -> bool:
    """Whether this process may mount a tmpfs in a private mount namespace (root, with unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


def error_lines(stderr: str, command: str) -> list[str]:
    """The lines the command wrote itself (progress bars redraw with carriage returns, not lines)."""
    assert "Traceback" not in stderr, stderr
    return [line.split("\r")[-1].strip() for line in stderr.splitlines()
            if line.split("\r")[-1].strip().startswith(f"rnnpanel {command}:")]


def test_the_command_says_a_full_disk_in_one_line_and_resumes(tmp_path, capsys, monkeypatch):
    csv, model_dir = synthetic_source(tmp_path, n_texts=200, hidden=4, layers=1)
    args = ["extract", "--model", str(model_dir), "--dataset", str(csv), "--text-column", "text",
            "--label-column", "label", "--device", "cpu", "--chunk-states", "64", "--store", str(tmp_path / "store")]
    real, calls = partial_module.write_rows, []

    def filling(path, start, arrays):
        calls.append(start)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, start, arrays)

    monkeypatch.setattr(partial_module, "write_rows", filling)
    assert main(args) == 2
    captured = capsys.readouterr()
    (line,) = error_lines(captured.err, "extract")
    assert line.startswith(f"rnnpanel extract: error: the disk holding the store {tmp_path / 'store'} is full (")
    assert "the 2 of its" in line and line.endswith("run the same command again: it resumes where this one stopped")
    assert captured.out == ""
    monkeypatch.setattr(partial_module, "write_rows", real)
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed"] is True and summary["cache_hit"] is False


@pytest.mark.slow
@pytest.mark.skipif(not can_mount_tmpfs(), reason="a private tmpfs needs root and unshare")
def test_a_real_ten_megabyte_disk_fills_and_the_same_commands_finish_once_space_is_freed(tmp_path):
    # about 16,000 states of an LSTM of 32 units: 4.8 MB of entry on a 10 MB disk, in 65 shards
    csv, model_dir = synthetic_source(tmp_path, n_texts=800, min_len=5, max_len=35, hidden=32, layers=1)
    reference, _ = extract_to_store(model_dir, str(csv), split="all", chunk_states=256, store_root=tmp_path / "ref",
                                    text_column="text", label_column="label", device="cpu", progress=False)
    disk = tmp_path / "disk"
    disk.mkdir()
    result_file = tmp_path / "result.json"
    command = (f"mount -t tmpfs -o size=10m tmpfs {disk} && exec {sys.executable} {SCRIPT} {model_dir} {csv} "
               f"{disk} {result_file}")
    done = subprocess.run(["unshare", "--mount", "sh", "-c", command], capture_output=True, text=True, timeout=600,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    result = json.loads(result_file.read_text())
    assert result["free_at_start"] == 10 << 20 and result["shards_before_full"] >= 3

    full = result["full"]  # the disk filled while the shards were written
    assert full["rc"] == 2, full["stderr"]
    (line,) = error_lines(full["stderr"], "extract")
    assert line.startswith(f"rnnpanel extract: error: the disk holding the store {disk / 'store'} is full (0 B free) "
                           f"while writing entry {reference.key}: the ")
    assert " of its 65 shards written so far are kept" in line and "run the same command again" in line
    assert full["partial"] == [f".partial-{reference.key}"] and full["shards"] >= result["shards_before_full"]
    assert full["entries"] == []

    resumed = result["resumed"]  # space freed: the same command
    assert resumed["rc"] == 0, resumed["stderr"]
    summary = json.loads(resumed["stdout"])
    assert summary["resumed"] is True and summary["entry"] == reference.key
    assert resumed["entries"] == [reference.key] and resumed["partial"] == []

    map_full = result["map_full"]  # a map onto the full disk: refused before computing it
    assert map_full["rc"] == 2
    (line,) = error_lines(map_full["stderr"], "project")
    assert line.startswith(f"rnnpanel project: error: the pca map of layer 0 h of entry {reference.key} needs about ")
    assert line.endswith("has only 0 B free; free some space, or move the store to another disk")
    made = result["map"]
    assert made["rc"] == 0, made["stderr"]
    assert json.loads(made["stdout"])["cache_hit"] is False
    assert StateStore(tmp_path / "ref").entry(reference.key).attrs["n_states"] == summary["n_states"]
