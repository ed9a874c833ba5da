"""The sidebar's tools beside live input: word search and export (docs/design.md, Tools beyond the paper). Both
come with the sequence table, after the first page is drawn (0.4 s of the first load otherwise)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import panel as pn
import param

from rnnpanel.app.projection_map import MAX_RINGS, RASTER_ABOVE
from rnnpanel.app.shown import Shown
from rnnpanel.app.widgets import labelled, notify
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.word_index import word_index
from rnnpanel.views.export import MAP_PLOTS, SEQUENCE_PLOTS, sequence_table, states_table, svg_download_js, table_bytes
from rnnpanel.views.search import matching_states


class WordSearch(pn.viewable.Viewer):
    """Finds the states produced by some words or patterns and says how many there are; the map
    rings them (``found``) and the export can keep only them."""

    sample = param.ClassSelector(class_=Sample, default=None, doc="The states searched.")
    search = param.String(default="", allow_refs=True,
                          doc="Words or patterns (separated by commas or spaces; * and ? are wildcards).")
    found = param.Array(default=None, allow_None=True, constant=True,
                        doc="(N,) bool: the states whose word matches; None while nothing is searched.")
    raster_above = param.Integer(default=RASTER_ABOVE, bounds=(0, None), allow_refs=True,
                                 doc="The map's threshold: above it the map is an image, its rings thinned.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.status = pn.pane.HTML("", margin=(0, 10), styles={"color": "#555"})

    @param.depends("sample", "search", watch=True)
    def _find(self) -> None:
        if self.sample is None:
            return
        mask = matching_states(word_index(self.sample), self.search) if self.search.strip() else None
        with pn.io.hold():       # Bokeh sources change under the document's lock, in one patch
            with param.edit_constant(self):
                self.found = mask
            if mask is None:
                self.status.object = ""
            else:
                n_seq, n = len(self.sample.sequences_with(mask)), int(np.count_nonzero(mask))
                # a map this large is an image, whose rings are thinned to one per few pixels of
                # the view (ProjectionMap._mark_found); a map of glyphs rings at most MAX_RINGS
                if self.sample.n_states > self.raster_above:
                    more = " (one ring per few pixels where they overlap; zoom in to separate them)"
                else:
                    more = f" ({MAX_RINGS:,} of them ringed)" if n > MAX_RINGS else ""
                self.status.object = f"{n:,} states in {n_seq:,} sequences{more}" if n else "no state has such a word"

    def __panel__(self) -> pn.viewable.Viewable:
        return self.status        # the search box is the session's (its ``search`` parameter)


class Downloads(pn.viewable.Viewer):
    """The shown sequence as CSV; every state of the map, or only the found ones, as Parquet; the
    map itself as one HTML page to send to a colleague (opens offline, hover shows word and sequence);
    the map and the sequence views as SVG, made by the browser from what it draws."""

    sample = param.ClassSelector(class_=Sample, default=None, doc="The map's states.")
    shown = param.ClassSelector(class_=Shown, default=Shown(), allow_refs=True, doc="The sequence exported.")
    found = param.Array(default=None, allow_None=True, allow_refs=True,
                        doc="(N,) bool: export only these states of the map; None: all of them.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._svg = {name: pn.widgets.Button(label=f"{label} (SVG)", width=118)
                     for name, label in (("map", "Map"), ("sequence", "Sequence"))}
        self._svg["map"].js_on_click(code=svg_download_js(MAP_PLOTS, "map.svg"))
        self._svg["sequence"].js_on_click(code=svg_download_js(SEQUENCE_PLOTS, "sequence.svg"))
        self._sequence_present()

    @param.depends("shown", watch=True)
    def _sequence_present(self) -> None:
        self._svg["sequence"].disabled = not self.shown.present

    def sequence_csv(self) -> io.BytesIO:
        shown = self.shown
        if not shown.present:
            notify("Select a sequence (or type a text) to export it.", level="info")
            return table_bytes(pd.DataFrame(), "csv")
        return table_bytes(sequence_table(shown.sample, shown.index), "csv")

    def states_parquet(self) -> io.BytesIO:
        if self.sample is None:
            return table_bytes(pd.DataFrame(), "parquet")
        return table_bytes(states_table(self.sample, self.found), "parquet")

    def map_page(self) -> io.BytesIO:
        if self.sample is None:
            return io.BytesIO(b"")
        from rnnpanel.views.export import map_html

        return io.BytesIO(map_html(self.sample).encode("utf-8"))

    def __panel__(self) -> pn.viewable.Viewable:
        return labelled("Export", pn.Column(pn.Row(
            pn.widgets.FileDownload(callback=self.sequence_csv, filename="sequence.csv",
                                    label="Sequence (CSV)", width=118),
            pn.widgets.FileDownload(callback=self.states_parquet, filename="states.parquet",
                                    label="Map (Parquet)", width=118)),
            pn.widgets.FileDownload(callback=self.map_page, filename="map.html",
                                    label="Map (HTML page)", width=242),
            pn.Row(self._svg["map"], self._svg["sequence"])))
