"""Bring your own model: turn a PyTorch recurrent classifier into an equivalent :class:`RecurrentClassifier`.

rnnpanel reads hidden states from one known shape of model (embedding → ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
→ a head on the last state: a Linear, or a chain of layers such as an MLP, see :mod:`rnnpanel.models.heads`).
Any module of that shape converts by copying weights; nothing of the user's code is kept, so the converted
model can be saved with :func:`~rnnpanel.models.io.save_model` and loaded anywhere without the user's classes.

Two ways in:

* :func:`from_module` — you have the live ``nn.Module``; name its three submodules (or let
  :func:`find_parts` find them). :func:`convert_module` does the same for any id layout
  (padding and unknown ids other than 0 and 1) and returns the vocabulary and the id map too.
* :func:`from_checkpoint` — you have only a state dict file (``.pt``/``.pth`` read with
  ``weights_only=True``, or ``.safetensors``) and a small JSON config naming the prefixes and
  the input window; sizes, layer count, direction and (for unambiguous shapes) cell type are
  read from the tensors' shapes.

A head with a single output (sigmoid binary classifier, as in the paper's Keras model) becomes
a two-class head with logits ``[0, z]``: ``softmax([0, z])[1] == sigmoid(z)``, so the class
probabilities are identical and class 1 is the positive class.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnpanel.data.text import PAD_TOKEN, UNK_TOKEN, Vocabulary
from rnnpanel.errors import ModelError
from rnnpanel.models.classifier import RecurrentClassifier
from rnnpanel.models.config import ModelConfig
from rnnpanel.models.heads import describe_head
from rnnpanel.models.io import build_classifier, load_weights_into, read_state_dict

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
_MODE_TO_CELL = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn"}
_RNN_PARAM = re.compile(r"^(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")


def _submodule(module: nn.Module, name: str, role: str) -> nn.Module:
    try:
        return module.get_submodule(name)
    except AttributeError:
        children = ", ".join(n for n, _ in module.named_modules() if n) or "none"
        raise ModelError(
            f"{role}={name!r} is not a submodule of {type(module).__name__}; its submodules are: {children}"
        ) from None


def _cell_of(rnn: nn.Module, name: str) -> str:
    if not isinstance(rnn, nn.RNNBase) or rnn.mode not in _MODE_TO_CELL:
        if isinstance(rnn, nn.RNN) and rnn.mode == "RNN_RELU":
            raise ModelError(f"rnn={name!r} uses nonlinearity='relu'; only tanh RNNs (and LSTM, GRU) are supported")
        raise ModelError(f"rnn={name!r} is a {type(rnn).__name__}; it must be an nn.LSTM, nn.GRU or nn.RNN")
    if getattr(rnn, "proj_size", 0):
        raise ModelError(f"rnn={name!r} is an LSTM with proj_size={rnn.proj_size}; projected LSTMs are not supported")
    return _MODE_TO_CELL[rnn.mode]


def find_parts(module: nn.Module) -> dict[str, str]:
    """The submodule names of the embedding, the recurrent module and the head, when they are unambiguous.

    The embedding and the recurrent module are the only ``nn.Embedding`` and ``nn.RNNBase`` in
    ``module``; the head is the only other top-level child with parameters (dropout and other
    parameter-free children are ignored). Otherwise a :class:`ModelError` asks for the names.
    """
    embedding, rnn = _only(module, nn.Embedding, "embedding"), _only(module, nn.RNNBase, "rnn")
    taken = {embedding.split(".")[0], rnn.split(".")[0]}
    heads = [name for name, child in module.named_children()
             if name not in taken and any(True for _ in child.parameters())]
    if len(heads) != 1:
        raise ModelError(f"cannot tell which submodule is the head (candidates: {', '.join(heads) or 'none'}); "
                         "name it: head=\"...\" (a module mapping the last layer's final state to logits)")
    return {"embedding": embedding, "rnn": rnn, "head": heads[0]}


def _parts(module: nn.Module, embedding: str | None, rnn: str | None, head: str | None
           ) -> tuple[nn.Module, str, nn.Module, str, nn.Module, str]:
    """The three parts and their names; a head split over several attributes (``fc1``, ``fc2`` with
    ``F.relu`` in the forward) is read from the model's traced forward."""
    embedding = embedding or _only(module, nn.Embedding, "embedding")
    rnn = rnn or _only(module, nn.RNNBase, "rnn")
    if head is not None:
        top = _submodule(module, head, "head")
    else:
        try:
            head = find_parts(module)["head"]
            top = _submodule(module, head, "head")
        except ModelError:
            from rnnpanel.models.heads import traced_head

            top, head = traced_head(module), "the end of forward()"
    return _submodule(module, embedding, "embedding"), embedding, _submodule(module, rnn, "rnn"), rnn, top, head


