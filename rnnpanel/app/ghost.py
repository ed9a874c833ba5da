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

from rnnpanel.app.shown import Shown


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
