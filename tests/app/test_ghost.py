"""The ghost of an edit (docs/design.md, What if, "Ghosts of edits"), driven as the browser drives the
session: "Edit this text", clicks on words (through the click relay's source), Esc, new selections and
maps. On the small real store of the session tests (a tiny model trained in the test, a real
extract), so these run in the quick suite."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.app.ghost import Ghost
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.app.shown import Shown
from rnnpanel.views.ghost import aligned_steps, change_columns
from rnnpanel.views.sequence import text_layout
from tests.ui.conftest import wait_until


def make_app(small_store) -> RnnPanelApp:
    return RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"], method="pca")


def click_word(app: RnnPanelApp, t: int, replacement: str = "") -> None:
    """A click (or, with ``replacement``, a double-click) on word ``t`` as the browser reports it."""
    n = app.word_clicks.source.data["n"]
    app.word_clicks.source.data = {"t": [t], "word": [replacement], "n": [(n[0] if len(n) else 0) + 1]}


def renderer_names(fig) -> set[str]:
    return {r.name for r in fig.renderers} | {r.name for r in fig.center}


def longest(app: RnnPanelApp) -> int:
    return int(np.argmax(np.diff(app.sample.offsets)))


def test_removed_and_replaced_words_are_aligned_and_marked():
    before = ["a", "great", "film", "but", "dull"]
    after = ["a", "film", "but", "fine"]                # 'great' removed, 'dull' replaced by 'fine'
    x, w = aligned_steps(before, after)
    assert list(x[[0, 2, 3]]) == [0, 1, 2] and list(w[[0, 2, 3]]) == [1, 1, 1]    # kept words keep columns
    assert 0 - 0.5 < x[1] < 1 - 0.5 + 0.5 and w[1] < 1                         # removed: a narrow column in the gap
    assert x[4] == 3 and w[4] == 1                                               # replaced: the new word's column
    marks, removed, new = change_columns(before, after)
    assert removed == ["great", "dull"] and new == 1
    wx, wy, ww = text_layout(after)
    # one underline under 'fine', one bar at the gap before 'film'
    assert sorted(np.round(marks["x"], 6)) == sorted(np.round([wx[3], wx[1] - ww[1] / 2], 6))
    # an inserted word is underlined, nothing removed
    marks, removed, new = change_columns(["a", "film"], ["a", "fine", "film"])
    assert removed == [] and new == 1 and list(marks["x"]) == [text_layout(["a", "fine", "film"])[0][1]]


def test_edit_this_text_then_a_click_on_a_word_leaves_the_stored_sequence_and_then_the_text_as_ghosts(small_store,
                                                                                                    caplog):
    app = make_app(small_store)
    s = longest(app)
    app.sequence = s
    stored = app.shown
    words = stored.words
    assert app.ghost is None and "ghost_segments" not in renderer_names(app.map.figure)
    app.edit_text()
    # the stored words are read as the live text; the stored sequence is the first ghost
    assert app.shown.live and app.shown.words == words and app.live_text == " ".join(words)
    assert app.live_input._box.value == app.live_text                           # the box shows the text
    assert app.ghost.shown is stored and app.ghost.label == f"sequence {int(app.sample.sequence_ids[s])}"
    ghosts, rows = app.ghosts, app.sample.sequence_slice(s)
    np.testing.assert_array_equal(ghosts.states.data["x"], app.sample.xy[rows, 0])
    np.testing.assert_array_equal(ghosts.segments.data["x1"], app.sample.xy[rows, 0][1:])
    assert ghosts.ends.data["text"] == ["", app.ghost.label] and "ghost_segments" in renderer_names(app.map.figure)
    assert len(ghosts.marks.data["x"]) == 0 and "Same words" in ghosts._note.text   # nothing changed yet
    # a click on a word removes it; what was shown (the copy of the stored text) is the ghost now
    t = next(i for i in range(1, len(words) - 1) if words.count(words[i]) == 1)     # a word said once
    live_before = app.shown
    click_word(app, t)
    assert app.shown.live and app.shown.words == words[:t] + words[t + 1:]
    assert app.ghost.shown is live_before and app.ghost.label == "before" and app.sequence == -1
    np.testing.assert_array_equal(ghosts.states.data["x"], live_before.sample.xy[:, 0])
    # one bar marks where the word was, the note names it; its heatmap and bar columns sit in that gap
    wx, _, ww = text_layout(app.shown.words)
    assert list(ghosts.marks.data["x"]) == [pytest.approx(wx[t] - ww[t] / 2)]
    assert words[t] in ghosts._note.text and ghosts._note.visible
    removed = np.asarray(ghosts.cells.data["word"]) == words[t]
    assert removed.sum() == app.sample.n_classes + 1
    assert all(t - 1 < x < t and w < 1 for x, w in zip(np.asarray(ghosts.cells.data["x"])[removed],
                                                       np.asarray(ghosts.cells.data["w"])[removed]))
    assert len(ghosts.bars.data["d"]) == len(words) - 1
    assert "ghost (before)" in app.views.heatmap_fig.title.text
    # a double-click replaces a word: the new one is underlined
    click_word(app, 0, "superb")
    assert app.shown.words[0] == "superb" and app.ghost.shown.words == words[:t] + words[t + 1:]
    wx, _, _ = text_layout(app.shown.words)
    assert wx[0] in list(ghosts.marks.data["x"])
    # a word the model does not know is said so; the text is read without it
    edited = app.shown.words
    click_word(app, 0, "zzqxv")
    assert app.shown.words == edited[1:] and "does not know zzqxv" in caplog.text
    # Clear ghost: every ghost source empty, the titles as before; the live text stays
    app.clear_ghost()
    assert app.ghost is None and app.shown.live
    for source in (ghosts.states, ghosts.segments, ghosts.ends, ghosts.labels, ghosts.cells, ghosts.bars, ghosts.marks):
        assert all(len(v) == 0 for v in source.data.values())
    assert not ghosts._note.visible and app.views.heatmap_fig.title.text.startswith("Class probability per word (")


def test_a_click_on_a_word_of_a_stored_sequence_starts_the_edit(small_store):
    app = make_app(small_store)
    s = longest(app)
    app.sequence = s
    stored = app.shown
    click_word(app, 2)
    assert app.sequence == -1 and app.shown.live and app.shown.words == stored.words[:2] + stored.words[3:]
    assert app.ghost.shown is stored and app.live_input._box.value == " ".join(app.shown.words)


def test_esc_and_a_new_selection_drop_the_ghost_and_a_plain_selection_sends_nothing_for_it(small_store):
    app = make_app(small_store)
    app.sequence = 2
    app.edit_text()
    click_word(app, 0)
    assert app.ghost is not None and app.shown.live
    app._keys.source.data = {"key": ["Escape"], "n": [1]}               # Esc clears the ghost with the text
    assert app.ghost is None and not app.shown.present
    app.sequence = 2
    app.edit_text()
    assert app.ghost is not None
    app.sequence = 3                                                    # another stored sequence: no ghost
    assert app.ghost is None and app.ghosts.states.data["x"] == []
    # without a ghost a selection changes none of the ghost's sources
    sources = (app.ghosts.states, app.ghosts.segments, app.ghosts.cells, app.ghosts.bars, app.ghosts.marks)
    before = [s.data for s in sources]
    app.sequence = 4
    assert all(s.data is d for s, d in zip(sources, before))


def test_any_shown_sequence_can_be_shown_as_the_ghost_with_its_label(small_store):
    app = make_app(small_store)
    other = Shown(app.sample, 5)
    app.sequence = 6
    app.show_ghost(other, "smallest flip")
    assert isinstance(app.ghost, Ghost) and app.ghost.label == "smallest flip"
    np.testing.assert_array_equal(app.ghosts.states.data["x"], app.sample.xy[app.sample.sequence_slice(5), 0])
    assert app.ghosts.ends.data["text"] == ["", "smallest flip"]
    assert "smallest flip" in app.views.distance_fig.title.text
    app.show_ghost(Shown(app.sample, 7), "another")                    # replaces the ghost
    assert len(app.ghosts.states.data["x"]) == app.sample.offsets[8] - app.sample.offsets[7]
    # the map shown again (a refined map swapped in) with the same sequence: the ghost stays
    app._show(app.sample)
    app.sequence = 6
    assert app.ghost is not None and app.ghost.label == "another" and app.ghost.shown.index == 7
    assert len(app.ghosts.states.data["x"]) == app.sample.offsets[8] - app.sample.offsets[7]
    app.sequence = 8                                                    # another sequence: the ghost goes
    assert app.ghost is None
    app.show_ghost(Shown(app.sample, 7), "another")
    app.clear_ghost()
    assert app.ghost is None and len(app.ghosts.states.data["x"]) == 0


def test_the_ghost_follows_to_another_map_of_the_entry(small_store):
    app = make_app(small_store)
    app.live_text = "great film"
    app.live_text = "great film and the plot"
    assert app.ghost.label == "before" and app.ghost.shown.words == ["great", "film"]
    app.state = "c"                                                     # loaded in a worker thread
    # the live ghost is read again and placed in the new map, the shown text is no edit of it
    wait_until(lambda: app.sample.state == "c" and app.ghosts.drawn and app.ghost.shown.sample.state == "c"
               and app.shown.live and app.shown.sample.state == "c", timeout=60)
    assert app.ghost.label == "before"
    assert app.ghost.shown.words == ["great", "film"]
    np.testing.assert_array_equal(app.ghosts.states.data["x"], app.ghost.shown.sample.xy[:, 0])
    # a stored ghost stays the same stored sequence on another map of its entry
    app.sequence = 2
    app.show_ghost(Shown(app.sample, 3), "stored")
    app.state = "h"
    n = app.sample.offsets[4] - app.sample.offsets[3]
    wait_until(lambda: app.sample.state == "h" and app.ghost is not None and app.ghost.shown.sample is app.sample
               and len(app.ghosts.states.data["x"]) == n, timeout=60)
    assert app.ghost.shown.index == 3 and app.ghost.label == "stored"
