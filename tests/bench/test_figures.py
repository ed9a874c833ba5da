"""Benchmark figures: one HoloViews object, HTML drawn by Bokeh, PNG and SVG by matplotlib, no browser."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rnnpanel.bench.figures import log_ticks, save_figure
from rnnpanel.bench.projection import benchmark_figure, plot_projection
from rnnpanel.errors import RnnpanelError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"


def records() -> list[dict]:
    runs = [{"record": "run", "backend": backend, "backend_used": used, "n": n, "dims": 100, "available": True,
             "seconds": base * n / 1000, "trustworthiness": 0.95, "knn_preservation": 0.4, "neighborhood_hit": 0.8}
            for backend, used, base in (("auto", "opentsne", 1.0), ("sklearn", "sklearn", 5.0)) for n in (1000, 5000)]
    unavailable = {"record": "run", "backend": "tsnecuda", "n": 1000, "available": False, "seconds": None}
    return [{"record": "machine", "cores": 2, "gpu": None}, {"record": "input"}, *runs, unavailable]


def scale_records() -> list[dict]:
    sizes = [(100_000, 6.0, 55.0), (300_000, 8.0, 200.0), (1_000_000, 17.0, 280.0)]
    out = [{"record": "machine"}, {"record": "input"}]
    for size, extract_s, project_s in sizes:
        out.append({"record": "extract", "size": str(size), "cluster": "one process", "n_states": size,
                    "wall_s": extract_s})
        out.append({"record": "project", "size": str(size), "cluster": "one process", "wall_s": project_s,
                    "end_to_end_s": extract_s + project_s})
    out.append({"record": "peer", "n_states": 200_000, "wall_s": 210.0})
    return out


def svg_texts(path: Path) -> list[str]:
    """The text of every ``<text>`` element: the SVG must parse as XML."""
    return ["".join(t.itertext()) for t in ET.parse(path).getroot().iter(f"{SVG_NS}text")]


def test_the_benchmark_figure_is_log_log_per_backend_with_the_metrics_beside_it():
    import holoviews as hv

    figure = benchmark_figure(records())
    timing, table = figure.values()
    assert isinstance(table, hv.Table) and len(table) == 4
    labels = {curve.label for curve in timing.values()}
    assert labels == {"auto (opentsne)", "sklearn"}
    plot = hv.render(figure, backend="bokeh")
    timing_plot = plot.children[0][0] if hasattr(plot, "children") else plot
    assert type(timing_plot.x_scale).__name__ == "LogScale" and type(timing_plot.y_scale).__name__ == "LogScale"


def test_the_matplotlib_figure_has_what_the_bokeh_one_has():
    import holoviews as hv

    fig = hv.render(benchmark_figure(records()), backend="matplotlib")
    timing, table = fig.axes
    assert (timing.get_xscale(), timing.get_yscale()) == ("log", "log")
    assert timing.get_title() == "projection seconds · 2 cores, no GPU"
    assert (timing.get_xlabel(), timing.get_ylabel()) == ("states", "seconds")
    assert [t.get_text() for t in timing.get_legend().get_texts()] == ["auto (opentsne)", "sklearn"]
    assert [t.get_text() for t in timing.get_xticklabels()] == ["1000", "5000"]
    assert [t.get_text() for t in timing.get_yticklabels()] == ["1", "2", "5", "10", "20"]
    assert timing.xaxis.get_gridlines()[0].get_visible()
    assert table.get_title() == "quality of the maps (k nearest neighbours)"


def test_html_is_bokeh(tmp_path):
    assert plot_projection(records(), tmp_path / "b.html") == [tmp_path / "b.html"]
    text = (tmp_path / "b.html").read_text()
    assert "Bokeh" in text and "rnnpanel bench projection" in text
    assert not (tmp_path / "b.png").exists()


def test_png_is_drawn_by_matplotlib_with_the_html_beside_it(tmp_path):
    assert plot_projection(records(), tmp_path / "b.png") == [tmp_path / "b.html", tmp_path / "b.png"]
    png = (tmp_path / "b.png").read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 20_000
    assert "Bokeh" in (tmp_path / "b.html").read_text()


def test_svg_is_valid_xml_with_its_text_as_text(tmp_path):
    svg = plot_projection(records(), tmp_path / "b.svg")[-1]
    assert svg == tmp_path / "b.svg"
    texts = svg_texts(svg)
    for label in ("states", "seconds", "auto (opentsne)", "sklearn", "projection seconds · 2 cores, no GPU",
                  "quality of the maps (k nearest neighbours)", "kNN pres."):
        assert label in texts
    assert "<dc:date>" not in svg.read_text()   # the same data give the same file


def test_unknown_suffixes_and_bokeh_models_as_images_are_refused(tmp_path):
    from bokeh.plotting import figure

    with pytest.raises(RnnpanelError, match=r"\.html, \.png, \.svg: got 'b\.pdf'"):
        save_figure(benchmark_figure(records()), tmp_path / "b.pdf")
    with pytest.raises(RnnpanelError, match="Bokeh figure is written as .html only"):
        save_figure(figure(), tmp_path / "b.png")
    assert list(tmp_path.iterdir()) == []
    assert save_figure(figure(), tmp_path / "b.HTML") == [tmp_path / "b.html"]


def test_the_scale_figure_is_html_and_png_log_log_with_the_peer_drawn_larger(tmp_path):
    import holoviews as hv

    from rnnpanel.bench import figures
    from rnnpanel.bench import scale as scale_bench

    written = scale_bench.plot(scale_records(), tmp_path / "scale")
    assert written == [tmp_path / "scale.html", tmp_path / "scale.png"]
    assert (tmp_path / "scale.png").read_bytes()[:8] == PNG_MAGIC

    drawn = {}
    real_save = figures.save_figure
    figures.save_figure = lambda figure, out, **kw: drawn.setdefault("figure", figure) and []
    try:
        scale_bench.plot(scale_records(), tmp_path / "again")
    finally:
        figures.save_figure = real_save
    fig = hv.render(drawn["figure"], backend="matplotlib")
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100.0k", "300.0k", "1.0m"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "extraction · one process" and legend[-1] == "peer: openTSNE defaults, 200,000 states"
    sizes = [c.get_sizes()[0] for c in ax.collections]
    assert sizes[-1] > 2 * sizes[0]        # the peer keeps its own marker size


def test_log_ticks_cover_the_padded_data_only():
    assert log_ticks([1.0, 25.0]) == [1.0, 2.0, 5.0, 10.0, 20.0]
    assert log_ticks([0.03, 0.4], padding=0) == [0.05, 0.1, 0.2]
    assert log_ticks([3.0]) is None and log_ticks([]) is None


CHILD = """
import sys
sys.modules["playwright"] = None          # any attempt to import Playwright fails
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_figures import records
from rnnpanel.bench.projection import plot_projection

