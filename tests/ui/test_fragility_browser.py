"""The fragile column in a real browser: a real server over a small real entry without stored fragility;
the button computes it (in a child process), the column goes from pending to each sequence's
removals, and sorting by it in the page puts the sequences with no flip within the limit ("> 5")
after every number; its header filter keeps those flipped by at most a number of removals; the Flip
words tab lists each class's words."""

from __future__ import annotations

import pytest

from rnnpanel.app.fragility import COMPUTE
from rnnpanel.pipeline.importance import fragility as compute_fragility
from rnnpanel.store import StateStore
from rnnpanel.views.fragility import FRAGILE, PENDING, fragile_label
from tests.app.fragility_store import fragile_fresh, fragile_source  # noqa: F401 -- fixtures
from tests.ui.conftest import open_page, screenshot, served, wait_until
from tests.ui.test_app_browser import table_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE_SIZE = 12



def fragile_cells(pg) -> list[str]:
    return [c.strip() for c in pg.locator(f".tabulator-row [tabulator-field={FRAGILE}]").all_inner_texts()]


def sort_by_fragile(pg, expected: list[str]) -> None:
    """Click the column's title (not its filter): the page's rows become ``expected`` (Tabulator sorts
    ascending on the first click, descending on the second; the server sorts and sends the page)."""
    pg.locator(f".tabulator-col[tabulator-field={FRAGILE}] .tabulator-col-title").click()
    wait_until(lambda: fragile_cells(pg) == expected, timeout=30)


def test_computed_in_the_page_then_sorted_and_filtered_by_it(browser, fragile_fresh):  # noqa: F811
    entry = StateStore(fragile_fresh["store"]).entry(fragile_fresh["entry"])
    expected = compute_fragility(entry)                    # the library, in this process
    labels = sorted(fragile_label(float(v), expected.limit) for v in expected.removals)
    ordered = sorted(expected.removals.tolist())
    with served(fragile_fresh["store"]) as url:
        pages = open_page(browser, url, "points")
        pg = next(pages)
        table_rows(pg)
        assert set(fragile_cells(pg)) == {PENDING}                     # pending, never computed unasked
        pg.get_by_role("button", name=COMPUTE).first.click()
        pg.get_by_text("sequences flip;").wait_for(timeout=120_000)
        wait_until(lambda: PENDING not in fragile_cells(pg), timeout=30)

        sort_by_fragile(pg, [fragile_label(float(v), 5) for v in ordered[:PAGE_SIZE]])
        pg.set_viewport_size({"width": 1400, "height": 900})
        screenshot(pg, "fragile-column")
        assert labels[-1] == "> 5"
        sort_by_fragile(pg, [fragile_label(float(v), 5) for v in ordered[::-1][:PAGE_SIZE]])

        filter_box = pg.locator(f".tabulator-col[tabulator-field={FRAGILE}] input")
        filter_box.fill("1")
        filter_box.press("Enter")
        wait_until(lambda: set(fragile_cells(pg)) == {"1"}, timeout=30)

        pg.get_by_text("Flip words", exact=True).click()
        words = pg.locator("table.rp-flip-words")
        wait_until(lambda: words.count() == len(expected.flip_words), timeout=30)
        first = expected.flip_words[next(iter(expected.flip_words))][0]["word"]
        wait_until(lambda: first in words.first.inner_text(), timeout=30)   # the tab drawn, not only present
        screenshot(pg, "fragile-flip-words")
        assert pg.page_errors == []
        next(pages, None)
