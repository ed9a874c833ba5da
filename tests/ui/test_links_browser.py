"""The view in the URL and the map's shape, in a real browser: a link opens its entry, projection,
sequence and search; selecting changes the URL; values the server cannot show are notifications;
the map keeps equal aspect in a wide and a tall window."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.ui.conftest import open_page, screenshot, wait_until
from tests.ui.test_app_browser import FIND, count, entry_attrs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ASPECT = "() => { " + FIND + """
  const fig = find('projection'); const v = Bokeh.documents[0].views_manager.find_one(fig);
  const f = v.frame.bbox;
  return [(fig.x_range.end - fig.x_range.start) / f.width, (fig.y_range.end - fig.y_range.start) / f.height,
          f.width, f.height]; }"""


def open_at(browser, url: str, viewport: dict | None = None):
    """The page at ``url`` (closed after the ``with`` block), once its map is drawn."""
    return contextmanager(open_page)(browser, url, "projection", viewport)


def test_a_link_shows_its_entry_sequence_and_search_and_the_url_follows_the_view(browser, server, ui_store):
    multi = ui_store["multiclass"]
    with open_at(browser, f"{server}?entry={multi}&sequence=3&search=the") as pg:
        n = entry_attrs(ui_store, "multiclass")["n_states"]
        wait_until(lambda: count(pg, "points") == n, timeout=60)
        wait_until(lambda: count(pg, "text_words") > 0)
        wait_until(lambda: count(pg, "search_marks") > 0, timeout=30)
        pg.mouse.click(20, 880)
        pg.keyboard.press("ArrowDown")
        query = lambda: pg.evaluate("() => window.location.search")     # noqa: E731 -- pushState, not a navigation
        wait_until(lambda: "sequence=" in query() and "sequence=3" not in query())
        assert f"entry={multi}" in query() and pg.page_errors == []


def test_link_values_the_server_cannot_show_are_notifications(browser, server, ui_store):
    with open_at(browser, f"{server}?entry=no-such-entry&sequence=99999&layer=7") as pg:
        wait_until(lambda: pg.locator(".notyf__toast").count() > 0, timeout=30)
        assert count(pg, "points") == entry_attrs(ui_store, "binary")["n_states"]
        screenshot(pg, "ui-bad-link")
        assert pg.page_errors == []


@pytest.mark.parametrize("viewport", [{"width": 1900, "height": 800}, {"width": 1100, "height": 1300}])
def test_the_map_keeps_equal_aspect_on_any_window(browser, server, viewport):
    with open_at(browser, server, viewport) as pg:
        def equal():
            x_per_px, y_per_px, _, _ = pg.evaluate(ASPECT)
            return abs(x_per_px / y_per_px - 1) < 0.01
        wait_until(equal, timeout=20)
        screenshot(pg, f"ui-aspect-{viewport['width']}x{viewport['height']}")
        assert pg.page_errors == []
