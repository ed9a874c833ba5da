"""What if in a real browser against a real server: a selected review gets its importance bars (the
numbers of ``word_importance`` for its stored window), hovering a bar highlights its word, the words can
be coloured by importance, and the flip search shows the removed words, the class after and the
edited text's ghost trajectory; a live text that no single removal flips says so. Screenshots at
1400 x 900 in artifacts/."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.pipeline.importance import entry_model, smallest_flip, word_importance
from rnnpanel.store import StateStore
from tests.ui.conftest import screenshot, wait_until
from tests.ui.test_app_browser import COLUMN, FIND, count, select_first_row, table_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIGURE_TITLE = "(name) => { " + FIND + " return find(name).title.text; }"
#: Screen position of the middle of bar ``i`` of the importance figure.
BAR_MIDDLE = "(i) => { " + FIND + """
  const fig = find('importance'), r = find('importance_bars');
  const v = Bokeh.documents[0].views_manager.find_one(fig);
  const rv = [...v.all_renderer_views].find(x => x.model === r);
  const d = r.data_source.data, rect = v.canvas_view.el.getBoundingClientRect();
  return [rect.left + rv.coordinates.x_scale.compute(d.t[i]),
          rect.top + rv.coordinates.y_scale.compute(d.v[i] / 2)]; }"""


def shot(pg, name: str) -> None:
    pg.evaluate("window.scrollTo(0, 0)")
    pg.mouse.move(5, 890)
    pg.wait_for_timeout(300)
    screenshot(pg, name, full_page=False)      # the window as a user sees it (1400 x 900)


def first_row_sequence(pg, ui_store) -> tuple[object, np.ndarray]:
    """The entry and the stored token ids of the table's first row (found by its id)."""
    entry = StateStore(ui_store["store"]).entry(ui_store["binary"])
    row_id = int(table_rows(pg).first.locator("[tabulator-field=id]").inner_text())
    s = int(np.flatnonzero(entry.load("sequence_ids") == row_id)[0])
    offsets = entry.load("offsets")
    return entry, entry.load("token_ids")[offsets[s]:offsets[s + 1]]


def test_importance_bars_word_colours_and_the_smallest_flip(page, ui_store):
    t = select_first_row(page)
    entry, ids = first_row_sequence(page, ui_store)
    loaded = entry_model(entry)
    expected = word_importance(loaded, ids)
    wait_until(lambda: count(page, "importance_bars") == t, timeout=60)
    np.testing.assert_allclose(page.evaluate(COLUMN, ["importance_bars", "v"]), expected.removal, atol=1e-5)
    assert page.evaluate(COLUMN, ["importance_bars", "word"]) == page.evaluate(COLUMN, ["text_words", "word"])
    assert page.evaluate(FIGURE_TITLE, "importance").startswith("Removal: P(predicted class)")
    # hovering the largest bar highlights its word in the text view and its state in the map
    k = int(np.argmax(np.abs(expected.removal)))
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.mouse.move(*page.evaluate(BAR_MIDDLE, k))
    wait_until(lambda: page.evaluate(COLUMN, ["text_hover", "t"]) == [k])
    assert count(page, "projection_hover") == 1
    # the words coloured by importance, then by gradient × input
    page.locator(".bk-btn", has_text="importance").last.click()
    wait_until(lambda: count(page, "text_importance") == t)
    assert "removal importance" in page.evaluate(FIGURE_TITLE, "text_view")
    shot(page, "importance-words-coloured")
    page.get_by_role("button", name="gradient × input").click()
    wait_until(lambda: page.evaluate(FIGURE_TITLE, "importance").startswith("Gradient × input"))
    np.testing.assert_allclose(page.evaluate(COLUMN, ["importance_bars", "v"]), expected.gradient_x_input,
                               atol=1e-5)
    shot(page, "importance-gradient-x-input")
    # the smallest flip: what the search finds, in the page and as the ghost in the map
    flip = smallest_flip(loaded, ids, limit=5)
    assert flip.flipped, "the first review of the test store flips within 5 removed words"
    page.get_by_role("button", name="Find the smallest flip").click()
    wait_until(lambda: page.get_by_text("makes it", exact=False).count() == 1, timeout=60)
    result = page.get_by_text("makes it", exact=False).inner_text()
    assert f"makes it {flip.class_names[flip.predicted_after]}" in result
    assert all(flip.words[p] in result for p in flip.removed)
    assert count(page, "text_removed") == len(flip.removed)
    wait_until(lambda: count(page, "ghost_states") == t - len(flip.removed), timeout=60)
    assert page.evaluate(COLUMN, ["ghost_ends", "text"])[-1].startswith("flip:")
    shot(page, "flip-found")
    assert page.page_errors == []


def test_a_live_text_that_one_removal_does_not_flip_says_so(page, ui_store):
    entry = StateStore(ui_store["store"]).entry(ui_store["binary"])
    loaded = entry_model(entry)
    words, offsets = entry.words(), entry.load("offsets")
    texts = (" ".join(words[offsets[s]:offsets[s + 1]]) for s in range(len(offsets) - 1))
    text = next(x for x in texts if len(x.split()) >= 8 and not smallest_flip(loaded, x, limit=1).flipped)
    page.locator("textarea").fill(text)
    n = len(text.split())
    wait_until(lambda: count(page, "importance_bars") == n, timeout=60)
    np.testing.assert_allclose(page.evaluate(COLUMN, ["importance_bars", "v"]),
                               word_importance(loaded, text).removal, atol=1e-5)
    limit = page.locator(".rp-flip-limit input")
    limit.fill("1")
    limit.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Find the smallest flip").click()
    wait_until(lambda: page.get_by_text("No flip within 1 removed word", exact=False).count() == 1, timeout=60)
    assert count(page, "text_removed") == 0
    shot(page, "flip-none-within-limit")
    assert page.page_errors == []
