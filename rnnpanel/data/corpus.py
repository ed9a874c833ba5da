"""The in-memory corpus every later layer reads: texts and integer labels, split into train and test."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnpanel.errors import DataError

SPLITS = ("train", "test")
#: Every split a pipeline can read: the two stored ones, and ``all`` (train then test).
SPLIT_CHOICES = (*SPLITS, "all")


@dataclass(frozen=True)
class Split:
    """One split of a corpus. ``labels[i]`` indexes ``Corpus.class_names``."""

    texts: tuple[str, ...]
    labels: np.ndarray

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"split has {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Corpus:
    """A labelled text corpus with a fixed train/test split.

    ``provenance`` records how the split was made (official, or seeded stratified with its seed
    and fraction) and how many rows were dropped and why, so a result can be reproduced.
    """

    name: str
    class_names: tuple[str, ...]
    train: Split
    test: Split
    provenance: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> Split:
        """One split by name; ``all`` is train followed by test (see :meth:`split_origin`)."""
        if name not in SPLIT_CHOICES:
            raise DataError(f"unknown split {name!r}; choose one of {', '.join(SPLIT_CHOICES)}")
        if name == "all":
            return Split(texts=self.train.texts + self.test.texts,
                         labels=np.concatenate([self.train.labels, self.test.labels]))
        return getattr(self, name)

    def split_origin(self, name: str) -> np.ndarray:
        """For each text of :meth:`split` ``(name)``, the index in :data:`SPLITS` of the split it came from."""
        if name == "all":
            return np.repeat(np.arange(len(SPLITS), dtype=np.int8), [len(self.train), len(self.test)])
        return np.full(len(self.split(name)), SPLITS.index(name), dtype=np.int8)
