"""Train a :class:`RecurrentClassifier` on a :class:`Corpus` quickly on a CPU, reproducibly from a seed.

The recipe (:class:`TrainingRecipe`) is deliberately plain — Adam, gradient-norm clipping,
early stopping on a validation split carved from the training split — so that the trained
model is the paper's kind of model, not a tuned one. Speed on a CPU comes from length-bucketed
batches (texts of similar length share a batch, so little padding is run) and from the model's
unpacked forward for unidirectional networks (see :meth:`RecurrentClassifier.forward`).

No global random state is touched: the whole run happens inside ``torch.random.fork_rng`` seeded
from ``recipe.seed``, and batch order comes from a local NumPy generator.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from rnnpanel.data.corpus import Corpus, Split
from rnnpanel.data.splitting import stratified_split
from rnnpanel.data.text import PAD_ID, Vocabulary, tokenize
from rnnpanel.errors import ModelError
from rnnpanel.models.classifier import RecurrentClassifier
from rnnpanel.models.config import ModelConfig
from rnnpanel.models.encoding import (  # noqa: F401  (re-exported: older imports read them here)
    DATASET_WINDOWS,
    DEFAULT_WINDOW,
    dataset_window,
    encode_split,
    encode_text,
)
from rnnpanel.models.io import build_classifier, resolve_model_device

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TrainingRecipe:
    """How ``rnnpanel train`` trains, by default.

    * ``optimizer``: Adam (the paper's Keras default) with learning rate ``lr``.
    * ``batch_size`` texts per step, drawn in length buckets of ``bucket_batches`` batches.
    * ``clip_norm``: gradients are clipped to this global L2 norm (``None``: no clipping); it
      keeps the long news texts from exploding the LSTM's gradients.
    * ``max_epochs`` at most; training stops early when validation accuracy has not improved for
      ``patience`` epochs, and the weights of the best validation epoch are restored.
    * ``val_fraction`` of the training split (seeded, stratified by class) is held out for that
      validation; ``0`` trains for ``max_epochs`` and keeps the last weights.
    * The vocabulary keeps training-part tokens seen at least ``min_freq`` times, at most
      ``max_vocab`` entries (both special tokens included).
    * ``seed`` fixes the validation split, the vocabulary, the initial weights, dropout masks
      and batch order.
    """

    lr: float = 3e-3
    batch_size: int = 32
    bucket_batches: int = 50
    clip_norm: float | None = 1.0
    max_epochs: int = 20
    patience: int = 3
    val_fraction: float = 0.1
    min_freq: int = 2
    max_vocab: int | None = 20000
    seed: int = 0
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        if self.optimizer != "adam":
            raise ModelError(f"optimizer must be 'adam', got {self.optimizer!r}")
        if not self.lr > 0:
            raise ModelError(f"lr must be positive, got {self.lr!r}")
        for name in ("batch_size", "bucket_batches", "max_epochs", "patience", "min_freq"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ModelError(f"clip_norm must be positive or None, got {self.clip_norm!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ModelError(f"val_fraction must lie in [0, 1), got {self.val_fraction!r}")
        if self.max_vocab is not None and int(self.max_vocab) < 3:
            raise ModelError(f"max_vocab must be None or at least 3, got {self.max_vocab!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _subset(split: Split, rows: np.ndarray) -> Split:
    return Split(texts=tuple(split.texts[i] for i in rows), labels=split.labels[rows])


def _pad(seqs: list[list[int]], rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(seqs[i]) for i in rows], dtype=torch.long)
    batch = torch.full((len(rows), int(lengths.max())), PAD_ID, dtype=torch.long)
    for j, i in enumerate(rows):
        batch[j, : len(seqs[i])] = torch.as_tensor(seqs[i], dtype=torch.long)
    return batch, lengths


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, bucket_batches: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of row indices whose texts have similar lengths.

    Rows are shuffled, cut into chunks of ``batch_size * bucket_batches``, sorted by length
    inside each chunk and cut into batches; the batch order is shuffled again. Batches stay
    random across epochs while padding stays small.
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@torch.no_grad()
def predict_logits(
    model: RecurrentClassifier, seqs: list[list[int]], *, batch_size: int = 256, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Logits ``(len(seqs), n_classes)`` in input order, computed in eval mode in length-sorted batches."""
    was_training = model.training
    model.eval()
    out = np.empty((len(seqs), model.config.n_classes), dtype=np.float32)
    order = np.argsort([len(s) for s in seqs], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, lengths = _pad(seqs, rows)
        out[rows] = model(ids.to(device), lengths).float().cpu().numpy()
    model.train(was_training)
    return out


def categorical_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose highest logit is the true class (NaN for no rows)."""
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return float("nan")
    t = torch.from_numpy(logits)
    return float(nn.functional.cross_entropy(t, torch.as_tensor(labels, dtype=torch.long)))


def _rng_devices(device: torch.device) -> list[int]:
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


@dataclass(frozen=True)
class EncodedSplit:
    """A split as the model reads it: kept texts' ids and labels, plus what encoding dropped or cut."""

    ids: list[list[int]]
    labels: np.ndarray
    n_cut: np.ndarray
    kept: np.ndarray

    @classmethod
    def of(cls, split: Split, vocab: Vocabulary, config: ModelConfig) -> EncodedSplit:
        ids, n_cut, kept = encode_split(split, vocab, config)
        return cls(ids=ids, labels=split.labels[kept], n_cut=n_cut, kept=kept)

    @property
    def n_dropped(self) -> int:
        return int((~self.kept).sum())


def carve_validation(train: Split, recipe: TrainingRecipe) -> tuple[Split, Split]:
    """Split the training split into (train part, validation part), stratified and seeded by the recipe."""
    if recipe.val_fraction == 0:
        return train, _subset(train, np.empty(0, dtype=np.int64))
    train_rows, val_rows = stratified_split(train.labels, test_fraction=recipe.val_fraction, seed=recipe.seed)
    return _subset(train, train_rows), _subset(train, val_rows)


def _train_epoch(
    model: RecurrentClassifier,
    optimizer: torch.optim.Optimizer,
    data: EncodedSplit,
    recipe: TrainingRecipe,
    rng: np.random.Generator,
    device: torch.device,
    progress_bar: bool,
    epoch: int,
) -> float:
    """One pass over the training data in length buckets; returns the mean training loss."""
    model.train()
    lengths = np.array([len(s) for s in data.ids])
    total, count = 0.0, 0
    batches = bucketed_batches(lengths, recipe.batch_size, recipe.bucket_batches, rng)
    for rows in tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress_bar):
        ids, lengths_t = _pad(data.ids, rows)
        target = torch.as_tensor(data.labels[rows], dtype=torch.long, device=device)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(ids.to(device), lengths_t), target)
        loss.backward()
        if recipe.clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_norm)
        optimizer.step()
        total += loss.item() * len(rows)
        count += len(rows)
    return total / count


