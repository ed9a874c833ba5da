"""``rnnpanel bench scale``: a whole corpus through the pipeline, stage by stage, at growing sizes.

For each size (states of the ``all`` split of a corpus; ``all`` = every text), in one process
and on each ``--cluster``: extraction into a fresh store (read and tokenise, extract, write,
commit) and the t-SNE map of the entry (``auto`` backend; fit a stratified sample, place the
rest), each in its own child process so that its peak RSS is its own. Then, on the largest
entry: the peer (openTSNE with its defaults and every core fitting ``--peer`` states of it) and
the quality of sample-and-place against a full fit of those same states.

Records (JSON list): ``machine``, ``input``, one ``extract`` and one ``project`` per (size,
cluster), ``peer``, ``quality``; :func:`summary_rows` turns them into the table of
benchmarks/RESULTS.md and :func:`plot` into the log-log figure.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_SIZES = ("100000", "300000", "1000000", "all")
DEFAULT_DATASET = "newsgroups20"


def texts_for_sizes(model_dir: Path, dataset: str, sizes: list[str], seed: int = 0) -> dict[str, int | None]:
    """For each size (a number of states, or ``all``), the number of texts of the ``all`` split whose
    seeded sample (as ``rnnpanel extract --n`` draws it) holds at least that many states."""
    from rnnpanel.data import resolve_corpus
    from rnnpanel.models import load_model
    from rnnpanel.models.encoding import encode_flat
    from rnnpanel.pipeline.extract import choose_sample

    loaded = load_model(model_dir)
    encoded = encode_flat(resolve_corpus(dataset, progress=False).split("all").texts, loaded.vocab, loaded.config)
    lengths = np.diff(encoded.offsets)
    out: dict[str, int | None] = {}
    for size in sizes:
        if size == "all" or int(size) >= int(lengths.sum()):
            out[size] = None
            continue
        lo, hi = 1, len(lengths)
        while lo < hi:  # the fewest texts whose sample reaches the size
            mid = (lo + hi) // 2
            if lengths[choose_sample(len(lengths), mid, seed)].sum() >= int(size):
                hi = mid
            else:
                lo = mid + 1
        out[size] = lo
    return out


def run_child(task: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """Run one stage in a fresh Python process and return its record (with its peak RSS)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rnnpanel.bench.scale", json.dumps(task)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{task['stage']} failed:\n{proc.stderr[-3000:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    record["wall_s"] = round(time.perf_counter() - started, 3)
    return record


def _child(task: dict[str, Any]) -> dict[str, Any]:
    stage = task["stage"]
    if stage == "extract":
        from rnnpanel.pipeline.extract import extract_to_store

        if task.get("threads"):
            import torch

            torch.set_num_threads(int(task["threads"]))
        _, summary = extract_to_store(task["model"], task["dataset"], split="all", n=task["n"], seed=0,
                                      store_root=task["store"], device="cpu", progress=False,
                                      cluster=task.get("cluster"))
        record = {"entry": summary["entry"], "n_states": summary["n_states"], "n_sequences": summary["n_sequences"],
                  "seconds": summary["seconds"], "stages": summary.get("stages", {})}
    elif stage == "project":
        from rnnpanel.pipeline.project import project_states
        from rnnpanel.store import StateStore

        started = time.perf_counter()
        states = StateStore(task["store"]).entry(task["entry"]).states(layer=-1, kind="h")
        summary = project_states(states, method="tsne", backend="auto", progress=False,
                                 cluster=task.get("cluster")).summary()
        record = {key: summary.get(key) for key in ("backend_used", "n_states", "n_fitted", "placement",
                                                   "seconds_backend", "seconds_total", "timings")}
        record["seconds"] = time.perf_counter() - started
    elif stage == "peer":
        record = _peer(task)
    elif stage == "quality":
        record = _quality(task)
    else:
        raise ValueError(f"unknown stage {stage!r}")
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return record


