"""The arithmetic of "what if" (docs/design.md, What if), apart from any model: which edited
sequences to read, which edit moves a prediction most toward another class, and which words the
flipping edits removed.

Sequences here are the token ids a model reads (its window, already cut); an edit removes
positions of that window. Everything is NumPy on small arrays; the model runs in
:mod:`rnnpanel.pipeline.importance`.
"""

from __future__ import annotations

import numpy as np


def removal_index(n: int) -> np.ndarray:
    """``(n, n - 1)`` positions: row ``t`` lists ``0 .. n - 1`` without ``t`` (the window with word
    ``t`` removed), so ``ids[removal_index(n)]`` is every one-word removal of ``ids`` at once."""
    if n < 2:
        return np.zeros((n, 0), dtype=np.int64)
    j = np.arange(n - 1)
    return j[None, :] + (j[None, :] >= np.arange(n)[:, None])


def repeated_positions(ids: np.ndarray) -> np.ndarray:
    """``(..., n)`` bool: the position repeats the word just before it. Removing either of two equal
    neighbours gives the same text, so a search tries only the first of each run."""
    ids = np.asarray(ids)
    repeated = np.zeros(ids.shape, dtype=bool)
    repeated[..., 1:] = ids[..., 1:] == ids[..., :-1]
    return repeated


def margin_toward_other(probs: np.ndarray, cls: np.ndarray | int) -> np.ndarray:
    """How far each row is from leaving class ``cls``: the largest probability of another class
    minus the probability of ``cls`` (``(..., C)`` → ``(...)``; above 0: another class wins).

    For two classes this is ``1 - 2 p(cls)``, so the most negative move of ``p(cls)`` wins; for
    more, the edit that brings the best other class closest to ``cls`` wins, whichever class it is.
    """
    probs = np.asarray(probs, dtype=np.float64)
    cls = np.broadcast_to(np.asarray(cls, dtype=np.int64), probs.shape[:-1])
    own = np.take_along_axis(probs, cls[..., None], axis=-1)[..., 0]
    others = probs.copy()
    np.put_along_axis(others, cls[..., None], -np.inf, axis=-1)
    return others.max(axis=-1) - own


def flip_words(removed_ids: list[np.ndarray], classes: np.ndarray, sequence_ids: list[np.ndarray],
               n_classes: int) -> list[dict[int, tuple[int, int]]]:
    """Per class, for every word a flipping edit removed: ``{token id: (flips, sequences)}``.

    ``removed_ids[s]`` are the tokens the edit that flipped sequence ``s`` removed (empty when it did
    not flip), ``classes[s]`` its class before the edit and ``sequence_ids[s]`` its tokens. ``flips``
    counts the sequences of that class whose flipping edit removed the word (once per sequence);
    ``sequences`` counts that class's sequences that hold the word at all, so ``flips / sequences`` is
    how often the word's removal takes part in flipping a prediction where it occurs.
    """
    result: list[dict[int, tuple[int, int]]] = []
    classes = np.asarray(classes, dtype=np.int64)
    for c in range(n_classes):
        rows = np.flatnonzero(classes == c)
        held = [np.unique(sequence_ids[s]) for s in rows]
        counted = np.concatenate(held) if held else np.zeros(0, dtype=np.int64)
        words, occurrences = np.unique(counted, return_counts=True)
        flipped = [np.unique(removed_ids[s]) for s in rows if len(removed_ids[s])]
        if not flipped:
            result.append({})
            continue
        ids, flips = np.unique(np.concatenate(flipped), return_counts=True)
        in_text = occurrences[np.searchsorted(words, ids)]
        result.append({int(i): (int(f), int(n)) for i, f, n in zip(ids, flips, in_text)})
    return result
