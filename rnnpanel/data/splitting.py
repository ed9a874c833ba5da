"""A seeded, stratified train/test split for corpora that ship without an official one.

Written with NumPy's own generator rather than a library splitter so the same seed gives the
same split across library versions: a stored result names its seed and can be reproduced.
"""

from __future__ import annotations

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