def _sample_states(task: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``task['n']`` seeded random states of the entry (and their labels), read chunk by chunk."""
    from rnnpanel.compute.row_blocks import gather_rows
    from rnnpanel.pipeline.project import state_labels
    from rnnpanel.store import StateStore

    entry = StateStore(task["store"]).entry(task["entry"])
    states = entry.states(layer=-1, kind="h")
    rows = np.sort(np.random.default_rng(0).choice(states.shape[0], size=int(task["n"]), replace=False))
    return np.asarray(gather_rows(states, rows), dtype=np.float32), state_labels(entry)[rows]


def _peer(task: dict[str, Any]) -> dict[str, Any]:
    """openTSNE with its defaults and every core, fitting the states: the reference time."""
    from openTSNE import TSNE

    X, _ = _sample_states(task)
    started = time.perf_counter()
    TSNE(n_jobs=-1, random_state=0).fit(X)
    return {"peer": "openTSNE defaults, n_jobs=-1", "n_states": int(X.shape[0]), "dims": int(X.shape[1]),
            "seconds": time.perf_counter() - started}


def _quality(task: dict[str, Any]) -> dict[str, Any]:
    """Sample-and-place against a full fit of the same states (benchmarks/placement.py's comparison)."""
    from rnnpanel.bench.placement_quality import compare_placement

    X, labels = _sample_states(task)
    return compare_placement(X, labels, n_fit=int(task["n_fit"]))


def benchmark_scale(*, model_dir: Path, dataset: str, sizes: list[str], clusters: list[str | None],
                    work: Path, peer: int | None, quality_fit: int | None,
                    on_record: Callable[[dict[str, Any]], None] = lambda r: None) -> list[dict[str, Any]]:
    """Run the whole benchmark (see the module docstring); each record is passed to ``on_record`` as it ends."""
    from rnnpanel.compute.projection.machine import machine_record

    records: list[dict[str, Any]] = []

    def add(record: dict[str, Any]) -> None:
        records.append(record)
        on_record(record)

    add(machine_record())
    n_texts = texts_for_sizes(model_dir, dataset, sizes)
    add({"record": "input", "dataset": dataset, "model": str(model_dir), "split": "all", "texts_per_size": n_texts})
    largest: dict[str, Any] | None = None
    for size in sizes:
        for cluster in clusters:
            store = work / f"store-{size}-{cluster or 'one'}".replace(":", "")
            shutil.rmtree(store, ignore_errors=True)
            common = {"model": str(model_dir), "dataset": dataset, "store": str(store), "cluster": cluster}
            try:  # one torch thread, as `rnnpanel extract` runs by default
                ext = run_child({"stage": "extract", "n": n_texts[size], "threads": 1, **common})
                add({"record": "extract", "size": size, "cluster": cluster or "one process", **ext})
                proj = run_child({"stage": "project", "entry": ext["entry"], **common})
            except RuntimeError as exc:  # one failed size is recorded; the others still run
                add({"record": "error", "size": size, "cluster": cluster or "one process", "error": str(exc)[-2000:]})
                continue
            add({"record": "project", "size": size, "cluster": cluster or "one process", **proj,
                 "end_to_end_s": round(ext["wall_s"] + proj["wall_s"], 3)})
            if largest is None or ext["n_states"] >= largest["n_states"]:
                if largest is not None and largest["store"] != str(store):
                    shutil.rmtree(largest["store"], ignore_errors=True)
                largest = {"store": str(store), "entry": ext["entry"], "n_states": ext["n_states"]}
            elif str(store) != largest["store"]:
                shutil.rmtree(store, ignore_errors=True)  # keep the disk for the largest entry only
    assert largest is not None
    if peer:
        add({"record": "peer", **run_child({"stage": "peer", "n": peer, **largest})})
    if quality_fit and peer:
        add({"record": "quality", **run_child({"stage": "quality", "n": peer, "n_fit": quality_fit, **largest})})
    return records


def summary_rows(records: list[dict[str, Any]]) -> list[str]:
    """Markdown table rows: one per (size, cluster), stages in seconds and peak RSS."""
    extract = {(r["size"], r["cluster"]): r for r in records if r.get("record") == "extract"}
    lines = ["| states | where | read+tokenise s | extract s | write s | extraction wall s | extract peak RSS MB "
             "| fit s | place s | projection wall s | projection peak RSS MB | end to end s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in records if r.get("record") == "project"):
        e = extract[(r["size"], r["cluster"])]
        st = e.get("stages", {})
        timing = r.get("timings") or {}
        rss = max(st.get("peak_rss_mb", 0), st.get("workers_peak_rss_mb", 0), e.get("peak_rss_mb", 0))
        lines.append(
            f"| {e['n_states']:,} | {r['cluster']} | {st.get('read_tokenise', 0):.1f} | {st.get('extract', 0):.1f} "
            f"| {st.get('write', 0):.1f} | {e['wall_s']:.1f} | {rss:.0f} | {_num(timing.get('fit'))} "
            f"| {_num(sum(timing.get(k, 0) for k in ('place', 'refine')))} | {r['wall_s']:.1f} "
            f"| {r['peak_rss_mb']:.0f} | {r['end_to_end_s']:.1f} |"
        )
    return lines


def _num(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def plot(records: list[dict[str, Any]], out_stem: Path) -> list[Path]:
    """Seconds against states, log-log, per stage and cluster (HoloViews): ``out_stem``.html (Bokeh)
    and .png (matplotlib)."""
    from bokeh.models import NumeralTickFormatter

    from rnnpanel.bench.figures import holoviews, log_axes_hook, log_ticks, per_backend, save_figure

    hv = holoviews()
    extract = {(r["size"], r["cluster"]): r for r in records if r.get("record") == "extract"}
    rows = []
    for r in (r for r in records if r.get("record") == "project"):
        e = extract[(r["size"], r["cluster"])]
        for stage, seconds in (("extraction", e["wall_s"]), ("projection", r["wall_s"]),
                               ("end to end", r["end_to_end_s"])):
            rows.append((e["n_states"], seconds, f"{stage} · {r['cluster']}"))
    line = per_backend(hv.opts.Curve, bokeh={"line_width": 2}, matplotlib={"linewidth": 2})
    dots = per_backend(hv.opts.Scatter, bokeh={"size": 7}, matplotlib={"s": 30})
    curves = []
    for key in dict.fromkeys(k for _, _, k in rows):
        points = [(n, s) for n, s, k in rows if k == key]
        curves.append((hv.Curve(points, "states", "seconds", label=key)
                       * hv.Scatter(points, "states", "seconds", label=key)).opts(*line, *dots))
    peer = next((r for r in records if r.get("record") == "peer"), None)
    if peer:     # its own options: ones given to the whole overlay would override them
        curves.append(hv.Scatter([(peer["n_states"], peer["wall_s"])], "states", "seconds",
                                 label=f"peer: openTSNE defaults, {peer['n_states']:,} states").opts(
                                     *per_backend(hv.opts.Scatter, color="black",
                                                  bokeh={"size": 14, "marker": "diamond"},
                                                  matplotlib={"s": 90, "marker": "D"})))
    seconds = [s for _, s, _ in rows] + ([peer["wall_s"]] if peer else [])
    figure = hv.Overlay(curves).opts(
        *per_backend(hv.opts.Overlay, title="rnnpanel at corpus scale: seconds against states (log-log)",
                     legend_position="right", logx=True, logy=True, padding=0.08, show_grid=True,
                     xticks=sorted({n for n, _, _ in rows}), yticks=log_ticks(seconds, padding=0.08), yformatter="%g",
                     bokeh={"width": 880, "height": 440, "toolbar": None,
                            "xformatter": NumeralTickFormatter(format="0.0a")},
                     matplotlib={"aspect": 1.6, "fig_inches": 6, "xformatter": _abbreviated, "hooks": [log_axes_hook]}))
    return save_figure(figure, out_stem.with_suffix(".png"), title="rnnpanel scale benchmark")


def _abbreviated(states: float) -> str:
    """A count as Bokeh's ``0.0a`` numeral format writes it (100.0k, 2.6m), for the matplotlib figure."""
    for size, unit in ((1e9, "b"), (1e6, "m"), (1e3, "k")):
        if abs(states) >= size:
            return f"{states / size:.1f}{unit}"
    return f"{states:.0f}"


if __name__ == "__main__":  # the child process of run_child
    print(json.dumps(_child(json.loads(sys.argv[1])), default=float))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of torch/zarr threads
