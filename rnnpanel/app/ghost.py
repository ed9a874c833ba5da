"""The ghost of an edit (docs/design.md, What if, "Ghosts of edits"): a sequence drawn faintly beside
the shown one, so that an edit's effect is seen against what was there before it.

When the live text changes, what was shown before it becomes the ghost (a stored sequence, or the
previous live text); any caller may show any :class:`~rnnpanel.app.shown.Shown` as the ghost with a
label of its own (:meth:`rnnpanel.app.session.RnnPanelApp.show_ghost`). A ghost belongs to one map:
a live one is read and placed again when the map changes, a stored one is drawn only on its own
sample's map.
"""

from __future__ import annotations

from dataclasses import dataclass

import panel as pn
import param
from bokeh.models import ColumnDataSource

from rnnpanel.app.shown import Shown
from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.live import live_sample
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.views import distances, heatmap
from rnnpanel.views.ghost import (
    add_change_marks,
    aligned_steps,
    change_columns,
    change_note,
    change_note_line,
    ghost_distance_columns,
    ghost_heatmap_columns,
    ghost_map_columns,
)
from rnnpanel.views.labels import DEFAULT_DISTANCE_THRESHOLD, DEFAULT_EP_THRESHOLD
from rnnpanel.views.projection import add_ghost_trajectory
from rnnpanel.views.sequence import empty_like


@dataclass(frozen=True, eq=False)     # compared by identity, as Shown: every new value is a change
class Ghost:
    """``shown`` drawn faintly, named ``label`` in the map and in the views' titles."""

    shown: Shown
    label: str


def ghost_label(shown: Shown) -> str:
    """The name of an edit's ghost: the stored sequence it was, or what was typed before."""
    if shown.live:
        return "before"
    return f"sequence {int(shown.sample.sequence_ids[shown.index])}"


def ghost_in_new_map(ghost: Ghost, sample: Sample, *, same_entry: bool, states: EntryStates,
                     method: str) -> Ghost | None:
    """``ghost`` in the map of ``sample`` (``states``' map by ``method``), or None where it has no
    place there: a live ghost's words are read and placed again; a stored one stays the same stored
    sequence on another map of its entry, and is dropped on another entry's."""
    shown = ghost.shown
    if shown.live:
        try:
            read = live_sample(states, shown.text(), method=method)
        except RnnpanelError:
            return None
        return Ghost(Shown.live_read(read), ghost.label)
    if same_entry and shown.present and shown.index < sample.n_sequences:
        return Ghost(Shown(sample, shown.index), ghost.label)
    return None


class GhostLayers(param.Parameterized):
    """The ghost drawn in a sample's figures: faint in the map, as strips in the heatmap, as outlines
    over the distance bars, and the shown text's differences from it marked in the text view.

    Its glyphs are added to the figures when a ghost is first drawn in them (only the text view's
    note line, hidden, comes with the figure), so a session that never makes one sends next to
    nothing more, and a selection without a ghost changes none of its sources."""

    ghost = param.ClassSelector(class_=Ghost, default=None, allow_None=True, allow_refs=True)
    shown = param.ClassSelector(class_=Shown, default=Shown(), allow_refs=True, doc="The sequence shown.")
    thickness = param.Selector(default="constant", objects=["constant", "time", "distance"], allow_refs=True)
    distance_threshold = param.Number(default=DEFAULT_DISTANCE_THRESHOLD, bounds=(0.0, 1.0), allow_refs=True)
    ep_threshold = param.Number(default=DEFAULT_EP_THRESHOLD, bounds=(0.0, 1.0), allow_refs=True)
    class_flips = param.Boolean(default=True, allow_refs=True)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._sample: Sample | None = None
        self._figures: dict | None = None
        self._added = self._drawn = False

    def draw_in(self, sample: Sample, *, map, text, heatmap, distances) -> None:
        """The figures of a new map (of ``sample``): fresh sources, glyphs added once a ghost is drawn
        (the session sets the ghost that belongs to the new map next)."""
        self._sample, self._added, self._drawn = sample, False, False
        self._figures = {"map": map, "text": text, "heatmap": heatmap, "distances": distances}
        self.states = ColumnDataSource({"x": [], "y": []}, name="ghost_states_src")
        self.segments = ColumnDataSource({k: [] for k in ("x0", "y0", "x1", "y1", "width")}, name="ghost_segments_src")
        self.ends = ColumnDataSource({"x": [], "y": [], "text": []}, name="ghost_ends_src")
        self.labels = ColumnDataSource({"x": [], "y": [], "word": []}, name="ghost_labels_src")
        self.cells = ColumnDataSource({k: [] for k in ("x", "w", "row", "alpha", "color", "p", "cls", "word")},
                                      name="ghost_heatmap_src")
        self.bars = ColumnDataSource({"x": [], "w": [], "d": [], "word": []}, name="ghost_distances_src")
        self.marks = ColumnDataSource({"x": [], "y": [], "w": [], "h": []}, name="text_changes_src")
        self._note = change_note_line(text)

    @property
    def drawn(self) -> bool:
        """Whether a ghost is drawn now."""
        return self._drawn

    def _add_layers(self) -> None:
        figures = self._figures
        add_ghost_trajectory(figures["map"], states=self.states, segments=self.segments, ends=self.ends,
                             labels=self.labels)
        heatmap.add_ghost_cells(figures["heatmap"], self.cells)
        distances.add_ghost_bars(figures["distances"], self.bars)
        add_change_marks(figures["text"], self.marks)
        self._added = True

    @param.depends("ghost", "shown", "thickness", "distance_threshold", "ep_threshold", "class_flips", watch=True)
    def _fill(self) -> None:
        if self._figures is None:
            return
        ghost = self.ghost
        if ghost is None or not ghost.shown.present or not ghost.shown.belongs_to(self._sample):
            if self._drawn:
                with pn.io.hold():
                    self._empty()
            return
        with pn.io.hold():
            if not self._added:
                self._add_layers()
            self._draw(ghost)

    def _empty(self) -> None:
        for source in (self.states, self.segments, self.ends, self.labels, self.cells, self.bars, self.marks):
            source.data = empty_like(source.data)
        self._titles(None)
        self._drawn = False

    def _draw(self, ghost: Ghost) -> None:
        before, s = ghost.shown, ghost.shown.index
        shown = self.shown
        after = shown.words if shown.present and shown.belongs_to(self._sample) else []
        columns = ghost_map_columns(before.sample, s, label=ghost.label, thickness=self.thickness,
                                    distance_threshold=self.distance_threshold, ep_threshold=self.ep_threshold,
                                    class_flips=self.class_flips)
        for name in ("states", "segments", "ends", "labels"):
            getattr(self, name).data = columns[name]
        x, w = aligned_steps(before.words, after)
        self.cells.data = ghost_heatmap_columns(before.sample, s, x, w)
        self.bars.data = ghost_distance_columns(before.sample, s, x, w)
        marks, removed, n_new = change_columns(before.words, after)
        self.marks.data = marks
        self._titles(ghost.label, change_note(ghost.label, removed, n_new) if after else "")
        self._drawn = True

    def _titles(self, label: str | None, note: str = "") -> None:
        figures = self._figures
        figures["heatmap"].title.text = heatmap.ghost_title(label)
        figures["distances"].title.text = distances.ghost_title(label)
        self._note.update(text=note, visible=bool(note))
