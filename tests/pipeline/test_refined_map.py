"""A placed t-SNE map refined once in a process of its own, stored under a key derived from the placed
map's, and read (never computed again) by every later process and sample."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnpanel.cli import main
from rnnpanel.pipeline.map_label import map_label
from rnnpanel.pipeline.project import project_states
from rnnpanel.pipeline.refined_map import (
    best_map_key,
    log_path,
    needs_refinement,
    refine_stored_map,
    refined_key,
    refinement_status,
    start_refinement,
)
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.store import StateStore, locks
from rnnpanel.store.atomic import LOCK_PREFIX
from rnnpanel.store.state_store import PROJECTIONS
from tests.pipeline.conftest import write_model_entry
from tests.ui.conftest import small_store  # noqa: F401 -- a real extracted entry (the app's samples need one)

PLACED = {"method": "tsne", "backend": "opentsne", "params": {"max_iter": 150, "perplexity": 10.0}, "max_fit": 300}


@pytest.fixture
def placed(tmp_path):
    """A real entry of about 2,800 states whose t-SNE map fits 300 of them and places the rest."""
    store = StateStore(tmp_path / "store")
    entry = write_model_entry(store, n_sequences=400, layers=1, hidden=12)
    states = entry.states(layer=-1, kind="h")
    result = project_states(states, **PLACED)
    assert result.attrs["placement"] == "neighbors" and needs_refinement(result.attrs)
    return store, entry, states, result


def _wait_done(states, key, timeout=240.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        status = refinement_status(states, key)
        seen.append(status)
        if status.state in ("done", "failed"):
            return status, seen
        time.sleep(0.2)
    raise AssertionError(f"the refinement did not end in {timeout} s: {seen[-3:]}")


def test_the_background_process_stores_the_refined_map_and_a_second_process_reads_it(placed):
    store, entry, states, result = placed
    assert refinement_status(states, result.key).state == "none"
    assert best_map_key(states, result.key) == result.key           # nothing refined yet: the placed map
    assert start_refinement(states, result.key)
    assert not start_refinement(states, result.key)                 # started once per map and process
    status, seen = _wait_done(states, result.key)
    assert status.state == "done", status.message
    key = refined_key(result.key)
    assert key != result.key and store.has_projection(entry.key, key)
    assert best_map_key(states, result.key) == key
    arrays, attrs = store.read_projection(entry.key, key)
    placed_arrays, _ = store.read_projection(entry.key, result.key)
    assert attrs["placement"] == "neighbors+refined" and attrs["refined_from"] == result.key
    assert attrs["refine"]["n_iter"] == 150 and attrs["refine"]["peak_rss_mb"] > 0
    np.testing.assert_array_equal(arrays["fitted"], placed_arrays["fitted"])
    assert not np.allclose(arrays["embedding"], placed_arrays["embedding"])   # every state moved together
    assert map_label(attrs) == "t-SNE · openTSNE, 300 fitted + placed, refined"
    # another process asks for the same refinement: a cache hit, nothing computed again
    code = ("import json, sys; from rnnpanel.store import StateStore; "
            "from rnnpanel.pipeline.refined_map import refine_stored_map; "
            f"s = StateStore({str(store.root)!r}).entry({entry.key!r}).states(layer=-1, kind='h'); "
            f"r = refine_stored_map(s, {result.key!r}); print(json.dumps([r.key, r.cache_hit]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [key, True]
    assert not start_refinement(states, result.key)
    assert key in log_path(entry.key, key).read_text()              # the refining process's summary line


def test_while_a_process_holds_the_refinement_others_see_its_progress_and_compute_nothing(placed):
    store, entry, states, result = placed
    key = refined_key(result.key)
    path = store.entry_path(entry.key) / PROJECTIONS / f"{LOCK_PREFIX}{key}"
    handle = locks.acquire(path, wait=0)
    try:
        locks.publish(handle, fraction=0.4, message="iteration 12 of 150")
        status = refinement_status(states, result.key)
        assert (status.state, status.fraction, status.message) == ("running", 0.4, "iteration 12 of 150")
        assert refine_stored_map(states, result.key) is None          # it leaves the work to the holder
        assert not start_refinement(states, result.key)
    finally:
        locks.release(handle, path, remove=True)
    assert not store.has_projection(entry.key, key)


def test_a_later_sample_draws_the_refined_map_once_it_is_stored(small_store, tmp_path, monkeypatch):  # noqa: F811
    """The app's samples are keyed by the map they draw: the placed map's sample first, the refined
    map's after it is stored (the app's own map is made placed here, as it is above 250,000 states)."""
    import shutil

    shutil.copytree(small_store["store"], tmp_path / "store", ignore=shutil.ignore_patterns("projections", "derived"))
    states = StateStore(tmp_path / "store").entry(small_store["entry"]).states(layer=-1, kind="h")
    result = project_states(states, **{**PLACED, "max_fit": 100})
    monkeypatch.setattr("rnnpanel.pipeline.states.requested_key", lambda *a, **k: result.key)
    monkeypatch.setattr("rnnpanel.pipeline.load.project_states", lambda *a, **k: result)
    shared = EntryStates(states)
    first = shared.sample(method="tsne")
    assert first.projection == "t-SNE · openTSNE, 100 fitted + placed"
    refined = refine_stored_map(states, result.key)
    again = shared.sample(method="tsne")
    assert again is not first and again.projection == "t-SNE · openTSNE, 100 fitted + placed, refined"
    np.testing.assert_array_equal(again.xy, refined.embedding)
    assert shared.sample(method="tsne") is again                     # shared, not rebuilt


def test_refining_a_map_fitted_whole_is_refused(tmp_path):
    store = StateStore(tmp_path / "store")
    entry = write_model_entry(store, n_sequences=40, layers=1, hidden=8)
    states = entry.states(layer=-1, kind="h")
    whole = project_states(states, method="pca")
    with pytest.raises(ValueError, match="not a placed t-SNE map"):
        refine_stored_map(states, whole.key)
    assert map_label(whole.attrs) == "PCA · torch"
    assert map_label({"method": "tsne", "backend_used": "cuml", "placement": "none", "n_fitted": 10,
                      "n_states": 10}) == "t-SNE · cuML"


def test_project_refine_prints_the_placed_then_the_refined_map(placed, capsys):
    store, entry, states, result = placed
    code = main(["project", "--store", str(store.root), "--entry", entry.key, "--method", "tsne", "--backend",
                 "opentsne", "--max-iter", "150", "--perplexity", "10", "--max-fit", "300", "--refine",
                 "--no-progress"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines[0]["projection_key"] == result.key and lines[0]["cache_hit"]
    assert lines[1]["projection_key"] == refined_key(result.key) and lines[1]["refined_from"] == result.key
    assert lines[1]["placement"] == "neighbors+refined"
