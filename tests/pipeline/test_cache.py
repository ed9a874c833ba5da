"""The small locked cache the server's module caches share."""

from __future__ import annotations

import threading

import pytest

from rnnpanel.pipeline.cache import LockedCache


def test_the_least_recently_used_value_goes_first():
    cache = LockedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1          # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2


def test_a_value_is_made_once_and_an_error_stores_nothing():
    cache = LockedCache(4)
    calls = []
    assert cache.get_or_make("k", lambda: calls.append(1) or "v") == "v"
    assert cache.get_or_make("k", lambda: calls.append(1) or "w") == "v" and len(calls) == 1

    def fail():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get_or_make("x", fail)
    assert cache.get("x") is None
    with pytest.raises(ValueError, match="size must be at least 1"):
        LockedCache(0)


def test_threads_asking_for_the_same_key_get_the_same_value():
    cache = LockedCache(4)
    start = threading.Barrier(8)
    got = []

    def ask():
        start.wait()
        got.append(cache.get_or_make("k", object))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(v) for v in got}) == 1
