"""One small cache for what a server process loads once and shares between its sessions and worker
threads (samples, state matrices, models): bounded, least recently used out first, and locked."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LockedCache(Generic[V]):
    """At most ``size`` values, the least recently used dropped first; safe across threads.

    A value is made outside the lock (loading can take seconds, and other keys must not wait for
    it): two threads asking for the same missing key may both make it, and the first one stored
    is kept and returned to both.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            if key not in self._values:
                return None
            self._values.move_to_end(key)
            return self._values[key]

    def put(self, key: Hashable, value: V) -> V:
        """Store ``value`` under ``key`` (replacing any) and return it."""
        with self._lock:
            return self._store(key, value)

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value of ``key``, made by ``make()`` if it is not cached."""
        value = self.get(key)
        if value is not None:
            return value
        value = make()
        with self._lock:
            if key in self._values:          # another thread made it meanwhile: keep the first
                self._values.move_to_end(key)
                return self._values[key]
            return self._store(key, value)

    def _store(self, key: Hashable, value: V) -> V:
        self._values[key] = value
        self._values.move_to_end(key)
        while len(self._values) > self.size:
            self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
