"""What if (docs/design.md, What if): which words move a prediction, and the smallest edit that flips it.

Every number here is the model's own: the model reads the edited texts (its ``forward``, in eval
mode, without gradients) and nothing is approximated, except gradient × input, which is a
first-order estimate by definition.

**What a text is.** A text is read as the model reads it (:func:`read_text`): its tokenizer,
vocabulary (unknown words dropped) and window (``max_length`` tokens kept from the
``truncation`` side). The words are the window's words, in reading order; a word's *position* is
its place in the window. **Removing** a word removes it from the window: the window is *not*
refilled from the words it cut (a text longer than the window stays one word shorter), because
then one removal would also add a word at the far end, mixing two edits, and because stored
entries hold only the window. The edited text is therefore the window's words without the
removed ones; read again through the normal path (:func:`read_text`), it gives exactly the
edited ids, since it fits the window. A one-word text has no removal (an empty text has no
prediction): its removal importance is NaN and it never flips.

**Removal importance** of word ``t``: ``p_c(text) - p_c(text without t)``, ``c`` the class the
model predicts for the whole text; positive: the word supports the prediction. All ``T`` edited
texts are read in one batch.

**Gradient × input** of word ``t``: ``sum_d dp_c/de_td * e_td`` over the embedding of word ``t``,
one backward pass; it equals the derivative of ``p_c`` when word ``t``'s embedding is scaled
by ``(1 + eps)``. The *probability* of the predicted class, not its logit, is differentiated:
it is the quantity removal measures (the two columns share units and sign), and a softmax
logit alone is not what the prediction depends on (adding the same amount to every logit moves
one logit and no probability, so a word can have a large logit gradient and no effect). The
price is saturation: near ``p_c = 1`` every gradient is small, while removal still sees the words
that matter.

**The smallest flip** is searched greedily: remove the word whose removal moves the prediction
most toward another class (:func:`rnnpanel.compute.whatif.margin_toward_other`), read again, and
repeat until the predicted class changes or ``limit`` words are gone; each round's candidates are
read in one batch. Of two equal neighbouring words only the first is tried (removing either gives
the same text). Greedy search is not exhaustive: "no flip within the limit" means none along the
greedy path.

**Fragility** of a stored entry runs that search for many sequences at once: sequences of equal
length are read together, each round only those not yet flipped.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnpanel.compute.whatif import flip_words, margin_toward_other, removal_index, repeated_positions
from rnnpanel.errors import DataError

log = logging.getLogger(__name__)

#: Words removed at most by a flip search unless told otherwise.
DEFAULT_LIMIT = 5
#: Tokens read in one forward call (rows × length): about 50 MB of activations for 100 LSTM units.
TOKEN_BUDGET = 1 << 17
#: Tokens of edited sequences built at once by :func:`sequence_fragility` (several forward calls).
GROUP_BUDGET = 1 << 20
#: Position blocks of :func:`read_removals`: the removals of a block start from the state after its first word.
PREFIX_BLOCKS = 8
#: Windows shorter than this are read whole for every removal (the blocks would save little), and so are
#: fewer windows than ``PREFIX_WORK / n²``: then the blocks' 2 × PREFIX_BLOCKS calls cost more than they save.
PREFIX_FROM = 8
PREFIX_WORK = 8192
#: Words listed per class in :attr:`Fragility.flip_words`.
TOP_FLIP_WORDS = 20


# --------------------------------------------------------------------------------------------------
# reading texts and running the model


@dataclass(frozen=True)
class ReadText:
    """A text as the model reads it: the window's ids and words, and how many known words the
    window cut."""

    ids: np.ndarray       # (T,) int64
    words: list[str]
    n_cut: int


def read_text(loaded: Any, text: str | Sequence[int]) -> ReadText:
    """``text`` (a string, or token ids already cut to the window, such as a stored sequence) as
    ``loaded`` (a :class:`~rnnpanel.models.io.LoadedModel`) reads it.

    Raises
    ------
    DataError
        The text is empty, the model knows none of its words, or the ids are not a window of it.
    """
    from rnnpanel.models.encoding import encode_text

    config = loaded.config
    if isinstance(text, str):
        if not text.strip():
            raise DataError("the text is empty; give the words whose importance you want")
        ids, n_cut = encode_text(text, loaded.vocab, config)
        if not ids:
            raise DataError("the model knows none of these words (unknown words are dropped); "
                            "give a text in the language of its training data")
        ids = np.asarray(ids, dtype=np.int64)
    else:
        ids, n_cut = np.asarray(text, dtype=np.int64).reshape(-1), 0
        if ids.size == 0:
            raise DataError("the sequence is empty; give at least one token id")
        if ids.size > config.max_length:
            raise DataError(f"the sequence has {ids.size} tokens, more than the model's window of "
                            f"{config.max_length}; give the window as the model reads it")
        if int(ids.min()) < 2 or int(ids.max()) >= config.vocab_size:
            raise DataError(f"token ids must lie in 2 .. {config.vocab_size - 1} (the model's known words)")
    return ReadText(ids=ids, words=loaded.vocab.decode(ids.tolist()), n_cut=int(n_cut))


def class_names(config: Any) -> tuple[str, ...]:
    """The model's class names (``"0"``, ``"1"``, … when its config has none)."""
    return tuple(config.class_names) or tuple(str(i) for i in range(config.n_classes))


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextlib.contextmanager
def reading(model: torch.nn.Module, device: str | torch.device | None = None
            ) -> Iterator[tuple[torch.nn.Module, torch.device]]:
    """``model`` ready to read: in eval mode, on ``device`` (None: where it is; another device: a
    copy there), with full float32 precision on CUDA. A model in training mode is put back in
    training mode afterwards; nothing global changes."""
    from rnnpanel.compute.device import resolve_device
    from rnnpanel.compute.precision import ieee_float32

    here = _model_device(model)
    target = here if device is None else resolve_device(device)
    runner = model if target == here else copy.deepcopy(model).to(target)
    was_training = runner.training
    runner.eval()
    try:
        with ieee_float32(target):
            yield runner, target
    finally:
        if was_training:
            runner.train()


