"""The app in a real browser: every view, selection by table / map / keys, hover linking, colouring,
switching tasks, and text shown as data."""

from __future__ import annotations

import pytest

from rnnpanel.store import StateStore
from tests.ui.conftest import HOSTILE_LABELS, screenshot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Lookups take the newest model of a name: after switching entries the previous figures may linger
# in the page's document for a while before Bokeh drops them.
FIND = """const find = (name) => {
  const ms = [...Bokeh.documents[0]._all_models.values()].filter(m => m.name === name);
  return ms.length ? ms[ms.length - 1] : null; };"""
COUNT = "(name) => { " + FIND + """
  const r = find(name); if (!r) return -1;
  const d = r.data_source.data; const k = Object.keys(d)[0]; return d[k].length; }"""
COLUMN = "([name, col]) => { " + FIND + " return Array.from(find(name).data_source.data[col]); }"
SOURCE = "([name, col]) => { " + FIND + " return Array.from(find(name).data[col]); }"
SCREEN_XY = "([fig_name, renderer_name, i, xf, yf]) => { " + FIND + """
  const d = Bokeh.documents[0];
  const fig = find(fig_name), r = find(renderer_name);
  const v = d.views_manager.find_one(fig);
  const rv = [...v.all_renderer_views].find(x => x.model === r);
  const data = r.data_source.data;
  const rect = v.canvas_view.el.getBoundingClientRect();
  return [rect.left + rv.coordinates.x_scale.compute(data[xf][i]),
          rect.top + rv.coordinates.y_scale.compute(data[yf][i])]; }"""


def count(pg, name: str) -> int:
    return pg.evaluate(COUNT, name)


def entry_attrs(ui_store, which: str) -> dict:
    return StateStore(ui_store["store"]).entry(ui_store[which]).attrs


def table_rows(pg):
    """The sequence table's rows, once it is drawn (it follows the first page)."""
    rows = pg.locator(".tabulator-row")
    wait_until(lambda: rows.count() > 0, timeout=30)
    return rows


def select_first_row(pg) -> int:
    row = table_rows(pg).first
    length = int(row.locator("[tabulator-field=length]").inner_text())
    row.click()
    wait_until(lambda: count(pg, "text_words") == length)
    pg.evaluate("window.scrollTo(0, 0)")     # the click scrolled to the table: the views are above it
    return length


def switch_entry(pg, ui_store, which: str) -> None:
    from rnnpanel.pipeline.load import entry_label

    label = entry_label(StateStore(ui_store["store"]).entry(ui_store[which]))
    pg.locator("select").first.select_option(label=label)
    n = entry_attrs(ui_store, which)["n_states"]
    wait_until(lambda: count(pg, "points") == n, timeout=60)


def test_every_view_is_drawn_for_the_entry(page, ui_store):
    attrs = entry_attrs(ui_store, "binary")
    wait_until(lambda: count(page, "points") == attrs["n_states"])
    assert table_rows(page).count() > 0
    page.get_by_text("Dataset overview").click()
    c = len(attrs["class_names"])
    wait_until(lambda: count(page, "confusion_cells") == c * c)
    assert count(page, "class_bar_parts") >= c
    assert page.page_errors == []


def test_table_row_fills_every_sequence_view(page, ui_store):
    c = len(entry_attrs(ui_store, "binary")["class_names"])
    t = select_first_row(page)
    wait_until(lambda: count(page, "trajectory_states") == t)
    assert count(page, "text_words") == t
    assert count(page, "heatmap_cells") == c * t + t          # C × T cells plus the winner row
    assert count(page, "distance_bars") == t - 1
    assert count(page, "trajectory_segments") == t - 1
    assert count(page, "trajectory_ends") == 2
    screenshot(page, "ui-rotten_tomatoes")


