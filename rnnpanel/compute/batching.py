"""Length-sorted buckets of variable-length sequences, and the index arithmetic around them.

Sequences live flat (one token array plus per-sequence offsets). Extraction sorts them by
length, longest first, so each batch needs little padding and packs without reordering; the
index arrays here gather each batch's valid states from its padded results in packed order
and scatter them back to the sequences' original places.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rnnpanel.errors import DataError


@dataclass(frozen=True)
class FlatSequences:
    """Token ids of ``S`` sequences, concatenated in their given order."""

    token_ids: np.ndarray  # (N,) int64
    offsets: np.ndarray    # (S + 1,) int64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_sequences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_states(self) -> int:
        return int(self.offsets[-1])


def flatten_sequences(sequences: Sequence[Sequence[int]], *, vocab_size: int) -> FlatSequences:
    """Concatenate token-id lists, refusing what the model cannot read.

    Every sequence must be non-empty (an empty one has no states; drop it before, as
    ``encode_split`` does) and every id must lie in ``1 .. vocab_size - 1`` (0 is padding,
    which produces no states).
    """
    if len(sequences) == 0:
        raise DataError("no sequences to extract; pass at least one non-empty list of token ids")
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise DataError(
            f"{empty.size} sequence(s) are empty (first at position {int(empty[0])}); "
            "drop empty sequences before extraction (encode_split does)"
        )
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    token_ids = np.fromiter(
        (t for s in sequences for t in s), dtype=np.int64, count=int(offsets[-1])
    )
    bad = np.flatnonzero((token_ids < 1) | (token_ids >= vocab_size))
    if bad.size:
        seq = int(np.searchsorted(offsets, bad[0], side="right") - 1)
        raise DataError(
            f"sequence {seq} holds token id {int(token_ids[bad[0]])}, outside the model's "
            f"vocabulary ids 1..{vocab_size - 1} (0 is padding); encode texts with the model's vocabulary"
        )
    return FlatSequences(token_ids=token_ids, offsets=offsets)


@dataclass(frozen=True)
class Bucket:
    """One batch: which sequences, and where each of its states sits and goes.

    The batch is laid out time-major, ``(T, B)``, with sequences longest first, so the valid
    states of step ``t`` are the first ``batch_sizes[t]`` columns. States are listed in packed
    order (``PackedSequence.data``: step by step, columns in order): state ``k`` sits at
    ``index[k]`` of the flattened ``(T, B)`` batch, and ``destinations[k]`` is its row in the
    flat output (the sequences' original order). ``reversed_destinations[k]`` is where it goes
    when the batch holds each sequence reversed within its length (a backward direction).
    """

    sequences: np.ndarray              # (B,) positions in the input, longest first
    lengths: np.ndarray                # (B,) int64, non-increasing
    batch_sizes: list[int]             # (T,) sequences still running at each step, non-increasing
    index: np.ndarray                  # (n,) int64, t * B + b in packed order
    destinations: np.ndarray           # (n,) int64
    reversed_destinations: np.ndarray  # (n,) int64

    @property
    def max_length(self) -> int:
        return int(self.lengths[0])

    @property
    def n_states(self) -> int:
        return len(self.index)

    def padded_ids(self, token_ids: np.ndarray, pad_id: int = 0) -> np.ndarray:
        """``(T, B)`` time-major, right-padded token ids of this batch."""
        out = np.full(self.max_length * len(self.sequences), pad_id, dtype=np.int64)
        out[self.index] = token_ids[self.destinations]
        return out.reshape(self.max_length, len(self.sequences))


def length_buckets(flat: FlatSequences, batch_size: int) -> Iterator[Bucket]:
    """Yield batches of at most ``batch_size`` sequences, longest first.

    The sort is stable, so equal-length sequences keep their relative order and the result is
    the same from run to run.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    lengths = flat.lengths
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), int(batch_size)):
        seqs = order[start : start + int(batch_size)]
        lens = lengths[seqs]
        valid = np.arange(int(lens[0]))[:, None] < lens[None, :]  # (T, B)
        index = np.flatnonzero(valid)
        step, column = np.divmod(index, len(seqs))
        first = flat.offsets[seqs][column]
        yield Bucket(
            sequences=seqs,
            lengths=lens,
            batch_sizes=valid.sum(axis=1).tolist(),
            index=index,
            destinations=first + step,
            reversed_destinations=first + lens[column] - 1 - step,
        )


def n_buckets(n_sequences: int, batch_size: int) -> int:
    return -(-int(n_sequences) // int(batch_size))