def read_batch(runner: torch.nn.Module, device: torch.device, ids: np.ndarray) -> np.ndarray:
    """The model's class probabilities ``(B, C)`` (float64 of its float32 softmax) for ``B`` sequences
    of equal length ``(B, n)``, read :data:`TOKEN_BUDGET` tokens at a time (``runner`` from
    :func:`reading`)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    rows, n = ids.shape
    out = np.empty((rows, runner.config.n_classes), dtype=np.float64)
    step = max(1, TOKEN_BUDGET // max(n, 1))
    with torch.no_grad():
        for start in range(0, rows, step):
            part = torch.from_numpy(ids[start:start + step])
            lengths = torch.full((part.shape[0],), n, dtype=torch.int64)
            logits = runner(part.to(device), lengths)
            out[start:start + part.shape[0]] = torch.softmax(logits, dim=-1).cpu().numpy()
    return out


# --------------------------------------------------------------------------------------------------
# word importance


def removal_probabilities(model: torch.nn.Module, ids: Sequence[int], *, device: str | torch.device | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The model's class probabilities for the whole window ``ids`` ``(C,)`` and with each word
    removed in turn ``(T, C)`` (all ``T`` edited windows read as one batch, from their shared prefix
    where the model allows: :func:`read_removals`; NaN for a one-word text)."""
    ids = np.asarray(ids, dtype=np.int64)
    with reading(model, device) as (runner, target):
        whole = read_batch(runner, target, ids[None])[0]
        if ids.size < 2:
            return whole, np.full((ids.size, whole.size), np.nan)
        return whole, read_removals(runner, target, ids[None])[0]


