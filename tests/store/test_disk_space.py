"""Room on the disk and identical work at once, at the store's level: the size of a partial entry
checked before it is written, a full disk recognised, and a second writer that waits for the first
and then finds the entry complete."""

from __future__ import annotations

import errno
import threading
import time

import numpy as np
import pytest

from rnnpanel.errors import StoreError
from rnnpanel.store import StateStore, disk_space, locks
from rnnpanel.store.disk_space import DiskFull, is_out_of_space, telling_full_disk

LAYOUT = {"token_ids": ((1000,), "int32"), "layer_0/h": ((1000, 16), "float32")}
KEY = "k" * 20


def full_disk() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_recognised_through_chains_and_groups():
    assert is_out_of_space(full_disk()) and is_out_of_space(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_out_of_space(OSError(errno.EACCES, "Permission denied")) and not is_out_of_space(ValueError())
    try:
        try:
            raise full_disk()
        except OSError as exc:
            raise RuntimeError("a library wrapped it") from exc
    except RuntimeError as wrapped:
        assert is_out_of_space(wrapped)
    assert is_out_of_space(ExceptionGroup("writes", [ValueError(), full_disk()]))


def test_telling_full_disk_gives_one_line_with_the_free_space(tmp_path, monkeypatch):
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 1_234_567)
    with pytest.raises(DiskFull, match=r"^full: 1\.2 MB free$") as caught:
        with telling_full_disk(tmp_path, lambda free: f"full: {free} free"):
            raise full_disk()
    assert caught.value.free == 1_234_567 and isinstance(caught.value, StoreError)
    with pytest.raises(PermissionError):  # any other error passes unchanged
        with telling_full_disk(tmp_path, lambda free: "unused"):
            raise PermissionError(errno.EACCES, "Permission denied")


def test_a_partial_entry_too_large_for_the_disk_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    store = StateStore(tmp_path)
    partial = store.partial_entry(KEY, LAYOUT, chunk_rows=100)
    needed = partial.needed_bytes()
    assert needed >= 1000 * (4 + 16 * 4)  # every row of every array, uncompressed
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: needed - 1)
    with pytest.raises(DiskFull) as caught:
        with partial:
            pytest.fail("entered")
    message = str(caught.value)
    assert f"entry {KEY} (10 of 10 shards to write, uncompressed) needs about" in message
    assert f"{disk_space.describe_bytes(needed)} but the disk holding the store {tmp_path} has only" in message
    assert f"{disk_space.describe_bytes(needed - 1)} free" in message and "--store" in message
    assert list((tmp_path / "entries").iterdir()) == [], "neither the folder nor its lock file is left"
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: needed)
    with store.partial_entry(KEY, LAYOUT, chunk_rows=100) as partial:
        assert partial.path.is_dir()


def test_a_resumed_entry_needs_room_only_for_the_shards_not_written(tmp_path):
    store = StateStore(tmp_path)
    with store.partial_entry(KEY, LAYOUT, chunk_rows=100) as partial:
        for shard in (0, 1, 2):
            from rnnpanel.store.partial import mark_done

            mark_done(partial.path, shard, {"probs": np.zeros((1, 2), np.float32)})
        whole = partial.needed_bytes()
        left = partial.needed_bytes(partial.done())
    assert whole - left == 300 * (4 + 16 * 4) + 3 * 2 * disk_space.BLOCK_BYTES


def test_a_second_writer_waits_then_finds_the_entry_complete(tmp_path):
    store = StateStore(tmp_path)
    seen: list[tuple[int, int]] = []
    outcome: dict = {}

    def second() -> None:
        waiting = store.partial_entry(KEY, LAYOUT, chunk_rows=100)
        waiting.wait, waiting.on_wait = 30.0, lambda done, total: seen.append((done, total))
        with waiting as partial:
            outcome["already_stored"] = partial.already_stored
            outcome["partial_folder"] = partial.path.exists()

    with store.partial_entry(KEY, LAYOUT, chunk_rows=100) as first:
        from rnnpanel.store.partial import mark_done

        mark_done(first.path, 0, {"probs": np.zeros((1, 2), np.float32)})
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen and seen[-1] == (1, 10), "the waiter follows the first writer's shards"
        first.commit({"offsets": np.arange(3)}, {}, ["<pad>"], format_version=1, vocab_file="vocab.json")
    thread.join(10)
    assert outcome == {"already_stored": True, "partial_folder": False}
    assert store.has_entry(KEY)
    assert sorted(p.name for p in (tmp_path / "entries").iterdir()) == [KEY], "no partial folder, no lock file"


def test_a_waiting_limit_exceeded_names_what_it_waited_for_and_the_option(tmp_path):
    store = StateStore(tmp_path)
    with store.partial_entry(KEY, LAYOUT, chunk_rows=100):
        with pytest.raises(StoreError, match="another process is writing entry .* --wait SECONDS"):
            with store.partial_entry(KEY, LAYOUT, chunk_rows=100):
                pass
        late = store.partial_entry(KEY, LAYOUT, chunk_rows=100)
        late.wait = 0.3
        started = time.monotonic()
        with pytest.raises(StoreError, match=rf"^waited 0\.3 s for another process writing entry {KEY} of this "
                                             r"store \(0 of 10 shards written\) and it is still running; wait longer "
                                             r"with --wait SECONDS"):
            with late:
                pass
        assert 0.3 <= time.monotonic() - started < 3


def test_a_lock_whose_file_its_holder_removed_is_taken_on_the_new_file(tmp_path):
    path = tmp_path / "work.lock"
    holder = locks.acquire(path, wait=0)
    got: list = []
    thread = threading.Thread(target=lambda: got.append(locks.acquire(path, wait=10)))
    thread.start()
    time.sleep(0.3)
    locks.release(holder, path, remove=True)  # done: the file goes, then the lock
    thread.join(10)
    (handle,) = got
    assert handle is not None and path.exists()
    assert locks.acquire(path, wait=0) is None, "the waiter holds the lock on the file that is there now"
    locks.release(handle, path, remove=True)
    assert not path.exists()


def test_wait_must_be_zero_or_seconds():
    assert locks.wait_seconds(None) == locks.DEFAULT_WAIT and locks.wait_seconds(0) == 0.0
    for bad in (-1, "10", True, float("nan"), float("inf")):
        with pytest.raises(StoreError, match=r"wait \(--wait\) must be 0"):
            locks.wait_seconds(bad)
