"""Turn raw (text, label) rows into a :class:`Corpus`: drop unusable rows, number the classes, split.

Shared by the registered corpora and by user files so both clean, count and split the same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from rnnpanel.data.corpus import Corpus, Split
from rnnpanel.data.splitting import stratified_split
from rnnpanel.errors import DataError


@dataclass(frozen=True)
class Rows:
    """Texts with their raw label values (strings or integers; ``None`` when missing)."""

    texts: tuple[str, ...]
    labels: tuple[Hashable | None, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"got {len(self.texts)} texts but {len(self.labels)} labels")


def drop_unusable(rows: Rows) -> tuple[Rows, dict[str, int]]:
    """Remove rows whose text is empty or whitespace, or whose label is missing, and count them."""
    keep_texts, keep_labels = [], []
    n_empty_text = n_missing_label = 0
    for text, label in zip(rows.texts, rows.labels, strict=True):
        if label is None or (isinstance(label, str) and not label.strip()):
            n_missing_label += 1
        elif not text.strip():
            n_empty_text += 1
        else:
            keep_texts.append(text)
            keep_labels.append(label)
    counts = {"dropped_empty_text": n_empty_text, "dropped_missing_label": n_missing_label}
    return Rows(tuple(keep_texts), tuple(keep_labels)), counts


def class_names_of(labels: Sequence[Hashable]) -> tuple[str, ...]:
    """Class names in a fixed order: numeric order for integer labels, else alphabetical."""
    values = set(labels)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return tuple(str(v) for v in sorted(values))
    return tuple(sorted({str(v) for v in values}))


def _require_two_classes(class_names: tuple[str, ...], where: str) -> None:
    if len(class_names) < 2:
        raise DataError(
            f"{where} has {len(class_names)} class(es) {list(class_names)}; a classifier needs at "
            "least 2; check the label column"
        )


def _split(rows: Rows, class_names: tuple[str, ...]) -> Split:
    code = {name: i for i, name in enumerate(class_names)}
    labels = np.array([code[str(v)] for v in rows.labels], dtype=np.int64)
    return Split(texts=tuple(rows.texts), labels=labels)


def corpus_from_official_split(name: str, train: Rows, test: Rows, provenance: dict) -> Corpus:
    """A corpus whose source already separates train and test rows."""
    train, dropped_train = drop_unusable(train)
    test, dropped_test = drop_unusable(test)
    class_names = class_names_of(train.labels + test.labels)
    _require_two_classes(class_names, name)
    record = {
        **provenance,
        "split": "official",
        **{key: {"train": dropped_train[key], "test": dropped_test[key]} for key in dropped_train},
    }
    return Corpus(
        name=name,
        class_names=class_names,
        train=_split(train, class_names),
        test=_split(test, class_names),
        provenance=record,
    )


def corpus_from_seeded_split(
    name: str, rows: Rows, *, test_fraction: float, seed: int, provenance: dict
) -> Corpus:
    """A corpus split here, stratified by class, reproducibly from ``seed``."""
    rows, dropped = drop_unusable(rows)
    class_names = class_names_of(rows.labels)
    _require_two_classes(class_names, name)
    everything = _split(rows, class_names)
    train_idx, test_idx = stratified_split(everything.labels, test_fraction=test_fraction, seed=seed)
    texts = everything.texts
    record = {
        **provenance,
        "split": "stratified",
        "test_fraction": float(test_fraction),
        "seed": int(seed),
        **dropped,
    }
    return Corpus(
        name=name,
        class_names=class_names,
        train=Split(tuple(texts[i] for i in train_idx), everything.labels[train_idx]),
        test=Split(tuple(texts[i] for i in test_idx), everything.labels[test_idx]),
        provenance=record,
    )
