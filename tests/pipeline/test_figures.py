"""Benchmark figures: HoloViews to HTML, and PNG / SVG drawn from it by headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.figures import save_figure
from rnnpanel.pipeline.project_bench import plot_projection, projection_figure

CHROMIUM = Path("/usr/bin/chromium")


def records() -> list[dict]:
    runs = [{"record": "run", "backend": backend, "backend_used": used, "n": n, "dims": 100, "available": True,
             "seconds": base * n / 1000, "trustworthiness": 0.95, "knn_preservation": 0.4, "neighborhood_hit": 0.8}
            for backend, used, base in (("auto", "opentsne", 1.0), ("sklearn", "sklearn", 5.0)) for n in (1000, 5000)]
    unavailable = {"record": "run", "backend": "tsnecuda", "n": 1000, "available": False, "seconds": None}
    return [{"record": "machine", "cores": 2, "gpu": None}, {"record": "input"}, *runs, unavailable]


def test_the_projection_figure_is_log_log_per_backend_with_the_metrics_beside_it():
    import holoviews as hv

    figure = projection_figure(records())
    timing, table = figure.values()
    assert isinstance(table, hv.Table) and len(table) == 4
    labels = {curve.label for curve in timing.values()}
    assert labels == {"auto (opentsne)", "sklearn"}
    plot = hv.render(figure, backend="bokeh")
    timing_plot = plot.children[0][0] if hasattr(plot, "children") else plot
    assert type(timing_plot.x_scale).__name__ == "LogScale" and type(timing_plot.y_scale).__name__ == "LogScale"


def test_html_is_written_and_other_suffixes_refused(tmp_path):
    assert plot_projection(records(), tmp_path / "b.html") == [tmp_path / "b.html"]
    assert "Bokeh" in (tmp_path / "b.html").read_text()
    with pytest.raises(RnnpanelError, match="html"):
        save_figure(projection_figure(records()), tmp_path / "b.pdf")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is needed to draw PNG and SVG")
def test_png_and_svg_are_drawn_by_chromium(tmp_path):
    png = plot_projection(records(), tmp_path / "b.png")
    assert png[-1].suffix == ".png" and png[-1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plot_projection(records(), tmp_path / "b.svg")[-1]
    text = svg.read_text()
    assert svg.suffix == ".svg" and text.startswith("<svg") and text.count("<path") > 10 and "seconds" in text
