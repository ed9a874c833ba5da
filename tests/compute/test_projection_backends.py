"""Every CPU backend follows the scikit-learn-style interface; GPU backends say clearly why they cannot run here."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from rnnpanel.compute.projection import (
    BACKENDS,
    ProjectionBackend,
    backend_class,
    make_backend,
)
from rnnpanel.compute.projection.base import (
    auto_learning_rate,
    effective_perplexity,
    idle_cores,
    resolve_n_jobs,
    resolve_threads,
    seed_from,
)
from rnnpanel.errors import BackendUnavailable

# Small, fast settings per backend (the interface, not the quality, is under test here).
FAST = {
    "opentsne": {"max_iter": 60, "early_exaggeration_iter": 30, "perplexity": 10},
    "opentsne-default": {"max_iter": 300, "perplexity": 10},
    "sklearn": {"max_iter": 250, "perplexity": 10},
    "umap": {"max_iter": 30, "n_neighbors": 10},
    "pca": {},
}
CPU_BACKENDS = [
    "opentsne",
    "opentsne-default",
    "sklearn",
    pytest.param("umap", marks=pytest.mark.slow),  # numba compiles on first use
    "pca",
]


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=6, size=(3, 16))
    labels = np.repeat(np.arange(3), 40)
    x = (centers[labels] + rng.normal(size=(120, 16))).astype(np.float32)
    return x, labels


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_init_is_keyword_only_and_only_stores(name):
    cls = backend_class(name)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert params and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    est = cls()
    defaults = {p.name: p.default for p in params}
    assert est.get_params(deep=False) == defaults
    assert not [a for a in vars(est) if a.endswith("_")], "nothing fitted before fit"
    assert issubclass(cls, ProjectionBackend) and cls.name == name
    assert cls.method in ("tsne", "umap", "pca") and cls.hardware in ("cpu", "gpu", "any")


@pytest.mark.parametrize("name", sorted(n for n, c in BACKENDS.items() if c.method == "tsne"))
def test_tsne_backends_share_parameter_names(name):
    names = set(backend_class(name)._get_param_names())
    assert {"n_components", "perplexity", "learning_rate", "max_iter", "init", "metric", "random_state",
            "verbose", "progress"} <= names
    assert backend_class(name)().init == "pca" and backend_class(name)().learning_rate == "auto"


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_fit_contract_and_reproducibility(name, blobs):
    x, _ = blobs
    before = x.copy()
    est = make_backend(name, random_state=3, **FAST[name])
    assert est.fit(x) is est
    emb = est.embedding_
    assert emb.shape == (120, 2) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert est.n_samples_fit_ == 120 and est.n_features_in_ == 16 and est.seconds_ >= 0
    np.testing.assert_array_equal(x, before)  # input untouched
    again = make_backend(name, random_state=3, **FAST[name]).fit_transform(x)
    np.testing.assert_allclose(again, emb, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["opentsne", "sklearn", "pca"])
def test_embedding_separates_clusters(name, blobs):
    x, labels = blobs
    emb = make_backend(name, random_state=0, **FAST[name]).fit_transform(x)
    centroids = np.stack([emb[labels == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((emb[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == labels) > 0.95


def test_opentsne_transform_places_points_into_the_same_frame(blobs):
    x, labels = blobs
    est = make_backend("opentsne", random_state=0, **FAST["opentsne"]).fit(x)
    placed = est.transform(x[:10] + 0.01)
    assert placed.shape == (10, 2) and placed.dtype == np.float32 and np.isfinite(placed).all()
    # each new point lands among the fitted points of its own cluster
    d = np.linalg.norm(placed[:, None, :] - est.embedding_[None], axis=2)
    assert np.all(labels[np.argmin(d, axis=1)] == labels[:10])
    with pytest.raises(ValueError, match="like the fitted states"):
        est.transform(x[:3, :5])


def test_tuned_opentsne_reduces_wide_input_by_pca():
    rng = np.random.default_rng(0)
    low = rng.normal(size=(150, 4)) * [10, 8, 6, 4]
    x = (low @ rng.normal(size=(4, 80)) + 0.01 * rng.normal(size=(150, 80))).astype(np.float32)
    est = make_backend("opentsne", random_state=0, pca_components=20, **FAST["opentsne"]).fit(x)
    assert est.input_dims_ == 20 and est.pca_variance_kept_ > 0.99 and est.reducer_ is not None
    assert est.transform(x[:2]).shape == (2, 2)
    strict = make_backend("opentsne", random_state=0, pca_components=2, pca_min_variance=0.999, **FAST["opentsne"]).fit(
        x
    )
    assert strict.input_dims_ == 80 and strict.reducer_ is None


def test_backends_without_transform_say_what_to_use(blobs):
    x, _ = blobs
    est = make_backend("sklearn", random_state=0, **FAST["sklearn"]).fit(x)
    with pytest.raises(NotImplementedError, match="place_by_neighbors"):
        est.transform(x[:2])


def test_pca_matches_numpy_svd_and_transform(blobs):
    x, _ = blobs
    est = make_backend("pca", n_components=3).fit(x)
    centred = x.astype(np.float64) - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    for i in range(3):
        assert abs(np.dot(est.components_[i], vt[i])) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(est.explained_variance_, s[:3] ** 2 / (len(x) - 1), rtol=1e-6)
    np.testing.assert_allclose(est.transform(x), est.embedding_, rtol=1e-5, atol=1e-4)
    assert est.device_ == "cpu"
    assert np.all(est.components_[np.arange(3), np.abs(est.components_).argmax(axis=1)] > 0)


def test_progress_reaches_one_and_can_stop_opentsne(blobs):
    x, _ = blobs
    seen: list[float] = []
    make_backend("opentsne", random_state=0, progress=lambda f, m: seen.append(f), **FAST["opentsne"]).fit(x)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    assert seen == sorted(seen)
    stop = make_backend("opentsne", random_state=0, max_iter=200, early_exaggeration_iter=100, perplexity=10,
                        progress=lambda f, m: "iteration" in m).fit(x)
    assert stop.stopped_early_ and stop.n_iter_ < 200 and np.isfinite(stop.embedding_).all()


def test_shared_parameter_rules():
    assert effective_perplexity(30, 1000) == 30
    assert effective_perplexity(30, 50) == pytest.approx(49 / 3)
    with pytest.raises(ValueError, match="perplexity must be positive"):
        effective_perplexity(0, 10)
    assert auto_learning_rate(120_000) == 10_000 and auto_learning_rate(100) == 200
    assert resolve_n_jobs(None) == 1 and resolve_n_jobs(3) == 3 and resolve_n_jobs(-1) >= 1
    with pytest.raises(ValueError, match="n_jobs"):
        resolve_n_jobs(0)
    assert seed_from(None) is None and seed_from(5) == 5
    assert seed_from(np.random.default_rng(0)) == seed_from(np.random.default_rng(0))


def test_perplexity_is_lowered_for_small_samples_in_every_tsne(blobs):
    x, _ = blobs
    small = x[:31]
    for name in ("opentsne", "sklearn"):
        est = make_backend(name, random_state=0, **{**FAST[name], "perplexity": 30}).fit(small)
        assert est.perplexity_ == pytest.approx(10.0)


def test_sklearn_learning_rate_uses_the_shared_convention(blobs):
    x, _ = blobs
    auto = make_backend("sklearn", random_state=0, **FAST["sklearn"]).fit(x)
    assert auto.learning_rate_ == pytest.approx(auto_learning_rate(len(x)))
    fixed = make_backend("sklearn", random_state=0, learning_rate=400.0, **FAST["sklearn"]).fit(x)
    assert fixed.learning_rate_ == pytest.approx(400.0)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("opentsne", {"init": "spectralish"}, "init must be one of"),
        ("sklearn", {"learning_rate": -1}, "learning_rate must be"),
        ("sklearn", {"max_iter": 100}, "at least 250"),
        ("opentsne", {"neighbors": "faiss"}, "neighbors must be one of"),
        ("pca", {"n_components": 99}, "cannot exceed"),
    ],
)
def test_bad_parameters_name_the_argument(name, params, message, blobs):
    x, _ = blobs
    with pytest.raises(ValueError, match=message):
        make_backend(name, **params).fit(x)


def test_bad_input_is_refused_before_work():
    est = make_backend("pca")
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.array([[0.0, np.nan]] * 6))
    with pytest.raises(ValueError, match="2-D"):
        est.fit(np.zeros(6))
    with pytest.raises(ValueError, match="at least"):
        make_backend("sklearn").fit(np.zeros((3, 2)))


def test_unknown_parameter_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="does not take perplxity; it takes"):
        make_backend("opentsne", perplxity=5)


@pytest.mark.parametrize(("name", "needs"), [("tsnecuda", "tsnecuda is not installed"),
                                             ("cuml", "CuPy cannot use a CUDA device"),
                                             ("cuml-umap", "CuPy cannot use a CUDA device")])
def test_gpu_backends_without_a_gpu_explain_why(name, needs, blobs):
    """Each GPU backend says what *it* lacks (CuPy on a device, its own library), not what torch sees."""
    import importlib.util

    from rnnpanel.compute.xp import cupy_unavailable_reason

    if cupy_unavailable_reason() is None or importlib.util.find_spec("tsnecuda") is not None:  # pragma: no cover
        pytest.skip("a GPU library is installed here; gpu/tests covers this machine")
    with pytest.raises(BackendUnavailable, match=f"{needs}.*gpu/README.md"):
        backend_class(name).check_available()
    with pytest.raises(BackendUnavailable, match=name):
        make_backend(name).fit(blobs[0])


@pytest.mark.parametrize("method", ["bh", "fft"])
def test_tuned_opentsne_gives_the_same_map_for_any_thread_count(method, blobs):
    x, _ = blobs
    one = make_backend("opentsne", random_state=0, n_jobs=1, negative_gradient_method=method, **FAST["opentsne"]).fit(x)
    two = make_backend("opentsne", random_state=0, n_jobs=2, negative_gradient_method=method, **FAST["opentsne"]).fit(x)
    assert one.n_jobs_ == 1 and two.n_jobs_ == 2 and one.negative_gradient_method_ == method
    np.testing.assert_array_equal(one.embedding_, two.embedding_)


def test_auto_threads_use_idle_cores(monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (5.2, 0.0, 0.0))
    assert idle_cores() == 3 and resolve_threads("auto") == 3 and resolve_threads(-1) == 8
    monkeypatch.setattr(os, "getloadavg", lambda: (30.0, 0.0, 0.0))
    assert idle_cores() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert idle_cores() == 8
