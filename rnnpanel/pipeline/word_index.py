"""Which states each word produced: an index built once per sample and shared by every session.

Word search and the words over-represented in a region only need each state's word as a small
integer code: matching a pattern tests each distinct word once, and counting a region's words is
one ``bincount``. Building the codes from the sample's words costs one hash pass (about half a
second for 2.6 million states); sorting the strings per query, as before, took seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnpanel.pipeline.sample import Sample


@dataclass(frozen=True)
class WordIndex:
    """``codes[i]`` is the position of state ``i``'s word in ``vocab``; ``counts[w]`` how many
    states word ``w`` produced; ``lowered`` the lower-cased vocabulary that search matches."""

    vocab: np.ndarray      # (W,) str, in order of first appearance
    lowered: np.ndarray    # (W,) str
    codes: np.ndarray      # (N,) int32
    counts: np.ndarray     # (W,) int64

    @classmethod
    def build(cls, words: np.ndarray) -> WordIndex:
        codes, vocab = pd.factorize(np.asarray(words, dtype=object), sort=False)
        vocab = np.asarray(vocab, dtype=str)
        codes = codes.astype(np.int32)
        for array in (vocab, codes):
            array.setflags(write=False)
        counts = np.bincount(codes, minlength=len(vocab))
        return cls(vocab=vocab, lowered=np.char.lower(vocab), codes=codes, counts=counts)

    def mask_of(self, hit: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: the states whose word is one of the ``hit`` ``(W,)`` bool words."""
        return hit[self.codes]

    def counts_in(self, mask: np.ndarray) -> np.ndarray:
        """``(W,)`` how many of the ``mask`` states each word produced."""
        return np.bincount(self.codes[mask], minlength=len(self.vocab))


def word_index(sample: Sample) -> WordIndex:
    """The sample's word index, built on first use and kept with the sample (every session shares it)."""
    return sample.derived("word_index", lambda: WordIndex.build(sample.words))
