"""The compare view (docs/app.md, "The compare view"; docs/design.md, "Comparison"): two maps side
by side in one frame and one colour scale, the selected sequence's trajectory in both, both EP
curves over its words, the figures of the comparison and the sequences the models disagree on.

What is compared is a request (:class:`CompareRequest`): the session's entry, layer, state kind
and projection (A) against another entry, another layer of the same entry, or the other
checkpoints of A's training run (B; a slider and a play button move B's map through them). The
data comes from :mod:`rnnpanel.pipeline.compared`, made once per process and shared by every
session; a map the store lacks is computed in a child process while a progress bar says so.

The view follows the session's ``sequence`` (A's sequence; B's is the one paired with it) and
calls ``select(sequence)`` for a click on either map or on a disagreement; the hovered state of
one map is marked in the other in the browser (:func:`~rnnpanel.views.compare.link_hover`).
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import panel as pn
import param
from bokeh.models import Range1d

from rnnpanel.app.compare_maps import ComparedMap, ComparedTrajectory
from rnnpanel.app.entry_list import NOTICE
from rnnpanel.app.loading import FAILED, cannot_show
from rnnpanel.app.projection_map import RASTER_ABOVE
from rnnpanel.app.shown import Shown
from rnnpanel.app.sidebar_tools import WordSearch
from rnnpanel.app.widgets import notify, on_session_loop, titled
from rnnpanel.errors import RnnpanelError, StoreError
from rnnpanel.pipeline.compared import RUN, ComparedPair, ComparedRun, compare_pair, compare_run, extent, run_of
from rnnpanel.store import StateStore
from rnnpanel.views.compare import (
    disagreement_frame,
    empty_ep_source,
    ep_curve_columns,
    ep_figure,
    epoch_html,
    figures_html,
    link_hover,
    sequence_html,
    word_ticks,
)
from rnnpanel.views.labels import DEFAULT_DISTANCE_THRESHOLD, DEFAULT_EP_THRESHOLD
from rnnpanel.views.projection import CONTEXT_FADE
from rnnpanel.views.sequence import empty_like

#: The list of disagreements and the figures above it.
LIST_WIDTH = 560
HEADER_HEIGHT = 36
LIST_HEIGHT = 230
#: Heights of the view's rows but the maps (which take the rest, at least their least height): its
#: title, the run's slider, the EP plot with the figures and the list beside it, the note under
#: them. Panel adds them up to the view's least height, below which the page scrolls.
TITLE_HEIGHT, RUN_HEIGHT, BELOW_HEIGHT, NOTE_HEIGHT = 44, 96, 450, 56
#: What the compare view does not do, said once under it.
NOT_HERE = ("<p class='rp-hint' style='color:#666;font-size:12px;margin:2px 10px'>In this view: selection (either "
            "map, the list, the table, the arrow keys), hover (the other map marks the corresponding state), word "
            "search (rings in both maps) and the map settings. <b>Live input, region selection and the sidebar's "
            "export buttons work in the single view only</b>: close the comparison to use them. Each map's save "
            "tool gives a PNG, and <i>Comparison (JSON)</i> the figures.</p>")
#: Milliseconds between checkpoints while the run plays (the points travel for 0.7 s of it).
PLAY_INTERVAL_MS = 1500


def refusal_html(message: str) -> str:
    """The notice above the map when a comparison asked for cannot be shown: the store's reason
    (its `command` spans as code)."""
    import re

    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(message))
    return NOTICE.format(f"<b>⚠ Cannot compare:</b> {text}<br>Showing the entry alone.")


@dataclass(frozen=True)
class CompareRequest:
    """A (the session's view) against B: ``b`` an entry key (A's own: another layer) or
    :data:`~rnnpanel.pipeline.compared.RUN`; ``layer_b`` -1 for the default (B's top layer; for A's
    own entry, the layer next to A's); ``epoch`` the run's checkpoint B shows first (-1: default)."""

    a: str
    layer: int
    kind: str
    method: str
    b: str
    layer_b: int = -1
    epoch: int = -1


def default_layer_b(store: StateStore, request: CompareRequest) -> int:
    """B's layer: the one asked for, else B's top one, else (A's own entry) the one below A's
    (above it when A shows layer 0)."""
    if request.layer_b >= 0:
        return request.layer_b
    n = int(store.entry(request.b).attrs["layers"])
    if request.b != request.a:
        return n - 1
    layer_a = request.layer if request.layer >= 0 else n + request.layer
    return layer_a - 1 if layer_a > 0 else min(layer_a + 1, n - 1)


def check_request(store: StateStore, request: CompareRequest) -> None:
    """Refuse at once what cannot be compared (the reason, as the store says it): other texts,
    other classes, no such entry, an entry that is not of a run, one layer against itself.

    Raises
    ------
    RnnpanelError
        Why not.
    """
    from rnnpanel.pipeline.compared import check_pair

    if request.b == RUN:
        if run_of(store.entry(request.a)) is None:
            raise StoreError(f"entry {request.a} is not a checkpoint of a training run: train with `rnnpanel train "
                             "--checkpoints K` and extract with `rnnpanel extract --model RUN --checkpoints`")
        return
    check_pair(store, request.a, request.b)
    if request.b == request.a:
        n = int(store.entry(request.a).attrs["layers"])
        layer_a = request.layer if request.layer >= 0 else n + request.layer
        if n < 2 or default_layer_b(store, request) == layer_a:
            raise StoreError(f"entry {request.a} has {'one layer' if n < 2 else f'layer {layer_a} chosen twice'}: "
                             "choose another layer or another entry to compare with")
        if not 0 <= default_layer_b(store, request) < n:
            raise StoreError(f"entry {request.a} has no layer {request.layer_b} (layers 0-{n - 1})")


def load(store: StateStore, request: CompareRequest, report) -> ComparedPair | ComparedRun:
    """The pair (or the run) a request asks for, maps computed first where missing."""
    if request.b == RUN:
        return compare_run(store, request.a, layer=request.layer, kind=request.kind, method=request.method,
                           report=report)
    return compare_pair(store, request.a, request.b, layer_a=request.layer, layer_b=default_layer_b(store, request),
                        kind=request.kind, method=request.method, report=report)


class Comparison(pn.viewable.Viewer):
    """The compare view of a session. ``select(sequence of A)`` for a click on a map or a
    disagreement; ``refused(message, request)`` when a request cannot be shown (the view closes);
    ``close()`` asks the session to leave the comparison (the view's Close button)."""

    sequence = param.Integer(default=-1, allow_refs=True, doc="A's selected sequence (-1: none).")
    epoch = param.Integer(default=-1, doc="The run's checkpoint B shows (-1: not a run).")
    color_by = param.Selector(default="ep", objects={"expected prediction": "ep", "true class": "true_class"},
                              allow_refs=True)
    fade = param.Selector(default="none", objects={"none": "none", "correct": "correct", "wrong": "wrong"},
                          allow_refs=True)
    raster_above = param.Integer(default=RASTER_ABOVE, bounds=(0, None), allow_refs=True)
    context_fade = param.Number(default=CONTEXT_FADE, bounds=(0.0, 0.95), allow_refs=True)
    search = param.String(default="", allow_refs=True)
    trajectory_color = param.Selector(default="ep", objects={"EP": "ep", "time": "time"}, allow_refs=True)
    thickness = param.Selector(default="constant", objects=["constant", "time", "distance"], allow_refs=True)
    distance_threshold = param.Number(default=DEFAULT_DISTANCE_THRESHOLD, bounds=(0.0, 1.0), allow_refs=True)
    ep_threshold = param.Number(default=DEFAULT_EP_THRESHOLD, bounds=(0.0, 1.0), allow_refs=True)
    class_flips = param.Boolean(default=True, allow_refs=True)

    def __init__(self, store: StateStore, *, select: Callable[[int], None], refused: Callable[[str], None],
                 close: Callable[[], None], **params) -> None:
        super().__init__(**params)
        self.store, self._select, self._refused, self._close = store, select, refused, close
        self.request: CompareRequest | None = None
        self.pair: ComparedPair | None = None
        self.run: ComparedRun | None = None
        self._loading = 0                        # which load is the latest (an older one's result is dropped)
        p = self.param
        trajectory = {name: p[name] for name in ("trajectory_color", "thickness", "distance_threshold",
                                                 "ep_threshold", "class_flips")}
        self.trajectory_a = ComparedTrajectory("compare_a_", **trajectory)
        self.trajectory_b = ComparedTrajectory("compare_b_", **trajectory)
        self.search_a = WordSearch(search=p.search, raster_above=p.raster_above)
        self.search_b = WordSearch(search=p.search, raster_above=p.raster_above)
        shared = {"color_by": p.color_by, "fade": p.fade, "raster_above": p.raster_above,
                  "context_fade": p.context_fade}
        self.map_a = ComparedMap(self.trajectory_a, self._select_a, prefix="compare_a_",
                                 found=self.search_a.param.found, **shared)
        self.map_b = ComparedMap(self.trajectory_b, self._select_b, prefix="compare_b_",
                                 found=self.search_b.param.found, **shared)
        self.progress = pn.indicators.Progress(value=0, max=100, visible=False, sizing_mode="stretch_width")
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", margin=(2, 10))
        # as high as its rows (the maps' height follows their width), not capped at the window's
        # height as Panel's columns are: the tabs follow under it
        self._panel = pn.Column(sizing_mode="stretch_width", name="compare_view", styles={"max-height": "none"})
        self._ep_pane = self._table = self._player = None
        # the list of disagreements (a Tabulator: the slowest view to draw) follows a first page
        # that opens on a comparison, with the session's tabs (:meth:`show_rest`)
        self._list = pn.Column(sizing_mode="stretch_width", height=LIST_HEIGHT)
        self._rest_pending = False

    # -- opening and closing ------------------------------------------------------------------
    def open(self, request: CompareRequest, *, now: bool) -> bool:
        """Show ``request``: checked at once (False, after ``refused(reason)``, if it cannot be
        compared), then loaded ``now`` or in a worker thread while the progress bar follows."""
        try:
            check_request(self.store, request)
        except RnnpanelError as exc:
            self._refuse(exc, request)
            return False
        self.request = request
        self._loading += 1
        ticket = self._loading
        self._begin()
        self._rest_pending = now and pn.state.curdoc is not None and not pn.state.loaded
        if now:
            try:
                loaded = load(self.store, request, self._report)
            except Exception as exc:    # noqa: BLE001 -- a failure is a message, never a broken page
                self._end(exc)
                self._refuse(exc, request)
                return False
            self._end(None)
            self._show(loaded, request)
            return True
        on_loop = on_session_loop()

        def report(fraction: float, message: str = "") -> None:
            on_loop(partial(self._report, fraction, message))

        def finish(loaded, error) -> None:
            if ticket != self._loading:         # another comparison was asked for meanwhile
                return
            self._end(error)
            if error is not None:
                self._refuse(error, request)
            else:
                self._show(loaded, request)

        def work() -> None:
            try:
                loaded = load(self.store, request, report)
            except Exception as exc:    # noqa: BLE001 -- reported in the page
                on_loop(partial(finish, None, exc))
            else:
                on_loop(partial(finish, loaded, None))

        self._panel.objects = [self._progress_pane(request)]
        threading.Thread(target=work, name="rnnpanel-compare", daemon=True).start()
        return True

    def close(self) -> None:
        """Leave the comparison (its figures are dropped; what the process shares stays cached)."""
        self._loading += 1
        self.request = self.pair = self.run = None
        self._end(None)
        self._panel.objects = []
        self.epoch = -1

    @property
    def active(self) -> bool:
        return self.request is not None

    def _refuse(self, error: Exception, request: CompareRequest) -> None:
        message = str(error) if isinstance(error, RnnpanelError) else cannot_show(error)
        self.close()
        self._refused(message, request)

    def _begin(self) -> None:
        self.progress.param.update(value=0, visible=True)
        self.status.object = ""

    def _end(self, error: Exception | None) -> None:
        self.progress.visible = False
        self.status.object = "" if error is None else FAILED.format(html.escape(str(error)))

    def _report(self, fraction: float, message: str = "") -> None:
        self.progress.value = int(round(100 * max(0.0, min(1.0, fraction))))
        if message:
            self.status.object = html.escape(message)

    def _progress_pane(self, request: CompareRequest) -> pn.Column:
        what = "the run's checkpoints" if request.b == RUN else "the two maps"
        return pn.Column(pn.pane.HTML(f"<p style='margin:12px 10px'>Preparing {what} for the comparison…</p>"),
                         self.progress, self.status, sizing_mode="stretch_width")

    # -- showing a pair ---------------------------------------------------------------------------
    def _show(self, loaded: ComparedPair | ComparedRun, request: CompareRequest) -> None:
        if isinstance(loaded, ComparedRun):
            self.run = loaded
            epoch = request.epoch if request.epoch in loaded.pairs else loaded.default_epoch()
            pair, samples = loaded.pairs[epoch], [p.b for p in loaded.pairs.values()]
            samples.append(pair.a)
        else:
            self.run, epoch, pair, samples = None, -1, loaded, [loaded.a, loaded.b]
        self.pair = pair
        with pn.io.hold():
            self.trajectory_a.renew()
            self.trajectory_b.renew()
            (x0, x1), (y0, y1) = extent(samples)
            self.map_a.ranges = self.map_b.ranges = (Range1d(x0, x1), Range1d(y0, y1))
            self.map_a.title, self.map_b.title = f"A · {pair.title_a}", f"B · {pair.title_b}"
            self.search_a.sample, self.search_b.sample = pair.a, pair.b
            self.map_a.sample, self.map_b.sample = pair.a, pair.b
            self._build_ep(pair)
            self._build_table(pair)
            self.figures = pn.pane.HTML(figures_html(pair), sizing_mode="stretch_width", margin=(0, 10),
                                        name="compare_figures")
            self._lay_out(pair, epoch)
            self._follow_sequence()
        self.epoch = epoch

    def _build_ep(self, pair: ComparedPair) -> None:
        t_a, t_b = self.trajectory_a, self.trajectory_b
        self.ep_a, self.ep_b = empty_ep_source("compare_ep_a_src"), empty_ep_source("compare_ep_b_src")
        fig, hovered, self._parting = ep_figure(self.ep_a, self.ep_b, states_a=t_a.states, hover_a=t_a.hover,
                                                states_b=t_b.states, hover_b=t_b.hover,
                                                binary=len(pair.a.class_names) == 2)
        self._ep_fig = fig
        link_hover(t_a.hover, mine=t_a.states, other=t_b.states, mark=t_b.mark, span=hovered, link=pair.link, side="a")
        link_hover(t_b.hover, mine=t_b.states, other=t_a.states, mark=t_a.mark, span=hovered, link=pair.link, side="b")
        # of a fixed height: a text changing height with the selection would lay the page out again
        self.header = pn.pane.HTML("", sizing_mode="stretch_width", height=HEADER_HEIGHT, margin=(4, 10),
                                   name="compare_sequence", styles={"overflow": "hidden"})
        self._ep_pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")

    def _build_table(self, pair: ComparedPair) -> None:
        self._list_title = pn.pane.HTML(self._list_html(pair), margin=(4, 10, 0, 10), sizing_mode="stretch_width")
        if self._rest_pending:
            self._table = None
            self._list.objects = [pn.pane.HTML("<p class='rp-hint' style='margin:4px 10px'>Loading the list…</p>")]
            return
        frame = disagreement_frame(pair)
        self._rows = [int(i) for i in frame.index]
        self._table = pn.widgets.Tabulator(
            frame, pagination="local", page_size=6, selectable=1, disabled=True, show_index=False,
            width=LIST_WIDTH, height=LIST_HEIGHT,
            formatters={"first words": {"type": "plaintext"}, "parts at": {"type": "plaintext"}},
            widths={"id": 54, "true": 66, "A": 80, "B": 80, "apart": 72, "parts at": 92, "first words": 112})
        self._table.param.watch(self._on_table, "selection")
        self._list.objects = [self._table]
        self._follow_sequence()

    def show_rest(self) -> None:
        """The list of disagreements, once the first page is drawn (when it opened on a comparison)."""
        if self._rest_pending:
            self._rest_pending = False
            if self.pair is not None:
                self._build_table(self.pair)

    @staticmethod
    def _list_html(pair: ComparedPair) -> str:
        n = len(pair.figures["disagreements"])
        if not n:
            return "<b>The two models agree on every sequence.</b>"
        return (f"<b>{n:,} disagreement{'s' if n != 1 else ''}</b>, the furthest apart first "
                "<span style='color:#666'>(click one to select it)</span>")

    def _lay_out(self, pair: ComparedPair, epoch: int) -> None:
        request = self.request
        close = pn.widgets.Button(label="✕ Close the comparison", width=190, margin=(4, 10))
        close.on_click(lambda _e: self._close())
        download = pn.widgets.FileDownload(callback=self.figures_json, filename="comparison.json",
                                           label="Comparison (JSON)", width=170, margin=(4, 10))
        what = ("the other checkpoints of its run" if request.b == RUN else
                "another layer of the same entry" if request.b == request.a else "another entry")
        title = pn.pane.HTML(f"<h3 style='margin:6px 10px 0 10px'>Comparing A with {what}</h3>",
                             sizing_mode="stretch_width")
        rows = [pn.Row(title, download, close, sizing_mode="stretch_width", height=TITLE_HEIGHT),
                pn.Row(self.map_a, self.map_b, sizing_mode="stretch_width")]
        if self.run is not None:
            rows.append(self._run_controls(epoch))
        rows += [
            pn.Row(pn.Column(self.header, self._ep_pane, sizing_mode="stretch_width", min_width=360),
                   pn.Column(self.figures, self._list_title, self._list, width=LIST_WIDTH + 20),
                   sizing_mode="stretch_width", height=BELOW_HEIGHT),
            pn.pane.HTML(NOT_HERE, sizing_mode="stretch_width", height=NOTE_HEIGHT),
        ]
        self._panel.objects = rows

    def _run_controls(self, epoch: int) -> pn.Row:
        run = self.run
        self._player = pn.widgets.DiscretePlayer(
            options=run.epochs, value=epoch, interval=PLAY_INTERVAL_MS, loop_policy="once",
            show_loop_controls=False, visible_buttons=["previous", "play", "pause", "next"], width=300,
            height=70, margin=(4, 10))
        self._player.param.watch(lambda e: self.show_epoch(int(e.new)), "value")
        self._epochs = pn.pane.HTML(epoch_html(run, epoch), sizing_mode="stretch_width",
                                    name="compare_epochs")
        return pn.Row(pn.Column(*titled("Epoch of B", self._player)), self._epochs, sizing_mode="stretch_width",
                      height=RUN_HEIGHT)

    # -- a run's checkpoints ----------------------------------------------------------------------
    def show_epoch(self, epoch: int) -> None:
        """Move B's map to checkpoint ``epoch`` of the run (its points travel there), with that
        epoch's figures, disagreements and EP curve."""
        run = self.run
        if run is None or epoch not in run.pairs or (self.pair is not None and self.pair.epoch_b == epoch):
            return
        pair = run.pairs[epoch]
        self.pair = pair
        self.epoch = epoch
        with pn.io.hold():
            self.map_b.title = f"B · {pair.title_b}"
            self.map_b.figure.title.text = self.map_b.title
            self.search_b.sample = pair.b
            self.map_b.move_to(pair.b)
            self.figures.object = figures_html(pair)
            if self._table is not None:
                frame = disagreement_frame(pair)
                self._rows = [int(i) for i in frame.index]
                self._table.value = frame
            self._list_title.object = self._list_html(pair)
            self._epochs.object = epoch_html(run, epoch)
            if self._player is not None and self._player.value != epoch:
                self._player.value = epoch
            self._follow_sequence()

    # -- which sequence ---------------------------------------------------------------------------
    @param.depends("sequence", watch=True)
    def _follow_sequence(self) -> None:
        pair = self.pair
        if pair is None:
            return
        i = self.sequence if 0 <= self.sequence < pair.a.n_sequences else -1
        j = int(pair.b_of_a[i]) if i >= 0 else -1
        shown_a, shown_b = Shown(pair.a, i), Shown(pair.b, j)
        with pn.io.hold():
            self.trajectory_a.shown, self.trajectory_b.shown = shown_a, shown_b
            self.map_a.shown, self.map_b.shown = shown_a, shown_b
        # the maps first, in a patch of their own; the EP plot, the line above it and the list on the
        # next tick (the plot's new range and words cost the browser 30 ms or so: the maps need not wait)
        doc = pn.state.curdoc
        if doc is None or not pn.state.loaded:
            self._follow_below(pair, i, j)
        else:
            doc.add_next_tick_callback(partial(self._follow_below, pair, i, j))

    def _follow_below(self, pair: ComparedPair, i: int, j: int) -> None:
        """The EP plot, the sequence line and the list's selection for A's sequence ``i`` (B's ``j``)."""
        if pair is not self.pair:           # another epoch or comparison meanwhile: its own call follows
            return
        with pn.io.hold():
            self._fill_ep(pair, i, j)
            self.header.object = sequence_html(pair, i)
            if self._table is not None:
                selection = [self._rows.index(i)] if i in self._rows else []
                if list(self._table.selection) != selection:
                    self._table.selection = selection

    def _fill_ep(self, pair: ComparedPair, i: int, j: int) -> None:
        if i < 0:
            self.ep_a.data = empty_like(self.ep_a.data)
            self.ep_b.data = empty_like(self.ep_b.data)
            self._parting.visible = False
            self._ep_fig.xaxis.ticker.ticks = []
            return
        label = int(pair.a.labels[i])
        a = ep_curve_columns(pair.a, i, label)
        n = len(a["t"])
        self.ep_a.data = a
        if j >= 0:
            n_b = pair.b.sequence_slice(j).stop - pair.b.sequence_slice(j).start
            self.ep_b.data = ep_curve_columns(pair.b, j, label, shift=0 if pair.link == "step" else n - n_b)
        else:
            self.ep_b.data = empty_like(self.ep_b.data)
        ticks, labels = word_ticks(a["word"])
        axis = self._ep_fig.xaxis[0]
        axis.ticker.ticks = ticks
        axis.major_label_overrides = labels
        self._ep_fig.x_range.update(start=min(-0.5, float(min(self.ep_b.data["x"], default=0)) - 0.5),
                                    end=n - 0.5)
        parting = int(pair.parting[i])
        self._parting.update(location=parting, visible=parting >= 0)

    def _select_a(self, i: int) -> None:
        self._select(int(i))

    def _select_b(self, j: int) -> None:
        pair = self.pair
        i = int(pair.a_of_b[j]) if pair is not None else -1
        if i < 0:
            notify("A holds no sequence paired with that one of B.", level="warning")
            return
        self._select(i)

    def _on_table(self, event) -> None:
        if event.new and self.pair is not None:
            i = self._rows[int(event.new[0])]
            if i != self.sequence:
                self._select(i)

    # -- export -------------------------------------------------------------------------------------
    def figures_json(self):
        """The comparison's figures (those of ``rnnpanel compare --json``) with the maps' alignment."""
        import io

        pair = self.pair
        if pair is None:
            return io.BytesIO(b"{}")
        figures = {**pair.figures, "maps_drawn": pair.alignment}
        if self.run is not None:
            figures["epochs"] = {"a": self.run.epoch_a, "b": pair.epoch_b}
        return io.BytesIO(json.dumps(figures, indent=1, default=_json_default).encode("utf-8"))

    def __panel__(self) -> pn.viewable.Viewable:
        return self._panel


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


# -- the sidebar's choice ----------------------------------------------------------------------------
NONE_LABEL = "— none —"
RUN_LABEL = "the other checkpoints of its run"
LAYER_LABEL = "another layer of this entry"


def compare_options(store: StateStore, entry: str | None, entries: dict[str, str]) -> dict[str, str]:
    """What the entry ``entry`` can be compared with, label → the app's ``compare`` value: its
    run's checkpoints (when it belongs to a run), its other layers (when it has several), and every
    other entry of the list (``entries``: label → key; other texts are refused when chosen, with the
    reason)."""
    options = {NONE_LABEL: ""}
    if entry is None:
        return options
    try:
        opened = store.entry(entry)
    except RnnpanelError:
        return options
    if run_of(opened) is not None:
        options[RUN_LABEL] = RUN
    if int(opened.attrs.get("layers", 1)) > 1:
        options[LAYER_LABEL] = entry
    options.update({label: key for label, key in entries.items() if key != entry})
    return options


def compare_controls(app) -> list:
    """The sidebar's "Compare with" choice and B's layer, kept in step with the session's
    ``compare`` and ``layer_b`` (a link or the Close button changes them too)."""
    choice = pn.widgets.Select(name="", sizing_mode="stretch_width", margin=(5, 10))
    layer = pn.widgets.Select(name="", width=110, margin=(5, 10))
    layer_row = pn.Row(pn.pane.HTML("<span style='font-size:13px'>Layer of B</span>", margin=(10, 10, 0, 10)), layer)
    syncing = [False]

    def offer(*_events) -> None:
        syncing[0] = True
        try:
            options = compare_options(app.store, app.entry, app.entries.options)
            if app.compare and app.compare not in options.values():
                options[app.compare] = app.compare          # a link to an entry not listed
            choice.options = options
            choice.value = app.compare
            b = app.compare
            if b and b != RUN:
                try:
                    n = int(app.store.entry(b).attrs["layers"])
                except RnnpanelError:
                    n = 1
                layers = {"default": -1, **{str(i): i for i in range(n)}}
                layer.options = layers
                layer.value = app.layer_b if app.layer_b in layers.values() else -1
                layer_row.visible = n > 1
            else:
                layer_row.visible = False
        finally:
            syncing[0] = False

    def chosen(event) -> None:
        if not syncing[0]:
            app.param.update(compare=event.new or "", layer_b=-1)

    def layer_chosen(event) -> None:
        if not syncing[0] and event.new is not None:
            app.layer_b = int(event.new)

    choice.param.watch(chosen, "value")
    layer.param.watch(layer_chosen, "value")
    app.param.watch(offer, ["entry", "compare", "layer_b"])
    app.entries.param.watch(offer, "options")
    offer()
    return [*titled("Compare with", choice), layer_row]
