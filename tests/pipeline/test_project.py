"""project_states: what it stores, the cache, the scale strategy, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnpanel.compute.distances import step_distances
from rnnpanel.compute.projection import AutoProjection
from rnnpanel.errors import StoreError
from rnnpanel.pipeline.project import ProjectionResult, default_entry, project_states
from rnnpanel.store import StateStore

from .conftest import write_model_entry

FAST_TSNE = {"max_iter": 60, "early_exaggeration_iter": 30, "perplexity": 10}


def project(entry, *, layer: int = -1, kind: str = "h", **options):
    """The map of one layer's states of ``entry`` and its summary (what the CLI prints)."""
    result = project_states(entry.states(layer=layer, kind=kind), **options)
    assert isinstance(result, ProjectionResult)
    return result.embedding, result.summary()


def test_projection_is_stored_with_fitted_mask_and_step_distances(store_with_entry):
    store, entry = store_with_entry
    emb, attrs = project(entry, method="pca", backend="auto")
    n = entry.attrs["n_states"]
    assert emb.shape == (n, 2) and emb.dtype == np.float32
    assert not attrs["cache_hit"] and attrs["backend_used"] == "pca" and attrs["layer"] == 1 and attrs["state"] == "h"
    arrays, stored = store.read_projection(entry.key, attrs["projection_key"])
    np.testing.assert_array_equal(arrays["embedding"], emb)
    assert arrays["fitted"].dtype == bool and arrays["fitted"].all()
    states, offsets = entry.states(layer=1, kind="h").read_all(), entry.load("offsets")
    np.testing.assert_allclose(arrays["step_distance"], step_distances(states, offsets), rtol=1e-6, equal_nan=True)
    raw = step_distances(states, offsets, normalize=False)
    assert stored["step_distance_max"] == pytest.approx(float(np.nanmax(raw)))
    expected = AutoProjection(method="pca", random_state=0).fit_transform(states)
    np.testing.assert_allclose(emb, expected, rtol=1e-5)
    json.dumps(stored)  # attributes stay plain JSON


def test_second_call_is_a_cache_hit_and_returns_the_same_map(store_with_entry):
    store, entry = store_with_entry
    emb1, a1 = project(entry, method="tsne", backend="opentsne", params=FAST_TSNE)
    calls = []
    emb2, a2 = project(entry, method="tsne", backend="opentsne", params=FAST_TSNE,
                             progress=lambda f, m: calls.append(f))
    assert a2["cache_hit"] and not a1["cache_hit"] and not calls
    assert a2["projection_key"] == a1["projection_key"] and a2["backend_used"] == "opentsne"
    np.testing.assert_array_equal(emb1, emb2)
    _, a3 = project(entry, method="tsne", backend="opentsne", params={**FAST_TSNE, "perplexity": 8})
    assert not a3["cache_hit"] and a3["projection_key"] != a1["projection_key"]
    _, a4 = project(entry, layer=0, method="pca")
    _, a5 = project(entry, layer=0, kind="c", method="pca")
    assert len({a1["projection_key"], a4["projection_key"], a5["projection_key"]}) == 3
    assert len(store.projections(entry.key)) == 4


def test_layer_minus_one_and_its_index_share_a_cache_entry(store_with_entry):
    store, entry = store_with_entry
    _, a = project(entry, layer=-1, method="pca")
    _, b = project(entry, layer=1, method="pca")
    assert b["cache_hit"] and a["projection_key"] == b["projection_key"]


def test_an_interrupted_write_leaves_no_projection_a_later_run_trusts(store_with_entry, monkeypatch):
    store, entry = store_with_entry
    from rnnpanel.store import state_store

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(state_store, "_write_group", crash)
    with pytest.raises(KeyboardInterrupt):
        project(entry, method="pca")
    monkeypatch.undo()
    assert store.projections(entry.key) == []
    _, attrs = project(entry, method="pca")
    assert not attrs["cache_hit"] and len(store.projections(entry.key)) == 1


def test_scale_strategy_is_recorded(store_with_entry):
    store, entry = store_with_entry
    emb, attrs = project(entry, method="tsne", backend="sklearn",
                               params={"max_iter": 250, "perplexity": 10}, max_fit=120)
    arrays, _ = store.read_projection(entry.key, attrs["projection_key"])
    assert attrs["n_fitted"] == 120 == int(arrays["fitted"].sum()) and attrs["placement"] == "neighbors"
    assert np.isfinite(emb).all()


def test_progress_quality_and_timings(store_with_entry):
    store, entry = store_with_entry
    seen = []
    _, attrs = project(entry, method="tsne", backend="auto", params=FAST_TSNE, quality=True,
                             progress=lambda f, m: seen.append((f, m)))
    assert seen and seen[-1][0] == 1.0
    assert set(attrs["skipped"]) >= {"tsnecuda", "cuml"} or attrs["backend_used"] in ("tsnecuda", "cuml")
    q = attrs["quality"]
    assert 0.5 < q["trustworthiness"] <= 1 and 0 < q["knn_preservation"] <= 1 and 0 <= q["neighborhood_hit"] <= 1
    assert attrs["seconds_total"] >= attrs["seconds_backend"] > 0 and attrs["seconds_overhead"] >= 0


def test_default_entry_is_the_most_recent(tmp_path):
    store = StateStore(tmp_path / "s")
    with pytest.raises(StoreError, match="no entries"):
        default_entry(store)
    write_model_entry(store, seed=1, created=1.0)
    newer = write_model_entry(store, seed=2, n_sequences=20, created=2.0)
    _, attrs = project(default_entry(store), method="pca")
    assert attrs["entry_key"] == newer.key and attrs["n_states"] == newer.attrs["n_states"]


def test_bad_requests(store_with_entry):
    store, entry = store_with_entry
    with pytest.raises(StoreError, match="layer 2 out of range"):
        project(entry, layer=2)
    with pytest.raises(StoreError, match="unknown state kind"):
        project(entry, kind="z")
    with pytest.raises(ValueError, match="unknown projection method"):
        project(entry, method="lle")
    with pytest.raises(ValueError, match="computes tsne, not umap"):
        project(entry, method="umap", backend="sklearn")


def test_polish_steps_of_placed_states_are_part_of_the_stored_map(store_with_entry):
    """``--polish-iter`` chooses how placed states settle: another value is another map, and the
    default written out is the default's own cache entry."""
    store, entry = store_with_entry
    kw = {"method": "tsne", "backend": "opentsne", "params": FAST_TSNE, "max_fit": 150}
    polished, a = project(entry, **kw)
    _, same = project(entry, polish_iter=50, **kw)
    median, b = project(entry, polish_iter=0, **kw)
    fitted = store.read_projection(entry.key, a["projection_key"])[0]["fitted"]
    assert same["cache_hit"] and same["projection_key"] == a["projection_key"]
    assert not b["cache_hit"] and b["projection_key"] != a["projection_key"]
    assert (~fitted).sum() > 0
    np.testing.assert_array_equal(polished[fitted], median[fitted])     # the fitted sample does not move
    assert not np.allclose(polished[~fitted], median[~fitted])
    with pytest.raises(ValueError, match="polish_iter .--polish-iter. must be 0 or a positive"):
        project(entry, polish_iter=-1, **kw)
