"""Time and score projection backends on one identical input; describe the machine the numbers came from.

Each backend fits all ``n`` points (no scale strategy: the benchmark measures the backend
itself), timed by wall clock around the whole call, availability checks of ``auto``'s skipped
candidates included. Quality is :func:`rnnpanel.compute.metrics.projection_quality` on the same
seeded subsample for every backend. A backend that cannot run here yields a record with
``"available": false`` and the reason, never an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnnpanel.compute.metrics import DEFAULT_K, DEFAULT_MAX_POINTS, projection_quality
from rnnpanel.compute.projection.auto import AutoProjection
from rnnpanel.compute.projection.machine import library_versions, machine_record
from rnnpanel.compute.projection.registry import (
    ALIASES,
    AUTO_ORDER,
    BACKENDS,
    resolve_backend_name,
    unavailable_reason,
)
from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)

BASELINE = "sklearn"

__all__ = ["BASELINE", "add_speedups", "library_versions", "machine_record", "method_of", "run_benchmark"]


def run_benchmark(
    X: np.ndarray,
    labels: np.ndarray | None,
    *,
    sizes: Sequence[int],
    backends: Sequence[str],
    method: str = "tsne",
    params: dict[str, Any] | None = None,
    k: int = DEFAULT_K,
    metric_points: int = DEFAULT_MAX_POINTS,
    random_state: int | None = 0,
    repeats: int = 1,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """One record per (size, backend): the first ``n`` rows of ``X`` go to every backend.

    ``params`` are shared parameters given to every backend that takes them (e.g. perplexity). ``on_record`` is
    called as soon as each record is ready (to print a table row while the rest runs). With
    ``repeats`` > 1 each backend runs that many times and ``seconds`` is the median (all runs in
    ``seconds_all``): on a shared machine one run can be unlucky.
    Records carry ``backend, backend_used, method, n, dims, seconds, trustworthiness,
    knn_preservation, neighborhood_hit, speedup_vs_sklearn, available, reason``, and
    ``seeded`` / ``seed_costs_speed``: a seed costs nothing by default (GPU backends take it only
    with ``params={"deterministic": True}``, which sends cuML ≥ 26.08 to its slower deterministic
    t-SNE, and the record then says so); the quality subsample is seeded either way.
    """
    data = np.ascontiguousarray(X, dtype=np.float32)
    records: list[dict[str, Any]] = []
    for n in sizes:
        if not 0 < int(n) <= data.shape[0]:
            raise ValueError(f"size {n} is not between 1 and the {data.shape[0]} points available")
        xs = data[: int(n)]
        ys = None if labels is None else np.asarray(labels)[: int(n)]
        for name in backends:
            record = _run_one(xs, ys, name, method, params or {}, k, metric_points, random_state, repeats)
            records.append(record)
            if on_record is not None:
                on_record(record)
    add_speedups(records)
    return records


def method_of(name: str, default: str) -> str:
    """The method a benchmark row runs: ``default`` for "auto" and names valid under it, else the backend's own.

    So ``--backends auto opentsne sklearn umap pca`` compares t-SNE backends with UMAP and PCA in one table.
    """
    if name == "auto" or (default, name) in ALIASES or name not in BACKENDS:
        return default
    return BACKENDS[name].method


def add_speedups(records: list[dict[str, Any]]) -> None:
    """``speedup_vs_sklearn`` = scikit-learn t-SNE's seconds / the row's seconds at the same n."""
    base = {r["n"]: r["seconds"] for r in records if r["backend"] == BASELINE and r.get("seconds")}
    for r in records:
        ref = base.get(r["n"])
        r["speedup_vs_sklearn"] = round(ref / r["seconds"], 3) if ref and r.get("seconds") else None


def _accepted(params: dict[str, Any], method: str, name: str) -> dict[str, Any]:
    """The benchmark's shared parameters that this row's backend(s) take (perplexity means nothing to PCA)."""
    names = AUTO_ORDER[method] if name == "auto" else (name,)
    accepted = set().union(*(BACKENDS[n]._get_param_names() for n in names))
    return {k: v for k, v in params.items() if k in accepted}


def _run_one(xs: np.ndarray, ys: np.ndarray | None, name: str, method: str, params: dict[str, Any], k: int,
             metric_points: int, random_state: int | None, repeats: int = 1) -> dict[str, Any]:
    record: dict[str, Any] = {
        "record": "run", "backend": name, "backend_used": None, "method": method, "n": int(xs.shape[0]),
        "dims": int(xs.shape[1]), "seconds": None, "trustworthiness": None, "knn_preservation": None,
        "neighborhood_hit": None, "speedup_vs_sklearn": None, "available": True, "reason": None, "skipped": {},
        "seeded": random_state is not None, "seed_costs_speed": False,
    }
    try:
        method = method_of(name, method)
        record["method"] = method
        resolved = resolve_backend_name(method, name)
        if resolved != "auto":
            reason = unavailable_reason(resolved)
            if reason is not None:
                return {**record, "available": False, "reason": reason}
        timings = []
        for _ in range(max(1, int(repeats))):
            runner = AutoProjection(method=method, backend=resolved, params=_accepted(params, method, resolved),
                                    max_fit=None, random_state=random_state)
            log.info("benchmark: %s on %d × %d", name, xs.shape[0], xs.shape[1])
            started = time.perf_counter()
            runner.fit(xs, ys)
            timings.append(time.perf_counter() - started)
        seconds = float(np.median(timings))
    except (BackendUnavailable, ValueError) as exc:
        return {**record, "available": False, "reason": str(exc)}
    quality = projection_quality(xs, runner.embedding_, ys, k=k, max_points=metric_points,
                                 random_state=0 if random_state is None else random_state)
    slower = bool(getattr(runner.estimator_, "deterministic_", False))
    if slower:
        log.warning(
            "benchmark: %s ran its deterministic path (deterministic=True), slower than its default one",
            runner.backend_used_,
        )
    return {
        **record,
        "seed_costs_speed": slower,
        "backend_used": runner.backend_used_,
        "seconds": round(seconds, 3),
        "seconds_all": [round(t, 3) for t in timings],
        "trustworthiness": round(quality["trustworthiness"], 5),
        "knn_preservation": round(quality["knn_preservation"], 5),
        "neighborhood_hit": None if quality["neighborhood_hit"] is None else round(quality["neighborhood_hit"], 5),
        "k": quality["k"],
        "n_evaluated": quality["n_evaluated"],
        "skipped": dict(runner.skipped_),
    }
