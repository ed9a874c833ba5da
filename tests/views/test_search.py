"""Word search: whole words, wildcards, several terms, case."""

from __future__ import annotations

import numpy as np

from rnnpanel.views.search import matching_states, search_terms

WORDS = np.array(["Good", "good", "goods", "bad", "badly", "film", "<b>", "a"], dtype=object)


def test_terms_split_on_commas_and_spaces_and_ignore_case():
    assert search_terms("  Good, bad*  film ") == ["good", "bad*", "film"]
    assert search_terms(" , ") == []


def test_a_plain_term_matches_whole_words_only_in_any_case():
    assert list(np.flatnonzero(matching_states(WORDS, "good"))) == [0, 1]


def test_wildcards_and_several_terms():
    assert list(np.flatnonzero(matching_states(WORDS, "bad*, film"))) == [3, 4, 5]
    assert list(np.flatnonzero(matching_states(WORDS, "go?d"))) == [0, 1]


def test_markup_is_just_a_word_and_an_empty_query_matches_nothing():
    assert list(np.flatnonzero(matching_states(WORDS, "<b>"))) == [6]
    assert not matching_states(WORDS, "").any()
    assert matching_states(np.array([], dtype=object), "good").shape == (0,)
