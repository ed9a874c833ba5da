"""What the views draw: one store entry's sequences, words, predictions and one projection, as NumPy.

A :class:`Sample` is built once per (entry, layer, state kind, projection) and shared by every
session; views read it and never touch the store, the model or the state tensor itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

#: The dtype of every array field: whoever builds a sample (from the store, from live input) hands
#: in what it has, and the sample holds these.
DTYPES = {"offsets": np.int64, "ep": np.float32, "xy": np.float32, "step_distance": np.float32,
          "labels": np.int64, "predictions": np.int64, "sequence_ids": np.int64, "n_cut": np.int64,
          "words": object}


@dataclass(frozen=True)
class Sample:
    """Flat, per-state arrays with per-sequence offsets.

    States of sequence ``s`` occupy rows ``offsets[s]:offsets[s + 1]`` in time order.
    ``step_distance[i]`` is ``‖h_{t+1} − h_t‖`` from state ``i`` to the next state of the same
    sequence, divided by the largest such distance in the sample; it is NaN on each sequence's
    last state. ``ep[i]`` are the class probabilities after reading ``words[i]``.
    """

    name: str                      # human label of the entry, e.g. "rotten_tomatoes · LSTM-100"
    class_names: tuple[str, ...]
    offsets: np.ndarray            # (S + 1,) int64
    words: np.ndarray              # (N,) object (str)
    ep: np.ndarray                 # (N, C) float32
    xy: np.ndarray                 # (N, 2) float32, the joint 2-D projection
    step_distance: np.ndarray      # (N,) float32, NaN at each sequence's end
    labels: np.ndarray             # (S,) int64, true class
    predictions: np.ndarray        # (S,) int64, class predicted from the final state
    sequence_ids: np.ndarray       # (S,) int64, row of the sequence in its dataset split
    n_cut: np.ndarray              # (S,) int64, tokens removed by the model's input window
    truncation: str = "last"       # which end the window kept
    layer: int = 0
    state: str = "h"
    projection: str = ""           # e.g. "tsne/opentsne"

    def __post_init__(self) -> None:
        for name, dtype in DTYPES.items():     # no copy where the array is already of its dtype
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @property
    def n_sequences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_states(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @cached_property
    def sequence_of_state(self) -> np.ndarray:
        """(N,) index of the sequence each state belongs to (made once: a click, a search and a
        region all ask, and at millions of states it is worth keeping)."""
        return _read_only(np.repeat(np.arange(self.n_sequences, dtype=np.int32), np.diff(self.offsets)))

    @cached_property
    def step_of_state(self) -> np.ndarray:
        """(N,) time step t (0-based) of each state within its sequence."""
        return _read_only(np.arange(self.n_states) - np.repeat(self.offsets[:-1], np.diff(self.offsets)))

    @cached_property
    def xy_span(self) -> tuple[float, float]:
        """Width and height of the map (0 for an empty one)."""
        if self.n_states == 0:
            return 0.0, 0.0
        span = np.nanmax(self.xy, axis=0) - np.nanmin(self.xy, axis=0)
        return float(span[0]), float(span[1])

    def derived(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """What ``make()`` derives from this sample, made once and kept with it: the sample is
        shared by every session of a server, and so is what is derived from it (a word index, the
        sequence table, the map's colour columns), for as long as the sample is cached."""
        memo = self.__dict__.setdefault("_derived", {})     # a frozen dataclass: kept beside its fields
        if key not in memo:
            with _DERIVING:                                 # one build, however many sessions ask
                if key not in memo:
                    memo[key] = make()
        return memo[key]

    def sequences_with(self, mask: np.ndarray) -> np.ndarray:
        """The sequences (sorted indices) with at least one of the ``mask`` states: one counting
        pass, where ``np.unique`` would sort every selected state."""
        return np.flatnonzero(np.bincount(self.sequence_of_state[mask], minlength=self.n_sequences))

    @property
    def confidence(self) -> np.ndarray:
        """(S,) probability of the predicted class at the sequence's last state."""
        last = self.offsets[1:] - 1
        return self.ep[last, self.predictions]

    def sequence_slice(self, s: int) -> slice:
        return slice(int(self.offsets[s]), int(self.offsets[s + 1]))


_DERIVING = threading.Lock()


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)      # shared by every session
    return array
