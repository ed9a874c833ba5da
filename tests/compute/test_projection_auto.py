"""``auto``: the fallback chain with absent and broken backends, explicit backends, and what is recorded."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from rnnpanel.compute.projection import (
    AUTO_ORDER,
    BACKENDS,
    AutoProjection,
    ProjectionBackend,
    resolve_backend_name,
)
from rnnpanel.compute.projection.pca import PCAProjection
from rnnpanel.errors import BackendUnavailable


class _Fake(ProjectionBackend):
    """Test doubles for *broken installs*: each fails the way a real broken GPU library does."""

    method: ClassVar[str] = "pca"
    hardware: ClassVar[str] = "gpu"

    def __init__(self, *, n_components: int = 2, random_state: Any = None, progress: Any = None) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.progress = progress


class BrokenLibrary(_Fake):
    name: ClassVar[str] = "broken-library"

    @classmethod
    def check_available(cls) -> None:  # a CUDA 10.2 build on a CUDA 12 machine
        raise OSError("libcudart.so.10.2: cannot open shared object file")


class BrokenConstructor(_Fake):
    name: ClassVar[str] = "broken-constructor"

    def __init__(self, **kwargs: Any) -> None:
        raise RuntimeError("CUDA driver version is insufficient for CUDA runtime version")


class OutOfMemory(_Fake):
    name: ClassVar[str] = "out-of-memory"

    def _fit(self, X: Any) -> Any:
        raise MemoryError("out of memory allocating 12 GiB on device 0")


class Diverges(_Fake):
    name: ClassVar[str] = "diverges"

    def _fit(self, X: Any) -> Any:
        return np.full((X.shape[0], 2), np.nan)


class Missing(_Fake):
    name: ClassVar[str] = "missing"

    @classmethod
    def check_available(cls) -> None:
        raise BackendUnavailable("missing: gpu_lib is not installed; install gpu-lib")


FAKES = (BrokenLibrary, BrokenConstructor, OutOfMemory, Diverges, Missing)


@pytest.fixture
def fakes(monkeypatch):
    for cls in FAKES:
        monkeypatch.setitem(BACKENDS, cls.name, cls)
    return tuple(cls.name for cls in FAKES)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 6)).astype(np.float32), np.repeat([0, 1, 2], 20)


def test_fallback_walks_past_absent_and_broken_backends(fakes, data):
    x, y = data
    auto = AutoProjection(method="pca", candidates=fakes + ("pca",), random_state=0).fit(x, y)
    assert auto.backend_used_ == "pca"
    assert list(auto.skipped_) == list(fakes)
    assert "libcudart.so.10.2" in auto.skipped_["broken-library"]
    assert "failed to initialise" in auto.skipped_["broken-constructor"]
    assert "MemoryError" in auto.skipped_["out-of-memory"]
    assert "non-finite" in auto.skipped_["diverges"]
    assert auto.skipped_["missing"] == "gpu_lib is not installed; install gpu-lib"
    np.testing.assert_allclose(auto.embedding_, PCAProjection().fit_transform(x), rtol=1e-6)
    assert auto.fitted_.all() and auto.placement_ == "none" and auto.n_fitted_ == 60


def test_the_failure_is_logged(fakes, data, caplog):
    x, _ = data
    with caplog.at_level("INFO", logger="rnnpanel.compute.projection.auto"):
        AutoProjection(method="pca", candidates=("broken-library", "pca")).fit(x)
    assert any("broken-library skipped" in r.getMessage() and "libcudart" in r.getMessage() for r in caplog.records)


def test_when_nothing_works_the_error_lists_every_reason(fakes, data):
    x, _ = data
    with pytest.raises(BackendUnavailable, match="no pca backend can run here.*broken-library: .*libcudart.*diverges"):
        AutoProjection(method="pca", candidates=fakes).fit(x)


def test_real_tsne_auto_on_a_cpu_machine_skips_the_gpu_backends(data):
    import torch

    if torch.cuda.is_available():  # pragma: no cover
        pytest.skip("a CUDA device is present")
    x, y = data
    auto = AutoProjection(method="tsne", params={"max_iter": 60, "early_exaggeration_iter": 30}, random_state=0).fit(
        x, y
    )
    assert auto.backend_used_ == "opentsne"
    assert set(auto.skipped_) == {"tsnecuda", "cuml"}
    assert all("CUDA" in reason for reason in auto.skipped_.values())
    assert auto.params_used_["perplexity"] == 30.0 and "progress" not in auto.params_used_
    assert auto.transform(x[:3]).shape == (3, 2)


def test_an_explicit_backend_does_not_fall_back(fakes, data):
    x, _ = data
    with pytest.raises(BackendUnavailable, match="gpu_lib is not installed"):
        AutoProjection(method="pca", backend="missing").fit(x)
    with pytest.raises(BackendUnavailable, match="failed to initialise"):
        AutoProjection(method="pca", backend="broken-constructor").fit(x)
    with pytest.raises(MemoryError):
        AutoProjection(method="pca", backend="out-of-memory").fit(x)


def test_parameter_and_input_errors_are_not_hidden_by_fallback(data):
    x, _ = data
    with pytest.raises(ValueError, match="NaN"):
        AutoProjection(method="pca").fit(np.full((10, 3), np.nan))
    with pytest.raises(ValueError, match="does not take perplexity"):
        AutoProjection(method="pca", backend="pca", params={"perplexity": 5}).fit(x)
    with pytest.raises(ValueError, match="perplexity must be positive"):
        AutoProjection(method="tsne", candidates=("sklearn",), params={"perplexity": -3}).fit(x)


def test_a_parameter_one_candidate_lacks_skips_only_that_candidate(data, monkeypatch):
    x, _ = data
    auto = AutoProjection(method="tsne", candidates=("sklearn", "opentsne"),
                          params={"n_trees": 5, "max_iter": 60, "early_exaggeration_iter": 30}, random_state=0).fit(x)
    assert auto.backend_used_ == "opentsne" and "n_trees; it takes" in auto.skipped_["sklearn"]


def test_name_resolution():
    assert resolve_backend_name("umap", "cuml") == "cuml-umap"
    assert resolve_backend_name("tsne", "cuml") == "cuml"
    assert resolve_backend_name("pca", "torch") == "pca"
    assert resolve_backend_name("tsne", "auto") == "auto"
    with pytest.raises(ValueError, match="computes tsne, not umap"):
        resolve_backend_name("umap", "sklearn")
    with pytest.raises(ValueError, match="unknown projection backend 'faiss'"):
        resolve_backend_name("tsne", "faiss")
    with pytest.raises(ValueError, match="unknown projection method 'lle'"):
        resolve_backend_name("lle", "auto")
    assert AUTO_ORDER["tsne"] == ("cuml", "tsnecuda", "opentsne", "sklearn")
    with pytest.raises(ValueError, match="computes tsne, not pca"):
        AutoProjection(method="pca", candidates=("sklearn",)).candidate_names()
