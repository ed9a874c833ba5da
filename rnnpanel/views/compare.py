"""The compare view's drawing (docs/app.md, "The compare view"): the two EP curves of the selected
sequence, the JavaScript that links a hover in one map to the corresponding state in the other
and moves a map's points between checkpoints, and the figures and tables as plain data or HTML.

Pure functions of a :class:`~rnnpanel.pipeline.compared.ComparedPair` and a sequence, or of Bokeh
sources: no store, no model, no Panel.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    Ellipse,
    FixedTicker,
    Legend,
    LegendItem,
    Line,
    Range1d,
    Scatter,
    Span,
)
from bokeh.plotting import figure

from rnnpanel.views.glyphs import add_glyph
from rnnpanel.views.linking import hover_tool

if TYPE_CHECKING:
    from rnnpanel.pipeline.compared import ComparedPair, ComparedRun

#: The two models in the EP plot: A solid and dark, B dashed and purple (apart from the map's
#: pink-grey-blue scale, the class colours and the search's orange).
A_COLOR, B_COLOR = "#252525", "#8e44ad"
#: The marker of the state that corresponds to the one hovered in the other map.
PARTNER_COLOR = "#ffd400"
#: Points of a map that moves between checkpoints travel for this long (milliseconds), up to this
#: many points (a canvas repaint of more takes longer than a frame without a GPU: they jump).
MOVE_MS, MOVE_MAX_POINTS = 700, 20_000
EP_HEIGHT = 250
#: Word labels under the EP plot: every word up to this many, else every k-th.
MAX_WORD_TICKS = 45

EP_FIELDS = ("x", "t", "p", "word", "pred", "conf")


def empty_ep_source(name: str) -> ColumnDataSource:
    return ColumnDataSource({k: [] for k in EP_FIELDS}, name=name)


def ep_curve_columns(sample, s: int, label: int, *, shift: int = 0) -> dict[str, Any]:
    """One row per state of sequence ``s``: its step ``t``, plotted at ``x = t + shift``, and the
    probability ``p`` of class ``label`` (the sequence's true class) after that word."""
    rows = sample.sequence_slice(s)
    ep = sample.ep[rows]
    n = len(ep)
    names = sample.class_names
    return {"x": np.arange(n) + shift, "t": np.arange(n), "p": ep[:, label].astype(np.float64),
            "word": [str(w) for w in sample.words[rows]], "pred": [names[c] for c in ep.argmax(axis=1)],
            "conf": ep.max(axis=1).astype(np.float64)}


def word_ticks(words: list[str]) -> tuple[list[int], dict[int, str]]:
    """Tick positions and labels of the EP plot's x axis: every word, or every k-th of a long text."""
    every = max(1, int(np.ceil(len(words) / MAX_WORD_TICKS)))
    ticks = list(range(0, len(words), every))
    return ticks, {t: words[t] for t in ticks}


def ep_figure(a: ColumnDataSource, b: ColumnDataSource, *, states_a: ColumnDataSource, hover_a: ColumnDataSource,
              states_b: ColumnDataSource, hover_b: ColumnDataSource, binary: bool):
    """Both models' probability of the true class after each word of the selected sequence (A
    solid, B dashed), words along the x axis; hovering a point highlights its state in the maps
    (it publishes the step into that side's hover source, as every per-sequence view does).

    Returns the figure and its spans: the hovered step and where the two curves part.
    """
    fig = figure(title="P(true class) after each word · A solid, B dashed", height=EP_HEIGHT,
                 sizing_mode="stretch_width", min_width=360, tools=["xpan", "xwheel_zoom", "reset", "save"],
                 active_scroll=None, x_range=Range1d(-0.5, 10.5), y_range=Range1d(-0.03, 1.03),
                 toolbar_location="above", name="compare_ep")
    line_a = add_glyph(fig, Line(x="x", y="p", line_color=A_COLOR, line_width=2.5), a, name="compare_ep_a_line")
    line_b = add_glyph(fig, Line(x="x", y="p", line_color=B_COLOR, line_width=2.5, line_dash="dashed"), b,
                       name="compare_ep_b_line")
    dots_a = add_glyph(fig, Scatter(x="x", y="p", size=7, marker="circle", fill_color=A_COLOR, line_color="white"),
                       a, name="compare_ep_a")
    dots_b = add_glyph(fig, Scatter(x="x", y="p", size=7, marker="square", fill_color=B_COLOR, line_color="white"),
                       b, name="compare_ep_b")
    for dots, states, hover, side in ((dots_a, states_a, hover_a, "A"), (dots_b, states_b, hover_b, "B")):
        fig.add_tools(hover_tool(dots, states, hover, tooltips=[("word", "@word"), (side, "P(true) @p{0.00}"),
                                                                ("predicts", "@pred @conf{0.00}")]))
    if binary:
        fig.add_layout(Span(location=0.5, dimension="width", line_color="#999999", line_dash="dotted", line_width=1))
    hovered = Span(location=0, dimension="height", line_color=PARTNER_COLOR, line_width=8, line_alpha=0.7,
                   visible=False, level="underlay", name="compare_ep_hover")
    parting = Span(location=0, dimension="height", line_color="#c0392b", line_dash="dashed", line_width=1.5,
                   visible=False, name="compare_ep_parting")
    fig.add_layout(hovered)
    fig.add_layout(parting)
    fig.add_layout(Legend(items=[LegendItem(label="A", renderers=[line_a, dots_a]),
                                 LegendItem(label="B", renderers=[line_b, dots_b])],
                          location="top_left", orientation="horizontal", background_fill_alpha=0.7,
                          label_text_font_size="11px", padding=4, spacing=8), "center")
    fig.xaxis.ticker = FixedTicker(ticks=[])
    fig.xaxis.major_label_orientation = 0.8
    fig.xaxis.major_label_text_font_size = "10px"
    fig.yaxis.axis_label = "P(true class)"
    fig.xgrid.visible = False
    fig.toolbar.logo = None
    return fig, hovered, parting


# -- hover linked across the two maps, in the browser ------------------------------------------
PARTNER_JS = """
const h = hover.data, o = other.data, m = mine.data;
const n_o = o.t ? o.t.length : 0, n_m = m.t ? m.t.length : 0;
if (!h.t || h.t.length === 0 || n_o === 0) {
  if (mark.data.x.length) { mark.data = {x: [], y: []}; }
  span.visible = false;
  return;
}
const t = Math.round(h.t[0]);
// step by step: the same step; sequence by sequence: only the last states correspond
const u = link === 'step' ? t : n_o - 1;
if (u >= 0 && u < n_o) { mark.data = {x: [o.x[u]], y: [o.y[u]]}; }
else if (mark.data.x.length) { mark.data = {x: [], y: []}; }
// the EP plot's x is A's step; B's steps end at A's last word when linked sequence by sequence
span.location = (side === 'b' && link !== 'step') ? t + (n_o - n_m) : t;
span.visible = true;
"""


def link_hover(hover: ColumnDataSource, *, mine: ColumnDataSource, other: ColumnDataSource,
               mark: ColumnDataSource, span: Span, link: str, side: str) -> None:
    """When a state of one side is hovered (its ``hover`` source), mark the corresponding state of
    the ``other`` side's trajectory in the other map (``mark``: columns x, y) and the hovered word
    in the EP plot (``span``), in the browser: no server round trip."""
    hover.js_on_change("data", CustomJS(args={"hover": hover, "mine": mine, "other": other, "mark": mark,
                                              "span": span, "link": link, "side": side}, code=PARTNER_JS))


def partner_mark(fig, mark: ColumnDataSource, name: str) -> None:
    """Draw ``mark`` (the state corresponding to the one hovered in the other map) on ``fig``."""
    add_glyph(fig, Ellipse(x="x", y="y", width=20, height=20, width_units="screen", height_units="screen",
                           fill_color=PARTNER_COLOR, fill_alpha=0.55, line_color="#000000", line_width=2.5,
                           line_dash="dashed"), mark, level="overlay", name=name)


# -- a map moving between checkpoints ----------------------------------------------------------
MOVE_JS = """
const d = src.data, x = d.x, y = d.y, n = x ? x.length : 0;
// where the points are on screen: the arrays of the last move (it may still be running), else the
// positions the server says they come from (the first move)
let shown = src.__rnnpanel_shown;
if (!shown && d.px && d.px.length === n) { shown = {x: d.px, y: d.py}; }
src.__rnnpanel_shown = {x: x, y: y};
if (!shown || shown.x === x || shown.x.length !== n || n === 0 || n > max_points) { return; }
let same = true;
for (let i = 0; i < n; i++) { if (shown.x[i] !== x[i] || shown.y[i] !== y[i]) { same = false; break; } }
if (same) { return; }
const x0 = Float64Array.from(shown.x), y0 = Float64Array.from(shown.y);
const x1 = Float64Array.from(x), y1 = Float64Array.from(y);
const token = (src.__rnnpanel_move || 0) + 1;
src.__rnnpanel_move = token;
for (let i = 0; i < n; i++) { x[i] = x0[i]; y[i] = y0[i]; }     // start where the points are
const start = performance.now();
function frame(now) {
  if (src.__rnnpanel_move !== token) { return; }       // a newer move goes on from here
  const f = Math.min(1, (now - start) / duration);
  const e = f < 0.5 ? 2 * f * f : 1 - Math.pow(-2 * f + 2, 2) / 2;
  for (let i = 0; i < n; i++) { x[i] = x0[i] + (x1[i] - x0[i]) * e; y[i] = y0[i] + (y1[i] - y0[i]) * e; }
  src.change.emit();
  if (f < 1) { requestAnimationFrame(frame); } else { src.__rnnpanel_moved = (src.__rnnpanel_moved || 0) + 1; }
}
requestAnimationFrame(frame);
"""


def animate_moves(points: ColumnDataSource) -> None:
    """When the server gives ``points`` (a map's glyphs) new positions, they travel there from
    where they were over :data:`MOVE_MS`, in the browser (the arrays are changed in place, so
    nothing is sent back); above :data:`MOVE_MAX_POINTS` they jump. The first move starts from
    columns ``px``, ``py`` (the positions before it), which the server sends with it."""
    points.js_on_change("data", CustomJS(args={"src": points, "duration": MOVE_MS, "max_points": MOVE_MAX_POINTS},
                                         code=MOVE_JS))


# -- figures as HTML and tables ---------------------------------------------------------------------
def _percent(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f} %"


def _fraction(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"


def figures_html(pair: ComparedPair) -> str:
    """Agreement, accuracy overall and per class of both models, how the sequences are linked and
    how far apart corresponding states are in the two maps."""
    f = pair.figures
    n, k = f["n_sequences"], len(f["disagreements"])
    acc_a, acc_b = f["accuracy"]["a"], f["accuracy"]["b"]
    rows = [("all", acc_a["overall"], acc_b["overall"])] + [
        (name, acc_a["by_class"][name], acc_b["by_class"][name]) for name in f["class_names"]]
    table = "".join(f"<tr><td>{html.escape(str(name))}</td><td>{_fraction(x)}</td><td>{_fraction(y)}</td></tr>"
                    for name, x, y in rows)
    align = pair.alignment
    if align["how"] == "chained":
        maps = (f"chained maps of one run: nothing aligned; corresponding states lie "
                f"{_fraction(align['fitted'])} of A's diagonal apart (median of {align['states']:,})")
    else:
        maps = (f"B's map turned and shifted onto A's by Procrustes on {align['states']:,} corresponding states; "
                f"their median displacement (fraction of A's diagonal): {_fraction(align['fitted'])} as fitted → "
                f"<b>{_fraction(align['aligned'])}</b> aligned (B drawn at A's spread: {_fraction(align['drawn'])})")
    note = pair.pairing.note
    if "linked" not in note:
        note += f": linked {'step by step' if pair.link == 'step' else 'sequence by sequence'}"
    return (
        "<div class='rp-compare-figures' style='font-size:12.5px;line-height:1.45'>"
        f"<b>Agreement</b> {_percent(f['agreement'])} of {n:,} sequences · <b>{k:,}</b> disagree<br>"
        "<table style='border-collapse:collapse;margin:3px 0' cellpadding='2'>"
        "<tr style='border-bottom:1px solid #ccc'><th style='text-align:left'>accuracy</th><th>A</th><th>B</th></tr>"
        f"{table}</table>"
        f"<b>Texts</b> {html.escape(note)}<br>"
        f"<b>Maps</b> {maps}</div>")


def disagreement_frame(pair: ComparedPair, first_words: int = 8) -> pd.DataFrame:
    """The sequences the models classify differently, ranked by how far apart their final class
    distributions are: id, true class, each model's prediction (with its probability), the
    distance and the word at which the EP curves part. Indexed by A's sequence."""
    rows, a = [], pair.a
    for d in pair.figures["disagreements"]:
        i = int(d["index"])
        words = a.words[a.sequence_slice(i)]
        parting = d["parting_step"]
        rows.append({
            "id": int(d["sequence_id"]), "true": d["label"],
            "A": f"{d['prediction_a']} {max(d['probabilities_a']):.2f}",
            "B": f"{d['prediction_b']} {max(d['probabilities_b']):.2f}",
            "apart": round(float(d["final_distance"]), 3),
            "parts at": "–" if parting is None else f"{parting}: {words[parting]}",
            "first words": " ".join(str(w) for w in words[:first_words]),
        })
    columns = ["id", "true", "A", "B", "apart", "parts at", "first words"]
    index = pd.Index([int(d["index"]) for d in pair.figures["disagreements"]], name="sequence")
    return pd.DataFrame(rows, columns=columns, index=index)


def sequence_html(pair: ComparedPair, i: int) -> str:
    """The line above the EP plot: the selected sequence, its true class, each model's prediction,
    and where the curves part."""
    a, b = pair.a, pair.b
    if not 0 <= i < a.n_sequences:
        return ("<span class='rp-hint'>Select a sequence (a map, the list of disagreements, the table, the arrow keys) "
                "to see its trajectory in both maps and both EP curves; hover a state to find its partner.</span>")
    names = a.class_names
    j = int(pair.b_of_a[i])
    line = (f"<b>Sequence {int(a.sequence_ids[i])}</b> · true: {html.escape(names[a.labels[i]])} · "
            f"A: {html.escape(names[a.predictions[i]])} ({a.confidence[i]:.2f})")
    if j < 0:
        return line + " · <i>B holds no such sequence</i>"
    line += f" · B: {html.escape(names[b.predictions[j]])} ({b.confidence[j]:.2f})"
    parting = int(pair.parting[i])
    if pair.link == "step":
        if parting >= 0:
            word = html.escape(str(a.words[a.sequence_slice(i)][parting]))
            line += f" · the EP curves part at word {parting} (<b>{word}</b>)"
        else:
            line += " · the EP curves never part"
    else:
        n_a, n_b = a.sequence_slice(i), b.sequence_slice(j)
        line += (f" · B read {n_b.stop - n_b.start} of its words, A {n_a.stop - n_a.start}: B's curve is drawn "
                 "ending at A's last word")
    return line


def epoch_html(run: ComparedRun, epoch: int) -> str:
    """Each checkpoint's accuracy and agreement with the run's last epoch, the one B shows in bold."""
    parts = []
    for row in run.checkpoints:
        text = (f"epoch {row['epoch']}: accuracy {_fraction(row['accuracy'])}, agrees with the last epoch on "
                f"{_percent(row['agreement_with_final'])}")
        parts.append(f"<b>{text}</b>" if row["epoch"] == epoch else f"<span style='color:#666'>{text}</span>")
    maps = "chained" if run.how == "chained" else "aligned"
    return ("<div class='rp-compare-epochs' style='font-size:12.5px;line-height:1.4'>"
            f"<b>B: epoch {epoch}</b> (A: epoch {run.epoch_a}) · maps {maps}"
            "<br>" + "<br>".join(parts) + "</div>")
