"""The whole-corpus t-SNE map served placed, then refined in the background: time, memory and quality.

Three stages on one stored entry, each recorded into ``--json`` as soon as it ends (a run cut short
keeps what finished):

1. ``placed``: ``rnnpanel project --method tsne`` in its own process (fit a sample, place the
   rest): wall seconds until the map is stored (what the app then serves) and its peak RSS
   (``/usr/bin/time -v``).
2. ``refined``: the separate refining process, started as the app and ``rnnpanel project
   --refine`` start it (``python -m rnnpanel.pipeline.refined_map``): wall seconds until the
   refined map is stored, its RSS sampled every half second (psutil) and its own peak, and its
   published progress over time.
3. ``quality``: a seeded 200,000-state subset (the scale benchmark's): a full fit of it, against
   (a) sample-and-place of the subset alone with the same refinement
   (:func:`rnnpanel.bench.placement_quality.compare_placement`, placements "neighbors" and
   "neighbors+refined") and (b) the whole-corpus placed and refined maps restricted to the
   subset's rows; trustworthiness, k-NN preservation and neighbourhood hit (k = 10, 5,000-point
   subsample) and the losses against the targets.

    python benchmarks/refined_map.py --store STORE --entry KEY --json benchmarks/refined-map-cpu-2core.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _save(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=1))


def placed_stage(store: str, entry: str, max_fit: str) -> dict[str, Any]:
    rnnpanel = str(Path(sys.executable).with_name("rnnpanel"))
    command = ["/usr/bin/time", "-v", rnnpanel, "project", "--store", store, "--entry", entry, "--method", "tsne",
               "--no-progress", *(["--max-fit", max_fit] if max_fit != "auto" else [])]
    started, load = time.perf_counter(), _load()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"rnnpanel project failed: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return {"command": " ".join(command[2:]), "wall_s": round(wall, 1), "load_start": load, "load_end": _load(),
            "peak_rss_mb": round(int(peak.group(1)) / 1024, 1) if peak else None, "summary": summary}


def refined_stage(store: str, entry: str, placed_key: str) -> dict[str, Any]:
    import psutil

    from rnnpanel.pipeline.refined_map import refinement_status
    from rnnpanel.store import StateStore

    states = StateStore(store).entry(entry).states(layer=-1, kind="h")
    command = [sys.executable, "-m", "rnnpanel.pipeline.refined_map", "--store", store, "--entry", entry,
               "--layer", "-1", "--state", "h", "--placed", placed_key]
    started, load = time.perf_counter(), _load()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(proc.pid)
    peak, timeline, last = 0, [], -1.0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        now = time.perf_counter() - started
        if now - last >= 15:
            status = refinement_status(states, placed_key)
            timeline.append({"s": round(now, 1), "fraction": round(status.fraction, 3), "message": status.message,
                             "rss_mb": round(peak / 2**20, 1), "load": _load()[0]})
            last = now
        time.sleep(0.5)
    output = proc.stdout.read() if proc.stdout else ""
    wall = time.perf_counter() - started
    lines = [line for line in output.splitlines() if line.strip()]
    if proc.wait() != 0:
        raise RuntimeError(f"the refining process failed: {lines[-1] if lines else 'no output'}")
    summary = json.loads(lines[-1])
    return {"command": " ".join(command[2:]), "wall_s": round(wall, 1), "load_start": load, "load_end": _load(),
            "sampled_peak_rss_mb": round(peak / 2**20, 1), "summary": summary, "timeline": timeline}


def quality_stage(store: str, entry: str, placed_key: str, refined: str, n: int, n_fit: int) -> dict[str, Any]:
    from rnnpanel.bench.placement_quality import _losses, _quality, compare_placement
    from rnnpanel.compute.projection import make_backend
    from rnnpanel.compute.row_blocks import gather_rows
    from rnnpanel.pipeline.project import state_labels
    from rnnpanel.store import StateStore

    e = StateStore(store).entry(entry)
    states = e.states(layer=-1, kind="h")
    rows = np.sort(np.random.default_rng(0).choice(states.shape[0], size=n, replace=False))
    X = np.asarray(gather_rows(states, rows), dtype=np.float32)
    labels = state_labels(e)[rows]
    started = time.perf_counter()
    full = make_backend("opentsne", random_state=0).fit(X).embedding_
    full_seconds = round(time.perf_counter() - started, 1)
    subset = compare_placement(X, labels, n_fit=n_fit, placements=("neighbors", "neighbors+refined"),
                               full_embedding=full)
    subset["full"]["seconds"] = full_seconds
    full_q = {"all": _quality(X, full, labels, None, 5000)}
    whole = {}
    for name, key in (("placed", placed_key), ("refined", refined)):
        embedding = e.store.read_projection(e.key, key)[0]["embedding"][rows]
        q = {"all": _quality(X, embedding, labels, None, 5000)}
        whole[name] = {"quality": q, **_losses(full_q, q)}
    return {"n_states": n, "n_fit": n_fit, "subset_sample_and_place": subset,
            "whole_corpus_maps_on_the_subset": {"full_fit_quality": full_q, **whole}}


def corpus_knn_stage(store: str, entry: str, keys: dict[str, str], n_queries: int = 5000,
                     k: int = 10) -> dict[str, Any]:
    """k-NN preservation at the corpus's own scale: for ``n_queries`` seeded states, their ``k`` nearest
    among *all* states (exact, in the states' space, read block by block) against their ``k`` nearest
    among all states in each map ``keys`` (name → projection key). The 200,000-state subsets above
    compare neighbourhoods among a 7.5 % sample; this one is what a full fit of every state would
    be measured by."""
    from scipy.spatial import cKDTree

    from rnnpanel.compute.row_blocks import read_rows, row_blocks
    from rnnpanel.store import StateStore

    e = StateStore(store).entry(entry)
    states = e.states(layer=-1, kind="h")
    n = int(states.shape[0])
    n_queries = min(n_queries, n)
    queries = np.sort(np.random.default_rng(1).choice(n, size=n_queries, replace=False))
    from rnnpanel.compute.row_blocks import gather_rows

    q = np.asarray(gather_rows(states, queries), dtype=np.float32)
    q_sq = np.sum(q * q, axis=1)
    best_d = np.full((n_queries, k + 1), np.inf, dtype=np.float32)
    best_i = np.zeros((n_queries, k + 1), dtype=np.int64)
    started = time.perf_counter()
    for start, stop in row_blocks(n, 65_536):
        rows = np.asarray(read_rows(states, start, stop), dtype=np.float32)
        d2 = q_sq[:, None] - 2.0 * (q @ rows.T) + np.sum(rows * rows, axis=1)[None, :]
        part = np.argpartition(d2, k, axis=1)[:, : k + 1]
        cand_d = np.concatenate([best_d, np.take_along_axis(d2, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + start], axis=1)
        order = np.argsort(cand_d, axis=1, kind="stable")[:, : k + 1]
        best_d, best_i = np.take_along_axis(cand_d, order, axis=1), np.take_along_axis(cand_i, order, axis=1)
    high = [set(r[r != qi][:k]) for r, qi in zip(best_i, queries, strict=True)]
    out: dict[str, Any] = {"n_queries": n_queries, "k": k, "exact_search_seconds": round(time.perf_counter() - started)}
    for name, key in keys.items():
        xy = e.store.read_projection(e.key, key)[0]["embedding"]
        _, idx = cKDTree(xy).query(xy[queries], k=k + 1)
        low = [set(r[r != qi][:k]) for r, qi in zip(idx, queries, strict=True)]
        out[name] = round(float(np.mean([len(h & lo) / k for h, lo in zip(high, low, strict=True)])), 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--entry", required=True)
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--quality-n", type=int, default=200_000)
    parser.add_argument("--quality-fit", type=int, default=19_000)
    parser.add_argument("--max-fit", default="auto", help="the placed map's --max-fit (small test entries)")
    parser.add_argument("--corpus-knn", nargs="+", metavar="NAME=KEY", default=None,
                        help="only k-NN preservation among all states for these stored maps, added to --json")
    parser.add_argument("--placed-key", default=None,
                        help="refine this stored placed map instead of making it (stage 1 is then not run)")
    args = parser.parse_args()
    from rnnpanel.compute.projection.machine import machine_record
    from rnnpanel.pipeline.refined_map import refined_key

    if args.corpus_knn:
        record = json.loads(args.json.read_text()) if args.json.exists() else {}
        keys = dict(item.split("=", 1) for item in args.corpus_knn)
        record["corpus_knn"] = {"load_start": _load(), **corpus_knn_stage(args.store, args.entry, keys)}
        _save(args.json, record)
        print(json.dumps(record["corpus_knn"]), flush=True)
        return 0

    record: dict[str, Any] = {"machine": machine_record(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                     time.gmtime())}
    _save(args.json, record)
    if args.placed_key is None:
        record["placed"] = placed_stage(args.store, args.entry, args.max_fit)
        _save(args.json, record)
        print(f"placed: {record['placed']['wall_s']} s", flush=True)
    placed_key = args.placed_key or record["placed"]["summary"]["projection_key"]
    record["refined"] = refined_stage(args.store, args.entry, placed_key)
    _save(args.json, record)
    print(f"refined: {record['refined']['wall_s']} s", flush=True)
    record["quality"] = quality_stage(args.store, args.entry, placed_key, refined_key(placed_key), args.quality_n,
                                      args.quality_fit)
    record["ended"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    _save(args.json, record)
    print("quality done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
