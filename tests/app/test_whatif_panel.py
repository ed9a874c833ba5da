"""What if in the app, without a browser: the importance bars and word colours of the shown sequence are
``word_importance`` of exactly the window the model read (stored or live), a result for a sequence no
longer shown is dropped, and the flip search shows its removed words, the class after and the edited
text as the map's ghost, or says that no flip was found within the limit. On the small real store of
the session tests (a tiny LSTM trained in the test, its states extracted by the real pipeline) and on
a model brought from plain PyTorch through the adapter."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rnnpanel.app import model_worker, whatif_panel
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.pipeline.importance import entry_model, smallest_flip, word_importance
from rnnpanel.store import StateStore
from rnnpanel.views.importance import importance_colors
from tests.ui.conftest import (
    small_store,  # noqa: F401 -- the fixture, shared with the session tests
    wait_until,
)

LIVE_TEXT = "a truly great and moving film though the plot is far too dull"
TOLERANCE = 1e-6   # the model thread runs torch on one thread, this test on torch's default


def make_app(store: dict) -> RnnPanelApp:
    return RnnPanelApp(store_root=store["store"], entry=store["entry"], method="pca")


def settled(app: RnnPanelApp) -> None:
    """Wait until the model thread has answered for the shown sequence."""
    wait_until(lambda: not app.whatif.busy, timeout=60)


def stored_ids(app: RnnPanelApp, s: int) -> np.ndarray:
    entry = StateStore(app.store_root).entry(app.entry)
    offsets = entry.load("offsets")
    return entry.load("token_ids")[offsets[s]:offsets[s + 1]]


def model_of(app: RnnPanelApp):
    return entry_model(StateStore(app.store_root).entry(app.entry))


def bars(app: RnnPanelApp) -> np.ndarray:
    return np.asarray(app.views.importance.data["v"], dtype=np.float64)


@pytest.fixture
def app(small_store):  # noqa: F811 -- the fixture imported above
    return make_app(small_store)


def test_the_bars_are_the_word_importance_of_the_stored_window(app):
    app.sequence = 3
    settled(app)
    expected = word_importance(model_of(app), stored_ids(app, 3))
    shown_words = [str(w) for w in app.sample.words[app.sample.sequence_slice(3)]]
    assert app.whatif.importance.words == shown_words == list(app.views.importance.data["word"])
    np.testing.assert_allclose(bars(app), np.nan_to_num(expected.removal), atol=TOLERANCE)
    assert list(app.views.importance.data["t"]) == list(range(len(shown_words)))
    assert app.views.importance_figure.title.text.startswith("Removal: P(predicted class)")
    low, high = app.views.importance_range.start, app.views.importance_range.end
    assert low == -high and high >= np.abs(bars(app)).max()

    app.whatif.kind = "gradient_x_input"               # the other kind: drawn from the same result
    np.testing.assert_allclose(bars(app), expected.gradient_x_input, atol=TOLERANCE)
    assert app.views.importance_figure.title.text.startswith("Gradient × input")


def test_the_bars_of_a_live_text_are_its_word_importance(app):
    app.live_text = LIVE_TEXT
    assert app.shown.live
    settled(app)
    expected = word_importance(model_of(app), LIVE_TEXT)
    assert app.whatif.importance.words == expected.words == [str(w) for w in app.shown.sample.words]
    np.testing.assert_allclose(bars(app), np.nan_to_num(expected.removal), atol=TOLERANCE)


def test_no_sequence_no_bars_and_the_flip_button_says_why(app):
    app.sequence = 2
    settled(app)
    assert len(bars(app)) > 0
    app.sequence = -1
    assert len(bars(app)) == 0 and app.whatif.importance is None and not app.whatif.busy
    app.whatif.search_flip()
    assert app.whatif.flip is None and not app.whatif.busy


def test_colouring_words_by_importance_recolours_the_text_view(app):
    app.sequence = 5
    settled(app)
    colors = app.views.word_colors
    assert len(colors.data["color"]) == 0 and "EP after each word" in app.views.text_fig.title.text
    app.whatif.word_color = "importance"
    importance = app.whatif.importance
    n = len(importance.words)
    assert list(colors.data["color"]) == importance_colors(importance.removal, importance.class_names,
                                                           importance.predicted)
    assert len(set(colors.data["color"])) > 1
    # the boxes lie exactly on the text view's words
    for column in ("wx", "wy", "ww"):
        np.testing.assert_allclose(colors.data[column], app.views.states.data[column][:n])
    assert "removal importance" in app.views.text_fig.title.text
    app.whatif.kind = "gradient_x_input"
    assert list(colors.data["color"]) == importance_colors(importance.gradient_x_input, importance.class_names,
                                                           importance.predicted)
    assert "gradient × input importance" in app.views.text_fig.title.text
    app.sequence = 6                                   # a new sequence: its own colours once computed
    settled(app)
    assert len(colors.data["color"]) == len(app.whatif.importance.words) != 0
    assert app.whatif.importance.words != importance.words
    app.whatif.word_color = "ep"
    assert len(colors.data["color"]) == 0 and "EP after each word" in app.views.text_fig.title.text


def test_a_result_for_a_sequence_no_longer_shown_is_dropped(app, monkeypatch):
    applied = []
    app.whatif.param.watch(lambda e: applied.append(e.new) if e.new is not None else None, "importance")
    started, release = threading.Event(), threading.Event()
    real = whatif_panel.word_importance

    def held(loaded, ids):
        started.set()
        release.wait(30)              # sequence 1's computation is under way while the user moves on
        return real(loaded, ids)

    monkeypatch.setattr(whatif_panel, "word_importance", held)
    app.sequence = 1
    assert started.wait(30)
    app.sequence = 2                  # queued behind sequence 1's run
    app.sequence = 4                  # sequence 2's run is skipped before it starts
    release.set()
    settled(app)
    wait_until(lambda: applied, timeout=30)
    model_worker.submit(lambda: None).result(30)         # every run of the model thread is over
    assert [list(r.token_ids) for r in applied] == [list(stored_ids(app, 4))]
    np.testing.assert_allclose(bars(app), np.nan_to_num(word_importance(model_of(app), stored_ids(app, 4)).removal),
                               atol=TOLERANCE)


def a_sequence(app: RnnPanelApp, limit: int, *, flipped: bool) -> int:
    """A sequence the greedy search flips within ``limit`` words (or, ``flipped=False``, does not)."""
    loaded = model_of(app)
    found = [s for s in range(app.sample.n_sequences)
             if smallest_flip(loaded, stored_ids(app, s), limit=limit).flipped == flipped]
    assert found, "the small model should have sequences of both kinds"
    return found[0]


def test_the_flip_shows_its_removed_words_class_and_ghost(app):
    flips = a_sequence(app, 5, flipped=True)
    app.sequence = flips
    settled(app)
    app.whatif.search_flip()
    settled(app)
    expected = smallest_flip(model_of(app), stored_ids(app, flips), limit=5)
    flip = app.whatif.flip
    assert flip.flipped and flip.removed == expected.removed and flip.predicted_after == expected.predicted_after
    assert flip.predicted_after != flip.predicted
    html = app.whatif._result.object
    assert f"makes it <b>{flip.class_names[flip.predicted_after]}</b>" in html
    for p in flip.removed:
        assert f"<s>{flip.words[p]}</s>" in html
    assert len(app.views.removed.data["x0"]) == len(flip.removed)
    # the ghost is the edited text, read again by the model and placed in the map
    ghost = app.ghost
    assert ghost is not None and ghost.shown.live and "removed" in ghost.label
    assert [str(w) for w in ghost.shown.sample.words] == flip.words_after
    assert int(ghost.shown.sample.predictions[0]) == flip.predicted_after
    np.testing.assert_allclose(ghost.shown.sample.ep[-1], flip.probabilities_after, atol=1e-5)
    # another sequence: the flip, its marks and its ghost go
    app.sequence = (flips + 1) % app.sample.n_sequences
    assert app.whatif.flip is None and len(app.views.removed.data["x0"]) == 0 and app.ghost is None


def test_no_flip_within_the_limit_is_said_and_no_ghost_drawn(app):
    stays = a_sequence(app, 1, flipped=False)
    app.sequence = stays
    settled(app)
    app.whatif.limit = 1
    app.whatif.search_flip()
    settled(app)
    assert not app.whatif.flip.flipped
    assert "No flip within 1 removed word" in app.whatif._result.object
    assert app.ghost is None and len(app.views.removed.data["x0"]) == 0


def test_a_model_brought_from_plain_pytorch_explains_its_sequences(tmp_path):
    import rnnpanel
    from tests.explore.test_researcher_models import WORDS, BiGRU, built

    texts = ["w1 w2 w3 w4", "w5 w6", "w7 w8 w9 w1 w2", "w3 w3 w10"] * 5
    app = rnnpanel.explore(built(BiGRU), texts, [0, 1, 0, 1] * 5, class_names=["neg", "pos"], tokenizer=str.split,
                           vocab=[*WORDS[:-1], "PAD"], store=tmp_path / "store", method="pca", progress=False)
    app.sequence = 2
    settled(app)
    expected = word_importance(model_of(app), stored_ids(app, 2))
    assert app.whatif.importance.words == ["w7", "w8", "w9", "w1", "w2"]
    np.testing.assert_allclose(bars(app), expected.removal, atol=TOLERANCE)
    app.whatif.kind = "gradient_x_input"
    np.testing.assert_allclose(bars(app), expected.gradient_x_input, atol=TOLERANCE)


def test_an_edit_after_a_flip_keeps_the_edits_own_ghost(app):
    app.sequence = a_sequence(app, 5, flipped=True)
    settled(app)
    app.whatif.search_flip()
    settled(app)
    flip_ghost = app.ghost
    assert flip_ghost is not None and flip_ghost.label.startswith("flip:")
    app.live_text = LIVE_TEXT         # an edit: what was shown before it is the ghost now, not the flip
    settled(app)
    assert app.shown.live and app.ghost is not None and app.ghost is not flip_ghost
    assert not app.ghost.label.startswith("flip:")


def test_the_model_thread_runs_torch_on_one_thread_and_leaves_the_others_theirs():
    import torch

    here = torch.get_num_threads()
    assert model_worker.submit(torch.get_num_threads).result(30) == 1
    assert torch.get_num_threads() == here
    later = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert later == [here]            # a thread started afterwards begins with the process's default
