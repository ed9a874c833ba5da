"""A placed t-SNE map refined in the background: once per map, in a process of its own, stored as its own map.

A whole corpus's t-SNE map is served as soon as its sample is fitted and the rest placed
(minutes); refining every state together (:mod:`rnnpanel.compute.projection.refinement`) brings
it to a full fit's quality but takes several times as long. So the placed map is shown at once,
and when it is first made or served (:func:`start_refinement`: by the app when it shows a placed
map, by ``rnnpanel project --refine``), a separate process refines it and stores the result under
a key derived from the placed map's (:func:`refined_key`). Every later session and process reads
that map instead of the placed one (:func:`best_map_key`); nothing is computed twice: the
refining process holds the map's lock, as any map's computation does, publishing its progress
there (:func:`refinement_status` reads it, from any process), and a second one finds the lock held
and leaves.

The refining process reads only what it needs: the placed map, the fitted states (to recompute the
placement's principal axes) and every state once, block by block, for the neighbour graph.

Run it by hand (what :func:`start_refinement` starts)::

    python -m rnnpanel.pipeline.refined_map --store STORE --entry KEY --layer L --state h --placed PKEY
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel import paths
from rnnpanel.errors import StoreError
from rnnpanel.pipeline.project import (
    ProjectionResult,
    _map_lock,
    _publishing,
    _stored_map,
    progress_callback,
)
from rnnpanel.store import LayerStates, StateStore, locks
from rnnpanel.store.atomic import LOCK_PREFIX
from rnnpanel.store.keys import content_key
from rnnpanel.store.state_store import PROJECTIONS

log = logging.getLogger(__name__)

#: Bump when the refined maps' arrays or their meaning change: they are then made again.
REFINED_VERSION = 2  # 2: steps bounded as openTSNE bounds them
#: Shares of the progress bar: reading and reducing every state, building the graph, the iterations.
_READ_SHARE, _GRAPH_SHARE = 0.15, 0.30
_started: set[tuple[str, str, str]] = set()     # (store, entry, placed key): started by this process
_started_lock = threading.Lock()


def needs_refinement(attrs: dict[str, Any]) -> bool:
    """Whether a stored map is a placed t-SNE map (a sample fitted, the rest placed, not refined)."""
    return attrs.get("method") == "tsne" and attrs.get("placement") == "neighbors"


def refined_key(placed_key: str, n_iter: int | None = None) -> str:
    """The store key of the refinement of the map ``placed_key`` (``n_iter`` None: the default iterations)."""
    from rnnpanel.compute.projection.refinement import DEFAULT_REFINE_ITER

    return content_key("refined-projection", placed=placed_key, n_iter=int(n_iter or DEFAULT_REFINE_ITER),
                       version=REFINED_VERSION)


def best_map_key(states: LayerStates, placed_key: str) -> str:
    """The refined map of ``placed_key`` when the store holds it, else ``placed_key`` itself."""
    key = refined_key(placed_key)
    return key if states.entry.store.has_projection(states.entry.key, key) else placed_key


def refined_or_placed(states: LayerStates, placed: ProjectionResult) -> ProjectionResult:
    """The stored refinement of the map ``placed`` when there is one, else ``placed``."""
    key = best_map_key(states, placed.key)
    return placed if key == placed.key else _stored_map(states, key, quality=False)


def stored_attrs(states: LayerStates, key: str) -> dict[str, Any]:
    """The attributes of the stored map ``key`` (its arrays are not read); empty when it is not stored."""
    found = [a for a in states.entry.store.projections(states.entry.key) if a.get("projection_key") == key]
    return found[0] if found else {}


@dataclass(frozen=True)
class RefinementStatus:
    """Where the refinement of one placed map stands, as any process sees it from the store.

    ``state``: "done" (stored), "running" (a process holds its lock), "failed" (the last attempt
    ended without storing it: ``message`` says why) or "none" (never started, or ended unseen).
    ``fraction`` and ``message``: the running process's last published progress.
    """

    state: str
    fraction: float = 0.0
    message: str = ""


def _lock_path(store: StateStore, entry_key: str, key: str) -> Path:
    return store.entry_path(entry_key) / PROJECTIONS / f"{LOCK_PREFIX}{key}"


def log_path(entry_key: str, key: str) -> Path:
    """Where a refining process started by :func:`start_refinement` writes its output (under $RNNPANEL_HOME)."""
    return paths.home() / "logs" / f"refine-{entry_key}-{key}.log"


def refinement_status(states: LayerStates, placed_key: str) -> RefinementStatus:
    """Where the refinement of ``placed_key`` stands (see :class:`RefinementStatus`)."""
    entry, store = states.entry, states.entry.store
    key = refined_key(placed_key)
    if store.has_projection(entry.key, key):
        return RefinementStatus("done", 1.0, "refined")
    path = _lock_path(store, entry.key, key)
    if locks.held(path):
        status = locks.published(path)
        return RefinementStatus("running", float(status.get("fraction") or 0.0), str(status.get("message") or ""))
    failure = _failure(entry.key, key)
    return RefinementStatus("failed", 0.0, failure) if failure else RefinementStatus("none")


def _failure(entry_key: str, key: str) -> str:
    """The last line of a refining process's log when it ended with an error, else ''."""
    try:
        lines = [line.strip() for line in log_path(entry_key, key).read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    failed = [line for line in lines if line.startswith("refinement failed:")]
    return failed[-1].removeprefix("refinement failed:").strip() if failed else ""


def start_refinement(states: LayerStates, placed_key: str) -> bool:
    """Start a process refining the map ``placed_key`` unless it is stored, running, or this process
    started it already; True when one was started.

    The process is detached (its own session): it outlives the server or command that started it
    and stores its map for whoever comes next. Its output goes to :func:`log_path`.
    """
    entry, store = states.entry, states.entry.store
    token = (str(store.root), entry.key, placed_key)
    with _started_lock:
        if token in _started or refinement_status(states, placed_key).state in ("done", "running"):
            return False
        _started.add(token)
    log_file = log_path(entry.key, refined_key(placed_key))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "rnnpanel.pipeline.refined_map", "--store", str(store.root), "--entry",
               entry.key, "--layer", str(states.layer), "--state", states.kind, "--placed", placed_key]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    with open(log_file, "wb") as out:     # a new attempt: its own log
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    log.info("refining map %s of entry %s in a separate process (log: %s)", placed_key, entry.key, log_file)
    return True


