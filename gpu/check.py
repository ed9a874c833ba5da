#!/usr/bin/env python
"""Acceptance check of rnnpanel's GPU path against its CPU path on the same data, and of its speed.

Run on a CUDA workstation after following gpu/README.md:

    python gpu/check.py [--sizes 5000 20000] [--projection-n 20000] [--speed-sizes 100000 1000000]
                        [--speed-dims 100 256] [--json OUT.json] [--skip-benchmark] [--skip-speed]

Prints one ``PASS`` / ``FAIL`` / ``SKIP`` line per item: environment, extraction parity,
step distances, neighbours (tied distances included), metrics, PCA, one projection per GPU
backend with its quality next to openTSNE's, the comparison benchmark, and the speed section
(a warm end-to-end ``auto`` projection of host states at 100,000 and 1,000,000 states, failing
above 2 s and 20 s, against openTSNE on this machine's CPU at 100,000; extraction tokens per
second on CUDA against the per-step loop and against the CPU). Exit status: 0 when nothing
failed, 1 when an item failed, 2 when neither torch nor CuPy sees a CUDA device.

It times what users run: ``auto`` with the seed the command line and the app pass by default
(``random_state=0``; GPU backends are fast and unseeded unless ``deterministic=True``), on
synthetic states with the decaying spectrum of extracted LSTM states (``spectrum_decay=1``: 50
principal components keep about 0.95 of their variance, as the demo model's do, so cuML runs on
50 reduced dimensions as it would on real states). Where cuML built its neighbour graph
approximately, the speed record also gives that graph's recall against exact search.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
OPTIONAL_BACKENDS = ("tsnecuda",)  # not in the requirement files: unavailable is a SKIP, not a FAIL
GPU_BACKENDS = ("cuml", "tsnecuda", "cuml-umap")
GPU_TSNE = ("cuml", "tsnecuda")
SPEED_LIMITS_S = {100_000: 2.0, 1_000_000: 20.0}  # warm end-to-end auto t-SNE of host states
CPU_PEERS_UP_TO = 20_000  # scikit-learn and openTSNE's defaults take minutes beyond this
CPU_REFERENCE_N = 100_000  # openTSNE (tuned) on this machine's CPU, the speed section's peer
TRUST_MARGIN = 0.02  # a GPU t-SNE may trail openTSNE's trustworthiness by this much
KNN_MARGIN = 0.05    # ... and its k-NN preservation by this much
USER_SEED = 0        # the seed `rnnpanel project` and the app pass unless told otherwise
SPECTRUM_DECAY = 1.0  # synthetic states with the variance spectrum of extracted LSTM states
RECALL_SAMPLE = 1000  # states whose approximate neighbours are checked against exact search


@dataclass
class Context:
    args: argparse.Namespace
    states: np.ndarray | None = None
    labels: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)
    reference_quality: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    speed: list[dict[str, Any]] = field(default_factory=list)


def check_environment(ctx: Context) -> tuple[str, str]:
    import torch

    from rnnpanel.compute.projection import unavailable_reason
    from rnnpanel.compute.xp import cupy_or_none, cupy_unavailable_reason

    cp = cupy_or_none()
    backends = {name: unavailable_reason(name) or "works" for name in GPU_BACKENDS}
    torch_line = (f"torch {torch.__version__} (CUDA {torch.version.cuda}) on {torch.cuda.get_device_name(0)}"
                  if torch.cuda.is_available() else f"torch {torch.__version__} sees no CUDA device")
    cupy_line = f"CuPy {cp.__version__}" if cp is not None else f"CuPy unusable ({cupy_unavailable_reason()})"
    detail = f"{torch_line}; {cupy_line}; " + "; ".join(f"{k}: {v}" for k, v in backends.items())
    detail += f"; RMM: {_rmm_resource()}"
    ok = cp is not None and torch.cuda.is_available()
    return (PASS if ok else FAIL), detail + (
        "" if ok else " — install the CUDA build: pip install -e . -r gpu/requirements-cuda13.txt (or -cuda12)"
    )


def _rmm_resource() -> str:
    """RMM's current device resource (cuML's probe set a pooled one), or why there is none."""
    rmm = sys.modules.get("rmm")
    if rmm is None:
        return "not loaded (no cuML)"
    try:
        return type(rmm.mr.get_current_device_resource()).__name__
    except Exception as exc:  # noqa: BLE001 - a report line, never a failure
        return f"unknown ({type(exc).__name__}: {exc})"


def check_extraction(ctx: Context) -> tuple[str, str]:
    import torch

    from rnnpanel.compute.extraction import extract_states
    from rnnpanel.models import ModelConfig, RecurrentClassifier

    rng = np.random.default_rng(0)
    config = ModelConfig(cell="lstm", vocab_size=500, n_classes=3, embedding_dim=32, hidden_size=64, num_layers=2)
    gen = torch.Generator().manual_seed(0)
    model = RecurrentClassifier(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    model.eval()
    sequences = [rng.integers(2, 500, size=int(rng.integers(1, 120))).tolist() for _ in range(300)]
    cpu = extract_states(model, sequences, device="cpu")
    gpu = extract_states(model, sequences, device="cuda")
    worst = 0.0
    for a, b in zip(cpu.layers, gpu.layers, strict=True):
        for kind in a:
            worst = max(worst, float(np.max(np.abs(a[kind] - b[kind]))))
    worst = max(worst, float(np.max(np.abs(cpu.ep - gpu.ep))))
    same_pred = bool(np.array_equal(cpu.predictions, gpu.predictions))
    ok = worst <= 1e-4 and same_pred and np.array_equal(cpu.offsets, gpu.offsets)
    return (
        PASS if ok else FAIL
    ), f"{cpu.n_states} states, 2 layers h+c and EP: max |CUDA − CPU| = {worst:.2e}; predictions equal: {same_pred}"


def _gpu_states(ctx: Context) -> tuple[Any, Any]:
    """The check's states as NumPy and as a CUDA tensor, viewed by CuPy through DLPack (no host copy)."""
    import torch

    from rnnpanel.compute.xp import asarray

    tensor = torch.from_numpy(ctx.states).to("cuda")
    view = asarray(tensor)
    if int(view.data.ptr) != int(tensor.data_ptr()):
        raise AssertionError("DLPack hand-over copied the tensor instead of sharing its memory")
    return tensor, view


