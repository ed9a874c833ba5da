"""Benchmark figures to files: HTML drawn by Bokeh, PNG and SVG drawn by matplotlib, neither needing a browser.

A benchmark figure is built once as a HoloViews object carrying options for both plotting backends
(:func:`per_backend`): Bokeh writes the interactive page, HoloViews' matplotlib backend the static
PNG or SVG on Agg's canvas, so ``pip install -e .`` alone can write every format a user asks for.

Headless Chromium stays only for what a browser itself shows (:mod:`rnnpanel.bench.browser`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from rnnpanel.errors import RnnpanelError

log = logging.getLogger(__name__)

FORMATS = (".html", ".png", ".svg")
#: Resolution of PNG figures (matplotlib's points are 1/72 inch).
PNG_DPI = 150
def holoviews() -> ModuleType:
    """HoloViews with its Bokeh and matplotlib backends loaded and Bokeh current, for building figures
    that either backend draws.

    matplotlib's plotting module is imported rather than loaded with ``hv.extension``: in a notebook
    that would switch pyplot to Agg unless it draws inline, closing the user's own figures.
    """
    import holoviews as hv

    hv.extension("bokeh", logo=False)
    import holoviews.plotting.mpl  # noqa: F401 -- registers the matplotlib renderer and its options

    return hv


def per_backend(kind: Callable[..., Any], *, bokeh: dict[str, Any] | None = None,
                matplotlib: dict[str, Any] | None = None, **common: Any) -> list[Any]:
    """``kind``'s options (e.g. ``hv.opts.Curve``) for each backend: ``common`` for both, then each
    backend's own. HoloViews keeps options per backend; one set without ``backend=`` reaches Bokeh only."""
    return [kind(**common, **(bokeh or {}), backend="bokeh"),
            kind(**common, **(matplotlib or {}), backend="matplotlib")]


def log_ticks(values: Iterable[float], padding: float = 0.1) -> list[float] | None:
    """The 1-2-5 ticks of a log axis over ``values`` widened by ``padding`` (as HoloViews pads it);
    ``None`` (the backend's own ticks) when none falls inside. Both backends then label the same
    numbers: Bokeh's log ticker labels little but powers of ten, matplotlib's would expand its view
    to reach ticks outside the data."""
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = (hi / lo) ** padding if hi > lo else 1.0
    lo, hi = lo / span, hi * span
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5)]
    inside = [float(f"{t:.6g}") for t in ticks if lo <= t <= hi]
    return inside or None


def log_axes_hook(plot: Any, element: Any) -> None:
    """matplotlib hook for a log-log overlay, drawing its axes as the Bokeh figure does: its own ticks
    (``xticks``/``yticks``) labelled by its formatters or as plain numbers, no labelled minor ticks,
    and its ``show_grid``. matplotlib's log scale writes 10^n and labels minor ticks over a short
    axis's own; HoloViews takes an overlay's grid from its last element instead."""
    from holoviews.plotting.mpl.util import wrap_formatter
    from matplotlib.ticker import NullFormatter

    ax = plot.handles["axis"]
    for axis, log_scale, ticks, formatter in ((ax.xaxis, plot.logx, plot.xticks, plot.xformatter),
                                              (ax.yaxis, plot.logy, plot.yticks, plot.yformatter)):
        if not log_scale:
            continue
        if isinstance(ticks, (list, tuple)) and ticks:
            axis.set_ticks(ticks)
            axis.set_minor_formatter(NullFormatter())
        axis.set_major_formatter(wrap_formatter(formatter or "%g"))
    ax.grid(bool(plot.show_grid), which="major", alpha=0.3)


def save_figure(figure: Any, out: str | Path, *, title: str = "rnnpanel") -> list[Path]:
    """Write a HoloViews ``figure`` (or a Bokeh model, HTML only) to ``out``; returns the files written.

    ``.html``: Bokeh's interactive page. ``.png`` / ``.svg``: HoloViews' matplotlib backend, with the
    HTML page beside it (``out`` with ``.html``) for zooming and hovering.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise RnnpanelError(f"a figure is written as {', '.join(FORMATS)}: got {out.name!r}; "
                            f"give a file name ending in one of those")
    if suffix != ".html" and _is_bokeh(figure):
        raise RnnpanelError(f"a Bokeh figure is written as .html only, not {out.name!r}; PNG and SVG are "
                            "drawn from a HoloViews figure")
    out.parent.mkdir(parents=True, exist_ok=True)
    html = out.with_suffix(".html")
    _save_html(figure, html, title=title)
    if suffix == ".html":
        return [html]
    _save_static(figure, out)
    log.info("wrote %s and %s", out, html)
    return [html, out]


def _save_static(figure: Any, out: Path) -> Path:
    """PNG or SVG by HoloViews' matplotlib backend, printed on Agg's canvas: no browser, no display.

    HoloViews makes its figures through pyplot (closed once drawn), whose backend is left as
    matplotlib chose it (Agg without a display); the file is printed by an Agg canvas of its own
    whatever that backend is.
    """
    holoviews()
    import matplotlib
    from holoviews import Store
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    interactive = matplotlib.is_interactive()
    try:
        fig = Store.renderers["matplotlib"].get_plot_state(figure)
    finally:
        if interactive:              # HoloViews turns pyplot's interactive mode off to draw
            import matplotlib.pyplot as plt

            plt.ion()
    FigureCanvasAgg(fig)
    fmt = out.suffix.lower()[1:]
    # SVG text stays <text> (searchable, editable), and the file carries no date (same data, same file)
    extra = {"metadata": {"Date": None}} if fmt == "svg" else {}
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(out, format=fmt, dpi=PNG_DPI, bbox_inches="tight", **extra)
    return out


def _is_bokeh(figure: Any) -> bool:
    from bokeh.model import Model

    return isinstance(figure, Model)


def _save_html(figure: Any, html: Path, *, title: str) -> None:
    """One self-contained page (Bokeh's scripts inline)."""
    from rnnpanel.views.export import standalone_page

    model = figure
    if not _is_bokeh(figure):       # a HoloViews object: render it with the Bokeh backend
        import holoviews as hv

        hv.extension("bokeh", logo=False)
        model = hv.render(figure, backend="bokeh")
    html.write_text(standalone_page(model, title), encoding="utf-8")
