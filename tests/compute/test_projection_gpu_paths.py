"""The GPU path's logic, run on the CPU: probes in a child process with a cached verdict, backends gated on
what they need, run-time failures that fall back, shared parameters, PCA on the array namespace, torch
tensors that never need CuPy."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from rnnpanel.compute.projection import BACKENDS, AutoProjection, ProjectionBackend, make_backend
from rnnpanel.compute.projection import gpu as gpu_mod
from rnnpanel.compute.projection.base import ParameterError
from rnnpanel.compute.projection.cuml_backend import CumlTSNE, release_tuple, seed_takes_deterministic_path
from rnnpanel.compute.projection.pca import PCAProjection, principal_axes, project_on_axes, reduce_dimensions
from rnnpanel.compute.projection.tsnecuda_backend import PROBE_CODE, TsneCudaProjection, initial_positions
from rnnpanel.errors import BackendUnavailable


@pytest.fixture
def fresh_probes(tmp_path, monkeypatch):
    """Private verdict cache and no remembered probes, before and after."""
    monkeypatch.setenv("RNNPANEL_HOME", str(tmp_path / "home"))
    gpu_mod.forget_probes()
    yield tmp_path
    gpu_mod.forget_probes()


@pytest.fixture
def fake_library(tmp_path, monkeypatch):
    """An importable package ``fakegpulib`` (only its files matter: they key the cached verdict)."""
    root = tmp_path / "site"
    (root / "fakegpulib").mkdir(parents=True)
    (root / "fakegpulib" / "__init__.py").write_text("VERSION = 1\n")
    monkeypatch.syspath_prepend(str(root))
    return root / "fakegpulib"


def ok_code(marker: Any) -> str:
    return f"import pathlib; pathlib.Path({str(marker)!r}).open('a').write('x'); print({gpu_mod.PROBE_OK!r})"


# -- probes in a child process -------------------------------------------------------------------
def test_a_probe_that_kills_its_process_is_a_reason_not_a_crash(fresh_probes, fake_library):
    with pytest.raises(BackendUnavailable, match=r"fake: .*exited with status 3: boom"):
        gpu_mod.probe_in_subprocess(
            "fake", "fakegpulib", "import sys; sys.stderr.write('boom\\n'); import os; os._exit(3)"
        )
    gpu_mod.forget_probes()
    with pytest.raises(BackendUnavailable, match="killed by SIGABRT"):  # what assert(0) in C code does
        gpu_mod.probe_in_subprocess("fake", "fakegpulib", "import os; os.abort()")
    gpu_mod.forget_probes()
    with pytest.raises(BackendUnavailable, match="did not finish within 1 s"):
        gpu_mod.probe_in_subprocess("fake", "fakegpulib", "import time; time.sleep(30)", timeout=1)
    assert "fake" not in gpu_mod._read_verdicts()  # a slow moment is not cached as the build's verdict


def test_the_verdict_is_cached_on_disk_per_build(fresh_probes, fake_library):
    marker = fresh_probes / "runs.txt"
    gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))
    gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))  # remembered in this process
    gpu_mod._probe_results.clear()  # a new process: only the file on disk remains
    gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))
    assert marker.read_text() == "x" and gpu_mod.verdicts_path().is_file()

    (fake_library / "_kernels.so").write_bytes(b"another build")  # a reinstall changes the key
    gpu_mod._probe_results.clear()
    with pytest.raises(gpu_mod.BrokenInstall, match="exited with status 3: OSError: libcudart.so.10.2: cannot open"):
        gpu_mod.probe_in_subprocess("fake", "fakegpulib", IMPORT_FAILS)
    gpu_mod._probe_results.clear()
    with pytest.raises(gpu_mod.BrokenInstall, match="cached verdict"):  # a build that does not load is cached
        gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))
    gpu_mod.forget_probes()  # ... until forgotten
    gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))
    assert marker.read_text() == "xx"


IMPORT_FAILS = (f"print('{gpu_mod.PROBE_IMPORT_FAILED}: OSError: libcudart.so.10.2: cannot open shared object file')"
                "; raise SystemExit(3)")
OUT_OF_MEMORY = "import sys; sys.stderr.write('CUDA error in cuda_utils.cu:97: out of memory\\n'); raise SystemExit(1)"


def test_a_fit_that_failed_for_a_moment_is_neither_cached_on_disk_nor_for_long(fresh_probes, fake_library,
                                                                             monkeypatch):
    """An out-of-memory of the probe (another job on the GPU) is not the build's verdict: probed again later."""
    marker = fresh_probes / "runs.txt"
    with pytest.raises(BackendUnavailable, match="exited with status 1: CUDA error .*out of memory") as info:
        gpu_mod.probe_in_subprocess("fake", "fakegpulib", OUT_OF_MEMORY)
    assert not isinstance(info.value, gpu_mod.BrokenInstall)
    assert "fake" not in gpu_mod._read_verdicts()
    with pytest.raises(BackendUnavailable, match="out of memory"):  # remembered for a while in this process ...
        gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))
    assert not marker.exists()
    monkeypatch.setattr(gpu_mod, "RETRY_AFTER_S", 0.0)  # ... and probed again once that while has passed
    gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))
    assert marker.read_text() == "x" and gpu_mod._read_verdicts()["fake"]["reason"] is None
    gpu_mod._probe_results.clear()
    gpu_mod._write_verdict("fake", {"key": gpu_mod.module_fingerprint("fakegpulib"), "reason": "exited with status 1"})
    gpu_mod.probe_in_subprocess("fake", "fakegpulib", ok_code(marker))  # an old file's unclassified failure: probed
    assert marker.read_text() == "xx"


