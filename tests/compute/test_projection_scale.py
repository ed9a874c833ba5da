"""Scale strategy: stratified sample, placement by transform or by k-NN, and the fitted mask."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from rnnpanel.compute.projection import (
    AutoProjection,
    ScaledProjection,
    make_backend,
    place_by_neighbors,
    stratified_sample,
)
from rnnpanel.compute.projection.pca import PCAProjection


class SmallPCA(PCAProjection):
    """PCA with a tiny documented limit, so "auto" subsampling can be exercised quickly."""

    name: ClassVar[str] = "small-pca"
    max_fit_size: ClassVar[int | None] = 50


def test_stratified_sample_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_sample(labels, 100, random_state=0)
    assert len(idx) == 100 and len(np.unique(idx)) == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [60, 30, 10]
    np.testing.assert_array_equal(idx, stratified_sample(labels, 100, random_state=0))
    assert not np.array_equal(idx, stratified_sample(labels, 100, random_state=1))


def test_stratified_sample_gives_every_class_a_point_and_exact_size():
    labels = np.array([0] * 997 + [1, 2, 3])
    idx = stratified_sample(labels, 10, random_state=0)
    assert len(idx) == 10 and set(labels[idx]) == {0, 1, 2, 3}
    idx = stratified_sample(np.array(["a", "b", "b"]), 3)
    assert idx.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="size must be between 1 and"):
        stratified_sample(labels, 0)


def test_place_by_neighbors_is_the_median_of_the_k_nearest():
    ref = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    ref_emb = np.array([[0, 0], [1, 10], [2, 20], [100, 0], [110, 0]], dtype=np.float32)
    out = place_by_neighbors(ref, ref_emb, np.array([[1.1], [10.4]]), k=3)
    np.testing.assert_allclose(out, [[1, 10], [100, 0]])
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="reference_embedding has"):
        place_by_neighbors(ref, ref_emb[:2], ref)


def test_small_samples_are_fitted_whole():
    x = np.random.default_rng(0).normal(size=(40, 4))
    scaled = ScaledProjection(SmallPCA()).fit(x)
    assert scaled.fitted_.all() and scaled.placement_ == "none" and scaled.n_fitted_ == 40


def test_auto_limit_fits_a_sample_and_places_the_rest_by_transform():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = np.repeat([0, 1], [150, 50])
    seen = []
    scaled = ScaledProjection(SmallPCA(progress=lambda f, m: seen.append(f)), random_state=0).fit(x, y)
    assert scaled.n_fitted_ == 50 and scaled.placement_ == "transform"
    assert np.bincount(y[scaled.fitted_]).tolist() == [38, 12]
    est = scaled.estimator_
    np.testing.assert_allclose(scaled.embedding_[scaled.fitted_], est.embedding_)
    np.testing.assert_allclose(scaled.embedding_[~scaled.fitted_], est.transform(x[~scaled.fitted_]), rtol=1e-5)
    assert seen[-1] == 1.0 and max(seen[:-2]) <= 0.85  # the fit fills 85 % of the bar, placing the rest


def test_backends_without_transform_place_by_neighbours():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=8, size=(3, 10))
    y = np.repeat([0, 1, 2], 70)
    x = (centers[y] + rng.normal(size=(210, 10))).astype(np.float32)
    est = make_backend("sklearn", random_state=0, max_iter=250, perplexity=10)
    scaled = ScaledProjection(est, max_fit=90, random_state=0).fit(x, y)
    assert scaled.placement_ == "neighbors" and scaled.n_fitted_ == 90
    fitted_emb = scaled.embedding_[scaled.fitted_]
    placed = scaled.embedding_[~scaled.fitted_]
    nearest = np.argmin(np.linalg.norm(placed[:, None] - fitted_emb[None], axis=2), axis=1)
    assert np.mean(y[scaled.fitted_][nearest] == y[~scaled.fitted_]) > 0.95
    assert scaled.transform(x[:4]).shape == (4, 2)
    assert est.get_params()["max_iter"] == 250 and not hasattr(est, "embedding_")  # the given estimator is untouched


def test_max_fit_none_never_subsamples_and_bad_values_are_refused():
    x = np.random.default_rng(0).normal(size=(80, 3))
    assert ScaledProjection(SmallPCA(), max_fit=None).fit(x).fitted_.all()
    with pytest.raises(ValueError, match="max_fit must be"):
        ScaledProjection(SmallPCA(), max_fit=1).fit(x)


def test_auto_projection_records_fitted_and_placed_points():
    x = np.random.default_rng(0).normal(size=(120, 4))
    auto = AutoProjection(method="pca", max_fit=30, random_state=0).fit(x, np.arange(120) % 3)
    assert auto.n_fitted_ == 30 and (~auto.fitted_).sum() == 90 and auto.placement_ == "transform"