def test_clicking_a_point_selects_its_sequence_and_esc_clears(page, ui_store):
    entry = StateStore(ui_store["store"]).entry(ui_store["binary"])
    offsets = entry.load("offsets")
    i = int(offsets[5]) + 1                                    # a state of the sixth sequence
    page.wait_for_timeout(500)
    x, y = page.evaluate(SCREEN_XY, ["projection", "points", i, "x", "y"])
    page.mouse.click(x, y)
    # the click may land on an overlapping point of another sequence: whichever was hit, the
    # selected sequence is one whose state lies under the cursor, drawn in full
    wait_until(lambda: count(page, "trajectory_states") > 0)
    n = count(page, "trajectory_states")
    assert n in set(int(b - a) for a, b in zip(offsets[:-1], offsets[1:]))
    under_cursor = [page.evaluate(SCREEN_XY, ["projection", "trajectory_states", k, "x", "y"]) for k in range(n)]
    assert min(((px - x) ** 2 + (py - y) ** 2) ** 0.5 for px, py in under_cursor) < 4.0
    assert count(page, "text_words") == n and count(page, "distance_bars") == n - 1
    page.keyboard.press("Escape")
    wait_until(lambda: count(page, "trajectory_states") == 0)
    assert count(page, "text_words") == 0 and count(page, "distance_bars") == 0


def test_arrow_keys_step_through_the_table(page):
    select_first_row(page)
    first = page.evaluate(COLUMN, ["text_words", "word"])
    page.mouse.click(5, 890)                                   # focus the page, away from widgets
    page.keyboard.press("ArrowDown")
    wait_until(lambda: page.evaluate(COLUMN, ["text_words", "word"]) != first)
    page.keyboard.press("ArrowUp")
    wait_until(lambda: page.evaluate(COLUMN, ["text_words", "word"]) == first)


def test_hovering_a_word_highlights_its_state_in_the_projection(page):
    t = select_first_row(page)
    k = min(3, t - 1)
    x, y = page.evaluate(SCREEN_XY, ["text_view", "text_words", k, "wx", "wy"])
    page.mouse.move(x, y)
    wait_until(lambda: page.evaluate(SOURCE, ["hover_state", "t"]) == [k])
    hx = page.evaluate(SOURCE, ["hover_state", "x"])
    assert hx == [pytest.approx(page.evaluate(COLUMN, ["trajectory_states", "x"])[k])]
    assert count(page, "projection_hover") == 1 and count(page, "heatmap_hover") == 1
    # hovering a distance bar moves the highlight to that bar's word
    bx, by = page.evaluate(SCREEN_XY, ["distances", "distance_bars", 0, "t", "d"])
    page.mouse.move(bx, by + 2)
    wait_until(lambda: page.evaluate(SOURCE, ["hover_state", "t"]) == [1])


def test_true_class_toggle_recolours_points(page):
    before = page.evaluate(COLUMN, ["points", "c"])
    page.get_by_text("true class", exact=True).click()
    wait_until(lambda: page.evaluate(COLUMN, ["points", "c"]) != before)
    after = page.evaluate(COLUMN, ["points", "c"])
    assert set(after) <= {0.0, 1.0}                           # binary true class: one end or the other


def test_switching_to_the_multiclass_entry(page, ui_store):
    switch_entry(page, ui_store, "multiclass")
    names = entry_attrs(ui_store, "multiclass")["class_names"]
    assert len(names) == 8
    t = select_first_row(page)
    assert count(page, "heatmap_cells") == 8 * t + t
    values = set(page.evaluate(COLUMN, ["points", "c"]))
    assert values <= set(float(i) for i in range(8)) and len(values) > 1
    screenshot(page, "ui-reuters_r8")


def test_choosing_the_cell_state_shows_its_own_projection(page, ui_store):
    attrs = entry_attrs(ui_store, "binary")
    title = "() => { " + FIND + " return find('projection').title.text; }"
    assert page.evaluate(title).endswith("layer 0 h")
    page.get_by_role("button", name="c", exact=True).click()
    wait_until(lambda: page.evaluate(title).endswith("layer 0 c"), timeout=90)   # projected on first use
    wait_until(lambda: count(page, "points") == attrs["n_states"])
    assert select_first_row(page) > 0
    assert page.page_errors == []


