"""Server-side cost of one per-sequence view: a HoloViews DynamicMap fed by a ``Pipe`` stream
against the app's way, a Bokeh figure whose ColumnDataSource is replaced on a selection.

This backs a design decision (docs/app.md): every selection refills five per-sequence views
(trajectory, labels, text, heatmap, distances) within the 200 ms budget, and every page load
builds them. Both ways draw the same heatmap (classes × words, one cell per (class, t)) for the
same random selections, in one process, interleaved:

* ``build_ms``: building the view into a Bokeh document (median over ``--builds``, after one
  warm-up build of each, so imports and first-use caches do not count).
* ``update_ms``: pushing one selection's data (``pipe.send(frame)`` against
  ``source.data = columns``), median and 95th percentile over ``--updates`` selections of 5-60 words.

    python benchmarks/view_updates.py --json view_updates.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def heatmap_frame(rng: np.random.Generator, n_words: int, n_classes: int) -> pd.DataFrame:
    return pd.DataFrame({"t": np.repeat(np.arange(n_words), n_classes),
                         "row": np.tile(np.arange(n_classes), n_words),
                         "p": rng.random(n_words * n_classes)})


def build_holoviews(frame: pd.DataFrame, doc):
    import holoviews as hv

    pipe = hv.streams.Pipe(data=frame)
    dmap = hv.DynamicMap(lambda data: hv.HeatMap(data, ["t", "row"], "p"), streams=[pipe])
    hv.renderer("bokeh").get_plot(dmap.opts(width=600, height=120, tools=["hover"]), doc)
    return lambda new: pipe.send(new)


def build_bokeh(frame: pd.DataFrame, doc):
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    source = ColumnDataSource({k: frame[k].to_numpy() for k in frame})
    fig = figure(width=600, height=120, tools="")
    fig.rect("t", "row", 1, 1, source=source, fill_alpha="p")
    fig.add_tools(HoverTool())
    doc.add_root(fig)

    def update(new: pd.DataFrame) -> None:
        source.data = {k: new[k].to_numpy() for k in new}
    return update


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - start) * 1000.0, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="write the record here")
    parser.add_argument("--builds", type=int, default=10)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--classes", type=int, default=8, help="heatmap rows (8: Reuters R8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import holoviews as hv
    from bokeh.document import Document

    hv.extension("bokeh")
    rng = np.random.default_rng(args.seed)
    ways = {"holoviews_pipe": build_holoviews, "bokeh_source": build_bokeh}
    builds = {name: [] for name in ways}
    updaters = {}
    for name, build in ways.items():                       # warm-up: imports, first-use caches
        updaters[name] = build(heatmap_frame(rng, 20, args.classes), Document())
    for _ in range(args.builds):
        for name, build in ways.items():
            ms, _ = timed(build, heatmap_frame(rng, 20, args.classes), Document())
            builds[name].append(ms)
    updates = {name: [] for name in ways}
    for _ in range(args.updates):
        frame = heatmap_frame(rng, int(rng.integers(5, 61)), args.classes)
        for name in ways:
            ms, _ = timed(updaters[name], frame)
            updates[name].append(ms)

    record = {name: {"build_ms_median": statistics.median(builds[name]),
                     "update_ms_median": statistics.median(updates[name]),
                     "update_ms_p95": float(np.percentile(updates[name], 95))} for name in ways}
    record["update_ratio"] = record["holoviews_pipe"]["update_ms_median"] / record["bokeh_source"]["update_ms_median"]
    record["build_ratio"] = record["holoviews_pipe"]["build_ms_median"] / record["bokeh_source"]["build_ms_median"]
    import bokeh

    record.update(classes=args.classes, builds=args.builds, updates=args.updates, holoviews=hv.__version__,
                  bokeh=bokeh.__version__, python=platform.python_version(), cpus=os.cpu_count(),
                  load_average=os.getloadavg())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2))
    print(json.dumps({k: record[k] for k in ("holoviews_pipe", "bokeh_source", "update_ratio", "build_ratio")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
