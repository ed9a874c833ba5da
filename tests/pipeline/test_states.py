"""One entry's states of one layer and kind (:class:`EntryStates`): rows, blocks, the shared
matrix, the nearest neighbours of a state, and what a child process is handed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from rnnpanel.errors import StoreError
from rnnpanel.pipeline.states import EntryStates, StatesSettings


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts as a new process would: nothing read or built yet."""
    caches = (EntryStates._matrices, EntryStates._blocks, EntryStates._indexes, EntryStates._samples)
    for cache in caches:
        cache.clear()
    yield
    for cache in caches:
        cache.clear()


def test_the_matrix_is_the_stored_states_read_once_and_read_only(store_with_entry):
    store, entry = store_with_entry
    states = EntryStates(store.entry(entry.key).states(layer=0, kind="c"))
    m = states.matrix()
    np.testing.assert_array_equal(m, entry.states(layer=0, kind="c").read_all())
    assert EntryStates(store.entry(entry.key).states(layer=0, kind="c")).matrix() is m     # one copy per process
    with pytest.raises(ValueError):
        m[0, 0] = 1.0


def test_layer_minus_one_is_the_top_layer_and_shares_its_caches(store_with_entry):
    store, entry = store_with_entry
    top = EntryStates(store.entry(entry.key).states(layer=-1))
    assert top.layer == 1 and top.settings == EntryStates(store.entry(entry.key).states(layer=1)).settings
    assert top.matrix() is EntryStates(store.entry(entry.key).states(layer=1)).matrix()


def test_rows_and_blocks_are_the_stored_ones_for_small_and_large_entries(store_with_entry):
    store, entry = store_with_entry
    whole = entry.states(layer=0, kind="c").read_all()
    offsets = entry.load("offsets")
    rows = slice(int(offsets[3]), int(offsets[5]))
    small = EntryStates(store.entry(entry.key).states(layer=0, kind="c"))
    large = EntryStates(store.entry(entry.key).states(layer=0, kind="c"), exact_up_to=0)
    np.testing.assert_array_equal(small.rows(rows), whole[rows])
    np.testing.assert_array_equal(large.rows(rows), whole[rows])
    stored = large.stored
    step = stored.block_rows
    np.testing.assert_array_equal(stored.block(0), whole[:step])
    assert stored.shape == whole.shape and stored[2:5].dtype == np.float32


def test_a_large_entrys_rows_come_from_kept_blocks_not_the_matrix(store_with_entry):
    store, entry = store_with_entry
    large = EntryStates(store.entry(entry.key).states(layer=0, kind="c"), exact_up_to=0)
    large.rows(slice(0, 3))
    assert len(EntryStates._blocks) == 1 and len(EntryStates._matrices) == 0
    with pytest.raises(StoreError, match="too many to hold"):
        large.matrix()


def test_the_child_settings_are_a_small_value_that_reopens_the_same_states(store_with_entry):
    store, entry = store_with_entry
    states = EntryStates(store.entry(entry.key).states(layer=-1, kind="h"), exact_up_to=7, index_probes=3)
    settings = states.settings
    assert settings == StatesSettings(str(store.root.resolve()), entry.key, 1, "h", 7, 3)
    again = pickle.loads(pickle.dumps(settings))        # what crosses to a spawned child
    reopened = EntryStates.from_settings(again)
    assert reopened.settings == settings and reopened.exact_up_to == 7 and reopened.index_probes == 3
    np.testing.assert_array_equal(reopened.rows(slice(0, 5)), states.rows(slice(0, 5)))
    with pytest.raises(AttributeError):
        settings.layer = 0                              # frozen


def test_nearest_states_are_the_brute_force_ones_without_the_state_itself(store_with_entry):
    store, entry = store_with_entry
    x = entry.states(layer=1, kind="h").read_all()
    i = 17
    idx, dist = EntryStates(store.entry(entry.key).states(layer=1)).nearest(i, k=5)
    brute = np.sqrt(((x - x[i]) ** 2).sum(1))
    brute[i] = np.inf
    assert list(idx) == list(np.argsort(brute, kind="stable")[:5])
    np.testing.assert_allclose(dist, np.sort(brute)[:5], rtol=1e-4, atol=1e-5)
    assert i not in idx


