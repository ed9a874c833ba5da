"""Tokenisation, the vocabulary and the input window: how a text becomes the ids a model reads.

The vocabulary is saved next to the model's weights, so that extraction and live input later
turn text into exactly the ids the model was trained on.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnpanel.errors import DataError

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN)

VOCAB_FORMAT = "rnnpanel.vocabulary"
VOCAB_VERSION = 1

WINDOW_SIDES = ("first", "last")

# A word is a run of letters/digits, optionally joined by inner apostrophes ("don't", "o'neill");
# any other visible character is a token of its own, so markup such as "<b>" stays visible
# as "<", "b", ">" (the app escapes text; the tokenizer does not hide it).
_TOKEN_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def tokenize(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks, in reading order."""
    return _TOKEN_PATTERN.findall(text.translate(_APOSTROPHES).lower())


class Vocabulary:
    """A fixed mapping between tokens and ids; id 0 is padding and id 1 is reserved for unknowns.

    ``encode`` *drops* tokens it does not know instead of mapping them to ``UNK_ID``: the spec
    says unknown tokens produce no hidden states, so they never reach the model.
    """

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        if words[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
            raise DataError(
                f"a vocabulary must start with {list(SPECIAL_TOKENS)}, got {words[:2]}"
            )
        if not all(isinstance(w, str) for w in words):
            raise DataError("every vocabulary entry must be a string")
        index = {w: i for i, w in enumerate(words)}
        if len(index) != len(words):
            duplicates = sorted(w for w, n in Counter(words).items() if n > 1)
            raise DataError(f"the vocabulary lists some words twice: {duplicates[:5]}")
        #: Tokens by id (index = id). Treat as read-only: ids are positions in this list.
        self.words: list[str] = words
        self._index = index

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        min_freq: int = 2,
        max_size: int | None = 20000,
    ) -> Vocabulary:
        """Count tokens (of the training split only) and keep the frequent ones.

        Order is by descending frequency, ties alphabetical, so the same texts always give the
        same ids. ``max_size`` counts the two special tokens.
        """
        if int(min_freq) < 1:
            raise ValueError(f"min_freq must be a positive integer, got {min_freq!r}")
        if max_size is not None and int(max_size) <= len(SPECIAL_TOKENS):
            raise ValueError(
                f"max_size must be None or larger than {len(SPECIAL_TOKENS)}, got {max_size!r}"
            )
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        for special in SPECIAL_TOKENS:
            counts.pop(special, None)
        kept = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[: int(max_size) - len(SPECIAL_TOKENS)]
        if not kept:
            raise DataError(
                f"the vocabulary would be empty: no token occurs at least min_freq={min_freq} times "
                "in the training texts; lower min_freq or give more training texts"
            )
        return cls([*SPECIAL_TOKENS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of the known tokens, in order; unknown tokens are dropped."""
        index = self._index
        return [index[t] for t in tokens if t in index and index[t] > UNK_ID]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[i] for i in ids]

    def to_dict(self) -> dict:
        return {"format": VOCAB_FORMAT, "version": VOCAB_VERSION, "words": list(self.words)}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`; anything else is a :class:`DataError`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"vocabulary file {path} does not exist; save the model again") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(
                f"vocabulary file {path} is not readable JSON ({exc}); save the model again"
            ) from None
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT:
            raise DataError(
                f"{path} is not an rnnpanel vocabulary (no \"format\": \"{VOCAB_FORMAT}\"); "
                "save the model again"
            )
        if data.get("version") != VOCAB_VERSION:
            raise DataError(
                f"vocabulary file {path} has version {data.get('version')!r}, this rnnpanel reads "
                f"version {VOCAB_VERSION}; use a matching rnnpanel or save the model again"
            )
        words = data.get("words")
        if not isinstance(words, list):
            raise DataError(f"vocabulary file {path} has no list of words; save the model again")
        try:
            return cls(words)
        except DataError as exc:
            raise DataError(f"vocabulary file {path} is damaged: {exc}; save the model again") from None


def cut_window(ids: Sequence[int], max_length: int, side: str) -> tuple[list[int], int]:
    """Keep at most ``max_length`` ids from the ``"first"`` or ``"last"`` end.

    Returns the kept ids (a new list) and how many were cut, so the cut can be shown per sequence.
    """
    if side not in WINDOW_SIDES:
        raise ValueError(f"side must be one of {', '.join(WINDOW_SIDES)}, got {side!r}")
    if int(max_length) < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
    n_cut = max(len(ids) - int(max_length), 0)
    kept = ids[n_cut:] if side == "last" else ids[: len(ids) - n_cut]
    return list(kept), n_cut