def fit(
    model: RecurrentClassifier,
    train: EncodedSplit,
    val: EncodedSplit,
    recipe: TrainingRecipe,
    *,
    device: torch.device,
    progress: bool = True,
    desc: str = "train",
    on_epoch: Callable[[int, RecurrentClassifier, dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], int, float | None]:
    """Train ``model`` in place with early stopping; leave it holding the best validation epoch's weights.

    ``on_epoch(epoch, model, record)`` is called after each epoch with the model as it is then (a
    :class:`~rnnpanel.models.checkpoints.CheckpointKeeper` keeps checkpoints this way).

    Returns the per-epoch history, the best epoch (1-based) and its validation accuracy (None
    without a validation split, in which case the last epoch is kept). Randomness comes from the
    recipe's seed through a local generator (batch order) and torch's generator (dropout), which
    the caller is expected to have forked.
    """
    rng = np.random.default_rng(recipe.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    history: list[dict[str, Any]] = []
    best_state = copy.deepcopy(model.state_dict())
    best = (-1.0, float("inf"))  # (val accuracy, val loss): accuracy decides, loss breaks ties
    best_epoch, since_best = 0, 0
    bar = tqdm(total=recipe.max_epochs, desc=desc, unit="epoch", disable=not progress)
    for epoch in range(1, recipe.max_epochs + 1):
        started = time.perf_counter()
        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": _train_epoch(model, optimizer, train, recipe, rng, device, progress, epoch),
        }
        improved = True
        if val.ids:
            logits = predict_logits(model, val.ids, device=device)
            record["val_loss"] = _cross_entropy(logits, val.labels)
            record["val_accuracy"] = categorical_accuracy(logits, val.labels)
            score = (record["val_accuracy"], record["val_loss"])
            improved = score[0] > best[0] or (score[0] == best[0] and score[1] < best[1])
            if improved:
                best = score
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if on_epoch is not None:
            on_epoch(epoch, model, record)
        if improved:
            best_state = copy.deepcopy(model.state_dict())
            best_epoch, since_best = epoch, 0
        else:
            since_best += 1
        bar.update(1)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_acc=f"{record.get('val_accuracy', float('nan')):.3f}",
                        best=best_epoch)
        log.info("epoch %d: %s", epoch, record)
        if val.ids and since_best >= recipe.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return history, best_epoch, (best[0] if val.ids else None)