def _only(module: nn.Module, kind: type, role: str) -> str:
    """The name of the one submodule of type ``kind``; more or none asks the user to name it."""
    found = [name for name, m in module.named_modules() if isinstance(m, kind) and name]
    if len(found) != 1:
        what = "none" if not found else ", ".join(found)
        raise ModelError(f"cannot tell which submodule is the {role} (found {what}); name it: {role}=\"...\"")
    return found[0]


def embedding_of(module: nn.Module, embedding: str | None = None) -> nn.Embedding:
    """The module's embedding: the named one, else the only ``nn.Embedding`` in it."""
    emb = _submodule(module, embedding or _only(module, nn.Embedding, "embedding"), "embedding")
    if not isinstance(emb, nn.Embedding):
        raise ModelError(f"embedding={embedding!r} is a {type(emb).__name__}; it must be an nn.Embedding")
    return emb


def _module_state(module: nn.Module, embedding: str | None, rnn: str | None, head: str | None
                  ) -> tuple[dict[str, torch.Tensor], str, list[dict[str, Any]], nn.Embedding]:
    """The three parts' tensors under rnnpanel's names, the cell, and the head's layers (``[]``: one Linear)."""
    emb, embedding, rec, rnn, top, head = _parts(module, embedding, rnn, head)
    if not isinstance(emb, nn.Embedding):
        raise ModelError(f"embedding={embedding!r} is a {type(emb).__name__}; it must be an nn.Embedding")
    cell = _cell_of(rec, rnn)
    state: dict[str, torch.Tensor] = {f"embedding.{k}": v for k, v in emb.state_dict().items()}
    state.update({f"rnn.{k}": v for k, v in rec.state_dict().items()})
    if isinstance(top, nn.Linear):
        state.update({f"head.{k}": v for k, v in top.state_dict().items()})
        return state, cell, [], emb
    layers, head_state = describe_head(top, rec.hidden_size * (2 if rec.bidirectional else 1), f"head={head!r}")
    state.update({f"head.{k}": v for k, v in head_state.items()})
    return state, cell, layers, emb


@dataclass(frozen=True)
class ModelWindow:
    """What a converted model records beside its weights.

    Its defaults are the only ones: :func:`from_module`, :func:`convert_module` and
    :func:`from_checkpoint` all read them from here.

    Attributes
    ----------
    max_length, truncation
        The input window the model was trained with: ``max_length`` tokens, keeping the
        ``truncation`` end ("last" or "first").
    dropout
        Matters only if the model is trained further.
    class_names, dataset
        Names of the classes, and of the data set (both optional).
    """

    max_length: int = 100
    truncation: str = "last"
    dropout: float = 0.0
    class_names: tuple[str, ...] = ()
    dataset: str = ""

    @classmethod
    def from_options(cls, options: dict[str, Any], source: str) -> ModelWindow:
        """The window named in ``options`` (its keys are removed from it; the others stay).

        Raises
        ------
        ModelError
            A value of the wrong type.
        """
        default = cls()
        try:
            return cls(max_length=int(options.pop("max_length", default.max_length)),
                       truncation=str(options.pop("truncation", default.truncation)),
                       dropout=float(options.pop("dropout", default.dropout)),
                       class_names=tuple(options.pop("class_names", default.class_names)),
                       dataset=str(options.pop("dataset", default.dataset)))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{source}: malformed config value ({exc})") from None


