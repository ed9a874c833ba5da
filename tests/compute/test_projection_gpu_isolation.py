"""GPU libraries that end their process, hold memory, or fail quietly, run on the CPU with stand-ins: tsnecuda's
fit in a spawned child (a stand-in that aborts, one that works), CuPy's pool freed after the starting positions,
RMM's resource chosen once, and a GPU backend skipped by ``auto`` logged as a warning."""

from __future__ import annotations

import logging
import sys
import types
from typing import Any, ClassVar

import numpy as np
import pytest

from rnnpanel.compute.projection import BACKENDS, AutoProjection, ProjectionBackend, tsnecuda_backend
from rnnpanel.compute.projection import gpu as gpu_mod
from rnnpanel.compute.projection.tsnecuda_backend import TsneCudaProjection
from rnnpanel.compute.spawned import ChildProcessDied, call_in_child
from rnnpanel.errors import BackendUnavailable

# A tsnecuda stand-in: fits of the probe's 256 points work; a larger fit does what the real library does when
# cudaMalloc fails (prints the CUDA error, then aborts), unless FAKE_TSNECUDA=works, when it returns the
# starting positions it was given, scaled, so the test can see they arrived.
FAKE_TSNECUDA = '''
import os, sys
import numpy as np


class TSNE:
    def __init__(self, **options):
        self.options = options

    def fit_transform(self, X, y=None):
        if X.shape[0] > 256 and os.environ.get("FAKE_TSNECUDA") != "works":
            sys.stderr.write("CUDA error at src/util/cuda_utils.cu:97 code=2(cudaErrorMemoryAllocation)\\n")
            sys.stderr.flush()
            os.abort()
        if y is None:
            return np.random.default_rng(0).normal(size=(X.shape[0], 2)).astype(np.float32)
        assert y.flags.f_contiguous and self.options["n_iter"] == 60
        return np.asarray(y) * 1e4
'''


@pytest.fixture
def fake_tsnecuda(tmp_path, monkeypatch):
    """The stand-in importable as ``tsnecuda`` here and in spawned children; a private verdict cache."""
    site = tmp_path / "site"
    (site / "tsnecuda").mkdir(parents=True)
    (site / "tsnecuda" / "__init__.py").write_text(FAKE_TSNECUDA)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))  # the probe's child is a plain interpreter
    monkeypatch.setenv("RNNPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.delitem(sys.modules, "tsnecuda", raising=False)
    gpu_mod.forget_probes()
    yield site
    gpu_mod.forget_probes()
    sys.modules.pop("tsnecuda", None)


def _states(n: int = 300, d: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, d)) + 4 * rng.integers(0, 3, size=(n, 1))).astype(np.float32)


def test_a_tsnecuda_fit_that_aborts_its_process_falls_back_with_the_reason(fake_tsnecuda):
    x = _states()
    auto = AutoProjection(method="tsne", candidates=("tsnecuda", "opentsne"),
                          params={"max_iter": 60, "early_exaggeration_iter": 30}, random_state=0).fit(x)
    assert auto.backend_used_ == "opentsne" and auto.embedding_.shape == (300, 2)
    reason = auto.skipped_["tsnecuda"]
    assert "killed by SIGABRT" in reason and "cudaErrorMemoryAllocation" in reason
    with pytest.raises(BackendUnavailable, match="tsnecuda: its fit in a separate process failed .*SIGABRT"):
        TsneCudaProjection(max_iter=60).fit(x)  # named alone: the reason reaches the caller, this process lives on


def test_a_tsnecuda_fit_in_its_child_returns_the_map_from_the_starting_positions(fake_tsnecuda, monkeypatch):
    monkeypatch.setenv("FAKE_TSNECUDA", "works")
    x = _states()
    fitted = TsneCudaProjection(max_iter=60).fit(x)
    expected = tsnecuda_backend.initial_positions(x) * 1e4
    np.testing.assert_allclose(fitted.embedding_, expected, rtol=1e-6)
    assert fitted.n_iter_ == 60 and "tsnecuda" not in sys.modules  # the library ran in the child only