def gradient_x_input(model: torch.nn.Module, ids: Sequence[int], cls: int, *,
                     device: str | torch.device | None = None) -> np.ndarray:
    """Per word of the window ``ids``: ``sum_d (dp_cls / de_td) * e_td``, the gradient of the
    probability of class ``cls`` with respect to the word's embedding times the embedding
    ``(T,)``; one backward pass, the model's parameters' gradients untouched.

    On CUDA, cuDNN's RNN cannot run backward in eval mode, so cuDNN is switched off for this one
    pass (``torch.backends.cudnn.enabled``, put back after; other threads of the process see it
    meanwhile), and torch's own RNN kernels run.
    """
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64))[None]
    with reading(model, device) as (runner, target), torch.enable_grad(), _backward_in_eval(target):
        emb = runner.embedding(ids_t.to(target)).detach().requires_grad_(True)
        logits = runner.forward_embedded(emb, torch.tensor([ids_t.shape[1]]))
        p = torch.softmax(logits, dim=-1)[0, int(cls)]
        (grad,) = torch.autograd.grad(p, emb)
        return (grad * emb).sum(dim=-1)[0].detach().cpu().double().numpy()


@contextlib.contextmanager
def _backward_in_eval(device: torch.device) -> Iterator[None]:
    """cuDNN off for the block on CUDA (its RNN backward refuses eval mode), put back after; nothing on the CPU."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.enabled
    torch.backends.cudnn.enabled = False
    try:
        yield
    finally:
        torch.backends.cudnn.enabled = saved


@dataclass(frozen=True)
class WordImportance:
    """Each word's part in one prediction (see the module docstring for what the numbers mean).

    ``removal[t]`` is the probability of the predicted class for the whole text minus that
    probability with word ``t`` removed; ``removed_probabilities[t]`` are all class probabilities
    with word ``t`` removed (the "ghost" prediction); ``gradient_x_input[t]`` is gradient × input of
    the predicted class's probability.
    """

    words: list[str]
    token_ids: np.ndarray
    n_cut: int
    class_names: tuple[str, ...]
    probabilities: np.ndarray            # (C,) whole text
    removal: np.ndarray                  # (T,)
    removed_probabilities: np.ndarray    # (T, C)
    gradient_x_input: np.ndarray         # (T,)

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def predicted_name(self) -> str:
        return self.class_names[self.predicted]

    @property
    def probability(self) -> float:
        """The probability of the predicted class for the whole text."""
        return float(self.probabilities[self.predicted])


def word_importance(loaded: Any, text: str | Sequence[int], *, device: str | torch.device | None = None
                    ) -> WordImportance:
    """Removal and gradient × input of every word of ``text`` (a string, or a window of token ids)
    for the class ``loaded``'s model predicts for it.

    Raises
    ------
    DataError
        The text is empty or the model knows none of its words.
    """
    read = read_text(loaded, text)
    whole, removed = removal_probabilities(loaded.model, read.ids, device=device)
    cls = int(np.argmax(whole))
    return WordImportance(
        words=read.words, token_ids=read.ids, n_cut=read.n_cut, class_names=class_names(loaded.config),
        probabilities=whole, removal=whole[cls] - removed[:, cls], removed_probabilities=removed,
        gradient_x_input=gradient_x_input(loaded.model, read.ids, cls, device=device),
    )


# --------------------------------------------------------------------------------------------------
# the smallest flip


@dataclass(frozen=True)
class _Searched:
    """A greedy search over ``S`` sequences of one length (see :func:`_greedy_flips`)."""

    predicted: np.ndarray   # (S,) the class before
    removals: np.ndarray    # (S,) words removed when it flipped; limit + 1 when it did not
    removed: np.ndarray     # (S, limit) positions removed in order, -1 after the search stopped
    path: np.ndarray        # (S, limit + 1, C) probabilities: whole, then after each removal (NaN after the stop)


def _greedy_flips(runner: torch.nn.Module, device: torch.device, ids: np.ndarray, limit: int) -> _Searched:
    """The greedy flip search for the equal-length windows ``ids`` ``(S, n)``, all at once."""
    n_seq, n = ids.shape
    n_classes = runner.config.n_classes
    path = np.full((n_seq, limit + 1, n_classes), np.nan)
    path[:, 0] = read_batch(runner, device, ids)
    predicted = path[:, 0].argmax(axis=1)
    removals = np.full(n_seq, limit + 1, dtype=np.int64)
    removed = np.full((n_seq, limit), -1, dtype=np.int64)
    current, places = ids, np.broadcast_to(np.arange(n), ids.shape)
    active = np.arange(n_seq)
    for k in range(1, limit + 1):
        m = n - k + 1  # length before this round's removal
        if m < 2 or active.size == 0:
            break
        probs = read_removals(runner, device, current)                    # (A, m, C)
        margin = margin_toward_other(probs, predicted[active, None])
        margin[repeated_positions(current)] = -np.inf
        best = margin.argmax(axis=1)
        rows = np.arange(active.size)
        after = probs[rows, best]
        path[active, k] = after
        removed[active, k - 1] = places[rows, best]
        flipped = after.argmax(axis=1) != predicted[active]
        removals[active[flipped]] = k
        keep = ~flipped
        kept = removal_index(m)[best]
        current = current[rows[:, None], kept][keep]
        places = places[rows[:, None], kept][keep]
        active = active[keep]
    return _Searched(predicted=predicted, removals=removals, removed=removed, path=path)


def read_removals(runner: torch.nn.Module, device: torch.device, ids: np.ndarray) -> np.ndarray:
    """The class probabilities ``(S, n, C)`` of every one-word removal of the windows ``ids`` ``(S, n)``.

    A unidirectional model has read the same words before position ``t`` whichever later word is
    removed, so the positions are cut into :data:`PREFIX_BLOCKS` blocks and the removals in block
    ``[b, e)`` start from the state the model reached after ``b`` words (all layers, h and c): they
    read only ``n - 1 - b`` words. That is about half the steps of reading every edited window
    from its start (what a bidirectional model, whose backward half reads from the end, still
    does, as do short windows and small batches: :data:`PREFIX_FROM`); the model's own modules (recurrent
    layers, dropout, head) run the same arithmetic on the same inputs.
    """
    n_seq, n = ids.shape
    n_classes = runner.config.n_classes
    if runner.config.bidirectional or n < PREFIX_FROM or n_seq * n * n < PREFIX_WORK:
        return read_batch(runner, device, ids[:, removal_index(n)].reshape(-1, n - 1)).reshape(n_seq, n, n_classes)
    size = -(-n // PREFIX_BLOCKS)
    starts = list(range(0, n - 1, size))   # every block reads at least one word after its start
    ends = starts[1:] + [n]
    out = np.empty((n_seq, n, n_classes), dtype=np.float64)
    step = max(1, TOKEN_BUDGET // (size * n))
    with torch.no_grad():
        for first in range(0, n_seq, step):
            part = np.ascontiguousarray(ids[first:first + step], dtype=np.int64)
            rows = part.shape[0]
            emb = runner.embedding(torch.from_numpy(part).to(device))
            state, read = None, 0
            for start, end in zip(starts, ends):
                if start > read:
                    _, state = runner.rnn(emb[:, read:start], state)
                    read = start
                k = end - start
                suffix = part[:, start:][:, removal_index(n - start)[:k]].reshape(rows * k, n - 1 - start)
                y, _ = runner.rnn(runner.embedding(torch.from_numpy(suffix).to(device)), _repeat(state, k))
                logits = runner.head(runner.dropout(y[:, -1]))
                out[first:first + rows, start:end] = torch.softmax(logits, -1).cpu().numpy().reshape(rows, k, -1)
    return out


def _repeat(state: Any, k: int) -> Any:
    """A recurrent state (None, ``h`` or ``(h, c)``, each ``(layers, B, H)``) with each row repeated ``k`` times."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.repeat_interleave(k, dim=1) for s in state)
    return state.repeat_interleave(k, dim=1)


