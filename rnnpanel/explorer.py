"""``rnnpanel.explore``: a model and texts from a notebook → the app, in one call.

Researchers train in Python with their own tokenizers and heads. This entry point takes the
model as they have it (a saved model folder, a :class:`~rnnpanel.models.RecurrentClassifier`,
or any ``nn.Module`` the adapter converts), reads the texts with their tokenizer, stores every
state (cached: the same model and texts are read once), projects them, and returns the same
:class:`~rnnpanel.app.session.RnnPanelApp` that ``panel serve apps/`` shows: display it in a
cell (after ``pn.extension()``), call ``.show()`` for a browser tab or ``.servable()`` in a
served notebook or script.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel import paths
from rnnpanel.errors import DataError, ModelError

log = logging.getLogger(__name__)

#: Names that tokenizers commonly give the unknown token; the first found in ``vocab`` is taken.
UNKNOWN_NAMES = ("<unk>", "[UNK]", "<UNK>", "UNK", "<oov>", "[OOV]")

Tokenizer = Callable[[str], Sequence[Any]]


@dataclass(frozen=True)
class Prepared:
    """What :func:`store_states` made: the model folder, the entry, and how it went."""

    model_dir: Path
    store_root: Path
    entry_key: str
    summary: dict[str, Any]


def explore(
    model: Any,
    texts: Sequence[str],
    labels: Sequence[Any] | None = None,
    *,
    class_names: Sequence[str] | None = None,
    tokenizer: Tokenizer | None = None,
    vocab: Any = None,
    store: str | Path | None = None,
    method: str = "tsne",
    backend: str = "auto",
    progress: bool = True,
    **model_options: Any,
):
    """The app showing ``model``'s hidden states over ``texts``; see the module docstring.

    Parameters
    ----------
    model
        A model folder (path), a ``RecurrentClassifier``, or an ``nn.Module`` with an embedding,
        one recurrent module and a head on the last layer's final state (a Linear or a chain such
        as an MLP). A list of two of them opens the compare view on the first against the second;
        a run (a model folder trained with ``rnnpanel train --checkpoints K``) reads every
        checkpoint and opens the compare view that moves through its epochs.
    texts
        The texts to read, one sequence each.
    labels
        Class indices or names, one per text; None shows the model's predictions.
    class_names
        Names of the classes (default: the model's, else the labels' own names).
    tokenizer
        ``str -> list[str]`` (``vocab`` maps token → id) or ``str -> list[int]`` (``vocab`` names
        the ids: a list, an id → name mapping or a callable); default rnnpanel's tokenizer with the
        model's vocabulary.
    vocab
        The vocabulary, as above; needed for an ``nn.Module`` (a model folder holds its own).
    store
        The state store's folder (default: the user's cache, ``$RNNPANEL_HOME/store``).
    method, backend
        The projection shown first, and its backend ("auto": the first that runs here).
    progress
        Show progress bars while the states are read and projected.
    **model_options
        Go to :func:`rnnpanel.models.adapter.convert_module`: ``embedding``/``rnn``/``head``
        submodule names when they cannot be found, ``pad_id``/``unk_id``,
        ``max_length``/``truncation`` (default: the longest text, so nothing is cut).

    Returns
    -------
    RnnPanelApp
        The same app ``panel serve apps/`` shows, on this model's entry (with two models or a run:
        the first model's or the last epoch's, compared).

    Raises
    ------
    DataError
        Texts, labels, tokenizer or vocabulary that do not fit the model (the message says how).
    ModelError
        A model that cannot be read or converted, or options that do not apply to it.
    """
    from rnnpanel.app.session import RnnPanelApp
    from rnnpanel.store import StateStore

    models, run = _models_of(model)
    prepared = [store_states(m, texts, labels, class_names=class_names, tokenizer=tokenizer, vocab=vocab,
                             store=store, progress=progress, **model_options) for m in models]
    entries = [StateStore(p.store_root).entry(p.entry_key) for p in prepared]
    if run:
        from rnnpanel.pipeline.run_maps import project_run

        project_run(list(zip(run, entries)), method=method, backend=backend, progress=progress,
                    say=log.info)
        return RnnPanelApp(store_root=prepared[-1].store_root, entry=prepared[-1].entry_key, method=method,
                           compare="run")
    for entry in entries:
        _project(entry, method=method, backend=backend, progress=progress)
    if len(entries) == 1:
        return RnnPanelApp(store_root=prepared[0].store_root, entry=prepared[0].entry_key, method=method)
    return RnnPanelApp(store_root=prepared[0].store_root, entry=prepared[0].entry_key, method=method,
                       compare=prepared[1].entry_key)


def _models_of(model: Any) -> tuple[list[Any], list[int]]:
    """The models :func:`explore` reads: the one given, the two given in a list, or every checkpoint
    of a run (a model folder trained with ``--checkpoints``, with their epochs)."""
    from rnnpanel.models.checkpoints import is_run, read_run

    if isinstance(model, (list, tuple)):
        if len(model) != 2:
            raise ModelError(f"explore compares two models; got a list of {len(model)}")
        return list(model), []
    if isinstance(model, (str, Path)) and is_run(model):
        checkpoints = read_run(model)
        return [c.path for c in checkpoints], [c.epoch for c in checkpoints]
    return [model], []


def _project(entry: Any, *, method: str, backend: str, progress: bool) -> None:
    from rnnpanel.pipeline.project import project_states

    bar = _bar(f"{method} map", total=100) if progress else None
    try:
        project_states(entry.states(layer=-1, kind="h"), method=method, backend=backend,
                       progress=_follow_fraction(bar) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()


def store_states(
    model: Any,
    texts: Sequence[str],
    labels: Sequence[Any] | None = None,
    *,
    class_names: Sequence[str] | None = None,
    tokenizer: Tokenizer | None = None,
    vocab: Any = None,
    store: str | Path | None = None,
    progress: bool = True,
    **model_options: Any,
) -> Prepared:
    """Everything :func:`explore` does before the projection and the app: convert, read, store."""
    from rnnpanel.models.encoding import EncodedTexts
    from rnnpanel.pipeline.memory import extract_encoded

    texts = _check_texts(texts)
    store_root = Path(store).expanduser() if store is not None else paths.default_store()
    reader = _reader(model, tokenizer, vocab, texts, model_options, store_root)
    config = reader.config
    ids, cuts, kept = [], [], []
    for text in texts:
        window, n_cut = reader.read(text)
        kept.append(bool(window))
        if window:
            ids.append(window)
            cuts.append(n_cut)
    if not ids:
        raise DataError("no text has a token the model knows; check the tokenizer and the vocabulary")
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(w) for w in ids], out=offsets[1:])
    encoded = EncodedTexts(np.concatenate([np.asarray(w, dtype=np.int32) for w in ids]), offsets,
                           np.asarray(cuts, dtype=np.int64), np.asarray(kept, dtype=bool))
    names = _class_names(class_names, labels, config)
    label_ids = None if labels is None else _label_ids(labels, names, len(texts))
    bar = _bar("extracting states", unit="state", unit_scale=True) if progress else None
    try:
        entry, summary = extract_encoded(reader.model_dir, list(texts), encoded, label_ids, names,
                                         store_root=store_root, name=config.dataset or "notebook",
                                         progress=_follow(bar) if bar is not None else False)
    finally:
        if bar is not None:
            bar.close()
    if summary["n_sequences"] < len(texts):
        log.warning("%d of %d texts had no known token and were left out", len(texts) - summary["n_sequences"],
                    len(texts))
    return Prepared(reader.model_dir, store_root, entry.key, summary)


# -- reading texts the way the user's model reads them --------------------------------------------
@dataclass
class _Reader:
    model_dir: Path
    config: Any
    to_ids: Callable[[str], list[int]]

    def read(self, text: str) -> tuple[list[int], int]:
        from rnnpanel.data.text import cut_window

        ids = self.to_ids(text)
        if not ids:
            return [], 0
        return cut_window(ids, self.config.max_length, self.config.truncation)


def _reader(model: Any, tokenizer: Tokenizer | None, vocab: Any, texts: list[str], options: dict[str, Any],
            store_root: Path) -> _Reader:
    """The model folder to extract with, and a function from a text to the ids that model reads."""
    from torch import nn

    from rnnpanel.data.text import tokenize
    from rnnpanel.models import RecurrentClassifier, load_model

    if isinstance(model, (str, Path)):
        if options:
            raise ModelError(f"options {sorted(options)} are for converting an nn.Module; a model folder has its own")
        loaded = load_model(model)
        return _Reader(Path(model).expanduser(), loaded.config,
                       _known_ids(tokenizer or tokenize, _token_index(vocab if vocab is not None else loaded.vocab),
                                  len(loaded.vocab)))
    if isinstance(model, RecurrentClassifier):
        if options:
            raise ModelError(
                f"options {sorted(options)} are for converting an nn.Module; a RecurrentClassifier has its own"
            )
        if vocab is None:
            raise DataError(
                "a RecurrentClassifier needs its vocabulary: vocab=Vocabulary, a list of tokens in id order, "
                "or a token → id mapping"
            )
        words = _names(vocab, model.config.vocab_size)
        from rnnpanel.data.text import Vocabulary

        vocabulary = Vocabulary(words)
        return _Reader(_saved(model, vocabulary, store_root), model.config,
                       _known_ids(tokenizer or tokenize, _token_index(vocabulary), model.config.vocab_size))
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"model must be a model folder, a RecurrentClassifier or a torch nn.Module, got {type(model).__name__}"
        )
    return _converted_reader(model, tokenizer, vocab, texts, options, store_root)


def _converted_reader(model, tokenizer: Tokenizer | None, vocab: Any, texts: list[str], options: dict[str, Any],
                      store_root: Path) -> _Reader:
    """An ``nn.Module``: converted with its ids remapped (padding 0, unknown 1), window covering every text."""
    from rnnpanel.data.text import tokenize
    from rnnpanel.models.adapter import convert_module, embedding_of

    if vocab is None:
        raise DataError("an nn.Module needs vocab=: a token → id mapping, or the names of its ids (a list, an "
                        "id → name mapping, or a callable id → name)")
    size = int(embedding_of(model, options.get("embedding")).num_embeddings)
    words = _names(vocab, size)
    index = _token_index(vocab) if not callable(vocab) else {w: i for i, w in enumerate(words)}
    if "unk_id" not in options:
        options["unk_id"] = next((index[n] for n in UNKNOWN_NAMES if n in index), None)
    user_ids = _known_ids(tokenizer or tokenize, index, size)
    if "max_length" not in options:
        options["max_length"] = max(1, max((len(user_ids(t)) for t in texts), default=1))
    converted = convert_module(model, words, **options)
    new_ids = converted.new_ids

    def to_ids(text: str) -> list[int]:
        ids = new_ids[np.asarray(user_ids(text), dtype=np.int64)]
        return ids[ids >= 0].tolist()

    return _Reader(_saved(converted.model, converted.vocabulary, store_root), converted.model.config, to_ids)


def _known_ids(tokenizer: Tokenizer, index: Mapping[str, int], size: int) -> Callable[[str], list[int]]:
    """Text → ids: a tokenizer of strings looked up in ``index`` (unknown tokens dropped), or of ids checked."""
    if not callable(tokenizer):
        raise DataError(f"tokenizer must be a callable str -> list of tokens or ids, got {type(tokenizer).__name__}")

    def ids(text: str) -> list[int]:
        tokens = list(tokenizer(text))
        if all(isinstance(t, str) for t in tokens):
            return [index[t] for t in tokens if t in index]
        found = [int(t) for t in tokens]
        bad = [i for i in found if not 0 <= i < size]
        if bad:
            raise DataError(f"the tokenizer gave ids {bad[:5]} outside the embedding's 0 .. {size - 1}")
        return found

    return ids


def _token_index(vocab: Any) -> dict[str, int]:
    """token → id from a Vocabulary, a token → id mapping, an id → token mapping or a list in id order."""
    from rnnpanel.data.text import Vocabulary

    if isinstance(vocab, Vocabulary):
        return {w: i for i, w in enumerate(vocab.words)}
    if isinstance(vocab, Mapping):
        if all(isinstance(k, str) for k in vocab):
            return {str(k): int(v) for k, v in vocab.items()}
        return {str(v): int(k) for k, v in vocab.items()}
    if isinstance(vocab, Sequence) and not isinstance(vocab, str):
        return {str(w): i for i, w in enumerate(vocab)}
    raise DataError(
        f"vocab must be a Vocabulary, a mapping or a list of tokens in id order, got {type(vocab).__name__}"
    )


def _names(vocab: Any, size: int) -> list[str]:
    """The display name of every id ``0 .. size - 1`` (``<id i>`` where the vocabulary has none)."""
    if callable(vocab) and not isinstance(vocab, (Mapping, Sequence)):
        return [str(vocab(i)) for i in range(size)]
    names: list[str | None] = [None] * size
    for token, i in _token_index(vocab).items():
        if 0 <= i < size and names[i] is None:
            names[i] = token
    return [f"<id {i}>" if n is None else n for i, n in enumerate(names)]


def _saved(model, vocabulary, store_root: Path) -> Path:
    """The converted model saved once in the store's ``models`` folder, named by its content."""
    from rnnpanel.models import load_model, save_model
    from rnnpanel.store import content_key

    tensors = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    key = content_key("explore-model", config=model.config.to_dict(), words=vocabulary.words, tensors=tensors)
    directory = store_root / "models" / key
    try:
        load_model(directory)
    except ModelError:
        save_model(directory, model, vocabulary)
    return directory


