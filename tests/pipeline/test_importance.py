"""What if: word importance and the smallest flip are the model's own numbers (reruns of the edited
texts through the normal path agree), gradient × input agrees with finite differences, and the
batched fragility of a stored entry agrees with the one-text search."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from rnnpanel.compute.extraction import extract_states
from rnnpanel.compute.whatif import margin_toward_other, removal_index, repeated_positions
from rnnpanel.errors import DataError
from rnnpanel.models import load_model
from rnnpanel.models.encoding import encode_text
from rnnpanel.pipeline.importance import (
    fragility,
    gradient_x_input,
    read_text,
    sequence_fragility,
    smallest_flip,
    word_importance,
)
from tests.pipeline.conftest import synthetic_source


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Torch on one thread while these tiny models run (put back after): on a busy machine a second
    thread stalls every recurrent step, 20 ms a call instead of well under 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


MODELS = {"lstm-2-layers": dict(cell="lstm", layers=2), "bidirectional-gru": dict(cell="gru", layers=1,
                                                                                   bidirectional=True)}


def balanced(csv, model_dir):
    """The untrained model with its weights doubled and its head's bias moved so that it predicts each
    class for half the texts (untrained, it predicts one class for nearly all): flips of one to four
    words are then common. Saved back in place; returns it loaded."""
    from rnnpanel.models import save_model

    loaded = load_model(model_dir)
    sequences = [encode_text(t, loaded.vocab, loaded.config)[0] for t in texts_of(csv)]
    with torch.no_grad():
        for p in loaded.model.parameters():
            p.mul_(2)
        logp = np.log(extract_states(loaded.model, [s for s in sequences if s], device="cpu").probs)
        loaded.model.head.bias -= torch.as_tensor(np.median(logp, axis=0), dtype=torch.float32)
    save_model(model_dir, loaded.model, loaded.vocab)
    return load_model(model_dir)


@pytest.fixture(scope="module", params=list(MODELS))
def source(request, tmp_path_factory):
    """A CSV of random texts and a random model over their words (window: the first 64)."""
    folder = tmp_path_factory.mktemp("importance")
    csv, model_dir = synthetic_source(folder, n_texts=40, min_len=2, max_len=30, n_words=60, hidden=8,
                                      **MODELS[request.param])
    return csv, balanced(csv, model_dir)


def rerun(loaded, text: str) -> np.ndarray:
    """The class probabilities of ``text`` through the normal path, one text at a time (live input's)."""
    ids, _ = encode_text(text, loaded.vocab, loaded.config)
    return extract_states(loaded.model, [ids], device="cpu").probs[0].astype(np.float64)


def texts_of(csv) -> list[str]:
    return list(pd.read_csv(csv)["text"])


def test_removal_is_the_model_read_again_without_the_word(source):
    csv, loaded = source
    for text in texts_of(csv)[:4]:
        result = word_importance(loaded, text)
        whole = rerun(loaded, text)
        c = int(np.argmax(whole))
        assert result.predicted == c
        assert abs(result.probability - whole[c]) < 1e-5
        assert len(result.removal) == len(result.words) == len(text.split())
        for t in range(len(result.words)):
            edited = " ".join(w for i, w in enumerate(result.words) if i != t)
            assert abs(result.removal[t] - (whole[c] - rerun(loaded, edited)[c])) < 1e-5


def test_removal_of_a_long_text_read_from_the_shared_prefix_is_the_model_read_again(source):
    """A text long enough that a unidirectional model's removals start from the state before the
    removed word (:func:`read_removals`' blocks): still the edited texts read again, word by word."""
    csv, loaded = source
    wide = dataclasses.replace(loaded, config=dataclasses.replace(loaded.config, max_length=200))
    text = " ".join(" ".join(texts_of(csv)).split()[:120])
    result = word_importance(wide, text)
    whole = rerun(wide, text)
    c = result.predicted
    assert len(result.words) >= 100          # past the size where the blocks are used
    for t in range(0, len(result.words), 7):
        edited = " ".join(w for i, w in enumerate(result.words) if i != t)
        assert abs(result.removal[t] - (whole[c] - rerun(wide, edited)[c])) < 1e-5


@pytest.mark.parametrize("truncation", ["first", "last"])
def test_a_text_longer_than_the_window_loses_words_from_its_window(source, truncation):
    """The window is not refilled: the edited text is the window's words without the removed one."""
    csv, loaded = source
    config = dataclasses.replace(loaded.config, max_length=7, truncation=truncation)
    narrow = dataclasses.replace(loaded, config=config)
    text = " ".join(texts_of(csv)[0].split() + texts_of(csv)[1].split())
    words = text.split()
    assert len(words) > 7
    read = read_text(narrow, text)
    assert read.words == (words[:7] if truncation == "first" else words[-7:])
    assert read.n_cut == len(words) - 7
    result = word_importance(narrow, text)
    c = result.predicted
    for t in range(7):
        edited = " ".join(w for i, w in enumerate(read.words) if i != t)
        assert read_text(narrow, edited).ids.tolist() == np.delete(read.ids, t).tolist()
        assert abs(result.removal[t] - (result.probability - rerun(narrow, edited)[c])) < 1e-5


def test_gradient_x_input_is_the_derivative_of_scaling_each_embedding(source):
    """Finite differences in float64: d/de p_c(E with word t's embedding times 1 + e) at e = 0."""
    csv, loaded = source
    text = texts_of(csv)[2]
    result = word_importance(loaded, text)
    c = result.predicted
    model64 = copy.deepcopy(loaded.model).double().eval()
    ids = torch.as_tensor(result.token_ids)[None]
    lengths = torch.tensor([ids.shape[1]])
    with torch.no_grad():
        emb = model64.embedding(ids)

        def p(t: int, eps: float) -> float:
            scaled = emb.clone()
            scaled[0, t] *= 1 + eps
            return float(torch.softmax(model64.forward_embedded(scaled, lengths), -1)[0, c])

        eps = 1e-4
        expected = np.array([(p(t, eps) - p(t, -eps)) / (2 * eps) for t in range(ids.shape[1])])
    np.testing.assert_allclose(result.gradient_x_input, expected, rtol=1e-3, atol=1e-6)
    assert np.abs(expected).max() > 1e-4   # not trivially zero


def test_gradients_leave_the_model_as_it_was(source):
    csv, loaded = source
    model = copy.deepcopy(loaded.model).train()
    ids = read_text(loaded, texts_of(csv)[3]).ids
    first = gradient_x_input(model, ids, 0)
    assert model.training and all(p.grad is None for p in model.parameters())
    np.testing.assert_allclose(first, gradient_x_input(loaded.model, ids, 0), atol=1e-7)  # eval mode: no dropout


def flips_of(loaded, texts, limit):
    return [(text, smallest_flip(loaded, text, limit=limit)) for text in texts]


@pytest.fixture(params=["whole-windows", "shared-prefix"])
def reads(request, monkeypatch):
    """Removals read as whole edited windows (the default for few short windows) or from the shared
    prefix (the default for many or long ones), whatever the size."""
    import rnnpanel.pipeline.importance as importance

    if request.param == "shared-prefix":
        monkeypatch.setattr(importance, "PREFIX_WORK", 0)
        monkeypatch.setattr(importance, "PREFIX_FROM", 3)
    else:
        monkeypatch.setattr(importance, "PREFIX_FROM", 10**9)
    return request.param


def test_the_flip_really_flips_and_respects_the_limit(source, reads):
    csv, loaded = source
    found = flips_of(loaded, texts_of(csv)[:24], 4)
    flipped = [(text, f) for text, f in found if f.flipped]
    assert flipped, "no text of the sample flips within 4 removals"
    for text, flip in flipped:
        assert 1 <= len(flip.removed) <= 4 and len(set(flip.removed)) == len(flip.removed)
        assert flip.words_after == [w for i, w in enumerate(text.split()) if i not in flip.removed]
        again = rerun(loaded, flip.text_after)
        assert int(np.argmax(again)) == flip.predicted_after != flip.predicted
        np.testing.assert_allclose(again, flip.probabilities_after, atol=1e-5)
        assert int(np.argmax(rerun(loaded, text))) == flip.predicted
    for text, flip in flipped[:4]:  # one removal fewer never flips: each earlier step kept the class
        for k in range(len(flip.removed)):
            kept = [w for i, w in enumerate(text.split()) if i not in flip.removed[:k]]
            assert int(np.argmax(rerun(loaded, " ".join(kept)))) == flip.predicted
    deep = [(text, f) for text, f in flipped if len(f.removed) >= 2]
    assert deep, "no text of the sample needs two removals"
    text, flip = deep[0]
    short = smallest_flip(loaded, text, limit=len(flip.removed) - 1)
    assert not short.flipped and short.removed == flip.removed[:-1]
    assert short.predicted_after == flip.predicted


def test_no_flip_within_the_limit_and_one_word_texts(source):
    csv, loaded = source
    word = texts_of(csv)[0].split()[0]
    flip = smallest_flip(loaded, word, limit=5)
    assert not flip.flipped and flip.removed == [] and flip.text_after == word
    result = word_importance(loaded, word)
    assert np.isnan(result.removal).all() and result.gradient_x_input.shape == (1,)


def test_bad_input_is_a_data_error(source):
    _, loaded = source
    for text in ("", "   ", "nothing it knows"):
        with pytest.raises(DataError):
            word_importance(loaded, text)
    with pytest.raises(DataError, match="limit"):
        smallest_flip(loaded, "w1 w2", limit=0)
    with pytest.raises(DataError):
        word_importance(loaded, [0, 1])


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """An entry extracted by the real pipeline from a synthetic CSV, with its model saved."""
    from rnnpanel.pipeline.extract import extract_to_store

    folder = tmp_path_factory.mktemp("fragility")
    csv, model_dir = synthetic_source(folder, n_texts=80, min_len=1, max_len=14, n_words=40, hidden=8, layers=1)
    loaded = balanced(csv, model_dir)
    entry, _ = extract_to_store(model_dir, str(csv), n=50, store_root=folder / "store", progress=False,
                                text_column="text", label_column="label", device="cpu")
    return entry, loaded


def test_fragility_of_an_entry_agrees_with_the_one_text_search(stored, reads):
    entry, loaded = stored
    ticks = []
    result = fragility(entry, limit=3, progress=lambda done, total: ticks.append((done, total)))
    ids, offsets = entry.load("token_ids"), entry.load("offsets")
    assert ticks[-1] == (len(offsets) - 1, len(offsets) - 1)
    np.testing.assert_array_equal(result.predicted, entry.load("predictions"))
    for s in range(len(offsets) - 1):
        flip = smallest_flip(loaded, ids[offsets[s]:offsets[s + 1]], limit=3)
        assert result.flipped[s] == flip.flipped
        if flip.flipped:
            assert result.removals[s] == len(flip.removed)
            assert result.removed[s, :len(flip.removed)].tolist() == flip.removed
            assert result.predicted_after[s] == flip.predicted_after
        else:
            assert result.removals[s] == 4 and result.predicted_after[s] == result.predicted[s]
    assert 0 < result.flipped.sum() < len(offsets) - 1
    # the flip words: every word a flipping edit removed, counted once per sequence, by class before
    words = loaded.vocab.words
    for c, name in enumerate(loaded.config.class_names):
        counted: dict[str, int] = {}
        for s in np.flatnonzero(result.flipped & (result.predicted == c)):
            seq = ids[offsets[s]:offsets[s + 1]]
            for w in {words[seq[p]] for p in result.removed[s] if p >= 0}:
                counted[w] = counted.get(w, 0) + 1
        listed = [(row["word"], row["flips"]) for row in result.flip_words[name]]
        assert all(counted[w] == f for w, f in listed)
        assert [f for _, f in listed] == sorted(counted.values(), reverse=True)[:len(listed)]


def test_sequence_fragility_is_batched_across_lengths(stored):
    """The same answer whatever the batch: one group at a time or all groups at once."""
    import rnnpanel.pipeline.importance as importance

    entry, loaded = stored
    ids, offsets = entry.load("token_ids"), entry.load("offsets")
    whole = sequence_fragility(loaded.model, ids, offsets, limit=2)
    saved = importance.GROUP_BUDGET
    importance.GROUP_BUDGET = 1   # one sequence per batch
    try:
        single = sequence_fragility(loaded.model, ids, offsets, limit=2)
    finally:
        importance.GROUP_BUDGET = saved
    np.testing.assert_array_equal(whole.removals, single.removals)
    np.testing.assert_array_equal(whole.removed, single.removed)


def test_the_arithmetic():
    assert removal_index(3).tolist() == [[1, 2], [0, 2], [0, 1]]
    assert removal_index(1).shape == (1, 0)
    assert repeated_positions(np.array([4, 4, 5, 4, 4, 4])).tolist() == [False, True, False, False, True, True]
    probs = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(margin_toward_other(probs, 0), [-0.2, 0.3])
    np.testing.assert_allclose(margin_toward_other(probs, np.array([2, 2])), [0.3, -0.2])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("n", [5, 8, 9, 23])
def test_removals_read_from_the_shared_prefix_are_the_whole_edited_windows(cell, n, monkeypatch):
    """A unidirectional model's removals start from the state after the words before them: the same
    probabilities as reading every edited window from its start."""
    import rnnpanel.pipeline.importance as importance
    from rnnpanel.compute.whatif import removal_index
    from rnnpanel.models import ModelConfig
    from rnnpanel.models.io import build_classifier
    from rnnpanel.pipeline.importance import read_batch, read_removals, reading

    config = ModelConfig(cell=cell, vocab_size=50, n_classes=3, embedding_dim=6, hidden_size=7, num_layers=2)
    model = build_classifier(config, seed=1)
    ids = np.random.default_rng(n).integers(2, 50, size=(4, n))
    monkeypatch.setattr(importance, "PREFIX_WORK", 0)   # the blocks even for a few short windows
    with reading(model) as (runner, device):
        shared = read_removals(runner, device, ids)
        whole = read_batch(runner, device, ids[:, removal_index(n)].reshape(-1, n - 1)).reshape(4, n, 3)
    np.testing.assert_allclose(shared, whole, atol=1e-6)


@pytest.mark.slow   # a spawned child imports torch: 5-20 s
def test_a_server_computes_fragility_once_in_a_child_and_reads_it_from_the_store(stored, monkeypatch):
    import rnnpanel.pipeline.child_process as child_process
    from rnnpanel.pipeline.importance import stored_fragility

    entry, _ = stored
    reports = []
    first = stored_fragility(entry, limit=2, report=lambda fraction, message="": reports.append(fraction))
    assert reports and reports[-1] == 1.0
    here = fragility(entry, limit=2)
    for name in ("removals", "removed", "predicted", "predicted_after"):
        np.testing.assert_array_equal(getattr(first, name), getattr(here, name))
    assert first.flip_words == here.flip_words and first.limit == 2

    def no_child(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(child_process, "run_in_child", no_child)
    again = stored_fragility(entry, limit=2)
    np.testing.assert_array_equal(again.removals, first.removals)