def test_an_in_process_probe_keeps_only_lasting_failures(fresh_probes, monkeypatch):
    """A cuML probe that ran out of memory is retried after RETRY_AFTER_S; one that could not import is not."""
    runs = []

    def flaky() -> None:
        runs.append("flaky")
        if len(runs) == 1:
            raise RuntimeError("CUDA error: out of memory")

    def broken() -> None:
        runs.append("broken")
        raise ImportError("libcuml++.so: undefined symbol: _ZN4raft")

    for _ in range(2):
        with pytest.raises(BackendUnavailable, match="flaky: RuntimeError: CUDA error: out of memory"):
            gpu_mod.probe_once("flaky", flaky)
        with pytest.raises(gpu_mod.BrokenInstall, match="undefined symbol"):
            gpu_mod.probe_once("broken", broken)
    assert runs == ["flaky", "broken"]
    monkeypatch.setattr(gpu_mod, "RETRY_AFTER_S", 0.0)
    gpu_mod.probe_once("flaky", flaky)  # the moment has passed: it works now
    with pytest.raises(gpu_mod.BrokenInstall):
        gpu_mod.probe_once("broken", broken)
    assert runs == ["flaky", "broken", "flaky"]


def test_a_missing_library_is_not_probed(fresh_probes):
    with pytest.raises(BackendUnavailable, match="not_a_module_here is not installed"):
        gpu_mod.probe_in_subprocess("absent", "not_a_module_here", "raise SystemExit(9)")


def test_tsnecuda_is_probed_in_a_child_process(fresh_probes, monkeypatch):
    calls = []

    def child(module: str, code: str, timeout: float) -> tuple[str, bool]:
        calls.append((module, code))
        return "its probe fit in a separate process exited with status 1: CUDA error: no kernel image", True

    monkeypatch.setattr(gpu_mod, "module_fingerprint", lambda module: "build-1")
    monkeypatch.setattr(gpu_mod, "_run_child_probe", child)
    with pytest.raises(BackendUnavailable, match="tsnecuda: .*no kernel image"):
        TsneCudaProjection.check_available()
    assert calls == [("tsnecuda", PROBE_CODE)] and "fit_transform" in PROBE_CODE and gpu_mod.PROBE_OK in PROBE_CODE
    x = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    fitted = AutoProjection(method="tsne", candidates=("tsnecuda", "opentsne"),
                            params={"max_iter": 60, "early_exaggeration_iter": 30}, random_state=0).fit(x)
    assert fitted.backend_used_ == "opentsne" and "no kernel image" in fitted.skipped_["tsnecuda"]
    assert len(calls) == 1  # the verdict was remembered


def test_cuml_is_gated_on_cupy_seeing_a_device_not_on_torch(fresh_probes, monkeypatch):
    """With a CPU torch and a CuPy that sees a device, cuML's own import decides (here: not installed)."""
    import rnnpanel.compute.xp as xpmod

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(xpmod, "cupy_unavailable_reason", lambda: None)
    monkeypatch.setattr(xpmod, "_cupy", lambda: np)  # stands in for CuPy
    with pytest.raises(BackendUnavailable) as info:
        CumlTSNE.check_available()
    assert "cuml" in str(info.value) and "not installed" in str(info.value) and "torch" not in str(info.value)
    gpu_mod.forget_probes()
    monkeypatch.setattr(xpmod, "cupy_unavailable_reason", lambda: "CuPy sees no CUDA device")
    with pytest.raises(BackendUnavailable, match="CuPy cannot use a CUDA device here .CuPy sees no CUDA device"):
        CumlTSNE.check_available()