def from_module(
    module: nn.Module,
    *,
    embedding: str | None = None,
    rnn: str | None = None,
    head: str | None = None,
    class_names: tuple[str, ...] | list[str] = ModelWindow.class_names,
    max_length: int = ModelWindow.max_length,
    truncation: str = ModelWindow.truncation,
    dropout: float = ModelWindow.dropout,
    dataset: str = ModelWindow.dataset,
) -> RecurrentClassifier:
    """Copy a user's ``embedding → rnn → last state → head`` module into a :class:`RecurrentClassifier`.

    ``embedding``, ``rnn`` and ``head`` are (dotted) submodule names of ``module`` (found by
    :func:`find_parts` when left out): an ``nn.Embedding``, an ``nn.LSTM``/``nn.GRU``/``nn.RNN``
    (any ``batch_first``, layers, direction) and a head reading the final state (for
    bidirectional networks the forward final state then the backward one, i.e.
    ``torch.cat([h_n[-2], h_n[-1]], 1)``): an ``nn.Linear``, or a chain of layers such as an MLP
    (see :mod:`rnnpanel.models.heads`; checked by running it once). ``max_length`` and
    ``truncation`` record the input window the model was trained with; ``dropout`` matters only
    if the result is trained further. Token id 0 must be padding and 1 unknown, as in
    :class:`~rnnpanel.data.text.Vocabulary`; :func:`convert_module` lifts that requirement.

    Parameters
    ----------
    module
        The user's model, left unchanged.
    embedding, rnn, head
        Submodule names, as above (None: found by :func:`find_parts`).
    class_names, max_length, truncation, dropout, dataset
        The :class:`ModelWindow` recorded with the model.

    Returns
    -------
    RecurrentClassifier
        In eval mode on the CPU; gives the same logits as ``module`` on sequences without padding
        (and, packed, on padded batches).

    Raises
    ------
    ModelError
        A module of another shape, parts that cannot be found or do not fit together, or a head
        that does not reproduce the module's output.
    """
    state, cell, layers, _ = _module_state(module, embedding, rnn, head)
    source = f"{type(module).__name__} module"
    window = ModelWindow.from_options({"max_length": max_length, "truncation": truncation, "dropout": dropout,
                                       "class_names": class_names, "dataset": dataset}, source)
    return _classifier_from_state(state, cell=cell, window=window, head_layers=layers, source=source)


@dataclass(frozen=True)
class Converted:
    """A user's module in rnnpanel's form: the model, its vocabulary, and the map from the user's ids."""

    model: RecurrentClassifier
    vocabulary: Vocabulary
    #: ``new_ids[user_id]`` is the converted model's id for the user's token id (-1: padding or unknown,
    #: which produce no states).
    new_ids: np.ndarray


def convert_module(
    module: nn.Module,
    words: Sequence[str] | None = None,
    *,
    pad_id: int | None = None,
    unk_id: int | None = None,
    **options: Any,
) -> Converted:
    """:func:`from_module` for any id layout: padding and unknown ids need not be 0 and 1.

    ``words[i]`` names the user's token id ``i`` (missing names become ``<id i>``). ``pad_id``
    defaults to the embedding's ``padding_idx``; a model without one, or without an unknown id,
    gets a fresh zero row for it (never read: padding is masked and unknown tokens are dropped).
    The embedding's rows are reordered so that padding is 0 and unknown 1, the rest in the
    user's order.

    Parameters
    ----------
    module
        The user's model, left unchanged.
    words
        ``words[i]`` names token id ``i`` (None: every id gets ``<id i>``).
    pad_id, unk_id
        The user's padding and unknown ids (None: the embedding's ``padding_idx``, and none).
    **options
        :func:`from_module`'s keywords (``embedding``, ``rnn``, ``head`` and the window).

    Returns
    -------
    Converted
        The model, its vocabulary, and the map from the user's ids to the model's.

    Raises
    ------
    ModelError
        As :func:`from_module`, and for a ``pad_id``/``unk_id`` outside the embedding or both the same.
    """
    for name in ("embedding", "rnn", "head"):
        options.setdefault(name, None)
    state, cell, layers, emb = _module_state(module, options.pop("embedding"), options.pop("rnn"), options.pop("head"))
    vocab_size = emb.num_embeddings
    pad_id = emb.padding_idx if pad_id is None else pad_id
    for role, value in (("pad_id", pad_id), ("unk_id", unk_id)):
        if value is not None and not 0 <= int(value) < vocab_size:
            raise ModelError(f"{role}={value} is not a row of the embedding (0 .. {vocab_size - 1})")
    if pad_id is not None and pad_id == unk_id:
        raise ModelError(f"pad_id and unk_id are both {pad_id}; padding and unknown tokens need their own ids")
    special = {int(i) for i in (pad_id, unk_id) if i is not None}
    rest = [i for i in range(vocab_size) if i not in special]
    order = np.array([-1 if pad_id is None else pad_id, -1 if unk_id is None else unk_id, *rest], dtype=np.int64)
    weight = state["embedding.weight"]
    rows = weight[torch.as_tensor(np.maximum(order, 0))].clone()
    rows[torch.as_tensor(order < 0)] = 0.0
    state["embedding.weight"] = rows
    new_ids = np.full(vocab_size, -1, dtype=np.int64)
    new_ids[rest] = np.arange(2, 2 + len(rest))
    source = f"{type(module).__name__} module"
    window = ModelWindow.from_options(options, source)
    if options:
        raise ModelError(f"unknown options {sorted(options)}; allowed: embedding, rnn, head, "
                         f"{', '.join(ModelWindow.__dataclass_fields__)}")
    model = _classifier_from_state(state, cell=cell, window=window, head_layers=layers, source=source)
    return Converted(model, Vocabulary([PAD_TOKEN, UNK_TOKEN, *_unique_names(words, rest)]), new_ids)


