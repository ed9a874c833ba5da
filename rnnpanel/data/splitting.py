"""A seeded, stratified train/test split for corpora that ship without an official one, and the
choice a user file's owner makes instead (:class:`FileSplit`: a split column, or a fraction and seed).

Written with NumPy's own generator rather than a library splitter so the same seed gives the
same split across library versions: a stored result names its seed and can be reproduced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnpanel.errors import DataError


def stratified_split(labels: np.ndarray, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and test rows, each sorted (original order is kept inside a split).

    Every class contributes ``round(test_fraction * count)`` rows to the test split, at least one
    when it has two or more rows and never all of them, so each class is learnt and tested.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test_parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_test = int(round(float(test_fraction) * len(members)))
        n_test = min(max(n_test, 1 if len(members) >= 2 else 0), len(members) - 1)
        test_parts.append(rng.permutation(members)[:n_test])
    test = np.sort(np.concatenate(test_parts)) if test_parts else np.empty(0, dtype=np.int64)
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test] = True
    train = np.flatnonzero(~is_test)
    if len(test) == 0 or len(train) == 0:
        raise DataError(
            f"cannot split {len(labels)} rows into train and test with test_fraction={test_fraction}; "
            "give more rows"
        )
    return train, test.astype(np.int64)


#: Split-column values (compared case-insensitively, surrounding spaces ignored) and the split each names.
SPLIT_VALUES = {"train": "train", "training": "train", "test": "test", "testing": "test"}
#: Spellings of a validation split: refused, since rnnpanel holds out its own validation rows from train.
VALIDATION_VALUES = ("validation", "valid", "val", "dev", "development")
_SHOWN_VALUES = 5


@dataclass(frozen=True)
class FileSplit:
    """How a user file's rows become train and test: named by a column, else a seeded stratified split.

    The default (no column, 0.2, seed 0) is the split every user file got before these options
    existed, so entries stored from it keep their fingerprints.
    """

    column: str | None = None
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise DataError(f"split seed (--split-seed) must be an integer, got {self.seed!r}")
        if isinstance(self.test_fraction, bool) or not isinstance(self.test_fraction, (int, float, np.number)) \
                or not 0.0 < float(self.test_fraction) < 1.0:
            raise DataError(
                f"test_fraction (--test-fraction) must lie strictly between 0 and 1, got {self.test_fraction!r}"
            )
        if self.column is not None and not str(self.column).strip():
            raise DataError("the split column (--split-column) is empty; name the column that says train or test")

    @classmethod
    def from_options(
        cls, *, column: str | None = None, test_fraction: float | None = None, seed: int | None = None
    ) -> FileSplit | None:
        """The split the options ask for; ``None`` when none is given (the default split).

        A split column decides every row, so a fraction or seed beside it would be silently
        meaningless: that is an error rather than ignored.
        """
        if column is not None and (test_fraction is not None or seed is not None):
            given = " and ".join(name for name, value in (("--test-fraction", test_fraction),
                                                          ("--split-seed", seed)) if value is not None)
            raise DataError(
                f"--split-column {column} names each row's split, so {given} cannot apply; "
                "give either the split column or the fraction and seed of a stratified split"
            )
        if column is None and test_fraction is None and seed is None:
            return None
        default = cls()
        return cls(column=column,
                   test_fraction=default.test_fraction if test_fraction is None else test_fraction,
                   seed=default.seed if seed is None else seed)

    def describe(self, label_column: str) -> str:
        """How rows are split, in words: ``80/20 stratified split by label (seed 0)``."""
        if self.column is not None:
            return f"split by column {self.column!r}"
        test = round(100 * float(self.test_fraction), 1)
        return f"{round(100 - test, 1):g}/{test:g} stratified split by {label_column} (seed {int(self.seed)})"

    def identity(self) -> dict[str, Any]:
        """What pins the split in a stored entry's fingerprint (the default's is what it always was)."""
        if self.column is not None:
            return {"column": str(self.column)}
        return {"test_fraction": float(self.test_fraction), "seed": int(self.seed)}


def rows_marked_test(values: Sequence[str], column: str) -> np.ndarray:
    """``True`` for each row the split column names test, ``False`` for train.

    Raises :class:`DataError` naming the column, a few offending values and the accepted ones.
    """
    names = [str(v).strip() for v in values]
    bad = Counter(v for v in names if SPLIT_VALUES.get(v.lower()) is None)
    if bad:
        raise DataError(_bad_split_values_message(column, bad))
    return np.array([SPLIT_VALUES[v.lower()] == "test" for v in names], dtype=bool)


def _bad_split_values_message(column: str, bad: Counter) -> str:
    shown = ", ".join(f"{value!r} ({count} row{'s' if count != 1 else ''})"
                      for value, count in bad.most_common(_SHOWN_VALUES))
    more = f" and {len(bad) - _SHOWN_VALUES} more values" if len(bad) > _SHOWN_VALUES else ""
    accepted = ", ".join(SPLIT_VALUES)
    message = (f"split column {column!r} has values other than train and test: {shown}{more}; "
               f"each row must say {accepted} (any case)")
    if any(value.lower() in VALIDATION_VALUES for value in bad):
        message += ("; rnnpanel keeps two splits and holds out its own validation rows from train, so mark "
                    "validation rows train or test (test if your file's test rows have no labels)")
    return message
