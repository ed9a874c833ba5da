"""A placed map's refinement in a real browser: the placed map is served at once with its backend label and
the refinement's progress; when the separate refining process has stored the refined map, it replaces the
placed one in the open page (a notification, no reload) and the selected sequence stays shown.
Screenshot at 1400 x 900 in artifacts/."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rnnpanel.pipeline.project import project_states, requested_key
from rnnpanel.pipeline.refined_map import refined_key
from rnnpanel.store import StateStore, locks
from rnnpanel.store.atomic import LOCK_PREFIX
from rnnpanel.store.state_store import PROJECTIONS
from tests.ui.conftest import open_page, running_app, screenshot, small_store, wait_until  # noqa: F401
from tests.ui.test_app_browser import COLUMN, FIND, count, select_first_row

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIGURE_TITLE = "(name) => { " + FIND + " const f = find(name); return f ? f.title.text : null; }"


def shot(pg, name: str) -> None:
    screenshot(pg, name)


@pytest.fixture
def placed_store(small_store, tmp_path):  # noqa: F811 -- the fixture imported above
    """A copy of the small real store whose t-SNE map, the one the app opens, fits 100 of its states and
    places the rest: what a whole corpus's map is (fitted on a sample above 250,000 states)."""
    root = tmp_path / "store"
    shutil.copytree(small_store["store"], root, ignore=shutil.ignore_patterns("projections", "derived"))
    store = StateStore(root)
    states = store.entry(small_store["entry"]).states(layer=-1, kind="h")
    placed = project_states(states, method="tsne", backend="opentsne", max_fit=100,
                            params={"max_iter": 150, "perplexity": 10.0})
    arrays, attrs = store.read_projection(states.entry.key, placed.key)
    app_key = requested_key(states, method="tsne")
    store.write_projection(states.entry.key, app_key, arrays, attrs)
    return {"store": root, "entry": states.entry.key, "key": app_key, "n_states": int(attrs["n_states"])}


def test_the_refined_map_replaces_the_placed_one_in_the_open_page_keeping_the_sequence(browser, placed_store):
    store = StateStore(placed_store["store"])
    lock = store.entry_path(placed_store["entry"]) / PROJECTIONS / f"{LOCK_PREFIX}{refined_key(placed_store['key'])}"
    held = {"handle": locks.acquire(lock, wait=0)}   # as if another process were refining it: the page joins it
    locks.publish(held["handle"], fraction=0.42, message="iteration 12 of 150")

    def release() -> None:
        if held["handle"] is not None:
            locks.release(held.pop("handle"), lock, remove=True)
            held["handle"] = None

    server = running_app(placed_store["store"])
    try:
        pages = open_page(browser, next(server), "points")
        try:
            _placed_then_refined(next(pages), store, placed_store, release)
        finally:
            pages.close()
    finally:
        server.close()
        release()


def _placed_then_refined(page, store: StateStore, placed_store: dict, release) -> None:
    entry, key = placed_store["entry"], refined_key(placed_store["key"])
    title = page.evaluate(FIGURE_TITLE, "projection")
    assert "t-SNE · openTSNE, 100 fitted + placed · layer" in title and "refined" not in title
    status = page.locator(".refine-status")
    wait_until(lambda: "42%" in (status.inner_text() if status.count() else ""), timeout=30)
    assert "iteration 12 of 150" in status.inner_text()
    length = select_first_row(page)
    placed_xy = page.evaluate(COLUMN, ["trajectory_states", "x"])
    shot(page, "refined-map-placed-progress")
    release()       # the other process is gone without a map: the page starts the refinement in a process of its own
    notice = page.get_by_text("replaced the placed map", exact=False)
    wait_until(lambda: notice.count() > 0, timeout=120)
    wait_until(lambda: (page.evaluate(FIGURE_TITLE, "projection") or "").startswith(
        "Projection · t-SNE · openTSNE, 100 fitted + placed, refined"), timeout=30)
    assert store.has_projection(entry, key)
    # the same sequence is still shown, now at its refined positions
    wait_until(lambda: count(page, "text_words") == length, timeout=30)
    refined = store.read_projection(entry, key)[0]["embedding"]
    xs = page.evaluate(COLUMN, ["trajectory_states", "x"])
    assert len(xs) == length and xs != pytest.approx(placed_xy)
    assert np.isclose(np.asarray(xs)[:, None], refined[None, :, 0], atol=1e-4).any(axis=1).all()
    assert status.count() == 0 or status.inner_text().strip() == ""
    shot(page, "refined-map-swapped")
    assert not page.page_errors
