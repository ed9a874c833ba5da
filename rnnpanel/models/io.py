"""Save and load a model directory without ever unpickling: JSON config, JSON vocabulary, safetensors weights.

A model directory holds ``config.json`` (the :class:`ModelConfig` plus a format version),
``vocab.json`` (the :class:`~rnnpanel.data.text.Vocabulary`), ``weights.safetensors`` (the state
dict) and, when training wrote them, ``metrics.json``. Directories written by other tools may hold
``weights.pt`` instead: a plain state dict, read with ``torch.load(..., weights_only=True)`` so that
no arbitrary object is ever rebuilt from the file.

Writes are atomic: everything goes into a hidden sibling folder that is renamed into place only
when complete, so an interrupted save leaves the previous model (or nothing), never half a model.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save_file as save_safetensors

from rnnpanel.data.text import Vocabulary
from rnnpanel.errors import ModelError, RnnpanelError
from rnnpanel.hashing import file_sha256
from rnnpanel.models.classifier import RecurrentClassifier
from rnnpanel.models.config import ModelConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "weights.safetensors"
TORCH_WEIGHTS_FILE = "weights.pt"
METRICS_FILE = "metrics.json"
MODEL_FILES = (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, TORCH_WEIGHTS_FILE, METRICS_FILE)


@dataclass(frozen=True)
class LoadedModel:
    """A model read from disk, ready for inference.

    ``weights_sha256`` identifies the exact weights, so caches of extracted states can be keyed
    by it; ``metrics`` is what training recorded (empty when the directory has none).
    """

    model: RecurrentClassifier
    config: ModelConfig
    vocab: Vocabulary
    weights_sha256: str
    directory: Path
    metrics: dict = field(default_factory=dict)


def _retrain_hint(directory: Path) -> str:
    return f"re-run `rnnpanel train --dataset NAME --out {directory}` or point to a complete model directory"


def is_model_dir(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` looks like a model directory (it has a ``config.json``)."""
    return (Path(directory) / CONFIG_FILE).is_file()


