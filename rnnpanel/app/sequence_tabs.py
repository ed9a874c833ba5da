"""The tabs below the map (docs/design.md, Views, 7, and the tools beyond): the sequence table, the dataset overview,
the Units and Neighbours tabs and the Region tab.

They arrive once the browser has drawn the map (Tabulator is the slowest view to render, about
0.4 s in Chromium, and the map, the keys and selection by click need not wait for it); the
overview is built when first opened. The table follows the shown sequence and the region drawn
on the map; a click on a row calls ``select``. Its ``fragile`` column and the Flip words tab show
the entry's fragility once computed (:mod:`rnnpanel.app.fragility`); the column is filled in place,
keeping the user's selection, sort and filters.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import panel as pn
import param

from rnnpanel.app.details import NEIGHBOURS, UNITS, StateDetails
from rnnpanel.app.fragility import FragilityPanel
from rnnpanel.app.region_tab import RegionPanel
from rnnpanel.app.sequence_views import SequenceViews
from rnnpanel.app.shown import Shown
from rnnpanel.app.widgets import Debounced
from rnnpanel.errors import DamagedEntry
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.views import overview
from rnnpanel.views.fragility import FRAGILE, fragile_filter, fragile_formatter, with_fragile

TABLE_HEIGHT = 420
FLIP_WORDS = "Flip words"
TABS = ("Sequences", "Dataset overview", FLIP_WORDS, UNITS, NEIGHBOURS, "Region")
WAITING = "<p class='rp-hint'>Loading the sequence table…</p>"


def dataset_html(summary) -> str:
    total = summary.iloc[-1]
    return (f"<p><b>{int(total['sequences'])}</b> sequences, <b>{int(total['correct'])}</b> correctly "
            f"classified (accuracy {float(total['accuracy']):.3f}).</p>")


def dataset_overview(sample: Sample) -> pn.Column:
    summary = overview.dataset_frame(sample)
    return pn.Column(
        pn.pane.HTML(dataset_html(summary)),
        pn.widgets.Tabulator(summary, show_index=False, disabled=True, width=460),
        pn.Row(overview.class_bars_figure(sample), overview.confusion_figure(sample)),
    )


class SequenceTabs(pn.viewable.Viewer):
    """The tabs of one sample; ``select(sequence)`` for a row clicked here or in the Neighbours tab,
    ``clear_region()`` for the Region tab's Clear button."""

    sample = param.ClassSelector(class_=Sample, default=None, doc="The sample listed (set when the tabs arrive).")
    states = param.ClassSelector(class_=EntryStates, default=None,
                                 doc="Its stored states (the Units and Neighbours tabs read them).")
    shown = param.ClassSelector(class_=Shown, default=Shown(), allow_refs=True, doc="The sequence shown.")
    hover_step = param.Integer(default=-1, allow_refs=True,
                               doc="The hovered step: the Neighbours tab lists the neighbours of its state.")
    region = param.Array(default=None, allow_None=True, allow_refs=True,
                         doc="(N,) bool: the table keeps the sequences with a state in it; None: all.")

    def __init__(self, *, views: SequenceViews, select: Callable[[int], None],
                 clear_region: Callable[[], None], damaged: Callable[[DamagedEntry], None] | None = None,
                 **params) -> None:
        """``damaged(error)``: the Units or Neighbours tab found the entry's states damaged."""
        super().__init__(**params)
        self._views, self._select, self._clear_region, self._damaged = views, select, clear_region, damaged
        self._panel = pn.Column(sizing_mode="stretch_width", min_height=TABLE_HEIGHT)
        self._redraw_later = Debounced(self._update_details)
        self.fragility = FragilityPanel()
        self.fragility.param.watch(lambda _e: self._fill_fragile(), "fragility")
        self.wait()

    def wait(self) -> None:
        """Drop the tabs of the previous sample and say the next ones are on their way."""
        self.table = self.tabs = self.details = self.region_panel = None
        with param.discard_events(self):
            self.sample = None          # so that the next sample builds the tabs, even if it is the same
        self._region_filter: list | None = None
        self._focus_t, self._focused = -1, ()      # the hovered step: the Neighbours tab's state
        self._panel.objects = [pn.pane.HTML(WAITING)]

    def order(self) -> list[int] | None:
        """The sequences in the table's order, after its filters (None until the table is there)."""
        return None if self.table is None else [int(i) for i in self.table.current_view.index]

    @param.depends("sample", watch=True)
    def _build(self) -> None:
        sample, views = self.sample, self._views
        self.fragility.open(self.states.entry, sample.class_names)
        rows = self._rows()
        limit = self.fragility.limit
        self.table = pn.widgets.Tabulator(
            rows, pagination="remote", page_size=12, selectable=1, disabled=True, show_index=False,
            header_filters={c: fragile_filter() if c == FRAGILE else True for c in rows.columns},
            sizing_mode="stretch_width", height=TABLE_HEIGHT,
            formatters={"first words": {"type": "plaintext"}, "correct": {"type": "tickCross"},
                        FRAGILE: fragile_formatter(limit)},
            widths={"first words": 520}, selection=self._selection())
        self.table.param.watch(self._on_table, "selection")
        dataset = pn.param.ParamFunction(lambda: dataset_overview(sample), lazy=True)
        self.details = StateDetails(states=self.states, sample=sample, hover=views.hover,
                                    step_range=views.step_range, select=self._select, damaged=self._damaged)
        self.region_panel = RegionPanel(clear=self._clear_region)
        sequences = pn.Column(self.fragility.controls, self.table, sizing_mode="stretch_width")
        self.tabs = pn.Tabs(*zip(TABS, (sequences, dataset, self.fragility.flip_words, self.details.units,
                                        self.details.neighbors, self.region_panel.panel)),
                            sizing_mode="stretch_width", dynamic=True)
        self.tabs.param.watch(lambda _e: self._update_details(), "active")
        self._panel.objects = [self.tabs]
        if self.region is not None:            # drawn before the table arrived
            self._filter_region()

    def _rows(self) -> pd.DataFrame:
        """The table's rows (shared by every session of the server): the fragile column pending, or filled."""
        sample, fragility = self.sample, self.fragility.fragility
        rows = sample.derived("sequence_frame", lambda: overview.sequence_frame(sample))   # one per server
        if fragility is None:
            return sample.derived(("sequence_frame", FRAGILE, None), lambda: with_fragile(rows, None))
        return sample.derived(("sequence_frame", FRAGILE, fragility.limit), lambda: with_fragile(rows, fragility))

    def _fill_fragile(self) -> None:
        """The fragile column filled (or emptied for another entry), the selection kept: the table
        keeps its sort, filters and page (the same rows and columns), but a new value clears its selection."""
        if self.table is None or self.sample is None:
            return
        selection = list(self.table.selection)
        with pn.io.hold():
            self.table.value = self._rows()
            if selection and list(self.table.selection) != selection:
                self.table.selection = selection

    def _selection(self) -> list[int]:
        shown = self.shown
        return [shown.index] if shown.present and shown.sample is self.sample else []

    def _on_table(self, event) -> None:
        if event.new:
            self._select(int(event.new[0]))

    @param.depends("shown", watch=True)
    def _follow_shown(self) -> None:
        shown = self.shown
        if self._focused != (id(shown.sample), shown.index):
            self._focused, self._focus_t = (id(shown.sample), shown.index), -1
        if self.table is not None and list(self.table.selection) != self._selection():
            self.table.selection = self._selection()
        self._update_details()

    @param.depends("hover_step", watch=True)
    def _follow_hover(self) -> None:
        if self.hover_step >= 0 and self.hover_step != self._focus_t:
            self._focus_t = self.hover_step
            if self.tabs is not None and TABS[self.tabs.active] == NEIGHBOURS:
                self._redraw_later()

    def _update_details(self) -> None:
        """Draw the Units or Neighbours tab if it is the open one (they read the original states)."""
        if self.tabs is None:
            return
        shown = self.shown
        self.details.show(TABS[self.tabs.active], shown.sample, shown.index, self._focus_t, shown.states)

    @param.depends("region", watch=True)
    def _filter_region(self) -> None:
        """Keep only the region's sequences in the table, and list its words in the Region tab."""
        if self.table is None:
            return
        mask, sample = self.region, self.sample
        if self._region_filter is not None:
            self.table.remove_filter(self._region_filter)
            self._region_filter = None
        if mask is not None:
            ids = sample.sequence_ids[sample.sequences_with(mask)]
            self._region_filter = [int(i) for i in ids]
            self.table.add_filter(self._region_filter, "id")
        self.region_panel.show(sample, mask)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._panel