def test_typing_a_text_draws_its_trajectory_in_the_map(page):
    typed = "a truly great and moving film , though the plot is far too long"
    page.locator("textarea").fill(typed)
    wait_until(lambda: count(page, "trajectory_states") > 0, timeout=30)
    n = count(page, "trajectory_states")
    words = page.evaluate(COLUMN, ["text_words", "word"])
    assert len(words) == n and set(words) <= set(typed.split())
    assert count(page, "distance_bars") == n - 1
    assert page.get_by_text("known words", exact=False).count() == 1      # the header names the live input
    screenshot(page, "ui-live-input")
    page.mouse.click(5, 890)                                   # leave the text box, then Esc clears
    page.keyboard.press("Escape")
    wait_until(lambda: count(page, "trajectory_states") == 0)
    assert page.page_errors == []


def test_finding_a_word_rings_its_states_on_the_map(page, ui_store):
    from rnnpanel.pipeline.states import EntryStates

    states = EntryStates(StateStore(ui_store["store"]).entry(ui_store["binary"]).states())
    words = [str(w).lower() for w in states.sample().words]
    box = page.get_by_placeholder("e.g. good, bad*  (Enter)")
    box.fill("film")
    box.press("Enter")
    wait_until(lambda: count(page, "search_marks") == words.count("film"))
    assert words.count("film") > 0
    box.fill("")
    box.press("Enter")
    wait_until(lambda: count(page, "search_marks") == 0)


def test_units_and_neighbors_tabs_show_the_selected_sequence(page):
    t = select_first_row(page)
    page.get_by_text("Units", exact=True).click()
    units = "() => { " + FIND + " const s = find('units_src'); return s && s.data.image.length ? s.data.dw[0] : 0; }"
    wait_until(lambda: page.evaluate(units) == t, timeout=30)
    screenshot(page, "ui-units")
    page.get_by_text("Neighbours", exact=True).click()
    wait_until(lambda: page.get_by_text("Nearest 10 stored states", exact=False).count() == 1, timeout=30)
    screenshot(page, "ui-neighbours")
    assert page.page_errors == []


def test_a_box_drawn_on_the_map_selects_a_region(page):
    table_rows(page)
    page.locator("[title='Box Select']").first.click()
    box = page.evaluate("""() => { const d = Bokeh.documents[0];
      const v = d.views_manager.find_one(d.get_model_by_name('projection'));
      const f = v.frame.bbox, r = v.canvas_view.el.getBoundingClientRect();
      return [r.left + f.left, r.top + f.top, f.width, f.height]; }""")
    left, top, width, height = box
    page.mouse.move(left + 0.2 * width, top + 0.2 * height)
    page.mouse.down()
    page.mouse.move(left + 0.7 * width, top + 0.7 * height, steps=8)
    page.mouse.up()
    outline = (
        "() => { " + FIND + " const r = find('region_outline'); return r.visible ? r.data_source.data.xs.length : 0; }"
    )
    wait_until(lambda: page.evaluate(outline) == 1)
    page.get_by_text("Region", exact=True).click()
    wait_until(lambda: page.get_by_text("sequences in the region", exact=False).count() == 1)
    screenshot(page, "ui-region")
    page.get_by_role("button", name="Clear region").click()
    wait_until(lambda: page.evaluate(outline) == 0)
    assert page.page_errors == []


def test_text_and_class_names_are_shown_as_data(page, ui_store):
    switch_entry(page, ui_store, "hostile")
    select_first_row(page)
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__xss === undefined")
    words = page.evaluate(COLUMN, ["text_words", "word"])
    assert "<" in words or "script" in words
    screenshot(page, "ui-hostile-text")
    shown = sum(page.get_by_text(label, exact=True).count() for label in HOSTILE_LABELS)
    assert shown > 0                                          # class names appear literally in the table
    markup = page.locator("i:text-is('pos'), b:text-is('co')")
    where = [markup.nth(k).evaluate("e => e.parentElement.outerHTML.slice(0, 300)") for k in range(markup.count())]
    assert where == []
    assert page.page_errors == []