def train_model(
    corpus: Corpus,
    *,
    recipe: TrainingRecipe | None = None,
    cell: str = "lstm",
    embedding_dim: int = 32,
    hidden_size: int = 100,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.5,
    max_length: int | None = None,
    truncation: str | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_epoch: Callable[[int, RecurrentClassifier, dict[str, Any]], None] | None = None,
) -> tuple[RecurrentClassifier, Vocabulary, dict[str, Any]]:
    """Train a classifier on ``corpus.train`` and score it on ``corpus.test``.

    ``on_epoch`` is passed to :func:`fit` (checkpoints).

    ``max_length``/``truncation`` default to the corpus's entry in :data:`DATASET_WINDOWS`.
    Returns the model (on the CPU, eval mode, best-validation weights), the vocabulary built
    from the training part, and the metrics written to ``metrics.json``. ``test_accuracy`` is
    categorical (argmax over classes) over the test texts that keep at least one known token;
    ``dropped_empty`` counts the others per split.
    """
    recipe = recipe or TrainingRecipe()
    started = time.perf_counter()
    window = dataset_window(corpus.name)
    given = {"max_length": max_length, "truncation": truncation}
    window.update({k: v for k, v in given.items() if v is not None})
    dev = resolve_model_device(device)

    train_part, val_part = carve_validation(corpus.train, recipe)
    vocab = Vocabulary.build(
        (tokenize(t) for t in train_part.texts), min_freq=recipe.min_freq, max_size=recipe.max_vocab
    )
    config = ModelConfig(
        cell=cell,
        vocab_size=len(vocab),
        n_classes=corpus.n_classes,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        max_length=window["max_length"],
        truncation=window["truncation"],
        class_names=corpus.class_names,
        dataset=corpus.name,
    )
    data = {name: EncodedSplit.of(split, vocab, config)
            for name, split in (("train", train_part), ("val", val_part), ("test", corpus.test))}
    if not data["train"].ids:
        raise ModelError(f"no training text of {corpus.name!r} has a known token; check the text column")

    with torch.random.fork_rng(devices=_rng_devices(dev)):
        torch.manual_seed(recipe.seed)  # seeds initial weights and dropout inside the fork only
        model = build_classifier(config).to(dev)
        history, best_epoch, val_accuracy = fit(
            model, data["train"], data["val"], recipe, device=dev, progress=progress, desc=f"train {corpus.name}",
            on_epoch=on_epoch,
        )
        test_logits = predict_logits(model, data["test"].ids, device=dev)
    model = model.cpu().eval()
    test_accuracy = categorical_accuracy(test_logits, data["test"].labels)
    seconds = time.perf_counter() - started
    log.info("trained %s: test accuracy %.4f in %.1f s", corpus.name, test_accuracy, seconds)

    metrics: dict[str, Any] = {
        "dataset": corpus.name,
        "test_accuracy": test_accuracy,
        "val_accuracy": val_accuracy,
        "train_seconds": round(seconds, 3),
        "n_train": len(data["train"].ids),
        "n_val": len(data["val"].ids),
        "n_test": len(data["test"].ids),
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "dropped_empty": {name: d.n_dropped for name, d in data.items()},
        "n_cut_texts": {name: int((d.n_cut > 0).sum()) for name, d in data.items()},
        "settings": {
            "max_length": config.max_length,
            "truncation": config.truncation,
            "window_from": {k: ("dataset default" if v is None else "given") for k, v in given.items()},
        },
        "class_names": list(corpus.class_names),
        "vocab_size": len(vocab),
        "config": config.to_dict(),
        "recipe": recipe.to_dict(),
        "history": history,
        "device": str(dev),
        "torch_version": torch.__version__,
        "corpus_provenance": dict(corpus.provenance),
    }
    return model, vocab, metrics
