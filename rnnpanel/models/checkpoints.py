"""Checkpoints of a training run: the model every K epochs, kept as ordinary model folders.

A run is a model folder (its best epoch, as ``rnnpanel train`` always wrote) holding
``checkpoints/epoch-NNN/`` model folders and a ``checkpoints.json`` manifest (epoch, validation
accuracy and training loss of each, the best epoch and the one training stopped at). Because each
checkpoint is a normal model folder, everything that takes a model (extract, explore, the app)
takes a checkpoint, and comparing epochs is comparing models.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rnnpanel.errors import ModelError

CHECKPOINTS_DIR = "checkpoints"
MANIFEST_FILE = "checkpoints.json"


@dataclass(frozen=True)
class Checkpoint:
    """One saved epoch of a run: where its model folder is and how it scored on validation."""

    epoch: int
    path: Path
    val_accuracy: float | None
    train_loss: float | None


class CheckpointKeeper:
    """Called by :func:`~rnnpanel.models.training.fit` after each epoch: keeps a CPU copy of the
    weights every ``every`` epochs, and the last epoch's (the one training stopped at)."""

    def __init__(self, every: int) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ModelError(f"--checkpoints must be a positive number of epochs, got {every!r}")
        self.every = every
        self.kept: dict[int, tuple[dict[str, torch.Tensor], dict[str, Any]]] = {}
        self._last: tuple[int, dict[str, torch.Tensor], dict[str, Any]] | None = None

    def __call__(self, epoch: int, model: torch.nn.Module, record: dict[str, Any]) -> None:
        state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
        if epoch % self.every == 0:
            self.kept[epoch] = (state, dict(record))
        self._last = (epoch, state, dict(record))

    def checkpoints(self) -> dict[int, tuple[dict[str, torch.Tensor], dict[str, Any]]]:
        """Epoch → (weights, that epoch's record), the stopping epoch included, in order."""
        kept = dict(self.kept)
        if self._last is not None:
            kept.setdefault(self._last[0], (self._last[1], self._last[2]))
        return dict(sorted(kept.items()))


def save_checkpoints(run: str | os.PathLike, template: torch.nn.Module, vocab: Any, keeper: CheckpointKeeper,
                     *, best_epoch: int, metrics: dict[str, Any]) -> list[Checkpoint]:
    """Save the kept epochs inside the run's model folder ``run`` (already written), then its manifest.

    ``template`` is a model of the run's architecture (its weights are replaced by each epoch's in
    a copy); ``metrics`` are the run's, given to each checkpoint with its own epoch added.
    """
    from rnnpanel.models.io import save_model

    run = Path(run)
    saved = []
    model = copy.deepcopy(template).cpu().eval()
    for epoch, (state, record) in keeper.checkpoints().items():
        model.load_state_dict(state)
        folder = run / CHECKPOINTS_DIR / f"epoch-{epoch:03d}"
        save_model(folder, model, vocab, metrics={**metrics, "checkpoint": {"epoch": epoch, **record}})
        saved.append(Checkpoint(epoch, folder, record.get("val_accuracy"), record.get("train_loss")))
    manifest = {
        "every": keeper.every, "best_epoch": best_epoch, "stopped_epoch": max(keeper.checkpoints(), default=None),
        "checkpoints": [{"epoch": c.epoch, "path": str(c.path.relative_to(run)), "val_accuracy": c.val_accuracy,
                         "train_loss": c.train_loss} for c in saved],
    }
    tmp = run / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, run / MANIFEST_FILE)
    return saved


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a model folder saved with checkpoints."""
    return (Path(path) / MANIFEST_FILE).is_file()


def read_run(path: str | os.PathLike) -> list[Checkpoint]:
    """The checkpoints of the run at ``path``, oldest first.

    Raises
    ------
    ModelError
        ``path`` has no checkpoints (train it with ``--checkpoints K``) or its manifest is unreadable.
    """
    run = Path(path).expanduser()
    try:
        manifest = json.loads((run / MANIFEST_FILE).read_text())
        return [Checkpoint(int(c["epoch"]), run / c["path"], c.get("val_accuracy"), c.get("train_loss"))
                for c in manifest["checkpoints"]]
    except FileNotFoundError:
        raise ModelError(f"{run} has no checkpoints ({MANIFEST_FILE} is missing); train it with "
                         "`rnnpanel train --checkpoints K` to keep the model every K epochs") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the checkpoint list {run / MANIFEST_FILE} cannot be read ({exc}); train the run again") \
            from None


def checkpoint_of(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``{"run", "epoch", "val_accuracy"}`` when ``model_dir`` is a checkpoint of a run, else None
    (what an entry extracted from it records, so that a run's entries find each other)."""
    folder = Path(model_dir).expanduser().resolve()
    run = folder.parent.parent
    if folder.parent.name != CHECKPOINTS_DIR or not is_run(run):
        return None
    try:
        record = json.loads((folder / "metrics.json").read_text())["checkpoint"]
        return {"run": str(run), "epoch": int(record["epoch"]), "val_accuracy": record.get("val_accuracy")}
    except (OSError, ValueError, KeyError, TypeError):
        return None
