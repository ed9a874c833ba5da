"""The map as SVG, drawn by Chromium with the code the app's SVG downloads run: a valid SVG document
whose text is text; a small map's points are paths, a large map's cloud one embedded PNG."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from rnnpanel.bench.browser import svg_of
from rnnpanel.bench.figures import _save_html
from rnnpanel.views.export import POINT_RENDERERS, SVG_RASTER_ABOVE, map_figure, svg_download_js
from tests.views.test_sequence_views import make_sample

SVG, XLINK = "{http://www.w3.org/2000/svg}", "{http://www.w3.org/1999/xlink}"
CHROMIUM = Path("/usr/bin/chromium")


def sample_of(n_states: int):
    sample = make_sample(2, lengths=[10] * (n_states // 10))
    xy = np.random.default_rng(1).standard_normal((sample.n_states, 2)).astype(np.float32)
    return dataclasses.replace(sample, xy=xy)


def map_svg(sample, tmp_path: Path) -> tuple[ET.Element, int]:
    html = tmp_path / "map.html"
    _save_html(map_figure(sample), html, title="map")
    out = svg_of(html, tmp_path / "map.svg", raster=POINT_RENDERERS, raster_above=SVG_RASTER_ABOVE)
    return ET.parse(out).getroot(), out.stat().st_size


def count(root: ET.Element, tag: str) -> int:
    return sum(1 for _ in root.iter(f"{SVG}{tag}"))


def test_the_download_code_names_its_plots_and_file():
    code = svg_download_js(("text_view", "heatmap"), "sequence.svg")
    assert 'rnnpanelSvg(button.document.views_manager, ["text_view", "heatmap"]' in code
    assert '"sequence.svg"' in code and f'"rasterAbove": {SVG_RASTER_ABOVE}' in code


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium draws the SVG")
def test_a_small_map_is_vector_and_a_large_one_embeds_its_point_cloud(tmp_path):
    small, _ = map_svg(sample_of(500), tmp_path)
    assert small.tag == f"{SVG}svg" and int(small.get("width")) > 500
    assert count(small, "path") >= 500                       # a path per point
    assert any(t.text and t.text.startswith("toy") for t in small.iter(f"{SVG}text"))   # the title as text
    images_small = count(small, "image")                     # the colour bar's gradient

    n = 4 * SVG_RASTER_ABOVE
    large, size = map_svg(sample_of(n), tmp_path)
    assert count(large, "path") < 100 and count(large, "image") == images_small + 1
    cloud = [im for im in large.iter(f"{SVG}image") if float(im.get("width")) > 300]
    assert len(cloud) == 1 and cloud[0].get(f"{XLINK}href").startswith("data:image/png;base64,")
    assert any(t.text and t.text.startswith("toy") for t in large.iter(f"{SVG}text"))
    assert size < 2_000_000                                  # as paths: about 270 bytes a point