@dataclass(frozen=True)
class Flip:
    """The greedy search for the smallest edit that changes a text's predicted class.

    ``removed`` are the positions removed, in the order removed (positions of the original window,
    as in :attr:`words`); when no flip was found within ``limit`` they are the greedy path tried.
    ``path[k]`` are the class probabilities after ``k`` removals (``path[0]``: the whole text).
    """

    words: list[str]
    token_ids: np.ndarray
    class_names: tuple[str, ...]
    limit: int
    flipped: bool
    removed: list[int]
    path: np.ndarray          # (len(removed) + 1, C)

    @property
    def predicted(self) -> int:
        """The class before any removal."""
        return int(np.argmax(self.path[0]))

    @property
    def predicted_after(self) -> int:
        """The class after the removals (the same as before when no flip was found)."""
        return int(np.argmax(self.path[-1]))

    @property
    def probabilities_after(self) -> np.ndarray:
        return self.path[-1]

    @property
    def words_after(self) -> list[str]:
        gone = set(self.removed)
        return [w for i, w in enumerate(self.words) if i not in gone]

    @property
    def text_after(self) -> str:
        """The edited text: the window's words without the removed ones (read again through
        :func:`read_text`, it gives the same ids)."""
        return " ".join(self.words_after)


def check_limit(limit: int) -> int:
    """``limit`` (words a flip search may remove) as an int; a :class:`DataError` unless positive."""
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise DataError(f"the limit on removed words must be a positive integer, got {limit!r}")
    return int(limit)


