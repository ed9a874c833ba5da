"""Quality metrics against scikit-learn and brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness

from rnnpanel.compute.metrics import (
    evaluation_subsample,
    knn_preservation,
    neighborhood_hit,
    projection_quality,
    trustworthiness,
)


def neighbor_sets(a: np.ndarray, k: int) -> list[set[int]]:
    d = np.linalg.norm(a[:, None, :].astype(np.float64) - a[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    return [set(np.argsort(row, kind="stable")[:k]) for row in d]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3, size=(4, 20))
    labels = rng.integers(0, 4, size=400)
    x = (centers[labels] + rng.normal(size=(400, 20))).astype(np.float32)
    y = (x[:, :2] + 0.5 * rng.normal(size=(400, 2))).astype(np.float32)
    return x, y, labels


@pytest.mark.parametrize("k", [1, 5, 10, 30])
def test_trustworthiness_equals_sklearn(data, k):
    x, y, _ = data
    assert trustworthiness(x, y, k) == pytest.approx(sk_trustworthiness(x, y, n_neighbors=k), abs=1e-12)


def test_trustworthiness_random_map_and_perfect_map():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 2))
    assert trustworthiness(x, x * 3.0, 10) == pytest.approx(1.0)
    y = rng.normal(size=(150, 2))
    assert trustworthiness(x, y, 10) == pytest.approx(sk_trustworthiness(x, y, n_neighbors=10), abs=1e-12)


def test_knn_preservation_matches_set_definition(data):
    x, y, _ = data
    nx, ny = neighbor_sets(x, 10), neighbor_sets(y, 10)
    expected = np.mean([len(a & b) / 10 for a, b in zip(nx, ny)])
    assert knn_preservation(x, y, 10) == pytest.approx(expected)
    assert knn_preservation(x, x, 10) == pytest.approx(1.0)


def test_neighborhood_hit_matches_definition(data):
    _, y, labels = data
    ny = neighbor_sets(y, 7)
    expected = np.mean([np.mean(labels[list(s)] == labels[i]) for i, s in enumerate(ny)])
    assert neighborhood_hit(y, labels, 7) == pytest.approx(expected)


def test_projection_quality_on_a_fixed_subsample(data):
    x, y, labels = data
    q = projection_quality(x, y, labels, k=5, max_points=120, random_state=7)
    idx = evaluation_subsample(len(x), 120, 7)
    assert q["n_evaluated"] == 120 and q["k"] == 5
    assert q["trustworthiness"] == pytest.approx(sk_trustworthiness(x[idx], y[idx], n_neighbors=5), abs=1e-12)
    assert q["knn_preservation"] == pytest.approx(knn_preservation(x[idx], y[idx], 5))
    assert q["neighborhood_hit"] == pytest.approx(neighborhood_hit(y[idx], labels[idx], 5))
    assert projection_quality(x, y, labels, k=5, max_points=120, random_state=7) == q
    assert projection_quality(x, y, k=5)["neighborhood_hit"] is None
    assert projection_quality(x, y, k=5)["n_evaluated"] == 400


def test_evaluation_subsample_is_seeded_sorted_and_unique():
    a = evaluation_subsample(10_000, 500, 0)
    assert np.array_equal(a, evaluation_subsample(10_000, 500, 0))
    assert not np.array_equal(a, evaluation_subsample(10_000, 500, 1))
    assert len(np.unique(a)) == 500 and np.all(np.diff(a) > 0)
    assert np.array_equal(evaluation_subsample(50, 500, 0), np.arange(50))


def test_bad_arguments():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="less than n / 2"):
        trustworthiness(x, x[:, :2], 5)
    with pytest.raises(ValueError, match="same number of rows"):
        knn_preservation(x, x[:5], 1)
    with pytest.raises(ValueError, match="labels must be"):
        neighborhood_hit(x, np.zeros(3), 1)