def test_a_vector_query_finds_the_same_neighbors_as_its_stored_state_plus_itself(store_with_entry):
    store, entry = store_with_entry
    x = entry.states(layer=1, kind="h").read_all()
    states = EntryStates(store.entry(entry.key).states(layer=1))
    by_index, _ = states.nearest(17, k=5)
    by_vector, dist = states.nearest(x[17].copy(), k=6)
    assert by_vector[0] == 17 and dist[0] == pytest.approx(0.0, abs=1e-4)
    assert list(by_vector[1:]) == list(by_index)


@pytest.fixture
def large(store_with_entry):
    """Open an entry's states as a whole corpus's: rows read alone, neighbours from the IVF index
    (every cell probed, so the search is exact)."""
    store, entry = store_with_entry

    def open_states(layer: int = 1, kind: str = "h", probes: int = 10**6) -> EntryStates:
        return EntryStates(store.entry(entry.key).states(layer=layer, kind=kind), exact_up_to=0, index_probes=probes)

    return open_states


def test_a_large_entrys_neighbors_come_from_the_shared_ivf_index(store_with_entry, large):
    _, entry = store_with_entry
    states = large()
    assert not states.neighbor_index_ready()
    x = entry.states(layer=1, kind="h").read_all()
    idx, dist = states.nearest(17, k=5)
    index = states.neighbor_index()
    assert index.approximate and index.matrix is None
    assert states.neighbor_index_ready()
    brute = np.sqrt(((x - x[17]) ** 2).sum(1))
    brute[17] = np.inf
    np.testing.assert_allclose(dist, np.sort(brute)[:5], rtol=1e-3, atol=1e-4)   # all 12 components kept
    assert 17 not in idx
    by_vector, _ = states.nearest(x[17].copy(), k=6)
    assert by_vector[0] == 17 and set(by_vector[1:]) == set(idx)


def test_a_large_entrys_index_owns_the_reduced_states_and_answers_as_a_copying_one(store_with_entry):
    """The index takes the reduced states over (no second copy while it is built): the same
    neighbours and distances as an index built from a copy of them."""
    from rnnpanel.compute.ann import IVFIndex
    from rnnpanel.pipeline.neighbor_index import INDEX_PROBES, NeighborIndex

    _, entry = store_with_entry
    stored = entry.states(layer=1, kind="h")
    index = NeighborIndex(stored, exact=False)
    copied = IVFIndex(index._reduce(stored.read_all()), n_cells=index.ivf.n_cells, n_probe=INDEX_PROBES,
                      random_state=0)
    np.testing.assert_allclose(index.ivf.points, copied.points, rtol=1e-6, atol=1e-6)
    for i in (0, 17, index.n - 1):
        idx, dist = index.query(i, 5)
        want_idx, want_dist = copied.query(copied.points[index._position[i]][None, :], 6)
        keep = want_idx[0] != i
        np.testing.assert_array_equal(idx, want_idx[0][keep][:5])
        np.testing.assert_allclose(dist, want_dist[0][keep][:5], rtol=1e-5, atol=1e-5)