def check_step_distances(ctx: Context) -> tuple[str, str]:
    from rnnpanel.compute.distances import step_distances
    from rnnpanel.compute.xp import to_numpy

    n = ctx.states.shape[0]
    offsets = np.unique(np.concatenate([[0], np.sort(np.random.default_rng(0).choice(n, 200, replace=False)), [n]]))
    _, view = _gpu_states(ctx)
    cpu = step_distances(ctx.states, offsets)
    gpu = to_numpy(step_distances(view, offsets))
    same_nan = bool(np.array_equal(np.isnan(cpu), np.isnan(gpu)))
    worst = float(np.nanmax(np.abs(cpu - gpu)))
    return (
        PASS if same_nan and worst < 1e-5 else FAIL
    ), f"{n} states, CUDA tensor → CuPy by DLPack: max diff {worst:.1e}"


def check_neighbors(ctx: Context) -> tuple[str, str]:
    import cupy

    from rnnpanel.compute.neighbors import kneighbors
    from rnnpanel.compute.xp import to_numpy

    sample = ctx.states[:5000]
    _, view = _gpu_states(ctx)
    idx_cpu, d_cpu = kneighbors(sample, 10)
    idx_gpu, d_gpu = kneighbors(view[:5000], 10)
    agree = float(np.mean(idx_cpu == to_numpy(idx_gpu)))
    worst = float(np.max(np.abs(d_cpu - to_numpy(d_gpu))))
    # exact duplicates, more than k + 8 of them (every sequence that starts with the same word shares h_1),
    # among random states (no near-ties that rounding alone could reorder)
    rng = np.random.default_rng(0)
    tied = rng.normal(size=(2000, 16)).astype(np.float32)
    tied[rng.choice(2000, 300, replace=False)] = tied[0]
    ties_equal = bool(np.array_equal(kneighbors(tied, 10)[0], to_numpy(kneighbors(cupy.asarray(tied), 10)[0])))
    ok = agree > 0.999 and worst < 1e-4 and ties_equal
    return (PASS if ok else FAIL), (f"10-NN of 5,000 states: {agree:.4%} identical, max distance diff {worst:.1e}; "
                                    f"300 exact duplicates: CuPy and NumPy {'identical' if ties_equal else 'DIFFER'}")