# -- run-time failures fall back -------------------------------------------------------------------
class _Fake(ProjectionBackend):
    method: ClassVar[str] = "pca"
    hardware: ClassVar[str] = "gpu"

    def __init__(self, *, n_components: int = 2, random_state: Any = None) -> None:
        self.n_components = n_components
        self.random_state = random_state


class LibraryValueError(_Fake):
    name: ClassVar[str] = "library-value-error"

    def _fit(self, X: Any) -> Any:  # what cuML raises from its own checks, e.g. after an API change
        raise ValueError("TSNE requires `n_neighbors > 0`, got 0")


class LibraryTypeError(_Fake):
    name: ClassVar[str] = "library-type-error"

    def _fit(self, X: Any) -> Any:
        raise TypeError("__init__() got an unexpected keyword argument 'n_iter'")


class OurParameterCheck(_Fake):
    name: ClassVar[str] = "parameter-check"

    def _fit(self, X: Any) -> Any:
        raise ParameterError("init must be one of 'pca', 'random'; got 'spectralish'")


@pytest.fixture
def failing(monkeypatch):
    for cls in (LibraryValueError, LibraryTypeError, OurParameterCheck):
        monkeypatch.setitem(BACKENDS, cls.name, cls)


def test_errors_inside_a_library_fall_back_with_the_reason(failing):
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    auto = AutoProjection(method="pca", candidates=("library-value-error", "library-type-error", "pca")).fit(x)
    assert auto.backend_used_ == "pca"
    assert auto.skipped_ == {
        "library-value-error": "failed while fitting (ValueError: TSNE requires `n_neighbors > 0`, got 0)",
        "library-type-error": (
            "failed while fitting (TypeError: __init__() got an unexpected keyword argument 'n_iter')"
        ),
    }
    with pytest.raises(ParameterError, match="init must be one of"):  # our own checks still reach the caller
        AutoProjection(method="pca", candidates=("parameter-check", "pca")).fit(x)
    with pytest.raises(ValueError, match="n_neighbors"):  # a named backend is not second-guessed
        AutoProjection(method="pca", backend="library-value-error").fit(x)
    with pytest.raises(ValueError, match="max_fit must be"):
        AutoProjection(method="pca", candidates=("library-value-error", "pca"), max_fit=1).fit(x)


# -- shared parameters ---------------------------------------------------------------------------
def test_cuml_options_follow_the_shared_parameters():
    est = CumlTSNE(perplexity=30, random_state=3)
    small = est.tsne_options(10_000)
    assert small["learning_rate"] == pytest.approx(10_000 / 12) and small["learning_rate_method"] is None
    assert est.learning_rate_ == pytest.approx(10_000 / 12) and est.post_learning_rate_ == pytest.approx(20_000 / 12)
    assert small["max_iter"] == 1000 and small["exaggeration_iter"] == 250 and small["n_neighbors"] == 90
    assert small["random_state"] is None and small["method"] == "fft"  # cuML's fast path unless deterministic
    assert CumlTSNE(random_state=3, deterministic=True).tsne_options(10_000)["random_state"] == 3
    large = CumlTSNE().tsne_options(1_000_000, "n_iter")
    assert large["n_iter"] == 500 and large["random_state"] is None
    assert CumlTSNE(max_iter=700).tsne_options(1_000_000)["max_iter"] == 700
    with pytest.raises(BackendUnavailable, match="2 dimensions only"):
        CumlTSNE(n_components=3).tsne_options(100)
    with pytest.raises(ParameterError, match="init must be one of"):
        CumlTSNE(init="spectral").tsne_options(100)


def test_a_seed_costs_speed_from_cuml_26_08():
    assert (
        release_tuple("26.08.00") == (26, 8) and release_tuple("26.10.0a") == (26, 10) and release_tuple("x") == (0, 0)
    )
    assert seed_takes_deterministic_path("26.08.00", 0) and seed_takes_deterministic_path("27.02.00", 0)
    assert not seed_takes_deterministic_path("26.06.01", 0) and not seed_takes_deterministic_path("26.10.00", None)