def refine_stored_map(states: LayerStates, placed_key: str, *, n_iter: int | None = None, progress: Any = None,
                      wait: float = 0.0) -> ProjectionResult | None:
    """Refine the stored placed map ``placed_key`` and store the result (or read it, if stored).

    ``progress``: True (a bar), a ``progress(fraction, message)`` callback, or None; it is also
    published in the map's lock for other processes. ``wait``: seconds to wait for another process
    refining the same map (0: return None at once when one is). Returns the refined map.
    """
    from rnnpanel.compute.projection.refinement import DEFAULT_REFINE_ITER

    entry, store = states.entry, states.entry.store
    iterations = int(n_iter or DEFAULT_REFINE_ITER)
    key = refined_key(placed_key, iterations)
    if store.has_projection(entry.key, key):
        return _stored_map(states, key, quality=False)
    label = f"refining tsne · layer {states.layer} · {states.kind}"
    what = f"the refinement of map {placed_key} of entry {entry.key}"
    try:
        with _map_lock(store, entry.key, key, wait=wait, progress=None, label=label, what=what) as lock:
            if store.has_projection(entry.key, key):
                return _stored_map(states, key, quality=False)
            callback, close = progress_callback(progress, label)
            try:
                return _refine(states, placed_key, key, iterations, _publishing(lock, callback))
            finally:
                close()
    except StoreError:
        if wait <= 0 and locks.held(_lock_path(store, entry.key, key)):
            return None     # another process is refining it: its map will be stored
        raise


