"""Model directories: round trip, safe formats only, atomic replacement, and a clear error for each broken directory."""

from __future__ import annotations

import argparse
import hashlib
import json

import pytest
import torch
from safetensors.torch import save_file

from rnnpanel.data.text import Vocabulary
from rnnpanel.errors import ModelError
from rnnpanel.models import (
    LoadedModel,
    ModelConfig,
    RecurrentClassifier,
    load_model,
    save_model,
)
from rnnpanel.models.io import (
    CONFIG_FILE,
    METRICS_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
    build_classifier,
)


def small_model(vocab: Vocabulary, **kw) -> RecurrentClassifier:
    cfg = {"cell": "lstm", "vocab_size": len(vocab), "n_classes": 3, "embedding_dim": 8, "hidden_size": 6,
           "class_names": ("a", "b", "c"), "dataset": "tiny", "max_length": 20, "truncation": "first"}
    cfg.update(kw)
    return build_classifier(ModelConfig(**cfg), seed=3).eval()


def batch(vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, vocab_size, (5, 9), generator=g)
    lengths = torch.tensor([9, 4, 1, 7, 9])
    for row, n in enumerate(lengths):
        ids[row, n:] = 0
    return ids, lengths


@pytest.mark.parametrize("cell,bidirectional,layers", [("lstm", False, 1), ("gru", True, 2), ("rnn", False, 2)])
def test_round_trip_gives_identical_logits(tmp_path, tiny_vocab, cell, bidirectional, layers):
    model = small_model(tiny_vocab, cell=cell, bidirectional=bidirectional, num_layers=layers)
    metrics = {"test_accuracy": 0.5, "history": [{"epoch": 1, "val_loss": float("nan")}]}
    save_model(tmp_path / "m", model, tiny_vocab, metrics=metrics)

    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, LoadedModel)
    assert not loaded.model.training
    assert loaded.config == model.config
    assert loaded.vocab == tiny_vocab
    assert loaded.metrics == {"test_accuracy": 0.5, "history": [{"epoch": 1, "val_loss": None}]}
    assert loaded.weights_sha256 == hashlib.sha256((tmp_path / "m" / WEIGHTS_FILE).read_bytes()).hexdigest()
    ids, lengths = batch(len(tiny_vocab))
    with torch.no_grad():
        assert torch.equal(loaded.model(ids, lengths), model(ids, lengths))
    assert json.loads((tmp_path / "m" / CONFIG_FILE).read_text())["format_version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left


def test_weights_pt_is_read_with_weights_only(tmp_path, tiny_vocab):
    model = small_model(tiny_vocab)
    save_model(tmp_path / "m", model, tiny_vocab)
    (tmp_path / "m" / WEIGHTS_FILE).unlink()
    torch.save(model.state_dict(), tmp_path / "m" / "weights.pt")

    loaded = load_model(tmp_path / "m")
    ids, lengths = batch(len(tiny_vocab))
    with torch.no_grad():
        assert torch.equal(loaded.model(ids, lengths), model(ids, lengths))
    assert loaded.weights_sha256 == hashlib.sha256((tmp_path / "m" / "weights.pt").read_bytes()).hexdigest()


def test_pickled_objects_are_refused(tmp_path, tiny_vocab):
    model = small_model(tiny_vocab)
    save_model(tmp_path / "m", model, tiny_vocab)
    (tmp_path / "m" / WEIGHTS_FILE).unlink()
    state = dict(model.state_dict())
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=1.0)}, tmp_path / "m" / "weights.pt")
    with pytest.raises(ModelError, match="weights.pt cannot be read"):
        load_model(tmp_path / "m")


def test_save_replaces_an_existing_model(tmp_path, tiny_vocab):
    first, second = small_model(tiny_vocab), small_model(tiny_vocab, hidden_size=4)
    save_model(tmp_path / "m", first, tiny_vocab, metrics={"run": 1})
    save_model(tmp_path / "m", second, tiny_vocab)
    loaded = load_model(tmp_path / "m")
    assert loaded.config.hidden_size == 4
    assert not (tmp_path / "m" / METRICS_FILE).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_saving_the_same_model_twice_gives_the_same_weights_hash(tmp_path, tiny_vocab):
    """The weights hash keys the store: a re-saved model must hit the entries of its first save."""
    model = small_model(tiny_vocab)
    hashes = set()
    for i in range(6):
        save_model(tmp_path / f"m{i}", model, tiny_vocab)
        hashes.add(load_model(tmp_path / f"m{i}").weights_sha256)
    assert len(hashes) == 1


