"""SVG downloads in the real app: the browser makes them from the plots it drew, and they are
SVG documents with the plots' text as text and glyphs as paths."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.ui.conftest import ARTIFACTS
from tests.ui.test_app_browser import COLUMN, select_first_row

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SVG = "{http://www.w3.org/2000/svg}"


def download(page, label: str, out: Path) -> ET.Element:
    """Click the export button ``label``; the file the browser saves, parsed as XML."""
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name=label).click()
    assert info.value.suggested_filename.endswith(".svg")
    info.value.save_as(out)
    return ET.parse(out).getroot()


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def look(browser, svg: Path, name: str) -> None:
    """The SVG opened on its own in Chromium (as a colleague would), kept as a PNG to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    pg.goto(svg.resolve().as_uri())
    pg.wait_for_timeout(300)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    pg.close()


def test_the_map_and_the_sequence_views_download_as_svg(page, browser, tmp_path):
    assert page.get_by_role("button", name="Sequence (SVG)").is_disabled()     # nothing shown yet
    length = select_first_row(page)
    words = page.evaluate(COLUMN, ["text_words", "word"])
    assert len(words) == length

    map_svg = download(page, "Map (SVG)", tmp_path / "map.svg")
    assert map_svg.tag == f"{SVG}svg" and float(map_svg.get("width")) > 300
    # the app's ~2,000 points are below the raster threshold: every state a path, the title as text
    assert len(list(map_svg.iter(f"{SVG}path"))) > 1000
    assert any(t.startswith("Projection") for t in texts(map_svg))

    seq_svg = download(page, "Sequence (SVG)", tmp_path / "sequence.svg")
    plots = seq_svg.findall(f"{SVG}svg")
    assert len(plots) == 3                                # text, heatmap, step distances, placed as drawn
    assert len({(p.get("x"), p.get("y")) for p in plots}) == 3
    shown = texts(seq_svg)
    assert all(w in shown for w in words)                 # the words are <text>, not pixels
    assert any("Step distance" in t for t in shown)
    assert page.page_errors == []
    look(browser, tmp_path / "map.svg", "svg-map")
    look(browser, tmp_path / "sequence.svg", "svg-sequence")
