"""Figures to files: a standalone HTML page always, and PNG or SVG drawn from it by headless Chromium.

Bokeh's own PNG/SVG export needs Selenium and a WebDriver; the project already drives Debian's
Chromium through Playwright (the test extras), so the page is saved once and the browser draws
it: a screenshot for PNG (:func:`screenshot`, also used by the scale benchmark), Bokeh's SVG
canvas serialised for SVG. Without Playwright or Chromium the HTML is still written.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnpanel.errors import RnnpanelError

log = logging.getLogger(__name__)

FORMATS = (".html", ".png", ".svg")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Every root view drawn on an SVG canvas, serialised (what bokeh.io.export_svg runs through Selenium).
_SVG_SCRIPT = """async () => {
  const doc = Bokeh.documents[0];
  if (!doc.is_idle) { await new Promise((done) => doc.idle.connect(done)); }
  return [...Bokeh.index].map((view) => view.export("svg").ctx.get_serialized_svg(true));
}"""


def save_figure(figure: Any, out: str | Path, *, title: str = "rnnpanel") -> list[Path]:
    """Write a HoloViews or Bokeh ``figure`` to ``out`` (.html, .png or .svg); returns the files written.

    PNG and SVG come with the HTML page they were drawn from (``out`` with ``.html``). A failed
    PNG/SVG (no Playwright or Chromium) is logged and the HTML kept.
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise RnnpanelError(f"a figure is written as {', '.join(FORMATS)}; got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    html = out.with_suffix(".html")
    _save_html(figure, html, title=title, svg=out.suffix.lower() == ".svg")
    written = [html]
    if out.suffix.lower() == ".html":
        return written
    try:
        if out.suffix.lower() == ".png":
            written.append(screenshot(html, out))
        else:
            written.append(svg_of(html, out))
    except Exception as exc:  # Playwright and Chromium come with the test extras; the HTML is always written
        log.warning("%s export failed (%s); the HTML figure %s was written", out.suffix, exc, html)
    return written


def _save_html(figure: Any, html: Path, *, title: str, svg: bool) -> None:
    """One self-contained page (Bokeh's scripts inline); drawn on SVG canvases when ``svg``."""
    from bokeh.embed import file_html
    from bokeh.model import Model
    from bokeh.resources import INLINE

    model = figure
    if not isinstance(figure, Model):       # a HoloViews object: render it with the Bokeh backend
        import holoviews as hv

        hv.extension("bokeh", logo=False)
        model = hv.render(figure, backend="bokeh")
    if svg:
        from bokeh.models import Plot

        for plot in model.select({"type": Plot}):
            plot.output_backend = "svg"
    html.write_text(file_html(model, INLINE, title), encoding="utf-8")


@contextmanager
def _drawn(html: str | Path, viewport: dict[str, int]) -> Iterator[Any]:
    """A Playwright page of Debian's headless Chromium showing the saved page ``html``."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            page.goto(Path(html).resolve().as_uri())
            yield page
        finally:
            browser.close()


def screenshot(html: Path, png: Path) -> Path:
    """A PNG of a saved Bokeh/HoloViews page, drawn by headless Chromium through Playwright."""
    with _drawn(html, {"width": 1000, "height": 560}) as page:
        page.wait_for_selector(".bk-Canvas, .bk-canvas, canvas", timeout=20_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(png), full_page=True)
    return png


def svg_of(html: str | Path, svg: str | Path) -> Path:
    """The SVG of a saved page whose plots draw on SVG canvases (one file; several roots are joined)."""
    with _drawn(html, {"width": 1200, "height": 800}) as page:
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=20_000)
        parts = page.evaluate(_SVG_SCRIPT)
    if not parts:
        raise RnnpanelError(f"{html} drew no SVG")
    Path(svg).write_text("\n".join(parts), encoding="utf-8")
    return Path(svg)