def smallest_flip(loaded: Any, text: str | Sequence[int], *, limit: int = DEFAULT_LIMIT,
                  device: str | torch.device | None = None) -> Flip:
    """The greedy smallest edit of ``text`` (a string, or a window of token ids) that changes the
    class ``loaded``'s model predicts, removing at most ``limit`` words.

    Raises
    ------
    DataError
        The text is empty, the model knows none of its words, or ``limit`` is not positive.
    """
    limit = check_limit(limit)
    read = read_text(loaded, text)
    with reading(loaded.model, device) as (runner, target):
        found = _greedy_flips(runner, target, read.ids[None], limit)
    steps = int(min(found.removals[0], limit))
    removed = [int(p) for p in found.removed[0, :steps] if p >= 0]
    return Flip(words=read.words, token_ids=read.ids, class_names=class_names(loaded.config), limit=limit,
                flipped=bool(found.removals[0] <= limit), removed=removed, path=found.path[0, :len(removed) + 1])


# --------------------------------------------------------------------------------------------------
# fragility of many sequences


@dataclass(frozen=True)
class Fragility:
    """The greedy flip search over many sequences (one row per sequence, in the order given).

    ``removals[s]`` is the number of words whose removal flips sequence ``s``, or ``limit + 1``
    when none was found within ``limit`` (so it sorts after every flip; :attr:`flipped` says which);
    ``removed[s]`` the positions removed, in order (-1 past the edit); ``predicted`` and
    ``predicted_after`` the class before and after. ``flip_words`` per class name: the words
    that flipping edits removed most often, each ``{"word", "flips", "sequences", "share"}``
    (``flips`` of the ``sequences`` of that class holding the word).
    """

    limit: int
    removals: np.ndarray          # (S,) int64
    removed: np.ndarray           # (S, limit) int64
    predicted: np.ndarray         # (S,) int64
    predicted_after: np.ndarray   # (S,) int64
    flip_words: dict[str, list[dict[str, Any]]]
    seconds: float

    @property
    def flipped(self) -> np.ndarray:
        return self.removals <= self.limit


