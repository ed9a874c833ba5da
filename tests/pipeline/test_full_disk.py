"""A disk too small or filling up, and identical work at once, through the real pipeline.

The disk fills here by a write that raises ``ENOSPC`` (monkeypatched) at a chosen point: part-way
through the shards, during the commit, while a map or a neighbour index is written. The same on a
real 10 MB filesystem, through the command line, is tests/cli/test_full_disk_cli.py.
"""

from __future__ import annotations

import errno
import threading
import time

import numpy as np
import pytest
import zarr

from rnnpanel.errors import StoreError
from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.pipeline.project import project_states, requested_key
from rnnpanel.store import disk_space, locks
from rnnpanel.store import partial as partial_module
from rnnpanel.store import state_store as state_store_module
from rnnpanel.store.disk_space import DiskFull

from .conftest import synthetic_source

COLUMNS = {"text_column": "text", "label_column": "label"}
CHUNK = 97


def extract(model_dir, csv, store, **options):
    kwargs = {"split": "test", "device": "cpu", "progress": False, "chunk_states": CHUNK, **COLUMNS, **options}
    return extract_to_store(model_dir, str(csv), store_root=store, **kwargs)


def no_space() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def assert_same_bytes(a, b) -> None:
    assert sorted(a.array_names) == sorted(b.array_names)
    for name in a.array_names:
        assert np.array_equal(a.load(name), b.load(name)), f"{name} differs"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return synthetic_source(tmp_path_factory.mktemp("synthetic"), n_texts=300, layers=1)


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory):
    csv, model_dir = source
    entry, _ = extract(model_dir, csv, tmp_path_factory.mktemp("reference"))
    return entry


def test_an_entry_larger_than_the_free_space_is_refused_before_anything_is_written(source, tmp_path, monkeypatch):
    csv, model_dir = source
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 50_000)
    with pytest.raises(DiskFull) as caught:
        extract(model_dir, csv, tmp_path)
    message = str(caught.value)
    assert message.startswith("entry ") and "shards to write, uncompressed) needs about" in message
    assert f"but the disk holding the store {tmp_path} has only 50.0 kB free" in message
    assert caught.value.needed > 50_000 and "\n" not in message
    assert list((tmp_path / "entries").iterdir()) == [], "no partial folder, no lock file"


def test_a_disk_full_part_way_through_the_shards_keeps_them_and_the_same_call_resumes(
        source, reference, tmp_path, monkeypatch):
    csv, model_dir = source
    real, calls = partial_module.write_rows, []

    def filling(path, start, arrays):
        calls.append(start)
        if len(calls) == 4:
            raise no_space()
        real(path, start, arrays)

    monkeypatch.setattr(partial_module, "write_rows", filling)
    with pytest.raises(DiskFull) as caught:
        extract(model_dir, csv, tmp_path)
    n_shards = -(-int(reference.attrs["n_states"]) // CHUNK)
    message = str(caught.value)
    assert message.startswith(f"the disk holding the store {tmp_path} is full (")
    assert f"while writing entry {reference.key}: the 3 of its {n_shards} shards written so far are kept" in message
    assert message.endswith("free some space and run the same command again: it resumes where this one stopped")
    (partial,) = [p for p in (tmp_path / "entries").glob(".partial-*") if p.is_dir()]
    assert len(list((partial / "shards").glob("[0-9]*.npz"))) == 3
    assert not list((partial / "shards").glob(".tmp-*")), "nothing half-written is left"

    monkeypatch.setattr(partial_module, "write_rows", real)  # space freed
    entry, summary = extract(model_dir, csv, tmp_path)
    assert summary["resumed"] is True and summary["cache_hit"] is False and entry.key == reference.key
    assert_same_bytes(entry, reference)
    assert [p.name for p in (tmp_path / "entries").iterdir()] == [reference.key]


def test_a_disk_full_while_committing_keeps_every_shard_and_the_next_call_completes(
        source, reference, tmp_path, monkeypatch):
    csv, model_dir = source
    real, failed = zarr.Group.create_array, []

    def filling(self, name, *args, **kwargs):
        if name == "probs" and not failed:  # after offsets, labels and predictions were made
            failed.append(name)
            raise no_space()
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(zarr.Group, "create_array", filling)
    with pytest.raises(DiskFull, match=r"while writing entry \w+: all \d+ of its shards are written and kept, only "
                                       r"completing it failed; free some space and run the same command again"):
        extract(model_dir, csv, tmp_path)
    entry, summary = extract(model_dir, csv, tmp_path)
    assert summary["resumed"] is True and entry.key == reference.key
    assert_same_bytes(entry, reference)


def test_a_disk_full_while_recording_the_commit_leaves_the_entry_resumable(
        source, reference, tmp_path, monkeypatch):
    csv, model_dir = source
    real = partial_module.write_record

    def filling(folder, **kwargs):
        raise no_space()

    monkeypatch.setattr(partial_module, "write_record", filling)
    with pytest.raises(DiskFull, match="all .* shards are written and kept"):
        extract(model_dir, csv, tmp_path)
    (partial,) = [p for p in (tmp_path / "entries").glob(".partial-*") if p.is_dir()]
    assert "partial" in dict(zarr.open_group(str(partial), mode="r").attrs), "its plan was put back"
    monkeypatch.setattr(partial_module, "write_record", real)
    entry, summary = extract(model_dir, csv, tmp_path)
    assert summary["resumed"] is True
    assert_same_bytes(entry, reference)


def projection_files(store, entry) -> list[str]:
    folder = store.entry_path(entry.key) / "projections"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_map_the_disk_cannot_hold_is_refused_before_it_is_computed(store_with_entry, monkeypatch):
    store, entry = store_with_entry
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 1000)
    with pytest.raises(DiskFull, match=rf"^the pca map of layer 1 h of entry {entry.key} needs about .* but the "
                                       rf"disk holding the store {store.root} has only 1\.0 kB free"):
        project_states(entry.states(), method="pca")
    assert projection_files(store, entry) == []


