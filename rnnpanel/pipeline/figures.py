"""Figures to files: a standalone HTML page always, and PNG or SVG drawn from it by headless Chromium.

Bokeh's own PNG/SVG export needs Selenium and a WebDriver; the project already drives Debian's
Chromium through Playwright (the test extras), so the page is saved once and the browser draws
it: a screenshot for PNG (:func:`screenshot`, also used by the scale benchmark), Bokeh's SVG
canvas serialised for SVG (:data:`SVG_JS`, which the app's SVG downloads run in the user's own
browser). Without Playwright or Chromium the HTML is still written.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnpanel.errors import RnnpanelError

log = logging.getLogger(__name__)

FORMATS = (".html", ".png", ".svg")
#: How every part of the project starts Debian's Chromium (headless, no network of its own).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Browser functions (plain JavaScript over BokehJS 3's view API) that turn drawn Bokeh plots into
#: one SVG document; shared by :func:`svg_of` (a saved page in headless Chromium) and the app's SVG
#: downloads (the user's own browser, so the server needs no browser). ``rnnpanelSvg(manager,
#: names, options)`` takes a document's view manager and the plot names to keep (``null``: every
#: plot), places the plots as they sit on the page, and returns the SVG text (``null`` when no such
#: plot is drawn). Each plot is Bokeh's own SVG export (``view.export("svg")``): text as ``<text>``,
#: glyphs as paths. A renderer named in ``options.raster`` holding more than ``options.rasterAbove``
#: rows (a map's point cloud) is drawn instead as one PNG of ``options.pixelRatio`` times the
#: screen's resolution, embedded where the glyphs would be, so axes, trajectory and labels stay
#: vector and a map of 50,000 points is a file of about 1 MB rather than 13 MB of paths.
SVG_JS = r"""
function rnnpanelPlots(manager, names) {
  const isPlot = (v) => typeof v.export === "function" && v.frame != null && v.renderer_views != null;
  const drawn = [...manager.query((v) => isPlot(v) && (names == null || names.includes(v.model.name)))]
    .filter((v) => v.el.isConnected && v.bbox.width > 0 && v.bbox.height > 0);
  const latest = new Map();   // one plot per name: a replaced figure may linger in the document
  drawn.forEach((v, i) => latest.set(names == null ? i : v.model.name, v));
  return [...latest.values()];
}

function rnnpanelRasterImage(view, rv, ratio) {
  const {x, y, width, height} = view.frame.bbox;
  const Layer = view.canvas_view.primary.constructor;   // BokehJS's CanvasLayer (not exported)
  const layer = new Layer("canvas", false);
  layer.resize(Math.ceil(view.bbox.width * ratio), Math.ceil(view.bbox.height * ratio));
  const ctx = layer.prepare();
  ctx.scale(ratio, ratio);
  ctx.beginPath();
  ctx.rect(x, y, width, height);
  ctx.clip();
  view.force_paint(() => rv.paint(ctx));
  layer.finish();
  const crop = document.createElement("canvas");
  crop.width = Math.round(width * ratio);
  crop.height = Math.round(height * ratio);
  crop.getContext("2d").drawImage(layer.canvas, Math.round(x * ratio), Math.round(y * ratio), crop.width,
                                  crop.height, 0, 0, crop.width, crop.height);
  const image = new Image();          // an <img> keeps its full resolution in Bokeh's SVG context
  image.width = crop.width;
  image.height = crop.height;
  image.src = crop.toDataURL("image/png");
  return image;
}

function rnnpanelPlotSvg(view, options) {
  const swapped = [];
  for (const rv of view.renderer_views.values()) {
    const source = rv.model.data_source;
    if (!options.raster.includes(rv.model.name) || !rv.model.visible || source == null ||
        !(source.get_length() > options.rasterAbove)) {
      continue;
    }
    const image = rnnpanelRasterImage(view, rv, options.pixelRatio);
    const {x, y, width, height} = view.frame.bbox;
    rv._paint = (ctx) => ctx.drawImage(image, x, y, width, height);
    swapped.push(rv);
  }
  try {
    return view.export("svg").ctx.get_serialized_svg(true);
  } finally {
    for (const rv of swapped) { delete rv._paint; }
  }
}

function rnnpanelSvg(manager, names, options = {}) {
  options = {raster: [], rasterAbove: 0, pixelRatio: 2, ...options};
  const views = rnnpanelPlots(manager, names);
  if (views.length == 0) { return null; }
  const boxes = views.map((v) => v.el.getBoundingClientRect());
  const left = Math.min(...boxes.map((b) => b.left)), top = Math.min(...boxes.map((b) => b.top));
  const width = Math.max(...views.map((v, i) => boxes[i].left - left + v.bbox.width));
  const height = Math.max(...views.map((v, i) => boxes[i].top - top + v.bbox.height));
  const parts = views.map((v, i) => rnnpanelPlotSvg(v, options)
    .replace(/^<svg /, `<svg x="${Math.round(boxes[i].left - left)}" y="${Math.round(boxes[i].top - top)}" `)
    .replace(/<image([^>]*?) href=/g, "<image$1 xlink:href="));   // SVG 1.1 readers (Inkscape 0.92) want xlink
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" ` +
         `width="${Math.ceil(width)}" height="${Math.ceil(height)}">` + parts.join("") + "</svg>";
}
"""


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
    _save_html(figure, html, title=title)
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


def _save_html(figure: Any, html: Path, *, title: str) -> None:
    """One self-contained page (Bokeh's scripts inline)."""
    from bokeh.embed import file_html
    from bokeh.model import Model
    from bokeh.resources import INLINE

    model = figure
    if not isinstance(figure, Model):       # a HoloViews object: render it with the Bokeh backend
        import holoviews as hv

        hv.extension("bokeh", logo=False)
        model = hv.render(figure, backend="bokeh")
    html.write_text(file_html(model, INLINE, title), encoding="utf-8")


def _own_thread(draw: Callable) -> Callable:
    """Runs ``draw`` in a thread of its own: Playwright's sync API refuses a thread where an asyncio
    loop runs (a notebook's kernel, a Panel server, another Playwright session)."""
    @functools.wraps(draw)
    def run(*args, **kwargs):
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(draw, *args, **kwargs).result()
    return run


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


@_own_thread
def screenshot(html: Path, png: Path) -> Path:
    """A PNG of a saved Bokeh/HoloViews page, drawn by headless Chromium through Playwright."""
    with _drawn(html, {"width": 1000, "height": 560}) as page:
        page.wait_for_selector(".bk-Canvas, .bk-canvas, canvas", timeout=20_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(png), full_page=True)
    return png


@_own_thread
def svg_of(html: str | Path, svg: str | Path, *, names: list[str] | None = None, raster: list[str] = (),
           raster_above: int = 0) -> Path:
    """One SVG of the plots of a saved page (``names``: only those; see :data:`SVG_JS`), laid out
    as drawn; renderers named in ``raster`` with more than ``raster_above`` rows embedded as PNG."""
    options = {"raster": list(raster), "rasterAbove": raster_above}
    with _drawn(html, {"width": 1200, "height": 800}) as page:
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=20_000)
        text = page.evaluate("async ([names, options]) => {" + SVG_JS + """
          const doc = Bokeh.documents[0];
          if (!doc.is_idle) { await new Promise((done) => doc.idle.connect(done)); }
          return rnnpanelSvg(doc.views_manager, names, options); }""", [names, options])
    if not text:
        raise RnnpanelError(f"{html} drew no plot to write as SVG")
    Path(svg).write_text(text, encoding="utf-8")
    return Path(svg)