def check_output_dir(directory: str | os.PathLike) -> Path:
    """Refuse an output path that :func:`save_model` would have to clobber.

    An existing *model* directory may be replaced, and so may an empty folder; anything else
    (a file, a folder with other content) is left alone. Call this before a long training run so
    the user learns about a bad ``--out`` at once rather than after it.
    """
    path = Path(directory)
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"--out {path} is an existing file, not a model directory; choose another path")
        if any(path.iterdir()) and not is_model_dir(path):
            raise ModelError(
                f"--out {path} is a non-empty folder that is not a model directory; "
                "choose a new path or an existing model directory to replace"
            )
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, torch.device)):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _clean_metrics(metrics: dict) -> dict:
    """NaN/inf are not JSON: store them as null so every reader can parse the file."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (float, np.floating)) and not math.isfinite(float(v)):
            return None
        return v

    return clean(metrics)


def save_model(
    directory: str | os.PathLike,
    model: RecurrentClassifier,
    vocab: Vocabulary,
    *,
    metrics: dict | None = None,
) -> None:
    """Write ``model``, its config and ``vocab`` as a model directory, atomically.

    An existing model directory at ``directory`` is replaced only once the new one is complete.
    """
    if not isinstance(model, RecurrentClassifier):
        raise ModelError(
            f"save_model needs a RecurrentClassifier, got {type(model).__name__}; "
            "wrap your own module with rnnpanel.models.adapter.from_module first"
        )
    config = model.config
    if len(vocab) != config.vocab_size:
        raise ModelError(
            f"the vocabulary has {len(vocab)} words but the model's vocab_size is {config.vocab_size}; "
            "save the vocabulary the model was trained with"
        )
    target = check_output_dir(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_sibling(target, "tmp")
    try:
        _write_json(tmp / CONFIG_FILE, {"format_version": FORMAT_VERSION, **config.to_dict()})
        vocab.save(tmp / VOCAB_FILE)
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        # one metadata key: safetensors orders several at random, and the file's hash must not change
        save_safetensors(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        if metrics is not None:
            _write_json(tmp / METRICS_FILE, _clean_metrics(metrics))
        _finish_files(tmp)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved model to %s", target)


def _fresh_sibling(target: Path, kind: str) -> Path:
    """Create a hidden, uniquely named folder next to ``target`` (with the user's umask, unlike mkdtemp's 0700)."""
    while True:
        path = target.parent / f".{target.name}.{kind}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _finish_files(folder: Path) -> None:
    """Give files the folder's (umask-derived) permissions and flush them before the rename.

    Some writers create 0600 files; a model directory is meant to be shared like any other
    output. The flush means a crash cannot leave a renamed folder with empty files.
    """
    file_mode = folder.stat().st_mode & 0o666
    for p in folder.iterdir():
        os.chmod(p, file_mode)
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing target is moved aside first and removed after."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = _fresh_sibling(target, "old")
    old.rmdir()
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)



def _read_json(path: Path, directory: Path) -> Any:
    if not path.is_file():
        raise ModelError(
            f"model directory {directory} is incomplete: {path.name} is missing; {_retrain_hint(directory)}"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); {_retrain_hint(directory)}") from None


def config_from_json(data: Any, source: str | os.PathLike) -> ModelConfig:
    """Build a :class:`ModelConfig` from the parsed contents of a ``config.json``."""
    if not isinstance(data, dict):
        raise ModelError(f"{source} must hold a JSON object, got {type(data).__name__}")
    data = dict(data)
    version = data.pop("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{source} has format_version {version!r}, newer than this rnnpanel reads ({FORMAT_VERSION}); "
            "upgrade rnnpanel"
        )
    try:
        return ModelConfig.from_dict(data)
    except ModelError as exc:
        raise ModelError(f"{source}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{source} has a malformed value ({exc}); fix the file or re-train the model") from None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors, or from a torch file with ``weights_only=True``.

    A torch checkpoint that wraps the state dict as ``{"state_dict": ...}`` or
    ``{"model_state_dict": ...}`` is unwrapped. Nothing is ever unpickled beyond tensors and
    plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file {path} does not exist; check the path")
    try:
        if path.suffix == ".safetensors":
            state: Any = load_safetensors(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure of a foreign file is the user's to fix
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path} cannot be read as a weights file ({first_line}); "
            "save a plain state dict with safetensors or torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model_state_dict"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
                break
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(
            f"{path} does not hold a state dict (a mapping of parameter names to tensors); "
            "save it with torch.save(model.state_dict(), path)"
        )
    return state


def load_weights_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Copy ``state`` into ``model`` after checking names and shapes, with a message that says what differs."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} (config needs {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:4])}{' …' if len(unexpected) > 4 else ''}")
    if wrong:
        problems.append(f"wrong shape {', '.join(wrong[:3])}{' …' if len(wrong) > 3 else ''}")
    if problems:
        raise ModelError(
            f"weights in {source} do not match the model config ({'; '.join(problems)}); "
            "use the config.json written with these weights or re-train the model"
        )
    with torch.no_grad():
        model.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()})


def resolve_model_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or a ModelError when it does not exist on this machine."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"unknown device {device!r} ({exc}); use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available here; use device='cpu'")
    return dev


def load_model(directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Read a model directory written by :func:`save_model` (or by hand: config, vocab, weights).

    The returned model is in eval mode on ``device``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(
            f"model directory {directory} does not exist; "
            f"train one with `rnnpanel train --dataset NAME --out {directory}`"
        )
    dev = resolve_model_device(device)
    config = config_from_json(_read_json(directory / CONFIG_FILE, directory), directory / CONFIG_FILE)

    vocab_path = directory / VOCAB_FILE
    if not vocab_path.is_file():
        raise ModelError(
            f"model directory {directory} is incomplete: {VOCAB_FILE} is missing; {_retrain_hint(directory)}"
        )
    try:
        vocab = Vocabulary.load(vocab_path)
    except RnnpanelError as exc:
        raise ModelError(f"{vocab_path} cannot be read ({exc}); {_retrain_hint(directory)}") from None
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise ModelError(f"{vocab_path} is not a valid vocabulary ({exc}); {_retrain_hint(directory)}") from None
    if len(vocab) != config.vocab_size:
        raise ModelError(
            f"{vocab_path} has {len(vocab)} words but {CONFIG_FILE} says vocab_size {config.vocab_size}; "
            f"{_retrain_hint(directory)}"
        )

    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        weights_path = directory / TORCH_WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelError(
            f"model directory {directory} is incomplete: {WEIGHTS_FILE} is missing; {_retrain_hint(directory)}"
        )
    state = read_state_dict(weights_path)
    model = build_classifier(config)
    load_weights_into(model, state, weights_path)
    model.to(dev).eval()

    metrics: dict = {}
    metrics_path = directory / METRICS_FILE
    if metrics_path.is_file():
        loaded = _read_json(metrics_path, directory)
        metrics = loaded if isinstance(loaded, dict) else {}
    return LoadedModel(
        model=model,
        config=config,
        vocab=vocab,
        weights_sha256=file_sha256(weights_path),
        directory=directory,
        metrics=metrics,
    )


def build_classifier(config: ModelConfig, *, seed: int | None = None) -> RecurrentClassifier:
    """Construct a :class:`RecurrentClassifier` without touching the global random state.

    Parameter initialisation draws from torch's global generator; doing it inside
    ``fork_rng`` (seeded when ``seed`` is given) keeps the caller's random stream unchanged.
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return RecurrentClassifier(config)
