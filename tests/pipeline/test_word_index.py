"""The word index shared by word search and region words: the same answers as from the words."""

from __future__ import annotations

import numpy as np

from rnnpanel.pipeline.word_index import WordIndex, word_index
from rnnpanel.views.region import overrepresented_words
from rnnpanel.views.search import matching_states
from tests.views.test_sequence_views import make_sample


def test_codes_name_each_states_word_and_counts_add_up():
    words = np.array(["b", "A", "b", "c", "A", "b"], dtype=object)
    index = WordIndex.build(words)
    np.testing.assert_array_equal(index.vocab[index.codes], words.astype(str))
    assert list(index.lowered) == ["b", "a", "c"] and list(index.counts) == [3, 2, 1]
    mask = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    assert list(index.counts_in(mask)) == [1, 2, 0]


def test_search_and_region_words_through_the_index_equal_those_from_the_words():
    sample = make_sample(2, lengths=(5, 3, 7, 4))
    index = word_index(sample)
    assert word_index(sample) is index          # built once per sample
    for query in ("w1", "w1*, w3", "nothing"):
        np.testing.assert_array_equal(matching_states(index, query), matching_states(sample.words, query))
    mask = np.zeros(sample.n_states, dtype=bool)
    mask[[1, 2, 3, 8, 10]] = True
    a = overrepresented_words(index, mask, min_count=1)
    b = overrepresented_words(sample.words, mask, min_count=1)
    assert a.equals(b)
