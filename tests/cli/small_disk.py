"""Run inside a private mount namespace with a small tmpfs at DISK: ``rnnpanel extract`` and
``rnnpanel project`` into a store on it while the disk fills, then again once space is freed.

    python small_disk.py MODEL_DIR CSV DISK RESULT_JSON

The tmpfs vanishes with the namespace, so everything the test checks is written to RESULT_JSON
(outside the tmpfs): each command's exit status, stdout and stderr, and what the store held.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def fill(disk: Path) -> Path:
    """Write a file until the disk is full (to the last byte); returns it."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return ballast


def done_shards(entries: Path) -> int:
    return len(list(entries.glob(".partial-*/shards/[0-9]*.npz")))


def outcome(proc_or_done, stdout: str, stderr: str, entries: Path) -> dict:
    return {"rc": proc_or_done.returncode, "stdout": stdout, "stderr": stderr, "shards": done_shards(entries),
            "partial": [p.name for p in entries.glob(".partial-*") if p.is_dir()],
            "entries": sorted(p.name for p in entries.iterdir() if p.is_dir() and not p.name.startswith("."))
            if entries.is_dir() else []}


def main() -> None:
    model_dir, csv, disk, result_file = sys.argv[1:5]
    disk = Path(disk)
    store = disk / "store"
    entries = store / "entries"
    extract = [sys.executable, "-m", "rnnpanel", "extract", "--model", model_dir, "--dataset", csv,
               "--text-column", "text", "--label-column", "label", "--device", "cpu", "--split", "all",
               "--chunk-states", "256", "--store", str(store)]
    project = [sys.executable, "-m", "rnnpanel", "project", "--store", str(store), "--method", "pca",
               "--no-progress"]
    result: dict = {"free_at_start": os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize}

    # the disk fills while the shards are written: the first extraction is paused after 3 shards
    # (kill -STOP), the disk filled to the last byte, and the extraction let go on
    proc = subprocess.Popen(extract, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while done_shards(entries) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGSTOP)
    result["shards_before_full"] = done_shards(entries)
    ballast = fill(disk)
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    result["full"] = outcome(proc, out, err, entries)

    ballast.unlink()  # space freed: the same command resumes
    again = subprocess.run(extract, capture_output=True, text=True, timeout=300)
    result["resumed"] = outcome(again, again.stdout, again.stderr, entries)

    ballast = fill(disk)  # a map onto a full disk: refused before it is computed
    full_map = subprocess.run(project, capture_output=True, text=True, timeout=300)
    result["map_full"] = outcome(full_map, full_map.stdout, full_map.stderr, entries)
    ballast.unlink()
    made = subprocess.run(project, capture_output=True, text=True, timeout=300)
    result["map"] = outcome(made, made.stdout, made.stderr, entries)
    Path(result_file).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
