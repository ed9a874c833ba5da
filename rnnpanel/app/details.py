"""The Units and Neighbours tabs: views of the original-space states behind the map, for the
sequence the per-sequence views show (docs/design.md, Tools beyond the paper).

They read the original states (:class:`rnnpanel.pipeline.states.EntryStates`): the Units tab the shown
sequence's rows alone, the Neighbours tab an index built once per process and entry (for millions
of states, in a worker thread the first time, so no session waits on it); both are computed only
while their tab is open, so a selection does not pay for them otherwise.

Reading the states is where a damaged chunk is found (the map and the views need none of them):
a :class:`DamagedEntry` goes to ``damaged(error)``, which the session turns into a mark on the
entry and a good entry shown instead; an index that could not be built says why in its tab.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from functools import partial

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, Range1d

from rnnpanel.app.loading import cannot_show
from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.errors import DamagedEntry
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.views.neighbors import neighbor_frame
from rnnpanel.views.units import EMPTY_UNITS, SORTS, unit_columns, units_figure

UNITS, NEIGHBOURS = "Units", "Neighbours"
N_NEIGHBOURS = 10
HINT = "<p class='rp-hint'>{}</p>"
FAILED = "<p class='rp-hint' style='color:#a12622'>{}</p>"


class StateDetails(param.Parameterized):
    """Units × time of the shown sequence, and the nearest stored states to one of its states."""

    unit_sort = param.Selector(default="variance", objects=list(SORTS), doc="How the unit rows are sorted.")

    def __init__(self, *, states: EntryStates, sample: Sample, hover: ColumnDataSource,
                 step_range: Range1d, select: Callable[[int], None],
                 damaged: Callable[[DamagedEntry], None] | None = None, **params) -> None:
        super().__init__(**params)
        self._states = states
        self._damaged = damaged or (lambda error: notify(cannot_show(error)))
        self._sample, self._hover, self._step_range, self._select = sample, hover, step_range, select
        self._shown: tuple[Sample | None, int, int] = (None, -1, -1)
        self._vectors: np.ndarray | None = None
        self._units_src = ColumnDataSource(dict(EMPTY_UNITS), name="units_src")
        self._units_fig = self._units_mapper = None
        self.units = pn.Column(pn.pane.HTML(HINT.format("Select a sequence (or type a text) to see its units "
                                                        "over time.")),
                               sizing_mode="stretch_width")
        self._neighbor_title = self._neighbor_table = None       # made when first drawn (most sessions never do)
        self.neighbors = pn.Column(
            pn.pane.HTML(
                HINT.format("Select a sequence (or type a text); hover one of its words to choose the state.")
            ),
            sizing_mode="stretch_width",
        )
        self._building = False
        self.param.watch(lambda _e: self.show(UNITS, *self._shown, self._vectors), "unit_sort")

    def show(self, tab: str, sample: Sample | None, s: int, focus_t: int = -1,
             vectors: np.ndarray | None = None) -> None:
        """Draw ``tab`` for sequence ``s`` of ``sample`` (the neighbours of its step ``focus_t``,
        or of its last state, the one the prediction is made from). A sequence that is not stored
        (the live input) comes with its state ``vectors`` (T, D)."""
        self._shown, self._vectors = (sample, s, focus_t), vectors
        try:
            if tab == UNITS:
                self._draw_units()
            elif tab == NEIGHBOURS:
                self._draw_neighbors()
        except DamagedEntry as exc:     # a chunk of the states that fails its checksum
            self._damaged(exc)

    def _drawable(self) -> bool:
        sample, s, _ = self._shown
        stored = sample is self._sample and 0 <= s < sample.n_sequences
        return stored or (sample is not None and self._vectors is not None)

    def _values(self, rows: slice) -> np.ndarray:
        if self._vectors is not None:
            return self._vectors
        return self._states.rows(rows)

    def _draw_units(self) -> None:
        if not self._drawable():
            return
        sample, s, _ = self._shown
        rows = sample.sequence_slice(s)
        values = self._values(rows)
        if self._units_fig is None:
            self._units_fig, self._units_mapper = units_figure(self._units_src, self._hover, self._step_range,
                                                               values.shape[1])
            self.units.objects = [pn.widgets.RadioButtonGroup.from_param(self.param.unit_sort, name=""),
                                  pn.pane.Bokeh(self._units_fig, sizing_mode="stretch_width")]
        with pn.io.hold():
            self._units_src.data = unit_columns(values, sample.ep[rows, sample.predictions[s]], self.unit_sort)
            top = float(np.abs(values).max()) or 1.0
            self._units_mapper.update(low=-top, high=top)

    def _draw_neighbors(self) -> None:
        if not self._drawable():
            return
        sample, s, focus_t = self._shown
        rows = sample.sequence_slice(s)
        n = rows.stop - rows.start
        t = focus_t if 0 <= focus_t < n else n - 1
        if not self._states.neighbor_index_ready():
            self._build_index()
            return
        live = self._vectors is not None
        query = self._vectors[t] if live else rows.start + t
        idx, dist = self._states.nearest(query, k=N_NEIGHBOURS)
        where = "the live input" if live else f"sequence {int(sample.sequence_ids[s])}"
        if self._neighbor_table is None:
            self._neighbor_title = pn.pane.HTML("", sizing_mode="stretch_width")
            self._neighbor_table = pn.widgets.Tabulator(
                None, disabled=True, show_index=False, selectable=1, sizing_mode="stretch_width", height=330,
                hidden_columns=["row"], formatters={"words": {"type": "plaintext"}, "sequence": {"type": "plaintext"}},
                widths={"words": 420})
            self._neighbor_table.param.watch(self._on_neighbor, "selection")
        self._neighbor_title.object = (
            f"Nearest {len(idx)} stored states to <b>{html.escape(str(sample.words[rows.start + t]))}</b> (t = {t} of "
            f"{where}) in the original space, layer {self._states.layer} {html.escape(self._states.kind)}; "
            "hover another word to choose it, click a row to select that sequence.")
        self._neighbor_table.value = neighbor_frame(self._sample, idx, dist)
        if self.neighbors.objects[0] is not self._neighbor_title:
            self.neighbors.objects = [self._neighbor_title, self._neighbor_table]

    def _build_index(self) -> None:
        """Build the entry's neighbour index (once per entry, in a child process, waited for by a
        worker thread), then draw."""
        if self._building:
            return
        self._building = True
        self.neighbors.objects = [pn.pane.HTML(HINT.format(
            f"Indexing the {self._sample.n_states:,} stored states for neighbour search (once per entry; "
            "about a minute for millions of states)…"))]
        self.neighbors.loading = True
        back = on_session_loop()

        def done(error: Exception | None) -> None:
            self._building = self.neighbors.loading = False
            if error is None:
                self.show(NEIGHBOURS, *self._shown, self._vectors)
                return
            # the notice that it is indexing ends: the tab says why it cannot search
            self.neighbors.objects = [pn.pane.HTML(FAILED.format(html.escape(f"Cannot search neighbours: {error}")))]
            if isinstance(error, DamagedEntry):
                self._damaged(error)
            else:
                notify(f"Cannot search neighbours: {error}")

        def work() -> None:
            try:
                self._states.store_neighbor_index()      # in a child process
                self._states.neighbor_index()            # then opened, memory-mapped
            except Exception as exc:    # noqa: BLE001 -- any failure ends the notice (a child killed, ...)
                back(partial(done, exc))     # the name `exc` is gone once the except block ends
            else:
                back(lambda: done(None))

        threading.Thread(target=work, name="rnnpanel-neighbour-index", daemon=True).start()

    def _on_neighbor(self, event) -> None:
        if event.new and self._neighbor_table.value is not None:
            self._select(int(self._neighbor_table.value["row"].iloc[event.new[0]]))
