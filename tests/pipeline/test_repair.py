"""Damaged stores: every fault is found, named, and repaired back to the bytes the entry had.

Each test copies one real extracted entry (a 2-layer LSTM over a synthetic CSV, states in chunks
of 512 rows, with a PCA map and a memory-mapped copy of its EP), damages the copy the way a bad
disk or an interrupted copy would, and checks what `check_entry` says and what `repair_entry`
brings back, file by file.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnpanel.errors import DamagedEntry, StoreError
from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.pipeline.load import mapped_arrays
from rnnpanel.pipeline.project import project_states
from rnnpanel.pipeline.repair import repair_entry
from rnnpanel.store import StateStore
from rnnpanel.store.check import DAMAGED, FINE, UNCHECKED, check_entry, check_store

from .conftest import synthetic_source

CHUNK = 512


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A store with one complete entry, a map and a derived folder: ``(store root, entry key, model dir)``."""
    folder = tmp_path_factory.mktemp("pristine")
    csv, model_dir = synthetic_source(folder, n_texts=500, max_len=40)
    entry, _ = extract_to_store(model_dir, str(csv), store_root=folder / "store", split="test", device="cpu",
                                progress=False, text_column="text", label_column="label", chunk_states=CHUNK)
    assert entry.attrs["n_states"] > 3 * CHUNK  # several chunks per state array
    project_states(entry.states(layer=0, kind="h"), method="pca")
    mapped_arrays(entry)
    return folder / "store", entry.key, model_dir


@pytest.fixture
def damaged_copy(pristine, tmp_path):
    """A copy of the pristine store to damage: ``(store, entry path)``."""
    root, key, _ = pristine
    shutil.copytree(root, tmp_path / "store")
    store = StateStore(tmp_path / "store")
    return store, store.entry_path(key)


def differing_files(a: Path, b: Path) -> list[str]:
    """Files missing, extra or with other bytes in ``b`` than in ``a`` (a map's own timing attributes
    aside: a recomputed map is the same map, timed again)."""
    out = []
    names = {p.relative_to(a) for p in a.rglob("*") if p.is_file()} | {p.relative_to(b) for p in b.rglob("*")
                                                                      if p.is_file()}
    for name in sorted(names):
        left, right = a / name, b / name
        if not (left.is_file() and right.is_file()):
            out.append(f"{name} only on one side")
        elif not filecmp.cmp(left, right, shallow=False) and not _same_map_metadata(left, right):
            out.append(str(name))
    return out


def _same_map_metadata(left: Path, right: Path) -> bool:
    if "projections" not in left.parts or left.name not in ("zarr.json", "integrity.json"):
        return False
    timing = ("seconds_backend", "timings", "created")

    def strip(text: str) -> str:
        doc = json.loads(text)
        if "metadata" in doc:  # the integrity record holds the metadata as text
            doc["metadata"] = {k: strip(v) for k, v in doc["metadata"].items()}
        for key in timing:
            doc.get("attributes", {}).pop(key, None)
        return json.dumps(doc, sort_keys=True)

    return strip(left.read_text()) == strip(right.read_text())


def chunk(entry_path: Path, array: str, index: int) -> Path:
    """The file of chunk ``index`` (along the rows) of ``array``: ``c/<i>`` or, for a 2-D array, ``c/<i>/0``."""
    path = entry_path / array / "c" / str(index)
    return path / "0" if path.is_dir() else path


def test_a_whole_entry_checks_fine(pristine):
    root, key, _ = pristine
    check = check_entry(StateStore(root), key)
    assert check.status == FINE, check.describe()
    assert [m.damaged for m in check.maps] == [False]
    assert all(a.checked for a in check.arrays)


def test_garbage_in_a_state_chunk_is_found_named_and_repaired_to_the_same_bytes(pristine, damaged_copy):
    store, path = damaged_copy
    chunk(path, "layer_1/c", 2).write_bytes(b"\x00garbage from a bad block" * 7)
    with pytest.raises(DamagedEntry, match=r"layer_1/c rows 1,024-1,535 cannot be read .*--repair"):
        store.entry(path.name).states(layer=1, kind="c").read_all()
    check = check_entry(store, path.name)
    assert check.status == DAMAGED
    assert [(a.name, a.bad_rows()) for a in check.damaged_arrays] == [("layer_1/c", [(1024, 1536)])]
    done = repair_entry(store, check)
    assert done.rows == {"layer_1/c": [(1024, 1536)]}
    assert differing_files(pristine[0], store.root) == []
    assert check_entry(store, path.name).status == FINE


def test_a_flipped_bit_inside_a_valid_frame_is_caught_by_the_checksum(pristine, damaged_copy):
    store, path = damaged_copy
    target = chunk(path, "layer_0/h", 1)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x10  # the frame still decompresses: only the checksum knows
    target.write_bytes(bytes(data))
    check = check_entry(store, path.name)
    assert [(a.name, a.bad_chunks) for a in check.damaged_arrays] == [("layer_0/h", {1: "checksum mismatch"})]
    repair_entry(store, check)
    assert differing_files(pristine[0], store.root) == []


def test_a_deleted_chunk_file_is_not_read_as_zeros(pristine, damaged_copy):
    store, path = damaged_copy
    chunk(path, "ep", 0).unlink()
    check = check_entry(store, path.name)
    assert [(a.name, a.bad_chunks) for a in check.damaged_arrays] == [("ep", {0: "chunk file missing"})]
    done = repair_entry(store, check)
    # the EP's memory-mapped copy was made from the entry: made again, from the repaired rows
    assert done.derived == ["per-state-arrays-v1"]
    assert differing_files(pristine[0], store.root) == []