def _unique_names(words: Sequence[str] | None, ids: list[int]) -> list[str]:
    """Display names of the user's ids, made unique (the vocabulary maps names to ids one to one)."""
    names, seen = [], {PAD_TOKEN, UNK_TOKEN}
    for i in ids:
        name = str(words[i]) if words is not None and i < len(words) and words[i] is not None else f"<id {i}>"
        if name in seen:
            name = f"{name}#{i}"
        seen.add(name)
        names.append(name)
    return names


def from_checkpoint(
    state_dict_path: str | os.PathLike,
    config_json: str | os.PathLike | dict[str, Any],
) -> RecurrentClassifier:
    """Build a :class:`RecurrentClassifier` from a bare state dict file and a small JSON config.

    The config (a path to a JSON file, or the parsed dict) may hold:

    * ``"modules"``: ``{"embedding": ..., "rnn": ..., "head": ...}`` — key prefixes in the state
      dict (default ``embedding``, ``rnn``, ``head``);
    * ``"cell"``: ``lstm``/``gru``/``rnn`` — optional: the gate count (4, 3 or 1 blocks of the
      hidden size) gives it, and a stated cell is checked against it;
    * ``max_length``, ``truncation``, ``class_names``, ``dataset``, ``dropout``.

    Sizes (vocabulary, embedding, hidden, layers, bidirectional, classes) come from the tensors.

    Parameters
    ----------
    state_dict_path
        A ``torch.save``'d state dict or a safetensors file.
    config_json
        The config above: a JSON file's path, or the parsed dict.

    Returns
    -------
    RecurrentClassifier
        In eval mode on the CPU.

    Raises
    ------
    ModelError
        A config with unknown keys or malformed values, or tensors missing or of the wrong shapes.
    """
    if isinstance(config_json, dict):
        spec, source = dict(config_json), "config"
    else:
        path = Path(config_json)
        spec, source = _read_config(path), str(path)
        if not isinstance(spec, dict):
            raise ModelError(f"{path} must hold a JSON object, got {type(spec).__name__}")
    modules = spec.pop("modules", {}) or {}
    if not isinstance(modules, dict) or set(modules) - {"embedding", "rnn", "head"}:
        raise ModelError(f"{source}: 'modules' must map embedding/rnn/head to state-dict prefixes, got {modules!r}")
    allowed = {"cell", *ModelWindow.__dataclass_fields__}
    unknown = sorted(set(spec) - allowed - {"format_version"})
    if unknown:
        raise ModelError(f"{source} has unknown keys {unknown}; allowed: modules, {', '.join(sorted(allowed))}")
    cell = spec.pop("cell", None)
    spec.pop("format_version", None)
    if not isinstance(spec.get("class_names", []), list):
        raise ModelError(f"{source}: class_names must be a list of names, got {spec['class_names']!r}")

    raw = read_state_dict(state_dict_path)
    state: dict[str, torch.Tensor] = {}
    for role in ("embedding", "rnn", "head"):
        prefix = modules.get(role, role).rstrip(".") + "."
        found = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}
        if not found:
            prefixes = sorted({k.rsplit(".", 1)[0] for k in raw if "." in k})
            raise ModelError(
                f"{state_dict_path} has no tensors under {prefix!r} for the {role}; "
                f"set \"modules\": {{\"{role}\": ...}} in {source} to one of {prefixes}"
            )
        state.update({f"{role}.{k}": v for k, v in found.items()})
    window = ModelWindow.from_options(spec, source)
    return _classifier_from_state(state, cell=cell, window=window, source=str(state_dict_path))


def _read_config(path: Path) -> Any:
    if not path.is_file():
        raise ModelError(f"config file {path} does not exist; write the small JSON config described in docs/models.md")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); fix the file") from None


def _infer_cell(gate_rows: int, hidden: int, declared: str | None, source: str) -> str:
    matches = [c for c, g in GATES.items() if g * hidden == gate_rows]
    if declared is not None:
        if declared not in GATES:
            raise ModelError(f"{source}: unknown cell {declared!r}; choose one of {', '.join(GATES)}")
        if declared not in matches:
            raise ModelError(
                f"{source}: cell {declared!r} needs {GATES[declared] * hidden} gate rows for hidden size {hidden}, "
                f"the weights have {gate_rows}; fix \"cell\" in the config"
            )
        return declared
    if len(matches) != 1:
        raise ModelError(
            f"{source}: weight_hh_l0 has {gate_rows} rows, not 4, 3 or 1 times the hidden size {hidden} "
            "of an LSTM, GRU or RNN; is 'rnn' the right module?"
        )
    return matches[0]


