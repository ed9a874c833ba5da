"""What if on a model trained on real reviews (the UI tests' Rotten Tomatoes LSTM, trained in the
test session): each stored review's removal importance is the model reading that review again
without the word, and the smallest flip, read again, has the class it reports. The random models of
``test_importance.py`` cover the arithmetic on every cell type; this checks it where a user meets it."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.compute.extraction import extract_states
from rnnpanel.pipeline.importance import entry_model, smallest_flip, word_importance
from rnnpanel.store import StateStore
from tests.ui.conftest import ui_store  # noqa: F401 -- the session's fixture

pytestmark = pytest.mark.slow    # trains the UI store's models on a fresh machine


def rerun(model, ids) -> np.ndarray:
    """The class probabilities of the window ``ids`` through the normal extraction, alone."""
    return extract_states(model, [list(map(int, ids))], device="cpu").probs[0].astype(np.float64)


@pytest.fixture(scope="module")
def reviews(ui_store):  # noqa: F811 -- the fixture imported above
    entry = StateStore(ui_store["store"]).entry(ui_store["binary"])
    offsets, ids = entry.load("offsets"), entry.load("token_ids")
    windows = [ids[offsets[s]:offsets[s + 1]] for s in range(len(offsets) - 1)]
    return entry_model(entry), [w for w in windows if len(w) >= 8][:6]


def test_removal_importance_of_stored_reviews_is_the_model_reading_them_again(reviews):
    loaded, windows = reviews
    for ids in windows:
        result = word_importance(loaded, ids)
        whole = rerun(loaded.model, ids)
        c = int(np.argmax(whole))
        assert result.predicted == c and abs(result.probability - whole[c]) < 1e-5
        for t in range(len(ids)):
            assert abs(result.removal[t] - (whole[c] - rerun(loaded.model, np.delete(ids, t))[c])) < 1e-5


def test_the_smallest_flip_of_stored_reviews_flips_when_read_again(reviews):
    loaded, windows = reviews
    flipped = 0
    for ids in windows:
        flip = smallest_flip(loaded, ids, limit=5)
        if not flip.flipped:
            continue
        flipped += 1
        edited = np.delete(ids, flip.removed)
        assert int(np.argmax(rerun(loaded.model, edited))) == flip.predicted_after != flip.predicted
        for k in range(1, len(flip.removed)):     # greedy and smallest along its path: no shorter prefix flips
            shorter = np.delete(ids, flip.removed[:k])
            assert int(np.argmax(rerun(loaded.model, shorter))) == flip.predicted
    assert flipped, "no review flipped within 5 removals: the check above saw nothing"