def test_deleted_metadata_is_reported_not_hidden_and_restored(pristine, damaged_copy):
    store, path = damaged_copy
    (path / "zarr.json").unlink()
    assert store.entries() == []
    assert "zarr.json is missing" in store.unreadable()[path.name]
    with pytest.raises(DamagedEntry, match="repair it with `rnnpanel store check"):
        store.entry(path.name)
    check = check_entry(store, path.name)
    assert (check.status, check.metadata) == (DAMAGED, ["zarr.json"])
    repair_entry(store, check)
    assert differing_files(pristine[0], store.root) == []
    assert [e.key for e in StateStore(store.root).entries()] == [path.name]


def test_damaged_token_ids_labels_and_words_come_back_from_the_recorded_data(pristine, damaged_copy):
    store, path = damaged_copy
    chunk(path, "token_ids", 1).write_bytes(b"nonsense")
    (path / "labels" / "c" / "0").write_bytes(b"nonsense")
    (path / "vocab.json").write_text("[\"truncated")
    check = check_entry(store, path.name)
    assert sorted(a.name for a in check.damaged_arrays) == ["labels", "token_ids"] and check.vocab_damaged
    done = repair_entry(store, check)
    assert done.vocab and set(done.rows) == {"labels", "token_ids"}
    assert differing_files(pristine[0], store.root) == []


def test_a_damaged_map_is_recomputed_under_its_key(pristine, damaged_copy):
    store, path = damaged_copy
    (map_folder,) = (path / "projections").iterdir()
    next(p for p in (map_folder / "embedding" / "c").rglob("*") if p.is_file()).write_bytes(b"junk")
    check = check_entry(store, path.name)
    assert check.status == FINE and [m.damaged for m in check.maps] == [True]
    assert check.needs_repair
    done = repair_entry(store, check)
    assert done.maps == [map_folder.name]
    assert differing_files(pristine[0], store.root) == []


def test_an_entry_whose_model_changed_is_not_touched(pristine, damaged_copy, tmp_path):
    store, path = damaged_copy
    chunk(path, "layer_0/h", 0).write_bytes(b"junk")
    attrs_model = Path(store.entry(path.name).attrs["model_dir"])
    moved = tmp_path / "moved-model"
    shutil.copytree(attrs_model, moved)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    try:
        weights = attrs_model / "weights.safetensors"
        original = weights.read_bytes()
        weights.write_bytes(original[:-4] + bytes(4 * [1]))  # other weights, same size
        with pytest.raises(StoreError, match="not the ones it was extracted with"):
            repair_entry(store, check_entry(store, path.name))
    finally:
        weights.write_bytes(original)
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before


def test_an_entry_without_checksums_is_unchecked_but_readable(tmp_path):
    """An entry written before checksums (its arrays with Zarr's default codecs) keeps working."""
    import zarr

    store = StateStore(tmp_path)
    folder = store.entry_path("old")
    group = zarr.open_group(str(folder), mode="w")
    group.create_array("token_ids", data=np.arange(10, dtype=np.int32), chunks=(4,))
    group.attrs.update({"format_version": 1, "complete": True})
    (folder / "vocab.json").write_text("[]")
    check = check_entry(store, "old")
    assert check.status == UNCHECKED and "before chunk checksums" in check.detail
    assert not check.needs_repair
    assert list(store.entry("old").load("token_ids")) == list(range(10))


def test_an_interrupted_extraction_is_listed_with_the_command_that_resumes_it(pristine, tmp_path):
    _, _, model_dir = pristine
    csv = model_dir.parent / "synthetic.csv"
    store = StateStore(tmp_path / "store")
    killed = RuntimeError("killed after the first shard")

    from rnnpanel.pipeline import shards

    real = shards.run_shard
    calls = []

    def run_once(task):
        if calls:
            raise killed
        calls.append(task)
        return real(task)

    shards.run_shard, saved = run_once, shards.run_shard
    try:
        with pytest.raises(RuntimeError):
            extract_to_store(model_dir, str(csv), store_root=store.root, split="test", device="cpu", progress=False,
                             text_column="text", label_column="label", chunk_states=CHUNK)
    finally:
        shards.run_shard = saved
    (check,) = check_store(store)
    assert check.status == "incomplete"
    assert check.detail.startswith("1 of ")
    command = check.detail.split("resume with: ")[1]
    assert f"--model {model_dir.resolve()}" in command and f"--dataset {Path(csv).resolve()}" in command
    assert "--text-column text --label-column label" in command and f"--chunk-states {CHUNK}" in command
    assert os.path.isdir(store.entries_dir / f".partial-{check.key}")


def test_a_deleted_array_folder_is_named_and_made_again(pristine, damaged_copy):
    store, path = damaged_copy
    shutil.rmtree(path / "layer_1" / "h")
    with pytest.raises(DamagedEntry, match="its array layer_1/h is missing; repair it with"):
        store.entry(path.name).states(layer=1, kind="h")
    check = check_entry(store, path.name)
    assert check.status == DAMAGED and check.metadata == ["layer_1/h/zarr.json"]
    stamp = (path / "zarr.json").stat().st_mtime_ns
    repair_entry(store, check)
    assert differing_files(pristine[0], store.root) == []
    assert (path / "zarr.json").stat().st_mtime_ns != stamp  # servers reopen the repaired entry