def _classifier_from_state(
    state: dict[str, torch.Tensor], *, cell: str | None, window: ModelWindow, source: str,
    head_layers: Sequence[dict[str, Any]] = (),
) -> RecurrentClassifier:
    """Infer the architecture from the tensors, validate it, and load the weights."""
    emb_w = state.get("embedding.weight")
    if emb_w is None or emb_w.dim() != 2:
        raise ModelError(f"{source}: the embedding has no 2-D 'weight'")
    vocab_size, embedding_dim = emb_w.shape

    rnn_keys = {k[len("rnn."):]: v for k, v in state.items() if k.startswith("rnn.")}
    bad = sorted(k for k in rnn_keys if not _RNN_PARAM.match(k))
    if bad:
        raise ModelError(f"{source}: unsupported recurrent parameters {bad[:3]} (projected LSTM or custom cell?)")
    layers = sorted({int(_RNN_PARAM.match(k).group(3)) for k in rnn_keys})
    if not layers or layers != list(range(len(layers))) or "weight_hh_l0" not in rnn_keys:
        raise ModelError(f"{source}: the recurrent module's weights are incomplete (found {sorted(rnn_keys)[:6]})")
    num_layers = len(layers)
    bidirectional = "weight_ih_l0_reverse" in rnn_keys
    gate_rows, hidden_size = rnn_keys["weight_hh_l0"].shape
    cell = _infer_cell(gate_rows, hidden_size, cell, source)
    state_size = hidden_size * (2 if bidirectional else 1)
    if rnn_keys["weight_ih_l0"].shape[1] != embedding_dim:
        raise ModelError(
            f"{source}: the recurrent layer expects inputs of size {rnn_keys['weight_ih_l0'].shape[1]} "
            f"but the embedding has dimension {embedding_dim}"
        )

    head_layers = list(head_layers)
    if head_layers:  # a chain of layers, already checked and converted by describe_head
        head_state = {k: v for k, v in state.items() if k.startswith("head.")}
        n_classes = [spec for spec in head_layers if spec["kind"] == "linear"][-1]["out"]
    else:
        head_state, n_classes = _linear_head(state, state_size, hidden_size, bidirectional, source)

    try:
        config = ModelConfig(
            cell=cell,
            vocab_size=int(vocab_size),
            n_classes=int(n_classes),
            embedding_dim=int(embedding_dim),
            hidden_size=int(hidden_size),
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=window.dropout,
            max_length=window.max_length,
            truncation=window.truncation,
            class_names=window.class_names,
            dataset=window.dataset,
            head_layers=tuple(head_layers),
        )
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{source}: malformed config value ({exc})") from None
    model = build_classifier(config)

    full = {"embedding.weight": emb_w, **head_state}
    for key, target in model.rnn.state_dict().items():
        if key in rnn_keys:
            full[f"rnn.{key}"] = rnn_keys[key]
        elif key.startswith("bias_"):  # bias=False in the user's module: zero biases are equivalent
            full[f"rnn.{key}"] = torch.zeros_like(target)
    load_weights_into(model, {k: v.detach().to("cpu") for k, v in full.items()}, source)
    return model.eval()


def _linear_head(state: dict[str, torch.Tensor], state_size: int, hidden_size: int, bidirectional: bool,
                 source: str) -> tuple[dict[str, torch.Tensor], int]:
    """An ``nn.Linear`` head's tensors (a single output z becomes the two logits ``[0, z]``) and its classes."""
    head_w, head_b = state.get("head.weight"), state.get("head.bias")
    if head_w is None or head_w.dim() != 2:
        raise ModelError(f"{source}: the head has no 2-D 'weight'")
    if head_w.shape[1] != state_size:
        raise ModelError(
            f"{source}: the head reads {head_w.shape[1]} features but the recurrent layer's final state has "
            f"{state_size} ({hidden_size} × {2 if bidirectional else 1} directions); the head must read the last state"
        )
    if head_b is None:
        head_b = torch.zeros(head_w.shape[0], dtype=head_w.dtype)
    if head_w.shape[0] == 1:  # sigmoid head → two-class softmax with identical probabilities
        head_w = torch.cat([torch.zeros_like(head_w), head_w])
        head_b = torch.cat([torch.zeros_like(head_b), head_b])
    return {"head.weight": head_w, "head.bias": head_b}, int(head_w.shape[0])
