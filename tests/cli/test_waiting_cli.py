"""Two identical ``rnnpanel extract`` (or ``rnnpanel project``) commands at once: one computes, the
other waits for it and reads its result as a cache hit; ``--wait 0`` refuses at once, a wait too
short says so and how to wait longer.

The first command is paused (``kill -STOP``) once it holds the work's lock, so the second one
certainly arrives while the work is under way, however fast the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnpanel.store import StateStore
from rnnpanel.store.locks import held
from tests.pipeline.conftest import synthetic_source

pytestmark = pytest.mark.slow


def until(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "rnnpanel", *args], stdout=subprocess.PIPE, stderr=err,
                                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def finish(proc: subprocess.Popen, log: Path) -> dict:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log.read_text()
    return json.loads(out)


def refused(args: list[str]) -> str:
    """The one error line of a command that must stop with exit 2."""
    done = subprocess.run([sys.executable, "-m", "rnnpanel", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    return done.stderr.splitlines()[-1].split("\r")[-1].strip()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return synthetic_source(tmp_path_factory.mktemp("waiting"), n_texts=800, min_len=5, max_len=35, hidden=32,
                            layers=1)


def test_two_identical_extractions_at_once_one_computes_the_other_waits_for_its_entry(source, tmp_path):
    csv, model_dir = source
    store = tmp_path / "store"
    args = ["extract", "--model", str(model_dir), "--dataset", str(csv), "--text-column", "text", "--label-column",
            "label", "--device", "cpu", "--split", "all", "--chunk-states", "256", "--store", str(store)]
    first = start(args, tmp_path / "first.err")
    until(lambda: len(list(store.glob("entries/.partial-*/shards/[0-9]*.npz"))) >= 2 or first.poll() is not None,
          "the first extraction's shards")
    os.kill(first.pid, signal.SIGSTOP)  # paused, holding the entry's lock
    try:
        line = refused([*args, "--wait", "0"])
        assert line.startswith("rnnpanel extract: error: another process is writing entry ")
        assert "wait for it to finish (its result will be a cache hit: give --wait SECONDS), or stop it first" in line
        line = refused([*args, "--wait", "1"])
        assert line.startswith("rnnpanel extract: error: waited 1 s for another process writing entry ")
        assert "shards written) and it is still running; wait longer with --wait SECONDS" in line
        second_log = tmp_path / "second.err"
        second = start(args, second_log)
        until(lambda: "waiting for another process writing entry" in second_log.read_text(), "the second to wait")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    computed, waited = finish(first, tmp_path / "first.err"), finish(second, second_log)
    assert computed["cache_hit"] is False and waited["cache_hit"] is True
    assert computed["entry"] == waited["entry"]
    assert sorted(p.name for p in (store / "entries").iterdir()) == [computed["entry"]], "one entry, nothing else"


def test_two_identical_projections_at_once_one_computes_the_other_waits_for_its_map(source, tmp_path):
    from rnnpanel.pipeline.extract import extract_to_store

    csv, model_dir = source
    store = tmp_path / "store"
    entry, _ = extract_to_store(model_dir, str(csv), split="all", store_root=store, text_column="text",
                                label_column="label", device="cpu", progress=False)
    projections = store / "entries" / entry.key / "projections"
    args = ["project", "--store", str(store), "--method", "pca"]
    first = start(args, tmp_path / "first.err")
    until(lambda: any(held(p) for p in projections.glob(".lock-*")) or first.poll() is not None,
          "the first projection's lock")
    os.kill(first.pid, signal.SIGSTOP)  # paused, holding the map's lock
    try:
        line = refused([*args, "--wait", "0"])
        assert line.startswith(f"rnnpanel project: error: another process is computing the pca map of layer 0 h of "
                               f"entry {entry.key} right now")
        line = refused([*args, "--wait", "1"])
        assert line.startswith(f"rnnpanel project: error: waited 1 s for another process computing the pca map of "
                               f"layer 0 h of entry {entry.key}")
        assert line.endswith("and it is still running; wait longer with --wait SECONDS (0 refuses at once), "
                             "or stop it first")
        second_log = tmp_path / "second.err"
        second = start(args, second_log)
        until(lambda: "waiting for another process" in second_log.read_text(), "the second to wait")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    computed, waited = finish(first, tmp_path / "first.err"), finish(second, second_log)
    assert computed["cache_hit"] is False and waited["cache_hit"] is True
    assert computed["projection_key"] == waited["projection_key"]
    assert sorted(p.name for p in projections.iterdir()) == [computed["projection_key"]], "one map, no lock left"
    assert len(StateStore(store).projections(entry.key)) == 1
