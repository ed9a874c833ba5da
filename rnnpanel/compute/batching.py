"""Length-sorted buckets of variable-length sequences, and the index arithmetic around them.

Sequences live flat (one token array plus per-sequence offsets). Extraction sorts them by
length, longest first, so each batch needs little padding and packs without reordering; the
index arrays here scatter each batch's padded results back to the sequences' original places.
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
    """One batch: which sequences, padded how, and where each valid state goes.

    ``rows[k], steps[k]`` address state ``k`` in the padded ``(B, T)`` batch and
    ``destinations[k]`` is its row in the flat output (the sequences' original order).
    States are listed row by row, in time order within a row.
    """

    sequences: np.ndarray     # (B,) positions in the input, longest first
    lengths: np.ndarray       # (B,) int64, non-increasing
    rows: np.ndarray          # (n,) int64
    steps: np.ndarray         # (n,) int64
    destinations: np.ndarray  # (n,) int64

    @property
    def max_length(self) -> int:
        return int(self.lengths[0])

    @property
    def n_states(self) -> int:
        return len(self.rows)

    def padded_ids(self, token_ids: np.ndarray, pad_id: int = 0) -> np.ndarray:
        """``(B, T)`` right-padded token ids of this batch."""
        out = np.full((len(self.sequences), self.max_length), pad_id, dtype=np.int64)
        out[self.rows, self.steps] = token_ids[self.destinations]
        return out


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
        rows = np.repeat(np.arange(len(seqs), dtype=np.int64), lens)
        first = np.repeat(np.cumsum(lens) - lens, lens)
        steps = np.arange(int(lens.sum()), dtype=np.int64) - first
        destinations = flat.offsets[seqs][rows] + steps
        yield Bucket(sequences=seqs, lengths=lens, rows=rows, steps=steps, destinations=destinations)


def n_buckets(n_sequences: int, batch_size: int) -> int:
    return -(-int(n_sequences) // int(batch_size))
