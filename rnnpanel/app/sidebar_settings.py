"""The sidebar's settings and tools of a session, made once its first page is drawn (or at once in a
notebook): which entry (damaged ones marked, and counted under the list), projection, layer and
state kind, how the views draw them, then word search, live input and export."""

from __future__ import annotations

import panel as pn

from rnnpanel.app.compare_view import compare_controls
from rnnpanel.app.widgets import labelled, titled


def sidebar_settings(app) -> list:
    """The widgets of a :class:`~rnnpanel.app.session.RnnPanelApp`'s parameters (and of its map's
    fade, :meth:`~rnnpanel.app.projection_map.ProjectionMap.fade_slider`), then its tools."""
    p, choice = app.param, pn.widgets.RadioButtonGroup.from_param
    return [
        *titled("Entry", pn.widgets.Select.from_param(p.entry, name="", sizing_mode="stretch_width")),
        app.entries.summary(),
        *titled("Projection", choice(p.method, name="")),
        pn.Row(labelled("Layer", pn.widgets.Select.from_param(p.layer, name="", width=90)),
               labelled("State", choice(p.state, name=""))),
        *compare_controls(app),
        *titled("Colour points by", choice(p.color_by, name="")),
        *titled("Fade sequences", choice(p.fade, name="")),
        app.map.fade_slider(name="Fade the map behind a trajectory", format="0%", sizing_mode="stretch_width"),
        *titled("Trajectory colour", choice(p.trajectory_color, name="")),
        *titled("Trajectory thickness", choice(p.thickness, name="")),
        pn.widgets.FloatSlider.from_param(p.distance_threshold, name="Label: step distance >",
                                          sizing_mode="stretch_width"),
        pn.widgets.FloatSlider.from_param(p.ep_threshold, name="Label: EP change >", sizing_mode="stretch_width"),
        pn.widgets.Checkbox.from_param(p.class_flips, name="Label class flips"),
        *titled("Find words", pn.widgets.TextInput.from_param(
            p.search, name="", placeholder="e.g. good, bad*  (Enter)", sizing_mode="stretch_width")),
        app.word_search, app.live_input, app.downloads,
    ]