for name in ("b.png", "b.svg"):
    print(*plot_projection(records(), Path({out!r}) / name))
print("playwright imported:", any(m.startswith("playwright.") for m in sys.modules))
"""


def test_png_and_svg_need_no_browser(tmp_path):
    """A plain install has neither Playwright nor Chromium: the child can import neither."""
    empty = tmp_path / "bin"
    empty.mkdir()
    script = textwrap.dedent(CHILD).format(tests=str(Path(__file__).parent), out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": str(empty)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("playwright imported: False")
    assert (tmp_path / "b.png").read_bytes()[:8] == PNG_MAGIC
    assert "seconds" in svg_texts(tmp_path / "b.svg")


def test_importing_the_module_leaves_matplotlib_alone():
    """matplotlib (and with it pyplot's backend) is imported only when a figure is drawn."""
    script = "import sys, rnnpanel.bench.figures, rnnpanel.bench.projection; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_saving_leaves_matplotlibs_settings_and_interactive_mode_as_they_were(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    figure = benchmark_figure(records())
    before, backend = dict(matplotlib.rcParams), matplotlib.get_backend()
    plt.ion()
    try:
        save_figure(figure, tmp_path / "b.svg")
        assert matplotlib.is_interactive()
    finally:
        plt.ioff()
    assert dict(matplotlib.rcParams) == {**before, "interactive": False} and matplotlib.get_backend() == backend
    assert plt.get_fignums() == []       # HoloViews' figures are closed, none left in pyplot
