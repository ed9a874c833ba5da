"""The projection benchmark's input: real hidden states of the demo model, or a synthetic stand-in.

By default the benchmark projects what users project: the top layer's ``h_t`` of the trained demo model
(``rnnpanel train --dataset rotten_tomatoes``, saved in the models folder as ``rotten_tomatoes-lstm``, and
trained first when missing), or of the model given by ``--model``, over its corpus — the test split first,
then the training split when more states are asked for, whole sequences in a seeded random order. The first
``n`` states of that one array are the input for every backend and every size, so all rows of a run are
comparable.

``synthetic`` states come from a random (untrained) recurrent network driven by class-dependent
inputs: trajectories with real temporal structure, for machines without the demo model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel import paths
from rnnpanel.bench.backends import machine_record, run_benchmark
from rnnpanel.errors import ModelError

log = logging.getLogger(__name__)

SOURCES = ("demo", "synthetic")
DEMO_DATASET = "rotten_tomatoes"


def demo_states(n_states: int, *, dataset: str = DEMO_DATASET, model_dir: str | Path | None = None,
                seed: int = 0, progress: bool = False) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``n_states`` top-layer hidden states of the demo model, their sequences' true classes, and a description.

    States are extracted with :func:`rnnpanel.pipeline.extract.extract_to_store` into the
    benchmark's own store (``$RNNPANEL_HOME/bench-store``, kept apart from the app's entries),
    so a second run reads them back instead of extracting again.
    """
    from rnnpanel.models import load_model
    from rnnpanel.pipeline.extract import extract_to_store

    if model_dir is not None:
        directory = Path(model_dir)
        if not directory.exists():
            raise ModelError(f"no model at {directory}; pass the folder `rnnpanel train --out` wrote, "
                             "leave --model out to use the demo model, or run with --source synthetic")
    else:  # the demo model, trained first (with progress) when missing, as `rnnpanel serve` does
        from rnnpanel.pipeline.demo import DEMOS, DemoSpec, ensure_demo_model

        spec = next((d for d in DEMOS if d.dataset == dataset), DemoSpec(dataset, n=0))
        directory = ensure_demo_model(spec, progress=progress)
    corpus_name = load_model(directory).config.dataset or dataset
    rng = np.random.default_rng(seed)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    used: list[dict[str, Any]] = []
    total = 0
    for split in ("test", "train"):
        entry, summary = extract_to_store(directory, corpus_name, split=split, n=None, seed=seed,
                                          store_root=bench_store(), progress=progress)
        states, offsets = entry.states(layer=-1, kind="h").read_all(), entry.load("offsets")
        labels = np.repeat(entry.load("labels"), np.diff(offsets))
        order = rng.permutation(len(offsets) - 1)  # sequences in a seeded random order, each kept whole
        rows = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in order])
        parts.append((states[rows], labels[rows]))
        used.append({"split": split, "entry": entry.key, "n_sequences": summary["n_sequences"],
                     "n_states": summary["n_states"]})
        total += len(rows)
        if total >= n_states:
            break
    if total < n_states:
        raise ModelError(
            f"the {corpus_name} corpus yields only {total} states with this model; ask for at most that many"
        )
    states = np.concatenate([p[0] for p in parts])[:n_states]
    state_labels = np.concatenate([p[1] for p in parts])[:n_states]
    description = {
        "record": "input", "source": "demo", "model": directory.name, "dataset": corpus_name, "layer": "top",
        "state": "h", "n_states": int(states.shape[0]), "dims": int(states.shape[1]), "splits": used, "seed": seed,
    }
    return np.ascontiguousarray(states, dtype=np.float32), state_labels, description


def bench_store() -> Path:
    """The benchmark's own state store, apart from the entries the app lists."""
    return paths.home() / "bench-store"