def sequence_fragility(model: torch.nn.Module, token_ids: np.ndarray, offsets: np.ndarray, *,
                       limit: int = DEFAULT_LIMIT, progress: Any = None, device: str | torch.device | None = None,
                       words: Sequence[str] | None = None, names: Sequence[str] | None = None,
                       top: int = TOP_FLIP_WORDS) -> Fragility:
    """:class:`Fragility` of the flat windows ``token_ids[offsets[s]:offsets[s + 1]]``.

    Sequences of one length are searched together, :data:`GROUP_BUDGET` tokens of edited
    windows at a time; ``progress`` is a callback ``progress(done, total)`` or a tqdm bar,
    advanced in sequences. ``words`` (the vocabulary) and ``names`` (class names) name the flip
    words; without them token ids and class numbers are used.
    """
    from rnnpanel.compute.extraction import _progress_reporter

    limit = check_limit(limit)
    started = time.perf_counter()
    token_ids = np.asarray(token_ids, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    n_seq = lengths.size
    n_classes = model.config.n_classes
    removals = np.full(n_seq, limit + 1, dtype=np.int64)
    removed = np.full((n_seq, limit), -1, dtype=np.int64)
    predicted = np.zeros(n_seq, dtype=np.int64)
    after = np.zeros(n_seq, dtype=np.int64)
    report = _progress_reporter(progress, n_seq)
    order = np.argsort(lengths, kind="stable")
    bounds = np.flatnonzero(np.diff(lengths[order])) + 1
    done = 0
    with reading(model, device) as (runner, target):
        for rows_of_length in np.split(order, bounds):
            if rows_of_length.size == 0:
                continue
            n = int(lengths[rows_of_length[0]])
            step = max(1, GROUP_BUDGET // max(n * (n - 1), n))
            for start in range(0, rows_of_length.size, step):
                rows = rows_of_length[start:start + step]
                ids = token_ids[offsets[rows][:, None] + np.arange(n)]
                found = _greedy_flips(runner, target, ids, limit)
                predicted[rows] = found.predicted
                removals[rows] = found.removals
                flipped = found.removals <= limit
                keep = np.arange(limit)[None, :] < found.removals[:, None]
                removed[rows] = np.where(flipped[:, None] & keep, found.removed, -1)
                last = np.minimum(found.removals, limit)
                after[rows] = np.where(flipped, found.path[np.arange(rows.size), last].argmax(axis=1),
                                       found.predicted)
                done += rows.size
                report(done, rows.size)
    names = list(names) if names else [str(c) for c in range(n_classes)]
    table = _flip_word_table(token_ids, offsets, removed, predicted, removals <= limit, n_classes, words, names, top)
    seconds = time.perf_counter() - started
    log.info("fragility of %d sequences (limit %d) in %.1f s", n_seq, limit, seconds)
    return Fragility(limit=limit, removals=removals, removed=removed, predicted=predicted, predicted_after=after,
                     flip_words=table, seconds=seconds)


def _flip_word_table(token_ids: np.ndarray, offsets: np.ndarray, removed: np.ndarray, predicted: np.ndarray,
                     flipped: np.ndarray, n_classes: int, words: Sequence[str] | None, names: Sequence[str],
                     top: int) -> dict[str, list[dict[str, Any]]]:
    sequences = [token_ids[offsets[s]:offsets[s + 1]] for s in range(len(offsets) - 1)]
    removed_ids = [sequences[s][removed[s][removed[s] >= 0]] if flipped[s] else np.zeros(0, dtype=np.int64)
                   for s in range(len(sequences))]
    counts = flip_words(removed_ids, predicted, sequences, n_classes)
    table: dict[str, list[dict[str, Any]]] = {}
    for c, by_word in enumerate(counts):
        ranked = sorted(by_word.items(), key=lambda item: (-item[1][0], -item[1][0] / item[1][1], item[0]))[:top]
        table[names[c]] = [{"word": words[i] if words is not None else str(i), "flips": f, "sequences": n,
                            "share": f / n} for i, (f, n) in ranked]
    return table


def entry_model(entry: Any) -> Any:
    """The model ``entry`` (a :class:`~rnnpanel.store.StoredEntry`) was extracted with, loaded once per
    process; a :class:`~rnnpanel.errors.ModelError` when it is gone or its weights changed."""
    from rnnpanel.pipeline.live import _entry_model

    return _entry_model(entry.attrs)


def fragility(entry: Any, *, limit: int = DEFAULT_LIMIT, progress: Any = None,
              device: str | torch.device | None = None, top: int = TOP_FLIP_WORDS) -> Fragility:
    """:class:`Fragility` of every sequence of a stored entry, read by the entry's own model (the
    stored windows, in the entry's order). Runs for minutes on tens of thousands of sequences:
    call it in the background (benchmarks/RESULTS.md, "What if")."""
    loaded = entry_model(entry)
    return sequence_fragility(loaded.model, entry.load("token_ids"), entry.load("offsets"), limit=limit,
                              progress=progress, device=device, words=loaded.vocab.words,
                              names=class_names(loaded.config), top=top)


# --------------------------------------------------------------------------------------------------
# fragility for a server: in a child process, kept in the store


def fragility_name(limit: int) -> str:
    """The folder name of an entry's stored fragility (under its derived arrays)."""
    return f"fragility-limit-{int(limit)}"


def stored_fragility(entry: Any, *, limit: int = DEFAULT_LIMIT, report: Any = None) -> Fragility:
    """:func:`fragility` of ``entry`` as a server wants it: read from the store when computed before,
    else computed in a child process on one torch thread (minutes for tens of thousands of sequences:
    its CPU stays off the serving process, and a second thread would stall every recurrent step on
    a busy machine), stored beside the entry for every process, then read.

    ``report(fraction, message)`` follows the child's progress. Raises
    :class:`~rnnpanel.errors.ModelError` when the entry's model is gone or changed, and
    :class:`~rnnpanel.errors.RnnpanelError` with the child's message when it failed.
    """
    from rnnpanel.pipeline.child_process import run_in_child
    from rnnpanel.store.mapped import has_mapped

    limit = check_limit(limit)
    folder = entry.store.derived_path(entry.key, fragility_name(limit))
    if not has_mapped(folder):
        entry_model(entry)  # a missing or changed model is said here, before a child starts
        run_in_child(_fragility_in_child, (str(entry.store.root), entry.key, limit),
                     report or (lambda fraction, message="": None), name="rnnpanel-fragility",
                     what="which sequences a few removed words flip")
    return _read_fragility(folder)


def _read_fragility(folder: Any) -> Fragility:
    from rnnpanel.store.mapped import read_mapped

    arrays, attrs = read_mapped(folder)
    return Fragility(limit=int(attrs["limit"]), flip_words=attrs["flip_words"], seconds=float(attrs["seconds"]),
                     **{name: np.asarray(arrays[name]) for name in ("removals", "removed", "predicted",
                                                                     "predicted_after")})


def _fragility_in_child(root: str, key: str, limit: int, messages: Any) -> None:
    """In a child process: compute one entry's fragility on one thread and store it."""
    from rnnpanel.pipeline.child_process import report_to, send_error
    from rnnpanel.store import StateStore
    from rnnpanel.store.mapped import write_mapped

    try:
        torch.set_num_threads(1)   # this child's own process
        report = report_to(messages)
        entry = StateStore(root).entry(key)
        result = fragility(entry, limit=limit, progress=lambda done, total: report(
            done / max(total, 1), f"{done:,} of {total:,} sequences searched"))
        arrays = {"removals": result.removals, "removed": result.removed, "predicted": result.predicted,
                  "predicted_after": result.predicted_after}
        write_mapped(entry.store.derived_path(key, fragility_name(limit)), arrays,
                     {"entry_key": key, "limit": limit, "flip_words": result.flip_words, "seconds": result.seconds})
    except Exception as exc:        # noqa: BLE001 -- reported to the caller, which tells the user
        send_error(messages, exc)