def test_a_disk_full_while_a_map_is_written_is_one_message_and_the_same_call_works_later(
        store_with_entry, monkeypatch):
    store, entry = store_with_entry
    real = state_store_module._write_group

    def filling(path, arrays, attrs):
        real(path, arrays, attrs)  # the arrays fit, the last file does not
        raise no_space()

    monkeypatch.setattr(state_store_module, "_write_group", filling)
    with pytest.raises(DiskFull, match=rf"^the disk holding the store {store.root} is full \(.* free\): the pca map "
                                       rf"of layer 1 h of entry {entry.key} was computed but could not be stored, and "
                                       r"nothing of it was kept; free some space and run the same command again$"):
        project_states(entry.states(), method="pca")
    assert projection_files(store, entry) == [], "no half-written map, no lock file"
    monkeypatch.setattr(state_store_module, "_write_group", real)
    made = project_states(entry.states(), method="pca")
    assert made.cache_hit is False and project_states(entry.states(), method="pca").cache_hit is True


def test_a_disk_full_while_the_neighbour_index_is_written_is_one_message(store_with_entry, monkeypatch):
    from rnnpanel.pipeline import load, states
    from rnnpanel.pipeline.states import EntryStates

    store, entry = store_with_entry

    def filling(folder, arrays, attrs):
        raise no_space()

    monkeypatch.setattr(states, "write_mapped", filling)
    large = EntryStates(entry.states(), exact_up_to=10)  # above it: an index built and stored beside the entry
    with pytest.raises(DiskFull, match=rf"full \(.* free\): the neighbour index of layer 1 h of entry {entry.key} "
                                       "could not be stored, and nothing of it was kept"):
        large.neighbor_index()
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 100)
    with pytest.raises(DiskFull, match="the neighbour index of layer 1 h .* needs about .* only 100 B free"):
        EntryStates(entry.states(), exact_up_to=11).neighbor_index()
    monkeypatch.setattr(load, "write_mapped", filling)  # the mapped copy of the EP falls back to reading it
    assert np.array_equal(load.mapped_arrays(entry)["ep"], entry.load("ep"))


def test_a_second_projection_waits_for_the_first_and_reads_its_map(store_with_entry):
    store, entry = store_with_entry
    states = entry.states()
    pkey = requested_key(states, method="pca")
    lock_path = store.entry_path(entry.key) / "projections" / f".lock-{pkey}"
    lock_path.parent.mkdir(parents=True)
    first = locks.acquire(lock_path, wait=0)  # another process computing the same map
    locks.publish(first, fraction=0.5, message="fitting")
    heard: list[tuple[float, str]] = []
    results: list = []

    def second() -> None:
        results.append(project_states(states, method="pca", wait=30,
                                      progress=lambda fraction, message: heard.append((fraction, message))))

    with pytest.raises(StoreError, match=rf"^another process is computing the pca map of layer 1 h of entry "
                                             rf"{entry.key} right now; .* --wait SECONDS"):
        project_states(states, method="pca", wait=0)
    with pytest.raises(StoreError, match=rf"^waited 0\.3 s for another process computing the pca map of layer 1 "
                                             rf"h of entry {entry.key} \(50% done\) and it is still running; wait "
                                             "longer with --wait SECONDS"):
        project_states(states, method="pca", wait=0.3)
    thread = threading.Thread(target=second)
    thread.start()
    deadline = time.monotonic() + 10
    while not heard and time.monotonic() < deadline:
        time.sleep(0.01)
    assert heard and heard[-1] == (0.5, "waiting for another process computing this map: fitting")
    embedding = np.arange(2 * len(states), dtype=np.float32).reshape(-1, 2)
    store.write_projection(entry.key, pkey, {"embedding": embedding, "fitted": np.ones(len(states), bool),
                                             "step_distance": np.zeros(len(states), np.float32)},
                           {"method": "pca", "layer": 1, "state": "h"})
    locks.release(first, lock_path, remove=True)
    thread.join(10)
    (result,) = results
    assert result.cache_hit is True and np.array_equal(result.embedding, embedding)
    assert projection_files(store, entry) == [pkey], "one map, no lock file left"