def check_metrics(ctx: Context) -> tuple[str, str]:
    import cupy

    from rnnpanel.compute.metrics import projection_quality
    from rnnpanel.compute.projection import make_backend

    sample, labels = ctx.states[:3000], ctx.labels[:3000]
    emb = make_backend("pca", device="cpu").fit_transform(sample)
    _, view = _gpu_states(ctx)
    cpu = projection_quality(sample, emb, labels)
    gpu = projection_quality(view[:3000], cupy.asarray(emb), cupy.asarray(labels))
    diffs = {k: abs(cpu[k] - gpu[k]) for k in ("trustworthiness", "knn_preservation", "neighborhood_hit")}
    return (PASS if max(diffs.values()) < 1e-6 else FAIL), "CuPy vs NumPy: " + ", ".join(
        f"{k} Δ {v:.1e}" for k, v in diffs.items()
    )


def check_pca(ctx: Context) -> tuple[str, str]:
    from rnnpanel.compute.projection import make_backend

    tensor, _ = _gpu_states(ctx)
    cpu = make_backend("pca", device="cpu").fit(ctx.states)
    gpu = make_backend("pca", device="cuda").fit(tensor)
    worst = float(np.max(np.abs(cpu.embedding_ - gpu.embedding_)))
    scale = float(np.max(np.abs(cpu.embedding_)))
    return (
        PASS if gpu.device_.startswith("cuda") and worst <= 1e-3 * scale else FAIL
    ), f"device {gpu.device_}, max diff {worst:.1e} (scale {scale:.1f})"


def _reference(ctx: Context) -> dict[str, Any]:
    if ctx.reference_quality is None:
        from rnnpanel.compute.metrics import projection_quality
        from rnnpanel.compute.projection import make_backend

        n = ctx.args.projection_n
        started = time.perf_counter()
        emb = make_backend("opentsne", random_state=0).fit_transform(ctx.states[:n])
        ctx.reference_quality = {**projection_quality(ctx.states[:n], emb, ctx.labels[:n]),
                                 "seconds": time.perf_counter() - started}
    return ctx.reference_quality


def check_projection(name: str) -> Callable[[Context], tuple[str, str]]:
    def run(ctx: Context) -> tuple[str, str]:
        from rnnpanel.compute.metrics import projection_quality
        from rnnpanel.compute.projection import make_backend, unavailable_reason

        reason = unavailable_reason(name)
        if reason is not None:
            return (SKIP if name in OPTIONAL_BACKENDS else FAIL), reason
        n = ctx.args.projection_n
        tensor, _ = _gpu_states(ctx)
        started = time.perf_counter()
        est = make_backend(name, random_state=0).fit(tensor[:n])  # device input, handed over by DLPack
        seconds = time.perf_counter() - started
        q = projection_quality(ctx.states[:n], est.embedding_, ctx.labels[:n])
        ref = _reference(ctx)
        line = (
            f"n={n}: {seconds:.1f} s, trust {q['trustworthiness']:.4f}, kNN {q['knn_preservation']:.4f}, "
            f"hit {q['neighborhood_hit']:.4f} | openTSNE {ref['seconds']:.1f} s, trust {ref['trustworthiness']:.4f}, "
            f"kNN {ref['knn_preservation']:.4f}, hit {ref['neighborhood_hit']:.4f}"
        )
        if est.method == "umap":  # a different method: report beside t-SNE, require only a sound map
            ok = q["trustworthiness"] >= ref["trustworthiness"] - 0.05
        else:
            ok = (q["trustworthiness"] >= ref["trustworthiness"] - TRUST_MARGIN
                  and q["knn_preservation"] >= ref["knn_preservation"] - KNN_MARGIN)
        return (PASS if ok else FAIL), line

    run.__name__ = f"projection {name}"
    return run


