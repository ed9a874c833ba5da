"""Ghosts of edits in a real browser: a stored review copied into the live input with "Edit this text",
a word removed by a click on it and another replaced by a double-click; the ghost's trajectory in the
map holds the previous trajectory's positions, the text view marks what changed, "Clear ghost"
removes it. Screenshots (1400 x 900 window, whole page) in artifacts/."""

from __future__ import annotations

import pytest

from tests.ui.conftest import screenshot, wait_until
from tests.ui.test_app_browser import COLUMN, FIND, SCREEN_XY, count, entry_attrs, select_first_row

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TITLE = "(name) => { " + FIND + " const r = find(name); return r ? r.text : null; }"
FIGURE_TITLE = "(name) => { " + FIND + " return find(name).title.text; }"


def trajectory(pg, renderer: str) -> list[float]:
    """The x and then the y of every state ``renderer`` draws."""
    return pg.evaluate(COLUMN, [renderer, "x"]) + pg.evaluate(COLUMN, [renderer, "y"])


def word_on_screen(pg, k: int) -> tuple[float, float]:
    return pg.evaluate(SCREEN_XY, ["text_view", "text_words", k, "wx", "wy"])


def test_an_edit_of_a_stored_review_leaves_its_ghost_and_clear_ghost_removes_it(page, ui_store):
    c = len(entry_attrs(ui_store, "binary")["class_names"])
    t = select_first_row(page)
    stored = trajectory(page, "trajectory_states")
    words = page.evaluate(COLUMN, ["text_words", "word"])
    assert count(page, "ghost_segments") == -1                 # no ghost: its glyphs are not even sent
    page.get_by_role("button", name="Edit this text").click()
    # the stored review's words are read as the live text; the stored trajectory is the ghost
    wait_until(lambda: count(page, "ghost_states") == t, timeout=30)
    wait_until(lambda: page.get_by_text("known words", exact=False).count() == 1)
    assert trajectory(page, "ghost_states") == pytest.approx(stored)
    assert page.evaluate(COLUMN, ["text_words", "word"]) == words
    assert page.locator("textarea").input_value() == " ".join(words)
    copy = trajectory(page, "trajectory_states")
    # a click on a word said once removes it; the text as it was is the ghost now
    k = next(i for i in range(1, t - 1) if words.count(words[i]) == 1)
    page.mouse.click(*word_on_screen(page, k))
    wait_until(lambda: count(page, "text_words") == t - 1, timeout=30)
    assert page.evaluate(COLUMN, ["text_words", "word"]) == words[:k] + words[k + 1:]
    wait_until(lambda: trajectory(page, "ghost_states") == pytest.approx(copy))
    assert count(page, "ghost_segments") == t - 1 and count(page, "ghost_ends") == 2
    assert page.evaluate(COLUMN, ["ghost_ends", "text"]) == ["", "before"]
    assert count(page, "ghost_heatmap_cells") == (c + 1) * t and count(page, "ghost_distance_bars") == t - 1
    # the text view marks where the word was and names it
    wait_until(lambda: count(page, "text_changes") == 1)
    assert words[k] in page.evaluate(TITLE, "text_change_note")
    assert "ghost (before)" in page.evaluate(FIGURE_TITLE, "heatmap")
    page.mouse.move(5, 890)
    screenshot(page, "ghost-removed-word")
    # a double-click asks for a word to put in its place
    page.once("dialog", lambda dialog: dialog.accept("superb"))
    page.mouse.dblclick(*word_on_screen(page, 0))
    wait_until(lambda: page.evaluate(COLUMN, ["text_words", "word"])[:1] == ["superb"], timeout=30)
    assert page.evaluate(COLUMN, ["text_words", "word"])[1:] == words[1:k] + words[k + 1:]
    wait_until(lambda: count(page, "text_changes") == 1 and count(page, "ghost_states") == t - 1)
    page.mouse.move(5, 890)
    screenshot(page, "ghost-replaced-word")
    # Clear ghost: the ghost goes, the edited text stays
    page.get_by_role("button", name="Clear ghost").click()
    wait_until(lambda: count(page, "ghost_segments") == 0 and count(page, "text_changes") == 0)
    assert count(page, "ghost_heatmap_cells") == 0 and count(page, "ghost_distance_bars") == 0
    assert count(page, "text_words") == t - 1
    assert page.page_errors == []
