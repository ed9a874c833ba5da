"""Apps built ahead of their sessions (rnnpanel/app/ready_apps.py): the pool fills while the process
is idle and not while it is busy, a session takes an app only if the store still lists what it was
built with, and an app built ahead behaves in its session as one built for it (its tabs and
settings follow that session's first page, its keys and debounced tools use that session's loop)."""

from __future__ import annotations

import asyncio
import threading

import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc

from rnnpanel.app import ready_apps
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.errors import RnnpanelError
from tests.ui.conftest import wait_until


class Built:
    """A stand-in app: which build it was, and the store listing it was built for."""

    def __init__(self, n: int, listing: tuple) -> None:
        self.n, self.listing = n, listing


def counting_pool(size: int, listing: list, made: list | None = None) -> ready_apps.ReadyApps:
    made = [] if made is None else made

    def build():
        made.append(Built(len(made), tuple(listing)))
        return made[-1]

    return ready_apps.ReadyApps(build, fingerprint=lambda app: app.listing, size=size)


def run_loop_for(seconds: float, work) -> None:
    """Call ``work()`` on a new event loop, in a thread of its own as a server's loop runs (the test
    process may already run a loop in its main thread), and keep the loop running ``seconds``."""
    async def main():
        work()
        await asyncio.sleep(seconds)

    worker = threading.Thread(target=lambda: asyncio.run(main()))
    worker.start()
    worker.join()


def test_a_taken_app_is_replaced_while_the_process_is_idle(monkeypatch):
    monkeypatch.setattr(ready_apps, "QUIET_S", 0.0)
    listing = ["entry-a"]
    pool = counting_pool(3, listing)
    taken = []
    run_loop_for(1.5, lambda: taken.append(pool.take(("entry-a",))))
    assert taken == [None] and len(pool) == 3       # none ready at first; three built meanwhile
    app = pool.take(("entry-a",))
    assert isinstance(app, Built) and len(pool) == 2 and pool.given == 1


def test_nothing_is_built_while_the_process_is_busy(monkeypatch):
    monkeypatch.setattr(ready_apps, "QUIET_S", 0.0)
    pool = counting_pool(3, ["entry-a"])
    monkeypatch.setattr(pool, "_busy", lambda: 1.0)     # a burst of sessions on this process's cores
    run_loop_for(0.8, lambda: pool.take(("entry-a",)))
    assert len(pool) == 0


def test_apps_built_for_another_store_listing_are_not_given(monkeypatch):
    listing = ["entry-a"]
    pool = counting_pool(2, listing)
    pool.fill_now()
    listing.append("entry-b")                   # an entry added while serving
    assert pool.take(("entry-a", "entry-b")) is None and len(pool) == 0
    pool.fill_now()
    assert pool.take(("entry-a", "entry-b")).listing == ("entry-a", "entry-b")


def test_an_app_that_cannot_be_built_stops_the_filling_until_the_next_session(monkeypatch):
    monkeypatch.setattr(ready_apps, "QUIET_S", 0.0)
    calls = []
    pool = ready_apps.ReadyApps(lambda: calls.append(1), fingerprint=lambda app: (), size=3)
    run_loop_for(1.0, lambda: pool.take(()))
    assert len(calls) == 1 and len(pool) == 0


def test_the_number_of_ready_apps_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(ready_apps.SIZE_ENV, "0")
    assert ready_apps.pool_for("key-0", build=lambda: None, fingerprint=lambda app: ()) is None
    monkeypatch.setenv(ready_apps.SIZE_ENV, "5")
    assert ready_apps.pool_for("key-5", build=lambda: None, fingerprint=lambda app: ()).size == 5
    monkeypatch.setenv(ready_apps.SIZE_ENV, "many")
    with pytest.raises(RnnpanelError, match="whole number"):
        ready_apps.configured_size()


def test_an_app_built_ahead_waits_for_its_session_then_behaves_as_one_built_for_it(small_store, monkeypatch):
    """Built with no document (as the pool builds it), given to a served session's document: its
    first document holds what a fresh session's does, the tabs and settings follow that page, and
    the keys select sequences."""
    after_first_page = []
    monkeypatch.setattr(
        type(pn.state), "onload", lambda self, callback, threaded=False: after_first_page.append(callback)
    )
    monkeypatch.setattr(type(pn.state), "loaded", property(lambda self: False))

    def first_document(app: RnnPanelApp) -> tuple[Document, dict]:
        doc = Document()
        with set_curdoc(doc):
            doc.add_root(app.for_session().__panel__().get_root(doc))
        kinds = {}
        for model in doc.models:
            kinds[type(model).__name__] = kinds.get(type(model).__name__, 0) + 1
        return doc, kinds

    ahead = RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"], ahead=True)
    assert ahead.sample is not None and after_first_page == []     # nothing for a page yet
    doc, kinds = first_document(ahead)
    assert after_first_page                                          # now it waits for this page
    fresh_doc = Document()
    with set_curdoc(fresh_doc):
        fresh = RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"])
        fresh_doc.add_root(fresh.__panel__().get_root(fresh_doc))
    fresh_kinds = {}
    for model in fresh_doc.models:
        fresh_kinds[type(model).__name__] = fresh_kinds.get(type(model).__name__, 0) + 1
    assert kinds == fresh_kinds
    with set_curdoc(doc):
        for callback in after_first_page:
            callback()
        assert "DataTabulator" in {type(m).__name__ for m in doc.models}    # the tabs arrived
        ahead._keys.source.data = {"key": ["ArrowDown"], "n": [1]}      # as the page sends a key
        assert ahead.sequence == 0 and ahead.shown.present and ahead.shown.sample is ahead.sample


@pytest.mark.browser
def test_a_page_opened_after_another_gets_an_app_built_ahead_and_works(browser, server, ui_store):
    """On a real server: once a first page was opened and the process is idle, apps are ready; the
    next page takes one, and its map, keys and tabs (which follow its first page) all work."""
    from tests.ui.conftest import open_page
    from tests.ui.test_app_browser import COLUMN, count, entry_attrs, table_rows

    for first in open_page(browser, server, "points"):
        first.wait_for_timeout(100)

    def ready() -> int:
        return sum(len(pool) for pool in ready_apps._pools.values())

    def given() -> int:
        return sum(pool.given for pool in ready_apps._pools.values())

    wait_until(lambda: ready() > 0, timeout=60)
    before = given()
    for page in open_page(browser, server, "points"):
        assert given() == before + 1
        wait_until(lambda page=page: count(page, "points") == entry_attrs(ui_store, "binary")["n_states"])
        wait_until(lambda page=page: table_rows(page).count() > 0)           # the tabs arrived
        page.mouse.click(5, 890)                                             # focus the page
        page.keyboard.press("ArrowDown")
        wait_until(lambda page=page: len(page.evaluate(COLUMN, ["text_words", "word"]) or []) > 0)
        assert page.page_errors == []