def check_benchmark(ctx: Context) -> tuple[str, str]:
    if ctx.args.skip_benchmark:
        return SKIP, "--skip-benchmark"
    from rnnpanel.bench.backends import add_speedups, machine_record, run_benchmark

    sizes = [n for n in ctx.args.sizes if n <= ctx.states.shape[0]]
    records: list[dict[str, Any]] = []
    for n in sizes:  # scikit-learn and openTSNE's defaults only where they finish in reasonable time
        peers = ["opentsne-default", "sklearn"] if n <= CPU_PEERS_UP_TO else []
        records += run_benchmark(ctx.states, ctx.labels, sizes=[n], backends=["auto", *GPU_TSNE, "opentsne", *peers],
                                 random_state=USER_SEED, on_record=_print_run)
    add_speedups(records)
    ctx.records = [machine_record(), ctx.source, *records]
    _write_json(ctx)
    auto = [r for r in records if r["backend"] == "auto"]
    used = sorted({r["backend_used"] for r in auto if r["backend_used"]})
    gpu_works = any(r["available"] for r in records if r["backend"] in GPU_BACKENDS)
    ok = all(r["available"] for r in auto) and (not gpu_works or set(used) <= set(GPU_BACKENDS))
    speed = ", ".join(f"n={r['n']}: auto={r['backend_used']} {r['seconds']} s"
                      + (f" (×{r['speedup_vs_sklearn']} vs sklearn)" if r["speedup_vs_sklearn"] else "") for r in auto)
    return (PASS if ok else FAIL), speed + (f"; JSON in {ctx.args.json}" if ctx.args.json else "")


def check_speed_projection(ctx: Context) -> tuple[str, str]:
    """Warm end-to-end ``auto`` t-SNE of host float32 states (as read from the store), as users run it (the default
    seed), against the limits."""
    if ctx.args.skip_speed:
        return SKIP, "--skip-speed"
    from rnnpanel.bench.projection import synthetic_states
    from rnnpanel.compute.metrics import projection_quality
    from rnnpanel.compute.projection import AutoProjection

    lines, failed = [], False
    for dims in ctx.args.speed_dims:
        states, labels, _ = synthetic_states(max(ctx.args.speed_sizes), dims=dims, seed=1,
                                             spectrum_decay=SPECTRUM_DECAY)
        AutoProjection(method="tsne", random_state=USER_SEED).fit(states[:20_000])  # warm: CUDA context, probes
        for n in sorted(ctx.args.speed_sizes):
            x = np.ascontiguousarray(states[:n])
            started = time.perf_counter()
            auto = AutoProjection(method="tsne", random_state=USER_SEED).fit(x, labels[:n])
            seconds = time.perf_counter() - started
            q = projection_quality(x, auto.embedding_, labels[:n], max_points=10_000, random_state=0)
            limit = SPEED_LIMITS_S.get(n)
            ok = auto.backend_used_ in GPU_TSNE and (limit is None or seconds <= limit)
            failed |= not ok
            record = {
                "record": "speed",
                "n": n,
                "dims": dims,
                "backend_used": auto.backend_used_,
                "seconds": round(seconds, 3),
                "limit_s": limit,
                "passed": ok,
                "skipped": auto.skipped_,
                "params_used": {k: v for k, v in auto.params_used_.items() if not callable(v)},
                "trustworthiness": round(q["trustworthiness"], 5),
                "knn_preservation": round(q["knn_preservation"], 5),
                **_fit_details(auto),
            }
            if record.get("neighbors") == "approximate":
                record["graph_recall"] = graph_recall(x, auto.estimator_)
            if n == CPU_REFERENCE_N:
                record["opentsne_cpu_seconds"] = _opentsne_seconds(x, labels[:n])
            ctx.speed.append(record)
            peer = (f", openTSNE on the CPU {record['opentsne_cpu_seconds']:.1f} s "
                    f"(×{record['opentsne_cpu_seconds'] / seconds:.0f})" if "opentsne_cpu_seconds" in record else "")
            graph = (f", {record['neighbors']} neighbours ({record['input_dims']} dims"
                     + (f", recall {record['graph_recall']:.3f}" if "graph_recall" in record else "") + ")"
                     if "neighbors" in record else "")
            lines.append(f"n={n:,} d={dims}: {auto.backend_used_} {seconds:.2f} s"
                         f"{f' (limit {limit:g} s)' if limit else ''}{peer}, trust {q['trustworthiness']:.3f}{graph}")
            print(f"      {'ok ' if ok else 'SLOW'} {lines[-1]}", flush=True)
    _write_json(ctx)
    return (FAIL if failed else PASS), "; ".join(lines)


