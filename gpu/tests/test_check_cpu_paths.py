"""gpu/check.py's own code, run on the CPU with tiny sizes: what a GPU run would execute, minus the device."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "check.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("rnnpanel_gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def context(check, tmp_path, **overrides):
    args = argparse.Namespace(sizes=[300], projection_n=300, speed_sizes=[400], speed_dims=[6],
                              json=str(tmp_path / "out.json"), skip_benchmark=False, skip_speed=False)
    for key, value in overrides.items():
        setattr(args, key, value)
    return check.Context(args)


def test_without_any_device_it_exits_2_with_the_remedy(check, capsys):
    import torch

    from rnnpanel.compute.xp import cupy_unavailable_reason

    if torch.cuda.is_available() or cupy_unavailable_reason() is None:  # pragma: no cover
        pytest.skip("a CUDA device is visible here")
    assert check.main(["--skip-benchmark", "--skip-speed"]) == 2
    assert "gpu/README.md" in capsys.readouterr().err


def test_benchmark_leaves_slow_cpu_peers_out_above_20k(check, tmp_path, monkeypatch):
    import rnnpanel.bench.backends as bench
    from rnnpanel.bench.projection import synthetic_states

    seen = []
    real = bench.run_benchmark

    def spy(*args, **kwargs):  # record what check.py asks for; run only "auto" (the CPU peers are slow)
        seen.append((tuple(kwargs["sizes"]), tuple(kwargs["backends"]), kwargs["random_state"]))
        return real(*args, **{**kwargs, "backends": ["auto"]})

    monkeypatch.setattr(bench, "run_benchmark", spy)
    monkeypatch.setattr(check, "CPU_PEERS_UP_TO", 300)
    ctx = context(check, tmp_path, sizes=[300, 400])
    ctx.states, ctx.labels, ctx.source = synthetic_states(400, dims=6)
    status, detail = check.check_benchmark(ctx)
    assert status == check.PASS and "auto=opentsne" in detail
    assert seen == [((300,), ("auto", "cuml", "tsnecuda", "opentsne", "opentsne-default", "sklearn"), 0),
                    ((400,), ("auto", "cuml", "tsnecuda", "opentsne"), 0)]  # the seed users run with


def test_speed_section_times_auto_and_fails_without_a_gpu_backend(check, tmp_path, monkeypatch):
    import rnnpanel.bench.projection as bench_projection

    asked = []
    real = bench_projection.synthetic_states
    monkeypatch.setattr(bench_projection, "synthetic_states", lambda *a, **kw: asked.append(kw) or real(*a, **kw))
    monkeypatch.setattr(check, "SPEED_LIMITS_S", {400: 600.0})
    monkeypatch.setattr(check, "CPU_REFERENCE_N", 400)
    ctx = context(check, tmp_path)
    status, detail = check.check_speed_projection(ctx)
    assert status == check.FAIL and "n=400 d=6: opentsne" in detail and "openTSNE on the CPU" in detail
    (record,) = ctx.speed
    assert record["backend_used"] == "opentsne" and not record["passed"] and record["limit_s"] == 600.0
    assert record["params_used"]["random_state"] == 0 and record["opentsne_cpu_seconds"] > 0  # what users run
    assert asked == [{"dims": 6, "seed": 1, "spectrum_decay": 1.0}]  # states with real states' spectrum
    assert set(record["timings"]) == {"read", "fit", "place", "refine"}
    assert json.loads(Path(ctx.args.json).read_text())[-1]["record"] == "speed"


def test_the_speed_states_keep_most_variance_in_50_components_as_real_states_do():
    """cuML reduces states to 50 components only when those keep 90 % of the variance: the timed states must."""
    from rnnpanel.bench.projection import synthetic_states
    from rnnpanel.compute.projection.pca import principal_axes

    for dims in (100, 256):
        states, _, description = synthetic_states(6000, dims=dims, seed=1, spectrum_decay=1.0)
        assert principal_axes(states, 50)[2] > 0.92 and description["spectrum_decay"] == 1.0
    white, _, _ = synthetic_states(6000, dims=256, seed=1)
    assert principal_axes(white, 50)[2] < 0.7  # what check.py timed before: cuML ran on all 256 dimensions


def test_graph_recall_compares_the_approximate_graph_with_exact_search(check):
    from rnnpanel.bench.projection import synthetic_states
    from rnnpanel.compute.projection.cuml_backend import CumlTSNE

    states, _, _ = synthetic_states(3000, dims=64, seed=1, spectrum_decay=1.0)
    assert check.graph_recall(states, CumlTSNE(perplexity=10), n_sample=200) == 1.0  # 3 cells, all probed: exact
    approximate = check.graph_recall(states, CumlTSNE(perplexity=10, n_probe=1), n_sample=200)
    assert 0.3 < approximate < 1.0


def test_extraction_speed_reads_the_extraction_benchmark(check, tmp_path, monkeypatch):
    tiny = ["--hidden", "8", "--layers", "2", "--lengths", "synthetic", "--repeats", "1", "--device", "cpu",
            "--n", "12", "--per-sequence-n", "4", "--batch-size", "4"]
    monkeypatch.setattr(check, "extraction_runs", lambda: {"cuda": tiny, "cpu": tiny})
    ctx = context(check, tmp_path)
    status, detail = check.check_speed_extraction(ctx)
    assert status in (check.PASS, check.FAIL) and "tokens/s" in detail and "per-step loop" in detail
    assert ctx.speed[-1]["record"] == "extraction" and np.isfinite(ctx.speed[-1]["ratio_vs_cpu"])


def test_skips_are_explicit(check, tmp_path):
    ctx = context(check, tmp_path, skip_speed=True, skip_benchmark=True)
    assert check.check_speed_projection(ctx)[0] == check.SKIP
    assert check.check_speed_extraction(ctx)[0] == check.SKIP
    assert check.check_benchmark(ctx)[0] == check.SKIP
