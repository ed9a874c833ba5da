import numpy as np
import pytest

from rnnpanel.data.building import Rows, class_names_of, corpus_from_official_split, drop_unusable
from rnnpanel.data.splitting import stratified_split
from rnnpanel.errors import DataError


def labels_with_counts(*counts):
    return np.concatenate([np.full(n, c) for c, n in enumerate(counts)])


def test_split_is_a_partition_with_sorted_indices():
    labels = np.random.default_rng(5).integers(0, 3, size=200)
    train, test = stratified_split(labels, test_fraction=0.2, seed=0)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(200))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)


def test_each_class_gives_its_rounded_share():
    labels = labels_with_counts(7403, 5405)
    _, test = stratified_split(labels, test_fraction=0.2, seed=0)
    assert np.bincount(labels[test]).tolist() == [1481, 1081]


def test_same_seed_same_split_other_seed_other_split():
    labels = labels_with_counts(50, 50)
    a = stratified_split(labels, test_fraction=0.3, seed=7)[1]
    b = stratified_split(labels, test_fraction=0.3, seed=7)[1]
    c = stratified_split(labels, test_fraction=0.3, seed=8)[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_small_classes_are_both_trained_and_tested():
    labels = labels_with_counts(2, 3, 100)
    train, test = stratified_split(labels, test_fraction=0.1, seed=0)
    assert set(labels[test].tolist()) == {0, 1, 2}
    assert set(labels[train].tolist()) == {0, 1, 2}


def test_a_singleton_class_stays_in_train():
    labels = labels_with_counts(1, 10)
    train, test = stratified_split(labels, test_fraction=0.5, seed=0)
    assert 0 in labels[train] and 0 not in labels[test]


def test_input_is_not_modified():
    labels = labels_with_counts(5, 5)
    copy = labels.copy()
    stratified_split(labels, test_fraction=0.2, seed=0)
    assert np.array_equal(labels, copy)


def test_too_few_rows():
    with pytest.raises(DataError, match="cannot split 1 rows"):
        stratified_split(np.array([0]), test_fraction=0.2, seed=0)


def test_drop_unusable_counts_both_reasons():
    rows = Rows(("a", " ", "b", "c", ""), ("x", "y", None, " ", "z"))
    kept, counts = drop_unusable(rows)
    assert kept == Rows(("a",), ("x",))
    assert counts == {"dropped_empty_text": 2, "dropped_missing_label": 2}


def test_class_names_numeric_then_alphabetical():
    assert class_names_of([10, 2, 1, 2]) == ("1", "2", "10")
    assert class_names_of(["b", "B", "a"]) == ("B", "a", "b")
    assert class_names_of([1, "1", "x"]) == ("1", "x")


def test_official_split_uses_classes_from_both_splits():
    train = Rows(("t1", "t2", ""), ("b", "a", ""))
    test = Rows(("t3",), ("c",))
    corpus = corpus_from_official_split("toy", train, test, {"source": "here"})
    assert corpus.class_names == ("a", "b", "c")
    assert corpus.train.labels.tolist() == [1, 0] and corpus.test.labels.tolist() == [2]
    assert corpus.provenance["dropped_missing_label"] == {"train": 1, "test": 0}
    assert corpus.provenance["source"] == "here" and corpus.provenance["split"] == "official"