def _opentsne_seconds(x: np.ndarray, labels: np.ndarray) -> float:
    from rnnpanel.compute.projection import AutoProjection

    started = time.perf_counter()
    AutoProjection(method="tsne", backend="opentsne", random_state=USER_SEED).fit(x, labels)
    return round(time.perf_counter() - started, 3)


def _fit_details(auto: Any) -> dict[str, Any]:
    """What the fitted backend records about the path it took (cuML: seed, neighbour graph, reduced width)."""
    est = auto.estimator_
    names = {"deterministic_": "deterministic", "neighbors_": "neighbors", "neighbor_seconds_": "neighbor_seconds",
             "input_dims_": "input_dims", "pca_variance_kept_": "pca_variance_kept", "n_iter_": "n_iter"}
    details = {key: getattr(est, attr) for attr, key in names.items() if hasattr(est, attr)}
    details["timings"] = {k: round(v, 3) for k, v in getattr(auto.scaled_, "timings_", {}).items()}
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in details.items()}


def graph_recall(x: np.ndarray, estimator: Any, n_sample: int = RECALL_SAMPLE, seed: int = 0) -> float:
    """Share of the exact ``n_neighbors`` nearest neighbours that the approximate graph cuML was given finds, over
    ``n_sample`` states, on the states as that fit reduced them (rebuilt here with the same settings)."""
    from rnnpanel.compute.neighbors import kneighbors
    from rnnpanel.compute.projection.cuml_backend import neighbor_graph
    from rnnpanel.compute.xp import asarray, cupy_or_none, to_numpy

    cp = cupy_or_none()
    data = estimator.reduce(cp.asarray(x) if cp is not None else x)
    n_neighbors = int(estimator.tsne_options(int(x.shape[0]))["n_neighbors"])  # each state itself included
    indices, _ = neighbor_graph(data, n_neighbors, n_probe=estimator.n_probe, random_state=seed)
    sample = np.sort(np.random.default_rng(seed).choice(int(x.shape[0]), size=min(n_sample, int(x.shape[0])),
                                                        replace=False))
    xp_sample = asarray(sample, xp=cp) if cp is not None else sample
    exact, _ = kneighbors(data, n_neighbors + 1, queries=data[xp_sample])  # own row (first) and one spare
    found, exact = to_numpy(indices[xp_sample])[:, 1:], to_numpy(exact)
    k = n_neighbors - 1
    hits = [len(set(f) & set([j for j in e if j != s][:k])) / k for f, e, s in zip(found, exact, sample, strict=True)]
    return round(float(np.mean(hits)), 4)


def extraction_runs() -> dict[str, list[str]]:
    """benchmarks/extraction.py's arguments per device.

    20,000 sequences on CUDA at its default batch, 2,000 on the CPU.
    """
    from rnnpanel.compute.device import default_batch_size

    common = ["--hidden", "256", "--layers", "2", "--lengths", "synthetic", "--repeats", "3"]
    return {
        "cuda": [*common, "--device", "cuda", "--n", "20000", "--per-sequence-n", "200",
                 "--batch-size", str(default_batch_size("cuda"))],
        "cpu": [*common, "--device", "cpu", "--n", "2000", "--per-sequence-n", "50", "--batch-size", "256"],
    }


