"""Word search (SPEC §2, beyond the paper): which states were produced by a word or a pattern."""

from __future__ import annotations

import fnmatch
import re

import numpy as np

#: Terms are separated by commas or white space; ``*`` and ``?`` are wildcards.
_SPLIT = re.compile(r"[,\s]+")


def search_terms(query: str) -> list[str]:
    """The lower-cased terms of a query (``"good, bad*"`` → ``["good", "bad*"]``)."""
    return [t for t in _SPLIT.split(query.strip().lower()) if t]


def matching_states(words: np.ndarray, query: str) -> np.ndarray:
    """``(N,)`` bool: the states whose word matches any term of ``query`` (case-insensitive;
    a term with ``*`` or ``?`` is a wildcard pattern, otherwise the whole word must match).

    Each distinct word is tested once, so a million states cost one pass over the vocabulary."""
    terms = search_terms(query)
    if not terms or len(words) == 0:
        return np.zeros(len(words), dtype=bool)
    unique, inverse = np.unique(np.asarray(words, dtype=str), return_inverse=True)
    lowered = np.char.lower(unique)
    exact = [t for t in terms if not any(c in t for c in "*?[")]
    hit = np.isin(lowered, exact)
    for pattern in (t for t in terms if t not in exact):
        hit |= np.array([fnmatch.fnmatchcase(w, pattern) for w in lowered], dtype=bool)
    return hit[inverse.reshape(-1)]
