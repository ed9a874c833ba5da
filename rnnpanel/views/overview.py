"""The overview (docs/design.md, Views, 7): dataset summary, per-class bars, confusion matrix, sequence table data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, FixedTicker, Range1d
from bokeh.plotting import figure

from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.colors import class_colors

FIRST_WORDS = 12


def confusion(sample: Sample) -> np.ndarray:
    """``m[true, predicted]`` counts."""
    c = sample.n_classes
    return np.bincount(sample.labels * c + sample.predictions, minlength=c * c).reshape(c, c)


def dataset_frame(sample: Sample) -> pd.DataFrame:
    """Per class: sequences, correct, accuracy; plus an "all" row."""
    m = confusion(sample)
    counts, correct = m.sum(axis=1), np.diag(m)
    frame = pd.DataFrame({"class": list(sample.class_names), "sequences": counts, "correct": correct,
                          "accuracy": np.where(counts > 0, correct / np.maximum(counts, 1), np.nan).round(3)})
    total = pd.DataFrame({"class": ["all"], "sequences": [counts.sum()], "correct": [correct.sum()],
                          "accuracy": [round(correct.sum() / max(counts.sum(), 1), 3)]})
    return pd.concat([frame, total], ignore_index=True)


def sequence_frame(sample: Sample) -> pd.DataFrame:
    """One row per sequence for the sortable, filterable table (text kept as plain data)."""
    names = np.asarray(sample.class_names, dtype=object)
    firsts = [" ".join(str(w) for w in sample.words[sample.sequence_slice(s)][:FIRST_WORDS])
              for s in range(sample.n_sequences)]
    return pd.DataFrame({
        "id": sample.sequence_ids.astype(int),
        "true": names[sample.labels],
        "predicted": names[sample.predictions],
        "correct": sample.labels == sample.predictions,
        "confidence": np.round(sample.confidence.astype(float), 3),
        "length": np.diff(sample.offsets).astype(int),
        "first words": firsts,
    })


def class_bars_figure(sample: Sample):
    """Per true class, a bar of its sequences: correct part in the class colour, misclassified
    parts stacked above it in the colour of the class they were predicted as."""
    m = confusion(sample)
    colors = class_colors(sample.class_names)
    rows = {"x": [], "bottom": [], "top": [], "color": [], "what": []}
    for true in range(sample.n_classes):
        bottom = 0
        for pred in [true] + [p for p in range(sample.n_classes) if p != true]:
            count = int(m[true, pred])
            if count == 0:
                continue
            rows["x"].append(true)
            rows["bottom"].append(bottom)
            rows["top"].append(bottom + count)
            rows["color"].append(colors[pred])
            rows["what"].append("correct" if pred == true else f"predicted {sample.class_names[pred]}")
            bottom += count
    source = ColumnDataSource(rows)
    fig = figure(title="Sequences per true class (upper parts: misclassified, coloured by prediction)",
                 height=260, sizing_mode="stretch_width", tools="hover", toolbar_location=None,
                 tooltips=[("", "@what"), ("count", "@{top}-@{bottom}")], name="class_bars",
                 x_range=Range1d(-0.6, sample.n_classes - 0.4))
    fig.vbar(x="x", bottom="bottom", top="top", width=0.7, fill_color="color", line_color="white",
             source=source, name="class_bar_parts")
    fig.xaxis.ticker = FixedTicker(ticks=list(range(sample.n_classes)))
    fig.xaxis.major_label_overrides = {i: n for i, n in enumerate(sample.class_names)}
    fig.xaxis.major_label_orientation = 0.6 if sample.n_classes > 4 else 0
    fig.xgrid.visible = False
    return fig


def confusion_figure(sample: Sample):
    """Counts of (true, predicted), shaded by the fraction of the true class."""
    m = confusion(sample)
    c = sample.n_classes
    frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    true, pred = np.divmod(np.arange(c * c), c)
    source = ColumnDataSource({"true": true, "pred": pred, "count": m.reshape(-1).astype(str),
                               "alpha": 0.08 + 0.92 * frac.reshape(-1),
                               "text_color": np.where(frac.reshape(-1) > 0.5, "white", "black")})
    size = max(240, 34 * c + 90)
    fig = figure(title="Confusion matrix (rows: true, columns: predicted)", height=size, width=size + 60,
                 x_range=Range1d(-0.5, c - 0.5), y_range=Range1d(c - 0.5, -0.5), tools="",
                 toolbar_location=None, name="confusion")
    fig.rect("pred", "true", width=0.96, height=0.96, source=source, fill_color="#0475b5", fill_alpha="alpha",
             line_color=None, name="confusion_cells")
    fig.text("pred", "true", text="count", source=source, text_align="center", text_baseline="middle",
             text_font_size="11px", text_color="text_color")
    labels = {i: n for i, n in enumerate(sample.class_names)}
    for axis in (fig.xaxis, fig.yaxis):
        axis.ticker = FixedTicker(ticks=list(range(c)))
        axis.major_label_overrides = labels
    fig.xaxis.major_label_orientation = 0.8 if c > 4 else 0
    fig.grid.visible = False
    return fig