def test_tsnecuda_records_that_its_seed_is_not_honoured():
    assert "random_state" in TsneCudaProjection._get_param_names()
    assert "never reaches its C code" in sys.modules[TsneCudaProjection.__module__].__doc__


def test_every_tsne_backend_records_both_learning_rates():
    x = np.random.default_rng(0).normal(size=(120, 5)).astype(np.float32)
    ot = make_backend("opentsne", random_state=0, max_iter=60, early_exaggeration_iter=30).fit(x)
    assert ot.learning_rate_ == pytest.approx(120 / 12) and ot.post_learning_rate_ == pytest.approx(120)
    fixed = make_backend("opentsne", random_state=0, max_iter=60, early_exaggeration_iter=30, learning_rate=50.0).fit(x)
    assert fixed.learning_rate_ == fixed.post_learning_rate_ == 50.0
    sk = make_backend("sklearn", random_state=0, max_iter=250).fit(x)
    assert sk.post_learning_rate_ == sk.learning_rate_


# -- PCA on the array namespace (CuPy on the GPU, NumPy here) -------------------------------------
def wide_states(n: int = 3000, d: int = 256, rank: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, d))
    return (rng.normal(size=(n, rank)) * np.linspace(5, 1, rank) @ basis + 0.05 * rng.normal(size=(n, d))).astype(
        np.float32
    )


def test_principal_axes_match_the_pca_backend():
    x = wide_states(d=40)
    mean, comps, kept = principal_axes(x, 3, block_rows=700)
    ref = PCAProjection(n_components=3, device="cpu").fit(x)
    assert comps.dtype == np.float32 and mean.shape == (40,)
    np.testing.assert_allclose(comps, ref.components_, atol=2e-4)
    assert kept == pytest.approx(float(np.sum(ref.explained_variance_ratio_)), rel=1e-5)
    np.testing.assert_allclose(project_on_axes(x, mean, comps, block_rows=512), ref.embedding_, rtol=1e-3, atol=1e-3)
    with pytest.raises(ParameterError, match="cannot exceed"):
        principal_axes(x, 41)


def test_gpu_tsne_input_is_reduced_when_little_variance_is_lost():
    x = wide_states()
    reduced = CumlTSNE().reduce(x)
    assert reduced.shape == (3000, 50) and reduced.dtype == np.float32
    full = CumlTSNE(pca_components=None)
    kept = full.reduce(x)
    assert np.array_equal(kept, x) and kept.flags.f_contiguous and full.input_dims_ == 256
    noise = np.random.default_rng(1).normal(size=(500, 256)).astype(np.float32)
    assert reduce_dimensions(noise, 50, 0.9)[0] is noise  # 50 of 256 white-noise axes keep too little
    assert np.array_equal(CumlTSNE(metric="cosine").reduce(x), x)


def test_tsnecuda_initialisation_is_float32_pca_in_fortran_order():
    x = wide_states(n=500, d=30)
    init = initial_positions(x)
    assert init.shape == (500, 2) and init.dtype == np.float32 and init.flags.f_contiguous
    assert np.std(init[:, 0]) == pytest.approx(1e-4, rel=1e-3)
    ref = PCAProjection(n_components=2, device="cpu").fit_transform(x)
    corr = np.corrcoef(init[:, 0], ref[:, 0])[0, 1]
    assert corr > 0.9999


# -- torch tensors never go through CuPy ----------------------------------------------------------
def test_torch_input_reaches_torch_only_backends_without_the_array_namespace(monkeypatch):
    """A CUDA tensor on a machine without CuPy must reach PCA: nothing on the way converts it through CuPy."""
    import rnnpanel.compute.projection.auto as auto_mod
    import rnnpanel.compute.projection.base as base_mod

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ModuleNotFoundError("No module named 'cupy'")

    x = torch.from_numpy(wide_states(n=200, d=12))
    expected = PCAProjection(device="cpu").fit_transform(x.numpy())
    monkeypatch.setattr(base_mod, "asarray", refuse)
    monkeypatch.setattr(auto_mod, "asarray", refuse)
    est = make_backend("pca").fit(x)
    np.testing.assert_allclose(est.embedding_, expected, atol=1e-4)
    auto = AutoProjection(method="pca").fit(x)
    assert auto.backend_used_ == "pca" and auto.embedding_.shape == (200, 2)
    with pytest.raises(ParameterError, match="NaN"):
        make_backend("pca").fit(torch.full((10, 3), float("nan")))
    with pytest.raises(ParameterError, match="2-D"):
        AutoProjection(method="pca").fit(torch.zeros(10))