def test_failed_save_keeps_the_previous_model_and_leaves_nothing(tmp_path, tiny_vocab):
    model = small_model(tiny_vocab)
    save_model(tmp_path / "m", model, tiny_vocab, metrics={"run": 1})
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    with pytest.raises(TypeError):  # a metric that JSON cannot hold fails half-way through the write
        save_model(tmp_path / "m", small_model(tiny_vocab, hidden_size=4), tiny_vocab, metrics={"bad": {1, 2}})
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_save_refuses_to_clobber_other_folders(tmp_path, tiny_vocab):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(ModelError, match="not a model directory"):
        save_model(tmp_path / "notes", small_model(tiny_vocab), tiny_vocab)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    with pytest.raises(ModelError, match="vocab_size"):
        save_model(tmp_path / "new", small_model(tiny_vocab), Vocabulary(["<pad>", "<unk>", "x"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def _break(directory, how: str) -> str:
    """Damage a saved model directory; return a fragment the error message must contain."""
    cfg_path, vocab_path, weights_path = directory / CONFIG_FILE, directory / VOCAB_FILE, directory / WEIGHTS_FILE
    cfg = json.loads(cfg_path.read_text())
    weights = dict(__import__("safetensors.torch", fromlist=["load_file"]).load_file(str(weights_path)))
    if how == "no_config":
        cfg_path.unlink()
        return "config.json is missing"
    if how == "no_vocab":
        vocab_path.unlink()
        return "vocab.json is missing"
    if how == "no_weights":
        weights_path.unlink()
        return "weights.safetensors is missing"
    if how == "bad_json":
        cfg_path.write_text('{"cell": "lstm",')
        return "config.json is not valid JSON"
    if how == "config_list":
        cfg_path.write_text("[1, 2]")
        return "must hold a JSON object"
    if how == "unknown_key":
        cfg_path.write_text(json.dumps({**cfg, "colour": "red"}))
        return "unknown keys ['colour']"
    if how == "bad_cell":
        cfg_path.write_text(json.dumps({**cfg, "cell": "transformer"}))
        return "unknown cell 'transformer'"
    if how == "newer_format":
        cfg_path.write_text(json.dumps({**cfg, "format_version": 99}))
        return "upgrade rnnpanel"
    if how == "bad_vocab":
        vocab_path.write_text("not json")
        return "vocab.json"
    if how == "vocab_size":
        cfg_path.write_text(json.dumps({**cfg, "vocab_size": cfg["vocab_size"] + 1}))
        return "says vocab_size"
    if how == "missing_key":
        del weights["head.bias"]
        save_file(weights, str(weights_path))
        return "missing head.bias"
    if how == "unexpected_key":
        weights["extra.weight"] = torch.zeros(2)
        save_file(weights, str(weights_path))
        return "unexpected extra.weight"
    if how == "wrong_shape":
        cfg_path.write_text(json.dumps({**cfg, "hidden_size": cfg["hidden_size"] + 1}))
        return "wrong shape"
    if how == "corrupt_weights":
        weights_path.write_bytes(b"\x00garbage" * 10)
        return "cannot be read as a weights file"
    raise AssertionError(how)


BREAKAGES = ["no_config", "no_vocab", "no_weights", "bad_json", "config_list", "unknown_key", "bad_cell",
             "newer_format", "bad_vocab", "vocab_size", "missing_key", "unexpected_key", "wrong_shape",
             "corrupt_weights"]


@pytest.mark.parametrize("how", BREAKAGES)
def test_each_broken_directory_is_a_one_line_model_error(tmp_path, tiny_vocab, how):
    save_model(tmp_path / "m", small_model(tiny_vocab), tiny_vocab)
    fragment = _break(tmp_path / "m", how)
    with pytest.raises(ModelError) as info:
        load_model(tmp_path / "m")
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_missing_directory_names_the_remedy(tmp_path):
    with pytest.raises(ModelError, match="rnnpanel train"):
        load_model(tmp_path / "nowhere")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_model_error(tmp_path, tiny_vocab):
    save_model(tmp_path / "m", small_model(tiny_vocab), tiny_vocab)
    with pytest.raises(ModelError, match="CUDA is not available"):
        load_model(tmp_path / "m", device="cuda")


def test_build_classifier_leaves_global_rng_alone(tiny_vocab):
    before = torch.random.get_rng_state()
    a, b = small_model(tiny_vocab), small_model(tiny_vocab)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_saved_directory_has_ordinary_permissions(tmp_path, tiny_vocab):
    """Readable by others as the umask allows, like any folder the user makes (not mkdtemp's 0700)."""
    (tmp_path / "reference").mkdir()
    save_model(tmp_path / "m", small_model(tiny_vocab), tiny_vocab, metrics={})
    folder_mode = (tmp_path / "reference").stat().st_mode & 0o777
    assert (tmp_path / "m").stat().st_mode & 0o777 == folder_mode
    for name in (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, METRICS_FILE):
        assert (tmp_path / "m" / name).stat().st_mode & 0o777 == folder_mode & 0o666
