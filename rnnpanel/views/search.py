"""Word search (docs/design.md, Tools beyond the paper): which states were produced by a word or a pattern."""

from __future__ import annotations

import fnmatch
import re

import numpy as np

from rnnpanel.pipeline.word_index import WordIndex

#: Terms are separated by commas or white space; ``*`` and ``?`` are wildcards.
_SPLIT = re.compile(r"[,\s]+")


def search_terms(query: str) -> list[str]:
    """The lower-cased terms of a query (``"good, bad*"`` → ``["good", "bad*"]``)."""
    return [t for t in _SPLIT.split(query.strip().lower()) if t]


def matching_states(words: np.ndarray | WordIndex, query: str) -> np.ndarray:
    """``(N,)`` bool: the states whose word matches any term of ``query`` (case-insensitive;
    a term with ``*`` or ``?`` is a wildcard pattern, otherwise the whole word must match).

    Each distinct word is tested once; with the sample's shared :class:`WordIndex`
    (:func:`~rnnpanel.pipeline.word_index.word_index`) a query over millions of states is one pass
    over the vocabulary and one gather."""
    index = words if isinstance(words, WordIndex) else WordIndex.build(words)
    terms = search_terms(query)
    if not terms or len(index.codes) == 0:
        return np.zeros(len(index.codes), dtype=bool)
    exact = [t for t in terms if not any(c in t for c in "*?[")]
    hit = np.isin(index.lowered, exact)
    for pattern in (t for t in terms if t not in exact):
        hit |= np.array([fnmatch.fnmatchcase(w, pattern) for w in index.lowered], dtype=bool)
    return index.mask_of(hit)