def synthetic_states(
    n_states: int, *, dims: int = 100, n_classes: int = 4, seed: int = 0, mean_length: int = 20,
    spectrum_decay: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """States of a random tanh RNN over class-dependent random inputs: ``(states, labels, description)``.

    ``spectrum_decay`` = 0 drives it with white noise: its states keep only 0.55 (256 units) to 0.74
    (100 units) of their variance in 50 principal components, unlike trained models' states. With
    ``spectrum_decay`` = α the inputs' axis ``i`` (random orthogonal axes) is scaled by ``(1 + i)^−α``;
    α = 1 gives the decaying spectrum of extracted LSTM states (50 components keep 0.95 of 100 units'
    variance, 0.94 of 256 units'; the demo model's states keep 0.947), the input the GPU check times.
    """
    rng = np.random.default_rng(seed)
    recurrent = rng.normal(scale=0.9 / np.sqrt(dims), size=(dims, dims))
    mix = None
    if spectrum_decay:
        axes, _ = np.linalg.qr(rng.normal(size=(dims, dims)))
        scales = (1.0 + np.arange(dims)) ** -float(spectrum_decay)
        mix = (scales * np.sqrt(dims) / np.linalg.norm(scales))[:, None] * axes.T  # the same total input power
    class_means = rng.normal(scale=1.0, size=(n_classes, dims))
    if mix is not None:
        class_means = class_means @ mix
    states = np.empty((n_states, dims), dtype=np.float32)
    labels = np.empty(n_states, dtype=np.int64)
    row = 0
    n_sequences = 0
    while row < n_states:
        length = min(int(rng.integers(3, 2 * mean_length)), n_states - row)
        label = int(rng.integers(n_classes))
        h = np.zeros(dims)
        noise = rng.normal(size=(length, dims))
        inputs = class_means[label] + (noise if mix is None else noise @ mix)
        for t in range(length):
            h = np.tanh(recurrent @ h + inputs[t])
            states[row + t] = h
        labels[row : row + length] = label
        row += length
        n_sequences += 1
    description = {"record": "input", "source": "synthetic", "n_states": n_states, "dims": dims,
                   "n_classes": n_classes, "n_sequences": n_sequences, "seed": seed, "spectrum_decay": spectrum_decay}
    return states, labels, description


def benchmark_projection(
    *,
    sizes: list[int],
    backends: list[str],
    method: str = "tsne",
    source: str = "demo",
    dataset: str = DEMO_DATASET,
    model_dir: str | Path | None = None,
    params: dict[str, Any] | None = None,
    k: int = 10,
    metric_points: int = 5000,
    seed: int = 0,
    repeats: int = 1,
    progress: bool = False,
    on_record: Any = None,
) -> list[dict[str, Any]]:
    """The whole benchmark: ``[machine record, input record, one record per (size, backend)]``."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    largest = max(sizes)
    if source == "demo":
        states, labels, description = demo_states(largest, dataset=dataset, model_dir=model_dir, seed=seed,
                                                  progress=progress)
    else:
        states, labels, description = synthetic_states(largest, seed=seed)
    header = [machine_record(), description]
    if on_record is not None:
        for record in header:
            on_record(record)
    runs = run_benchmark(states, labels, sizes=sizes, backends=backends, method=method, params=params, k=k,
                         metric_points=metric_points, random_state=seed, repeats=repeats, on_record=on_record)
    return header + runs


def benchmark_figure(records: list[dict[str, Any]]) -> Any:
    """Seconds against states per backend on log-log axes (HoloViews), the quality metrics in a table
    beside it; options for Bokeh (the HTML page) and matplotlib (PNG, SVG) alike."""
    from rnnpanel.bench.figures import holoviews, log_axes_hook, log_ticks, per_backend

    hv = holoviews()
    runs = [r for r in records if r.get("record") == "run" and r.get("available") and r.get("seconds")]
    if not runs:
        raise ModelError("the benchmark has no finished runs to plot")
    backends = list(dict.fromkeys(r["backend"] for r in runs))
    curves = []
    for name in backends:
        points = sorted((r["n"], r["seconds"]) for r in runs if r["backend"] == name)
        label = name if name != "auto" else f"auto ({next(r['backend_used'] for r in runs if r['backend'] == name)})"
        curves += [
            hv.Curve(points, "states", "seconds", label=label),
            hv.Scatter(points, "states", "seconds", label=label),
        ]
    machine = next((r for r in records if r.get("record") == "machine"), {})
    timing = hv.Overlay(curves).opts(
        *per_backend(hv.opts.Curve, bokeh={"line_width": 2}, matplotlib={"linewidth": 2}),
        *per_backend(hv.opts.Scatter, bokeh={"size": 8}, matplotlib={"s": 40}),
        *per_backend(hv.opts.Overlay,
                     title=f"projection seconds · {machine.get('cores', '?')} cores, {machine.get('gpu') or 'no GPU'}",
                     logx=True, logy=True, show_grid=True, padding=0.1,
                     xticks=sorted({r["n"] for r in runs}), xformatter="%d",
                     yticks=log_ticks((r["seconds"] for r in runs), padding=0.1),
                     bokeh={"width": 450, "height": 420, "legend_position": "top_left"},
                     # matplotlib's "best": the part of the plot the lines leave free (Bokeh has none)
                     matplotlib={"legend_position": "best", "hooks": [log_axes_hook]}))
    columns = ["backend", "states", "seconds", "trust", "kNN pres.", "nbhd hit"]
    rows = [(r["backend"], r["n"], round(r["seconds"], 2), _rounded(r.get("trustworthiness")),
             _rounded(r.get("knn_preservation")), _rounded(r.get("neighborhood_hit"))) for r in runs]
    quality = hv.Table(rows, columns[:2], columns[2:]).opts(
        *per_backend(hv.opts.Table, title="quality of the maps (k nearest neighbours)",
                     bokeh={"width": 410, "height": 420, "index_position": None},
                     matplotlib={"hooks": [_table_font]}))
    return (timing + quality).opts(*per_backend(hv.opts.Layout, shared_axes=False,
                                                matplotlib={"sublabel_format": "", "fig_inches": 6}))


def _table_font(plot: Any, element: Any, points: float = 9) -> None:
    """matplotlib hook: columns as wide as their text, at ``points`` or smaller where the table's axes
    are too narrow for it. matplotlib's own fitting shrinks every cell's text to the narrowest column
    of widths set by the values alone (about 6 pt)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    table, ax = plot.handles["artist"], plot.handles["axis"]
    cells = table.get_celld()
    needed = {}                      # a column's width at ``points``: its widest text, and the cell's pad
    for (_, col), cell in cells.items():
        text = cell.get_text()
        font = FontProperties(size=points, weight=text.get_fontweight())
        width = text_to_path.get_text_width_height_descent(text.get_text(), font, ismath=False)[0]
        needed[col] = max(needed.get(col, 0.0), width / (1 - 2 * cell.PAD))
    room = ax.get_position().width * ax.figure.get_figwidth() * 72 * (1 - 2 * plot.border)
    total = sum(needed.values())
    table.auto_set_font_size(False)
    table.set_fontsize(min(points, points * room / total))
    for (_, col), cell in cells.items():
        cell.set_width(needed[col] / total)    # the table's box scales the widths to fit


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def plot_projection(records: list[dict[str, Any]], out: str | Path) -> list[Path]:
    """:func:`benchmark_figure` as ``out`` (.html by Bokeh, .png/.svg by matplotlib with the HTML beside
    it); returns the files."""
    from rnnpanel.bench.figures import save_figure

    return save_figure(benchmark_figure(records), out, title="rnnpanel bench projection")
