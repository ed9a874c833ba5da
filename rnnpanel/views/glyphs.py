"""Glyph renderers with the fewest Bokeh models, for figures built once per app session.

A figure's glyph methods (``fig.rect(...)``) add a non-selection and a muted copy of every glyph
and a view with a filter of its own: six models per renderer. Each model costs server time in
every session (built, added to the document, serialised) and a share of the page's first
drawing. :func:`add_glyph` makes three: the renderer, its glyph and its view, whose filter (all
rows) one figure's renderers share; BokehJS makes the non-selection and muted looks itself should
they ever be needed (``"auto"``). Measured in benchmarks/RESULTS.md ("Many users opening the app at once").
"""

from __future__ import annotations

from bokeh.models import AllIndices, CDSView, ColumnDataSource, GlyphRenderer
from bokeh.models.glyph import Glyph


def add_glyph(fig, glyph: Glyph, source: ColumnDataSource, **renderer) -> GlyphRenderer:
    """Append a renderer of ``glyph`` over ``source`` to ``fig`` (``renderer``: its ``name``,
    ``level``, ``visible``...) and return it. The views' filter is shared (it keeps every row and
    holds no state), not the views themselves: BokehJS keeps each renderer's indices in its view."""
    shared = next((r.view.filter for r in fig.renderers if isinstance(r, GlyphRenderer)), None)
    view = CDSView(filter=shared if isinstance(shared, AllIndices) else AllIndices())
    out = GlyphRenderer(data_source=source, glyph=glyph, view=view, **renderer)
    fig.renderers.append(out)
    return out
