"""The model's configuration: everything needed to rebuild it and to feed it the way it was trained."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rnnpanel.errors import ModelError

CELLS = ("lstm", "gru", "rnn")
TRUNCATION_SIDES = ("first", "last")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and input window of a recurrent classifier.

    ``max_length`` and ``truncation`` are part of the model because extraction must cut texts
    exactly as training did: ``"last"`` keeps the final ``max_length`` tokens (the paper's choice
    for reviews), ``"first"`` keeps the opening ones (better for news topics).
    """

    cell: str
    vocab_size: int
    n_classes: int
    embedding_dim: int = 32
    hidden_size: int = 100
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.5
    max_length: int = 100
    truncation: str = "last"
    class_names: tuple[str, ...] = ()
    dataset: str = ""
    #: The head's layers when it is more than one nn.Linear (see rnnpanel.models.heads); () = nn.Linear.
    head_layers: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ModelError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.truncation not in TRUNCATION_SIDES:
            raise ModelError(
                f"unknown truncation {self.truncation!r}; choose one of {', '.join(TRUNCATION_SIDES)}"
            )
        for name in ("vocab_size", "n_classes", "embedding_dim", "hidden_size", "num_layers", "max_length"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ModelError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if self.n_classes < 2:
            raise ModelError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.class_names and len(self.class_names) != self.n_classes:
            raise ModelError(
                f"class_names has {len(self.class_names)} names but n_classes is {self.n_classes}"
            )
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "head_layers", tuple(dict(layer) for layer in self.head_layers))

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def state_size(self) -> int:
        """Width of one layer's output state (both directions concatenated)."""
        return self.hidden_size * self.num_directions

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["class_names"] = list(self.class_names)
        if self.head_layers:
            d["head_layers"] = [dict(layer) for layer in self.head_layers]
        else:  # absent from plain models' config.json, so their files (and content hashes) stay as they were
            del d["head_layers"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelError(f"model config has unknown keys {unknown}; is it from a newer rnnpanel?")
        missing = [k for k in ("cell", "vocab_size", "n_classes") if k not in d]
        if missing:
            raise ModelError(f"model config lacks required keys {missing}")
        return cls(**d)
