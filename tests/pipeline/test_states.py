"""Original-space states behind a map: the shared matrix and the nearest neighbours of a state."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.pipeline.states import nearest_states, state_matrix


def test_the_matrix_is_the_stored_states_read_once_and_read_only(store_with_entry):
    store, entry = store_with_entry
    m = state_matrix(store.root, entry.key, layer=0, state="c")
    np.testing.assert_array_equal(m, entry.states(0, "c"))
    assert state_matrix(store.root, entry.key, layer=0, state="c") is m
    with pytest.raises(ValueError):
        m[0, 0] = 1.0


def test_nearest_states_are_the_brute_force_ones_without_the_state_itself(store_with_entry):
    store, entry = store_with_entry
    x = entry.states(1, "h")
    i = 17
    idx, dist = nearest_states(store.root, entry.key, i, layer=1, state="h", k=5)
    brute = np.sqrt(((x - x[i]) ** 2).sum(1))
    brute[i] = np.inf
    assert list(idx) == list(np.argsort(brute, kind="stable")[:5])
    np.testing.assert_allclose(dist, np.sort(brute)[:5], rtol=1e-4, atol=1e-5)
    assert i not in idx


def test_a_vector_query_finds_the_same_neighbours_as_its_stored_state_plus_itself(store_with_entry):
    store, entry = store_with_entry
    x = entry.states(1, "h")
    by_index, _ = nearest_states(store.root, entry.key, 17, layer=1, state="h", k=5)
    by_vector, dist = nearest_states(store.root, entry.key, x[17].copy(), layer=1, state="h", k=6)
    assert by_vector[0] == 17 and dist[0] == pytest.approx(0.0, abs=1e-4)
    assert list(by_vector[1:]) == list(by_index)


@pytest.fixture
def large_entry_paths(monkeypatch):
    """Treat every entry as a whole corpus: rows read alone, neighbours from the IVF index."""
    from rnnpanel.pipeline import states

    monkeypatch.setattr(states, "EXACT_UP_TO", 0)
    for cache in (states._INDEXES, states._CHUNKS, states._ENTRIES):
        cache.clear()
    yield states
    for cache in (states._INDEXES, states._CHUNKS, states._ENTRIES):
        cache.clear()


def test_a_large_entrys_sequence_rows_are_read_alone_and_equal_the_stored_ones(store_with_entry, large_entry_paths):
    store, entry = store_with_entry
    offsets = entry.load("offsets")
    rows = slice(int(offsets[3]), int(offsets[5]))
    got = large_entry_paths.sequence_states(store.root, entry.key, rows, layer=0, state="c")
    np.testing.assert_array_equal(got, entry.states(0, "c")[rows])
    assert not large_entry_paths._MATRICES.get(large_entry_paths._key(store.root, entry.key, 0, "c"))


def test_a_large_entrys_neighbours_come_from_the_shared_ivf_index(store_with_entry, large_entry_paths, monkeypatch):
    store, entry = store_with_entry
    monkeypatch.setattr(large_entry_paths, "INDEX_PROBES", 10**6)    # every cell probed: the search is exact
    assert not large_entry_paths.neighbour_index_ready(store.root, entry.key, layer=1, state="h")
    x = entry.states(1, "h")
    idx, dist = nearest_states(store.root, entry.key, 17, layer=1, state="h", k=5)
    index = large_entry_paths.neighbour_index(store.root, entry.key, layer=1, state="h")
    assert index.approximate and index.matrix is None
    assert large_entry_paths.neighbour_index_ready(store.root, entry.key, layer=1, state="h")
    brute = np.sqrt(((x - x[17]) ** 2).sum(1))
    brute[17] = np.inf
    np.testing.assert_allclose(dist, np.sort(brute)[:5], rtol=1e-3, atol=1e-4)   # all 12 components kept
    assert 17 not in idx
    by_vector, _ = nearest_states(store.root, entry.key, x[17].copy(), layer=1, state="h", k=6)
    assert by_vector[0] == 17 and set(by_vector[1:]) == set(idx)


def test_a_large_entrys_index_owns_the_reduced_states_and_answers_as_a_copying_one(store_with_entry, large_entry_paths):
    """The index takes the reduced states over (no second copy while it is built): the same
    neighbours and distances as an index built from a copy of them."""
    from rnnpanel.compute.ann import IVFIndex

    store, entry = store_with_entry
    stored = large_entry_paths.StoredStates(large_entry_paths.opened_entry(store.root, entry.key), 1, "h")
    index = large_entry_paths.NeighbourIndex(stored, exact=False)
    copied = IVFIndex(index._reduce(stored[0:len(stored)]), n_cells=index.ivf.n_cells,
                      n_probe=large_entry_paths.INDEX_PROBES, random_state=0)
    np.testing.assert_allclose(index.ivf.points, copied.points, rtol=1e-6, atol=1e-6)
    for i in (0, 17, index.n - 1):
        idx, dist = index.query(i, 5)
        want_idx, want_dist = copied.query(copied.points[index._position[i]][None, :], 6)
        keep = want_idx[0] != i
        np.testing.assert_array_equal(idx, want_idx[0][keep][:5])
        np.testing.assert_allclose(dist, want_dist[0][keep][:5], rtol=1e-5, atol=1e-5)


def test_a_large_entrys_index_is_built_once_and_reopened_memory_mapped_by_the_next_process(
        store_with_entry, large_entry_paths, monkeypatch):
    """Another server (or another process of --num-procs) opens the stored index at once, without
    reading a state, and answers exactly as the process that built it."""
    store, entry = store_with_entry
    built = large_entry_paths.neighbour_index(store.root, entry.key, layer=1, state="h")
    answers = [built.query(i, 5) for i in (0, 17, built.n - 1)]
    x = entry.states(1, "h")
    by_vector = built.query_vectors(x[[3, 40]], 4)
    folder = store.derived_path(entry.key, large_entry_paths.index_name(1, "h"))
    assert (folder / "attrs.json").is_file()
    large_entry_paths._INDEXES.clear()                     # as in a new process
    assert large_entry_paths.neighbour_index_ready(store.root, entry.key, layer=1, state="h")
    monkeypatch.setattr(large_entry_paths.StoredStates, "__getitem__",
                        lambda *a: pytest.fail("the stored index was built again from the states"))
    reopened = large_entry_paths.neighbour_index(store.root, entry.key, layer=1, state="h")
    assert reopened is not built and isinstance(reopened.ivf.points, np.memmap)
    for i, (idx, dist) in zip((0, 17, built.n - 1), answers, strict=True):
        got_idx, got_dist = reopened.query(i, 5)
        np.testing.assert_array_equal(got_idx, idx)
        np.testing.assert_array_equal(got_dist, dist)
    for got, want in zip(reopened.query_vectors(x[[3, 40]], 4), by_vector, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not large_entry_paths.neighbour_index_ready(store.root, entry.key, layer=0, state="h")  # per layer
    assert large_entry_paths.neighbour_index(store.root, entry.key, layer=-1, state="h") is reopened  # the top one


def test_mapped_arrays_are_written_whole_or_not_at_all(tmp_path):
    from rnnpanel.store.mapped import has_mapped, read_mapped, write_mapped

    folder = tmp_path / "indexes" / "one"
    with pytest.raises(RuntimeError):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
            write_mapped(folder, {"a": np.arange(3)}, {"k": 1})
    assert not has_mapped(folder) and not folder.exists()
    write_mapped(folder, {"a": np.arange(3, dtype=np.int64), "b": np.ones((2, 2), np.float32)}, {"k": 1})
    arrays, attrs = read_mapped(folder)
    assert attrs == {"k": 1} and isinstance(arrays["a"], np.memmap)
    np.testing.assert_array_equal(arrays["a"], np.arange(3))
    with pytest.raises(ValueError):
        arrays["b"][0, 0] = 2.0                            # read-only: shared by every reader


FAST_TSNE = {"max_iter": 60, "early_exaggeration_iter": 30, "perplexity": 10}


def test_new_states_are_placed_by_the_fitted_backend_then_by_their_stored_neighbours(store_with_entry):
    from rnnpanel.pipeline import project
    from rnnpanel.pipeline.states import place_states

    store, entry = store_with_entry
    emb, attrs = project.project_entry(store, entry, method="tsne", backend="opentsne", params=FAST_TSNE)
    states = entry.states(-1, "h")
    xy, how = place_states(store, entry, attrs["projection_key"], states[:5] + 1e-4)
    assert how == "transform" and xy.shape == (5, 2) and np.isfinite(xy).all()
    project._FITTED.clear()  # as in a new process that read the map from the cache
    xy, how = place_states(store, entry, attrs["projection_key"], states[:5], k=1)
    assert how == "neighbors"
    np.testing.assert_allclose(xy, emb[:5])  # a stored state's nearest stored state is itself


def test_a_large_entrys_new_states_are_placed_through_its_shared_index_without_reading_the_matrix(
        store_with_entry, large_entry_paths, monkeypatch):
    """Live input on a whole corpus: neither the (N, D) matrix read nor N distances per step."""
    from rnnpanel.pipeline import project
    from rnnpanel.store import StoredEntry

    store, entry = store_with_entry
    emb, attrs = project.project_entry(store, entry, method="pca")
    project._FITTED.clear()
    states = entry.states(-1, "h")
    monkeypatch.setattr(large_entry_paths, "INDEX_PROBES", 10**6)    # every cell probed: the search is exact
    monkeypatch.setattr(StoredEntry, "states", lambda *a, **k: pytest.fail("the whole state matrix was read"))
    xy, how = large_entry_paths.place_states(store, entry, attrs["projection_key"], states[[3, 40]], k=1)
    assert how == "neighbors"
    np.testing.assert_allclose(xy, emb[[3, 40]], atol=1e-5)
    index = large_entry_paths.neighbour_index(store.root, entry.key, layer=int(attrs["layer"]), state="h")
    assert index.approximate      # the Neighbours tab's index, built once and shared


def test_a_large_entrys_index_is_built_in_a_child_process_and_the_server_only_opens_it(
        store_with_entry, large_entry_paths, monkeypatch):
    """The Neighbours tab's first use: the index is built and stored by a spawned process; the
    serving process reads no state and only maps the stored arrays."""
    store, entry = store_with_entry
    seen = []
    assert large_entry_paths.store_neighbour_index(store.root, entry.key, layer=1, state="h",
                                                   report=lambda f, m="": seen.append(m))
    assert seen and "neighbour index" in seen[0]
    monkeypatch.setattr(large_entry_paths.StoredStates, "__getitem__",
                        lambda *a: pytest.fail("the server read the states itself"))
    index = large_entry_paths.neighbour_index(store.root, entry.key, layer=1, state="h")
    assert isinstance(index.ivf.points, np.memmap) and index.n == entry.attrs["n_states"]
    assert not large_entry_paths.store_neighbour_index(store.root, entry.key, layer=1, state="h")  # stored once


def test_a_neighbour_index_that_cannot_be_built_is_one_clear_error(store_with_entry, large_entry_paths):
    from rnnpanel.errors import RnnpanelError

    store, entry = store_with_entry
    with pytest.raises(RnnpanelError, match="unknown state kind 'q'"):
        large_entry_paths.store_neighbour_index(store.root, entry.key, layer=1, state="q")