def check_speed_extraction(ctx: Context) -> tuple[str, str]:
    """Tokens per second of extraction on CUDA against the per-step loop on CUDA and against extraction on the CPU."""
    if ctx.args.skip_speed:
        return SKIP, "--skip-speed"
    import importlib.util
    import tempfile
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "extraction.py"
    spec = importlib.util.spec_from_file_location("rnnpanel_extraction_benchmark", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for device, args in extraction_runs().items():
            out = Path(tmp) / f"{device}.json"
            bench.main(["--json", str(out), *args])
            results[device] = json.loads(out.read_text(encoding="utf-8"))
    cuda, cpu = results["cuda"], results["cpu"]
    rate = cuda["extraction_tokens_per_s"]
    vs_loop, vs_cpu = cuda["ratio"], rate / cpu["extraction_tokens_per_s"]
    ctx.speed.append({"record": "extraction", "cuda": cuda, "cpu": cpu, "ratio_vs_cuda_step_loop": vs_loop,
                      "ratio_vs_cpu": vs_cpu})
    _write_json(ctx)
    ok = vs_loop > 1 and vs_cpu > 1
    return (PASS if ok else FAIL), (f"CUDA {rate:,.0f} tokens/s (batch {cuda['extraction']['batch_size']}): "
                                    f"×{vs_loop:.0f} the per-step loop on CUDA, ×{vs_cpu:.1f} extraction on the CPU "
                                    f"({cpu['extraction_tokens_per_s']:,.0f} tokens/s)")


def _write_json(ctx: Context) -> None:
    if ctx.args.json:
        with open(ctx.args.json, "w", encoding="utf-8") as f:
            json.dump([*ctx.records, *ctx.speed], f, indent=2, default=str)


def _print_run(r: dict[str, Any]) -> None:
    took = f"{r['seconds']:.1f} s" if r["seconds"] else r["reason"]
    print(f"      {r['backend']:<17} n={r['n']:<7} {took}", flush=True)


def load_states(ctx: Context) -> None:
    from rnnpanel.bench.projection import demo_states, synthetic_states
    from rnnpanel.errors import ModelError

    n = max([ctx.args.projection_n, *ctx.args.sizes])
    try:
        ctx.states, ctx.labels, ctx.source = demo_states(n, progress=False)
    except ModelError as exc:
        print(f"      (no demo model: {exc}; using synthetic RNN states)")
        ctx.states, ctx.labels, ctx.source = synthetic_states(n, spectrum_decay=SPECTRUM_DECAY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000], help="comparison benchmark sizes")
    parser.add_argument("--projection-n", type=int, default=20000, help="states per GPU-backend projection check")
    parser.add_argument("--speed-sizes", type=int, nargs="+", default=sorted(SPEED_LIMITS_S),
                        help="speed section sizes (limits: 2 s at 100,000, 20 s at 1,000,000)")
    parser.add_argument("--speed-dims", type=int, nargs="+", default=[100, 256], help="speed section state widths")
    parser.add_argument("--json", default=None, help="write the benchmark and speed records here")
    parser.add_argument("--skip-benchmark", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from rnnpanel.compute.xp import cupy_unavailable_reason

    if not torch.cuda.is_available() and cupy_unavailable_reason() is not None:
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        print(f"gpu/check.py: no CUDA device is visible to torch {torch.__version__} ({build}) nor to CuPy "
              f"({cupy_unavailable_reason()}); install the CUDA build and the GPU packages as gpu/README.md says, "
              "then run this again", file=sys.stderr)
        return 2
    ctx = Context(args)
    checks: list[tuple[str, Callable[[Context], tuple[str, str]]]] = [
        ("environment", check_environment),
        ("extraction", check_extraction),
        ("step distances", check_step_distances),
        ("neighbours", check_neighbors),
        ("metrics", check_metrics),
        ("PCA", check_pca),
        *[(f"projection {name}", check_projection(name)) for name in GPU_BACKENDS],
        ("benchmark", check_benchmark),
        ("speed: projection", check_speed_projection),
        ("speed: extraction", check_speed_extraction),
    ]
    failed = 0
    for label, check in checks:
        try:
            if ctx.states is None and label not in ("environment", "extraction") and not label.startswith("speed"):
                load_states(ctx)
            status, detail = check(ctx)
        except Exception as exc:  # noqa: BLE001 - a crash of one item is that item's failure; the rest still run
            status, detail = FAIL, f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        failed += status == FAIL
        print(f"{status}  {label:<22} {detail}", flush=True)
    print(f"{'FAILED' if failed else 'OK'}: {failed} item(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