def _refine(states: LayerStates, placed_key: str, key: str, n_iter: int, report: Any) -> ProjectionResult:
    from threadpoolctl import threadpool_limits

    from rnnpanel.compute.projection.base import resolve_threads
    from rnnpanel.compute.projection.placement import PrincipalAxes, principal_axes, reduce_rows
    from rnnpanel.compute.projection.refinement import DEFAULT_REFINE_NEIGHBORS, knn_graph_int32, refine_streamed
    from rnnpanel.compute.row_blocks import gather_rows

    entry, store = states.entry, states.entry.store
    started = time.perf_counter()
    timings: dict[str, float] = {}
    arrays, attrs = store.read_projection(entry.key, placed_key)
    if not needs_refinement(attrs):
        raise ValueError(f"map {placed_key} is not a placed t-SNE map (placement {attrs.get('placement')!r})")
    n = int(attrs["n_states"])
    seed = (attrs.get("request") or {}).get("random_state", 0)
    report(0.0, f"refining all {n:,} states: the placement's principal axes")
    fitted = np.flatnonzero(np.asarray(arrays["fitted"]))
    with threadpool_limits(limits=resolve_threads("auto"), user_api="blas"):
        mean, basis = principal_axes(np.asarray(gather_rows(states, fitted), dtype=np.float32), 50)
        axes = PrincipalAxes(mean, basis)
        report(0.02, f"refining all {n:,} states: reading them in the placement's space")
        reduced = reduce_rows(axes, states)
    timings["read"] = time.perf_counter() - started
    report(_READ_SHARE, f"refining all {n:,} states: their {DEFAULT_REFINE_NEIGHBORS} nearest neighbours")
    with threadpool_limits(limits=1, user_api="blas"):
        graph = knn_graph_int32(reduced, DEFAULT_REFINE_NEIGHBORS, random_state=seed, progress=lambda done, total: (
            report(_READ_SHARE + _GRAPH_SHARE * done / total,
                   f"refining all {n:,} states: nearest neighbours, {100 * done // total}%")))
    del reduced
    timings["graph"] = time.perf_counter() - started - timings["read"]
    share = 1.0 - _READ_SHARE - _GRAPH_SHARE
    embedding = refine_streamed(
        np.asarray(arrays["embedding"]), graph, n_iter=n_iter, n_jobs=resolve_threads("auto"),
        progress=lambda done, total: report(_READ_SHARE + _GRAPH_SHARE + share * done / total,
                                            f"refining all {n:,} states: iteration {done} of {total}"))
    del graph
    timings["iterations"] = time.perf_counter() - started - timings["read"] - timings["graph"]
    if not np.all(np.isfinite(embedding)):
        raise RuntimeError("the refinement produced non-finite coordinates")
    refined_attrs = {
        **{k: v for k, v in attrs.items() if k not in ("projection_key", "created", "complete", "format_version")},
        "placement": "neighbors+refined",
        "refined_from": placed_key,
        "refine": {"n_iter": n_iter, "neighbors": DEFAULT_REFINE_NEIGHBORS, "version": REFINED_VERSION,
                   "seconds": round(time.perf_counter() - started, 1),
                   "timings": {k: round(v, 1) for k, v in timings.items()},
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)},
    }
    store.write_projection(entry.key, key, {"embedding": embedding, "fitted": np.asarray(arrays["fitted"]),
                                            "step_distance": np.asarray(arrays["step_distance"])}, refined_attrs)
    report(1.0, f"refined all {n:,} states")
    return ProjectionResult(embedding, key, refined_attrs, cache_hit=False,
                            seconds_total=time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """The refining process: one line of JSON (the refined map's summary) on success, else one
    ``refinement failed: ...`` line and exit status 1."""
    parser = argparse.ArgumentParser(prog="python -m rnnpanel.pipeline.refined_map",
                                     description="Refine a stored placed t-SNE map and store the result.")
    parser.add_argument("--store", required=True)
    parser.add_argument("--entry", required=True)
    parser.add_argument("--layer", type=int, default=-1)
    parser.add_argument("--state", default="h")
    parser.add_argument("--placed", required=True, help="the placed map's projection key")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--progress", action="store_true", help="a progress bar on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        states = StateStore(args.store).entry(args.entry).states(layer=args.layer, kind=args.state)
        result = refine_stored_map(states, args.placed, n_iter=args.iterations, progress=args.progress or None)
    except Exception as exc:  # noqa: BLE001 -- the one line the app and the command show
        print(f"refinement failed: {type(exc).__name__}: {exc}", flush=True)
        return 1
    if result is None:
        print("another process is refining this map", flush=True)
        return 0
    print(json.dumps({"projection_key": result.key, "cache_hit": result.cache_hit,
                      "refine": result.attrs.get("refine")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
