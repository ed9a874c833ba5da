"""Debian's headless Chromium, driven by Playwright: the SVG a page's plots make, for the tests and
benchmarks that check what a browser draws (the test extras install Playwright; nothing else needs it).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnpanel.errors import RnnpanelError
from rnnpanel.views.svg import SVG_JS

#: How every part of the project starts Debian's Chromium (headless, no network of its own).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