def test_a_child_that_raises_or_dies_is_reported(tmp_path, monkeypatch):
    (tmp_path / "dying.py").write_text("import os, sys\n\ndef die(x, code):\n    print('last words', flush=True)\n"
                                       "    os._exit(code)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import dying

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert call_in_child(np.sum, x, {"axis": 0}).tolist() == [18.0, 22.0, 26.0]  # a read-only memory map arrives
    with pytest.raises(np.linalg.LinAlgError, match="must be square"):
        call_in_child(np.linalg.inv, x)  # its own exception, its type kept
    with pytest.raises(ChildProcessDied, match=r"the process computing it exited with status 7: last words"):
        call_in_child(dying.die, x, {"code": 7}, what="it")


def test_a_daemonic_process_can_call_in_a_child(tmp_path, monkeypatch):
    """The app computes maps in a daemonic multiprocessing child, which may not start multiprocessing children:
    the call goes through a plain interpreter instead."""
    import multiprocessing

    (tmp_path / "daemonic.py").write_text(
        "import numpy as np\nfrom rnnpanel.compute.spawned import call_in_child\n\n"
        "def run(queue):\n    queue.put(call_in_child(np.sum, np.ones((3, 2), dtype=np.float32)).tolist())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import daemonic

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=daemonic.run, args=(queue,), daemon=True)
    child.start()
    assert queue.get(timeout=120) == 6.0
    child.join(timeout=60)
    assert child.exitcode == 0


def test_cupy_pools_are_freed_after_the_starting_positions(monkeypatch):
    """With CuPy (here NumPy standing in, with pools that count), tsnecuda finds no PCA blocks still reserved."""
    freed = []

    class Pool:
        def __init__(self, name: str) -> None:
            self.name = name

        def free_all_blocks(self) -> None:
            freed.append(self.name)

    fake = types.ModuleType("cupy")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.get_default_memory_pool = lambda: Pool("device")
    fake.get_default_pinned_memory_pool = lambda: Pool("pinned")
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(tsnecuda_backend, "cupy_or_none", lambda: fake)
    init = tsnecuda_backend.initial_positions(_states(d=4))
    assert init.flags.f_contiguous and freed == ["device", "pinned"]


def fake_rmm(*, async_fails: bool = False) -> tuple[types.ModuleType, list[Any]]:
    """An ``rmm`` with the resources :func:`use_pooled_rmm` reads, starting from the default one."""
    class Resource:
        pass

    class CudaMemoryResource(Resource):
        pass

    class CudaAsyncMemoryResource(Resource):
        def __init__(self) -> None:
            if async_fails:
                raise RuntimeError("cudaMallocAsync not supported with this CUDA driver/runtime version")

    class PoolMemoryResource(Resource):
        def __init__(self, upstream: Resource) -> None:
            self.upstream = upstream

    current: list[Any] = [CudaMemoryResource()]
    mr = types.ModuleType("rmm.mr")
    mr.CudaMemoryResource, mr.CudaAsyncMemoryResource, mr.PoolMemoryResource = (
        CudaMemoryResource, CudaAsyncMemoryResource, PoolMemoryResource)
    mr.get_current_device_resource = lambda: current[-1]
    mr.set_current_device_resource = current.append
    rmm = types.ModuleType("rmm")
    rmm.mr = mr
    return rmm, current


def test_rmm_gets_a_pooled_resource_once(monkeypatch):
    rmm, current = fake_rmm()
    monkeypatch.setitem(sys.modules, "rmm", rmm)
    monkeypatch.setitem(sys.modules, "rmm.mr", rmm.mr)
    assert gpu_mod.use_pooled_rmm() == "set CudaAsyncMemoryResource"
    assert gpu_mod.use_pooled_rmm() == "kept CudaAsyncMemoryResource"  # idempotent
    assert [type(r).__name__ for r in current] == ["CudaMemoryResource", "CudaAsyncMemoryResource"]

    rmm, current = fake_rmm(async_fails=True)  # an old driver: a pool over cudaMalloc instead
    monkeypatch.setitem(sys.modules, "rmm", rmm)
    monkeypatch.setitem(sys.modules, "rmm.mr", rmm.mr)
    assert gpu_mod.use_pooled_rmm() == "set PoolMemoryResource"
    assert isinstance(current[-1].upstream, rmm.mr.CudaMemoryResource)

    rmm, current = fake_rmm()  # the user's own choice stays
    current.append(rmm.mr.PoolMemoryResource(rmm.mr.CudaMemoryResource()))
    monkeypatch.setitem(sys.modules, "rmm", rmm)
    monkeypatch.setitem(sys.modules, "rmm.mr", rmm.mr)
    assert gpu_mod.use_pooled_rmm() == "kept PoolMemoryResource" and len(current) == 2

    monkeypatch.setitem(sys.modules, "rmm", None)  # no RMM at all (no cuML): nothing to do, nothing raised
    monkeypatch.setitem(sys.modules, "rmm.mr", None)
    assert gpu_mod.use_pooled_rmm().startswith("no RMM")


# -- a GPU backend skipped by auto is a warning, unless it is simply not installed ------------------
class _GpuStandIn(ProjectionBackend):
    method: ClassVar[str] = "pca"
    hardware: ClassVar[str] = "gpu"
    failure: ClassVar[Exception]

    def __init__(self, *, n_components: int = 2, random_state: Any = None) -> None:
        self.n_components = n_components
        self.random_state = random_state

    @classmethod
    def check_available(cls) -> None:
        raise cls.failure


class Absent(_GpuStandIn):
    name: ClassVar[str] = "gpu-absent"
    failure: ClassVar[Exception] = gpu_mod.LibraryAbsent("gpu-absent: cuml is not installed")


class Broken(_GpuStandIn):
    name: ClassVar[str] = "gpu-broken"
    failure: ClassVar[Exception] = gpu_mod.BrokenInstall("gpu-broken: libcuml++.so: undefined symbol")


class OutOfMemory(_GpuStandIn):
    name: ClassVar[str] = "gpu-oom"
    failure: ClassVar[Exception] = BackendUnavailable("gpu-oom: RuntimeError: CUDA error: out of memory")


def test_auto_warns_when_an_installed_gpu_backend_is_skipped(monkeypatch, caplog):
    for cls in (Absent, Broken, OutOfMemory):
        monkeypatch.setitem(BACKENDS, cls.name, cls)
    x = _states(n=40)
    with caplog.at_level(logging.INFO, logger="rnnpanel.compute.projection.auto"):
        auto = AutoProjection(method="pca", candidates=("gpu-absent", "gpu-broken", "gpu-oom", "pca")).fit(x)
    assert auto.backend_used_ == "pca" and list(auto.skipped_) == ["gpu-absent", "gpu-broken", "gpu-oom"]
    levels = {r.getMessage().split(" skipped")[0].split()[-1]: r.levelno for r in caplog.records
              if r.getMessage().startswith("projection backend")}
    assert levels == {"gpu-absent": logging.INFO, "gpu-broken": logging.WARNING, "gpu-oom": logging.WARNING}
