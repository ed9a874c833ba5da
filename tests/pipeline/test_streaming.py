"""Corpus-scale extraction: states streamed shard by shard, resumed after kill -9, run on Dask.

Everything here runs the real pipeline (and, where it says so, the real ``rnnpanel extract``
command in its own process) over a synthetic source sized for the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnnpanel.errors import StoreError
from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.pipeline.shards import plan_shards
from rnnpanel.store import StateStore

from .conftest import synthetic_source

COLUMNS = {"text_column": "text", "label_column": "label"}


def extract(model_dir, csv, store, **options):
    kwargs = {"split": "test", "device": "cpu", "progress": False, **COLUMNS, **options}
    return extract_to_store(model_dir, str(csv), store_root=store, **kwargs)


def arrays_of(entry) -> dict[str, np.ndarray]:
    return {name: entry.load(name) for name in entry.array_names}


def assert_same_bytes(a, b) -> None:
    left, right = arrays_of(a), arrays_of(b)
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        assert np.array_equal(left[name], right[name]), f"{name} differs"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return synthetic_source(tmp_path_factory.mktemp("synthetic"), n_texts=300)


def test_shards_cover_every_row_once_and_own_every_sequence_once():
    offsets = np.cumsum([0, 5, 1, 30, 2, 2, 7, 64, 3])  # a sequence longer than two shards included
    shards = plan_shards(offsets, 16)
    assert [(s.start, s.stop) for s in shards] == [(i, min(i + 16, offsets[-1])) for i in range(0, offsets[-1], 16)]
    owned = [i for s in shards for i in range(*s.owned)]
    assert owned == list(range(len(offsets) - 1))
    for s in shards:  # every sequence reaching into the rows is listed, and no other
        reach = [i for i in range(len(offsets) - 1) if offsets[i] < s.stop and offsets[i + 1] > s.start]
        assert list(range(s.first, s.last)) == reach


def test_small_chunks_store_the_same_states_as_one_chunk(source, tmp_path):
    csv, model_dir = source
    whole, _ = extract(model_dir, csv, tmp_path / "a")
    chunked, summary = extract(model_dir, csv, tmp_path / "b", chunk_states=97)
    assert chunked.key == whole.key and summary["n_states"] > 5 * 97
    a, b = arrays_of(whole), arrays_of(chunked)
    for name in ("offsets", "token_ids", "labels", "sequence_ids", "n_cut", "sequence_split"):
        assert np.array_equal(a[name], b[name]), name
    for name in a:  # sequences crossing a shard edge ran as a batch of one: equal up to rounding
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=2e-6, err_msg=name)
    assert not list((tmp_path / "b" / "entries").glob(".partial-*")), "the partial folder and its lock are gone"


def test_split_all_keeps_train_and_test_with_their_origin(source, tmp_path):
    csv, model_dir = source
    train, _ = extract(model_dir, csv, tmp_path, split="train")
    test, _ = extract(model_dir, csv, tmp_path, split="test")
    both, _ = extract(model_dir, csv, tmp_path, split="all")
    assert int(both.attrs["n_sequences"]) == int(train.attrs["n_sequences"]) + int(test.attrs["n_sequences"])
    split = both.load("sequence_split")
    assert both.attrs["split_names"] == ["train", "test"]
    assert np.array_equal(split, np.repeat([0, 1], [train.attrs["n_sequences"], test.attrs["n_sequences"]]))
    n_train = int(train.attrs["n_states"])
    np.testing.assert_allclose(both.states().read_all()[n_train:], test.states().read_all(), atol=2e-6)
    assert np.array_equal(both.load("labels")[split == 1], test.load("labels"))


def test_a_partial_entry_is_never_read_and_a_second_writer_is_refused(tmp_path):
    store = StateStore(tmp_path)
    layout = {"ep": ((10, 2), "float32")}
    with store.partial_entry("k" * 20, layout, chunk_rows=4) as partial:
        assert store.entries() == [] and not store.has_entry("k" * 20)
        with pytest.raises(StoreError, match="another process is writing entry"):
            with store.partial_entry("k" * 20, layout, chunk_rows=4):
                pass
        assert partial.done() == set()


def test_dask_local_cluster_writes_the_same_bytes_as_one_process(source, tmp_path):
    csv, model_dir = source
    alone, _ = extract(model_dir, csv, tmp_path / "one", chunk_states=211)
    spread, summary = extract(model_dir, csv, tmp_path / "dask", chunk_states=211, cluster="local:2")
    assert spread.key == alone.key and spread.attrs["cluster"] == "local:2"
    assert_same_bytes(alone, spread)


def test_bad_cluster_or_chunk_is_refused_before_work(source, tmp_path):
    from rnnpanel.errors import DataError

    csv, model_dir = source
    with pytest.raises(DataError, match="unknown --cluster"):
        extract(model_dir, csv, tmp_path, cluster="lokal:2")
    with pytest.raises(DataError, match="chunk-states"):
        extract(model_dir, csv, tmp_path, chunk_states=0)
    assert not (tmp_path / "entries").exists()


def cli(model_dir, csv, store, *extra) -> list[str]:
    return [sys.executable, "-m", "rnnpanel", "extract", "--model", str(model_dir), "--dataset", str(csv),
            "--text-column", "text", "--label-column", "label", "--store", str(store), "--device", "cpu", *extra]


@pytest.mark.slow
def test_extract_killed_at_several_points_resumes_to_the_same_entry(tmp_path):
    csv, model_dir = synthetic_source(tmp_path, n_texts=1200, max_len=40, hidden=4, layers=1)
    args = ("--split", "all", "--chunk-states", "256")  # about 100 shards
    reference = subprocess.run(cli(model_dir, csv, tmp_path / "reference", *args), capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    store = tmp_path / "store"
    entries = store / "entries"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    killed_at = []
    for wanted in (0, 10, 40, 70):  # shards done before the kill (0: during start-up)
        proc = subprocess.Popen(cli(model_dir, csv, store, *args), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            done = len(list(entries.glob(".partial-*/shards/*.npz")))
            if done >= wanted and (wanted > 0 or list(entries.glob(".partial-*"))):
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at.append(len(list(entries.glob(".partial-*/shards/*.npz"))))
        assert StateStore(store).entries() == [], "nothing half-written is read as an entry"
    assert killed_at == sorted(killed_at) and killed_at[-1] >= 70, killed_at
    finished = subprocess.run(cli(model_dir, csv, store, *args), capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    (entry,) = StateStore(store).entries()
    (expected,) = StateStore(tmp_path / "reference").entries()
    assert entry.key == expected.key and entry.attrs["resumed"] is True
    assert_same_bytes(entry, expected)


def peak_rss_of_extract(model_dir, csv, store, n: int) -> tuple[float, float]:
    """(peak RSS in MB of an ``rnnpanel extract`` of ``n`` texts, the entry's size in MB)."""
    code = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "assert p.returncode == 0, p.stderr\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    args = cli(model_dir, csv, store, "--n", str(n), "--split", "all", "--chunk-states", "2048")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    size = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
    return int(out.stdout.split()[-1]) / 1024, size / 2**20


@pytest.mark.slow
def test_extraction_memory_stays_flat_while_the_entry_grows(tmp_path):
    # a wide bidirectional LSTM: 2 KiB of h and c per state, so the entry outgrows the process fast
    csv, model_dir = synthetic_source(tmp_path, n_texts=2000, min_len=40, max_len=60, hidden=128, layers=1,
                                      bidirectional=True, n_words=2000)
    small_rss, small_size = peak_rss_of_extract(model_dir, csv, tmp_path / "small", 200)
    large_rss, large_size = peak_rss_of_extract(model_dir, csv, tmp_path / "large", 2000)
    assert large_size - small_size > 150  # MB more states written
    assert large_rss - small_rss < 0.2 * (large_size - small_size), (small_rss, large_rss, small_size, large_size)


def test_a_damaged_chunk_is_a_store_error_that_names_the_remedy(source, tmp_path):
    csv, model_dir = source
    entry, _ = extract(model_dir, csv, tmp_path)
    chunk = next(p for p in (entry.path / "ep" / "c").rglob("*") if p.is_file())
    chunk.write_bytes(b"not a zstd frame")
    with pytest.raises(StoreError, match=r"damaged: ep rows 0-.*checksum mismatch.*rnnpanel store check "
                                         r"--store .* --repair"):
        StateStore(tmp_path).entry(entry.key).load("ep")