def test_a_large_entrys_index_is_built_once_and_reopened_memory_mapped_by_the_next_process(
        store_with_entry, large, monkeypatch):
    """Another server (or another process of --num-procs) opens the stored index at once, without
    reading a state, and answers exactly as the process that built it."""
    from rnnpanel.pipeline.neighbor_index import index_name
    from rnnpanel.store import LayerStates

    store, entry = store_with_entry
    built = large().neighbor_index()
    answers = [built.query(i, 5) for i in (0, 17, built.n - 1)]
    x = entry.states(layer=1, kind="h").read_all()
    by_vector = built.query_vectors(x[[3, 40]], 4)
    folder = store.derived_path(entry.key, index_name(1, "h", probes=10**6))
    assert (folder / "attrs.json").is_file()
    EntryStates._indexes.clear()                           # as in a new process
    assert large().neighbor_index_ready()
    monkeypatch.setattr(LayerStates, "__getitem__",
                        lambda *a: pytest.fail("the stored index was built again from the states"))
    reopened = large().neighbor_index()
    assert reopened is not built and isinstance(reopened.ivf.points, np.memmap)
    for i, (idx, dist) in zip((0, 17, built.n - 1), answers, strict=True):
        got_idx, got_dist = reopened.query(i, 5)
        np.testing.assert_array_equal(got_idx, idx)
        np.testing.assert_array_equal(got_dist, dist)
    for got, want in zip(reopened.query_vectors(x[[3, 40]], 4), by_vector, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not large(layer=0).neighbor_index_ready()         # per layer
    assert large(layer=-1).neighbor_index() is reopened      # the top one


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


def test_new_states_are_placed_by_the_fitted_backend_then_by_their_stored_neighbors(store_with_entry):
    from rnnpanel.pipeline import project

    store, entry = store_with_entry
    states = EntryStates(store.entry(entry.key).states())
    result = states.project(method="tsne", backend="opentsne", params=FAST_TSNE)
    x = entry.states(layer=-1, kind="h").read_all()
    xy, how = states.place(x[:5] + 1e-4, result)
    assert how == "transform" and xy.shape == (5, 2) and np.isfinite(xy).all()
    project._FITTED.clear()  # as in a new process that read the map from the cache
    xy, how = states.place(x[:5], result, k=1)
    assert how == "neighbors"
    np.testing.assert_allclose(xy, result.embedding[:5])  # a stored state's nearest stored state is itself


def test_a_large_entrys_new_states_are_placed_through_its_shared_index_without_reading_the_matrix(
        store_with_entry, large, monkeypatch):
    """Live input on a whole corpus: neither the (N, D) matrix read nor N distances per step."""
    from rnnpanel.pipeline import project
    from rnnpanel.store import LayerStates

    _, entry = store_with_entry
    states = large(layer=-1)
    result = states.project(method="pca")
    project._FITTED.clear()
    x = entry.states(layer=-1, kind="h").read_all()
    monkeypatch.setattr(LayerStates, "read_all", lambda *a, **k: pytest.fail("the whole state matrix was read"))
    xy, how = states.place(x[[3, 40]], result, k=1)
    assert how == "neighbors"
    np.testing.assert_allclose(xy, result.embedding[[3, 40]], atol=1e-5)
    assert states.neighbor_index().approximate       # the Neighbours tab's index, built once and shared


def test_a_large_entrys_index_is_built_in_a_child_process_and_the_server_only_opens_it(
        store_with_entry, large, monkeypatch):
    """The Neighbours tab's first use: the index is built and stored by a spawned process (handed
    the settings, with the parent's limits); the serving process reads no state and only maps
    the stored arrays."""
    from rnnpanel.store import LayerStates

    _, entry = store_with_entry
    seen = []
    states = large()
    assert states.store_neighbor_index(report=lambda f, m="": seen.append(m))
    assert seen and "neighbour index" in seen[0]
    monkeypatch.setattr(LayerStates, "__getitem__", lambda *a: pytest.fail("the server read the states itself"))
    index = states.neighbor_index()
    assert isinstance(index.ivf.points, np.memmap) and index.n == entry.attrs["n_states"]
    assert not states.store_neighbor_index()      # stored once


def test_a_map_is_computed_in_a_child_process_once(store_with_entry):
    store, entry = store_with_entry
    states = EntryStates(store.entry(entry.key).states(layer=0))
    assert not states.has_map("pca")
    assert states.store_map("pca")
    assert states.has_map("pca") and not states.store_map("pca")
    assert states.preferred_method("tsne") == "pca"


def test_states_that_do_not_exist_are_one_clear_error(store_with_entry):
    store, entry = store_with_entry
    with pytest.raises(StoreError, match="unknown state kind 'q'"):
        EntryStates(store.entry(entry.key).states(layer=1, kind="q"))
    with pytest.raises(StoreError, match="layer 2 out of range"):
        EntryStates(store.entry(entry.key).states(layer=2))
    with pytest.raises(StoreError, match="no entry"):
        EntryStates(store.entry("missing").states())
