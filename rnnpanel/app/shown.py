"""Which sequence the per-sequence views show: one stored sequence of the map's sample, or the
live input's text (read by the model, never stored). Every component that draws, lists or exports
"the shown sequence" reads this one value, so stored and live sequences take the same path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnpanel.pipeline.live import LiveRead
from rnnpanel.pipeline.sample import Sample


@dataclass(frozen=True, eq=False)     # compared by identity: every new value is a change
class Shown:
    """Sequence ``index`` of ``sample``; a live sequence comes with its ``states`` ``(T, D)`` in the
    original space, since the store has none for it."""

    sample: Sample | None = None
    index: int = -1
    states: np.ndarray | None = None

    @classmethod
    def live_read(cls, read: LiveRead) -> Shown:
        return cls(read.sample, 0, read.states)

    def same_as(self, other: Shown) -> bool:
        """Whether ``other`` shows the same sequence (the arrays are compared by identity)."""
        return (self.sample is other.sample and self.index == other.index
                and self.states is other.states)

    def belongs_to(self, sample: Sample | None) -> bool:
        """Whether it can be drawn on the map of ``sample``: a live sequence is placed in the
        current map; a stored one must be of that sample (not of the map before)."""
        return self.live or self.sample is sample

    @property
    def live(self) -> bool:
        return self.states is not None

    @property
    def present(self) -> bool:
        """Whether there is a sequence to show."""
        return self.sample is not None and 0 <= self.index < self.sample.n_sequences

    @property
    def rows(self) -> slice:
        """The sequence's rows among its sample's states."""
        return self.sample.sequence_slice(self.index)

    @property
    def words(self) -> list[str]:
        """Its words as the model read them (the window's words)."""
        return [str(w) for w in self.sample.words[self.rows]]

    def text(self) -> str:
        """Its words joined with spaces: a text the model reads back to the same words
        (docs/design.md, What if), for live input to start edits from."""
        return " ".join(self.words)