# -- labels ---------------------------------------------------------------------------------------
def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise DataError("texts must be a list of strings")
    if not texts:
        raise DataError("texts is empty; give at least one text")
    return list(texts)


def _class_names(class_names: Sequence[str] | None, labels: Sequence[Any] | None, config) -> tuple[str, ...]:
    if class_names is not None:
        names = tuple(str(c) for c in class_names)
    elif config.class_names:
        names = tuple(config.class_names)
    elif labels is not None and all(isinstance(x, str) for x in labels):
        names = tuple(sorted(set(labels)))
    else:
        names = tuple(f"class {k}" for k in range(config.n_classes))
    if len(names) != config.n_classes:
        raise DataError(f"{len(names)} class names {list(names)[:8]} for a model with {config.n_classes} classes; "
                        "give class_names= in the order of the model's outputs")
    return names


def _label_ids(labels: Sequence[Any], names: tuple[str, ...], n_texts: int) -> np.ndarray:
    labels = list(labels)
    if len(labels) != n_texts:
        raise DataError(f"{len(labels)} labels for {n_texts} texts; give one label per text")
    if all(isinstance(x, str) for x in labels):
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise DataError(f"labels {unknown[:5]} are not among the class names {list(names)}")
        position = {n: k for k, n in enumerate(names)}
        return np.asarray([position[x] for x in labels], dtype=np.int64)
    ids = np.asarray(labels, dtype=np.int64)
    if ids.min() < 0 or ids.max() >= len(names):
        raise DataError(f"labels must be class indices 0 .. {len(names) - 1} or class names")
    return ids


def _bar(desc: str, **options: Any):
    """A progress bar: a notebook widget when ipywidgets is there, else text (which a notebook shows too)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import tqdm
    except ImportError:
        from tqdm import tqdm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tqdm(desc=desc, leave=True, **options)


def _follow(bar) -> Callable[[int, int], None]:
    """A ``callback(done, total)`` that moves ``bar`` (the extraction reports through callbacks)."""
    def report(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return report


def _follow_fraction(bar) -> Callable[[float, str], bool]:
    """A projection's ``callback(fraction, message)`` moving ``bar`` in percent (never asks to stop)."""
    def report(fraction: float, message: str = "") -> bool:
        bar.n = round(100 * fraction)
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()
        return False

    return report
