"""The Region tab: which states a box or lasso on the map took, and which words they over-represent
(docs/design.md, Tools beyond the paper). The sequence table keeps the same sequences (:mod:`sequence_tabs`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import panel as pn

from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.word_index import word_index
from rnnpanel.views.region import overrepresented_words

HINT = ("<p class='rp-hint'>Draw a box or a lasso on the map (its toolbar) to select a region: the "
        "sequence table keeps the sequences passing through it, and this tab lists the words most "
        "over-represented among its states.</p>")


class RegionPanel:
    """The tab's content: a line saying what is selected, the words table and a Clear button."""

    def __init__(self, clear: Callable[[], None]) -> None:
        self._status = pn.pane.HTML(HINT, sizing_mode="stretch_width")
        self._on_clear = clear
        self._words = self._clear = None        # made with the first region (most sessions never draw one)
        self.panel = pn.Column(self._status, sizing_mode="stretch_width")

    def show(self, sample: Sample | None, mask: np.ndarray | None) -> None:
        if sample is None or mask is None:
            self._status.object = HINT
            if self._words is not None:
                self._words.visible = self._clear.visible = False
            return
        if self._words is None:
            self._words = pn.widgets.Tabulator(None, disabled=True, show_index=False, height=300, width=520,
                                               formatters={"word": {"type": "plaintext"}})
            self._clear = pn.widgets.Button(name="Clear region", width=120)
            self._clear.on_click(lambda _e: self._on_clear())
            self.panel.objects = [pn.Row(self._status, self._clear), self._words]
        n_seq = len(sample.sequences_with(mask))
        self._status.object = (f"<p><b>{int(mask.sum())}</b> states of <b>{n_seq}</b> sequences in the region; "
                               "the sequence table shows those sequences. Words most over-represented "
                               "among these states (share inside ÷ share overall):</p>")
        self._words.value = overrepresented_words(word_index(sample), mask)
        self._words.visible = self._clear.visible = True
