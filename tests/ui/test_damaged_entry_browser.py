"""A damaged store entry in a real browser: a real server over a copy of the UI store holding two
entries, the first of them damaged, is a clear message and nothing more. The entry list marks the
damaged entry, choosing it shows the store's message naming the repair command, the page is on
the healthy entry and works (its map, a selected sequence), and no status says it is still
computing. The damage is written into a copy, never into the cached UI store."""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager

import pytest

from rnnpanel.app.damaged_entries import DAMAGED, MARK
from rnnpanel.pipeline.load import entry_label
from rnnpanel.store import StateStore
from tests.app.conftest import garble
from tests.ui.conftest import open_page, screenshot, served, wait_until
from tests.ui.test_app_browser import count, select_first_row

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPAIR = re.compile(r"rnnpanel store check --store \S+ --repair")
COMPUTING = re.compile(r"Starting a process|computing|Indexing", re.IGNORECASE)
SELECTED = "el => el.options[el.selectedIndex].text"
OPTIONS = "el => Array.from(el.options).map(o => o.text)"


@pytest.fixture
def two_entries(ui_store, tmp_path, request) -> dict:
    """A copy of the UI store with its binary entry (the first) damaged as ``request.param`` says and
    the multiclass one healthy: ``chunk``, its states' chunks garbage and its maps gone (opening it
    computes a map, in a child process, which finds the damage); ``metadata``, its ``zarr.json``
    deleted; ``units``, its states' chunks garbage but its map stored (it opens; the Units tab finds
    the damage)."""
    damage = request.param
    source = StateStore(ui_store["store"])
    root = tmp_path / "store"
    keep = (ui_store["binary"], ui_store["multiclass"])
    for key in keep:
        shutil.copytree(source.entry_path(key), root / "entries" / key)
    damaged = root / "entries" / ui_store["binary"]
    if damage == "metadata":
        (damaged / "zarr.json").unlink()
    else:
        garble(damaged / "layer_0" / "h")
        if damage == "chunk":
            shutil.rmtree(damaged / "projections")
            shutil.rmtree(damaged / "derived", ignore_errors=True)
    store = StateStore(root)
    yield {"store": root, "damage": damage, "damaged": ui_store["binary"], "healthy": ui_store["multiclass"],
           "healthy_label": entry_label(store.entry(ui_store["multiclass"])),
           "healthy_states": store.entry(ui_store["multiclass"]).attrs["n_states"]}
    DAMAGED.clear()



def entry_select(pg):
    select = pg.locator("select").first
    wait_until(lambda: select.count() == 1, timeout=30)           # the settings follow the first page
    return select


def notice(pg) -> str:
    box = pg.locator(".rp-damaged")
    return box.first.inner_text() if box.count() else ""


def assert_on_the_healthy_entry_and_working(pg, entries: dict) -> None:
    wait_until(lambda: entry_select(pg).evaluate(SELECTED) == entries["healthy_label"], timeout=60)
    wait_until(lambda: count(pg, "points") == entries["healthy_states"], timeout=60)
    length = select_first_row(pg)                                 # a sequence can be selected
    wait_until(lambda: count(pg, "trajectory_states") == length)


def assert_not_computing(pg) -> None:
    pg.wait_for_timeout(500)
    assert pg.get_by_text(COMPUTING).count() == 0


@pytest.mark.parametrize("two_entries", ["chunk", "metadata", "units"], indirect=True)
def test_a_damaged_entry_is_marked_with_its_message_and_the_page_shows_the_healthy_one(browser, two_entries):
    damaged, damage = two_entries["damaged"], two_entries["damage"]
    with served(two_entries["store"]) as url, contextmanager(open_page)(browser, url, "points") as pg:
        if damage == "units":                                     # it opens: its map is stored
            wait_until(lambda: count(pg, "points") > 0)
            select_first_row(pg)
            pg.get_by_text("Units", exact=True).click()           # its rows are read: the damage is found
            wait_until(lambda: pg.locator(".notyf__toast").count() > 0, timeout=60)
        options = entry_select(pg).evaluate(OPTIONS)
        marked = [o for o in options if o.startswith(MARK)]
        assert len(marked) == 1 and damaged[:8] in marked[0]     # the damaged entry is listed, marked
        assert_on_the_healthy_entry_and_working(pg, two_entries)
        if damage != "metadata":                                  # the page fell back from it: says why
            assert REPAIR.search(notice(pg)) and damaged in notice(pg)
        # chosen in the list: its message, and the page stays on the healthy entry
        toasts = pg.locator(".notyf__toast").count()
        entry_select(pg).select_option(label=marked[0])
        wait_until(lambda: REPAIR.search(notice(pg)), timeout=30)
        wait_until(lambda: pg.locator(".notyf__toast").count() > toasts, timeout=30)
        assert REPAIR.search(pg.locator(".notyf__toast").last.inner_text())
        wait_until(lambda: entry_select(pg).evaluate(SELECTED) == two_entries["healthy_label"])
        assert count(pg, "points") == two_entries["healthy_states"]
        assert pg.get_by_text("damaged entry in the list", exact=False).count() == 1
        assert_not_computing(pg)
        if damage == "chunk":
            screenshot(pg, "damaged-entry")
        # a fresh page of the same server: the mark, and the healthy entry at once
        with contextmanager(open_page)(browser, url, "points") as fresh:
            assert any(o.startswith(MARK) and damaged[:8] in o for o in entry_select(fresh).evaluate(OPTIONS))
            assert_on_the_healthy_entry_and_working(fresh, two_entries)
            assert_not_computing(fresh)
            assert fresh.page_errors == []
        assert pg.page_errors == []
