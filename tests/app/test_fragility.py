"""The fragile column and the Flip words tab of a session (docs/design.md, What if): the column holds
each sequence's removals-to-flip of the entry's stored fragility, "> 5" where none flips within the
limit; it is pending until computed, then filled keeping the user's selection, sort and filters;
it sorts and filters as numbers; the Flip words tab lists each class's words as the Fragility has them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rnnpanel.app import fragility_jobs
from rnnpanel.app.sequence_tabs import FLIP_WORDS, TABS
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.pipeline.importance import fragility as compute_fragility
from rnnpanel.store import StateStore
from rnnpanel.views.fragility import FRAGILE, fragile_label
from tests.app.fragility_store import fragile_computed, fragile_fresh, fragile_source  # noqa: F401 -- fixtures
from tests.ui.conftest import wait_until


def open_app(store: dict) -> RnnPanelApp:
    return RnnPanelApp(store_root=store["store"], entry=store["entry"], method="pca")


def column_by_id(app: RnnPanelApp) -> dict[int, float]:
    rows = app.tabs.table.value
    return dict(zip(rows["id"].astype(int), rows[FRAGILE].astype(float)))


def test_the_column_holds_each_sequences_removals_as_the_fragility_has_them(fragile_computed):  # noqa: F811
    app = open_app(fragile_computed)
    entry = StateStore(fragile_computed["store"]).entry(fragile_computed["entry"])
    here = compute_fragility(entry)                         # the library, in this process
    ids = entry.load("sequence_ids")
    column = column_by_id(app)
    assert len(column) == len(ids) == app.sample.n_sequences
    for s, sequence_id in enumerate(ids):
        assert column[int(sequence_id)] == here.removals[s]
    assert 0 < here.flipped.sum() < len(ids) and (here.removals == here.limit + 1).any()
    assert not app.tabs.fragility.computing and not app.tabs.fragility.controls[0].visible   # no button
    assert "sequences flip" in app.tabs.fragility.status.object


def test_it_sorts_with_no_flip_after_every_number_and_filters_by_at_most(fragile_computed):  # noqa: F811
    app = open_app(fragile_computed)
    table = app.tabs.table
    table.sorters = [{"field": FRAGILE, "dir": "asc"}]
    shown = table.current_view[FRAGILE].to_numpy()
    assert np.all(np.diff(shown) >= 0) and shown[-1] == 6
    labels = [fragile_label(v, 5) for v in shown]
    first_none = labels.index("> 5")
    assert set(labels[first_none:]) == {"> 5"} and all(label.isdigit() for label in labels[:first_none])
    table.sorters = [{"field": FRAGILE, "dir": "desc"}]
    assert fragile_label(table.current_view[FRAGILE].iloc[0], 5) == "> 5"
    removals = fragile_computed["fragility"].removals
    table.filters = [{"field": FRAGILE, "type": "<=", "value": "2"}]
    kept = table.current_view[FRAGILE].to_numpy()
    assert len(kept) == int((removals <= 2).sum()) > 0 and kept.max() <= 2
    assert app.tabs.order() == [int(i) for i in table.current_view.index]      # the arrow keys follow it


def flip_word_rows(html_text: str) -> dict[str, list[tuple[str, int, int]]]:
    """Per class, the (word, flips, sequences) rows of the Flip words tab, as shown."""
    out = {}
    for name, body in re.findall(r"data-class='([^']*)'.*?</tr>(.*?)</table>", html_text, flags=re.S):
        out[name] = [(w, int(f.replace(",", "")), int(n.replace(",", "")))
                     for w, f, n in re.findall(r"<tr><td>([^<]*)</td><td[^>]*>([\d,]+)</td><td[^>]*>([\d,]+)</td>",
                                               body)]
    return out


def test_the_flip_words_tab_lists_each_classs_words_as_the_fragility_table(fragile_computed):  # noqa: F811
    app = open_app(fragile_computed)
    assert TABS[2] == FLIP_WORDS and app.tabs.tabs.objects[2] is app.tabs.fragility.flip_words
    shown = flip_word_rows(app.tabs.fragility.flip_words[1].object)
    table = fragile_computed["fragility"].flip_words
    assert set(shown) == set(app.sample.class_names)
    for name in app.sample.class_names:
        expected = [(r["word"], r["flips"], r["sequences"]) for r in table[name][:10]]
        assert shown[name] == expected and expected


@pytest.mark.slow   # a spawned child imports torch: 5-20 s
def test_computed_on_request_pending_then_filled_keeping_selection_sort_and_filters(fragile_fresh):  # noqa: F811
    app = open_app(fragile_fresh)
    panel, table = app.tabs.fragility, app.tabs.table
    assert panel.fragility is None and not panel.computing            # never computed unasked
    assert table.value[FRAGILE].isna().all() and panel.controls[0].visible
    assert "Not computed" in panel.status.object
    table.sorters = [{"field": "length", "dir": "desc"}]
    table.filters = [{"field": "length", "type": ">=", "value": "3"}]
    app.sequence = int(table.current_view.index[2])
    selected = list(table.selection)
    order = app.tabs.order()

    panel.compute()
    assert panel.computing and fragility_jobs.running(app.tabs.states.entry)
    second = open_app(fragile_fresh)                                   # another session joins it
    assert second.tabs.fragility.computing
    wait_until(lambda: panel.fragility is not None and second.tabs.fragility.fragility is not None, timeout=120)
    assert not panel.computing and not fragility_jobs.running(app.tabs.states.entry)
    entry = StateStore(fragile_fresh["store"]).entry(fragile_fresh["entry"])
    expected = compute_fragility(entry).removals
    column = column_by_id(app)
    assert [column[int(i)] for i in entry.load("sequence_ids")] == expected.tolist()
    assert list(table.selection) == selected and app.tabs.order() == order      # kept
    assert table.sorters[0]["field"] == "length" and table.filters[0]["field"] == "length"
    assert fragility_jobs.is_stored(entry)                             # kept for every later session


@pytest.mark.slow   # a spawned child: 2-10 s
def test_a_computation_whose_child_dies_says_why_and_offers_the_button_again(fragile_fresh, monkeypatch,  # noqa: F811
                                                                           caplog):
    import rnnpanel.pipeline.importance as importance
    from tests.app.dying import die

    monkeypatch.setattr(importance, "_fragility_in_child", die)
    app = open_app(fragile_fresh)
    panel = app.tabs.fragility
    panel.compute()
    wait_until(lambda: not panel.computing, timeout=60)
    assert panel.fragility is None and "killed by SIGKILL" in panel.status.object
    assert panel.controls[0].visible and not panel.controls[0].disabled and not panel.progress.visible
    assert app.tabs.table.value[FRAGILE].isna().all()                  # still pending, not a wrong number
    assert any("Cannot compute fragility" in r.getMessage() for r in caplog.records)   # the notification
