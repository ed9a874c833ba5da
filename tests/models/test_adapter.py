"""Bring-your-own-model: a user's embedding → rnn → last state → head module converts to the same logits."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from rnnpanel.data.text import Vocabulary
from rnnpanel.errors import ModelError
from rnnpanel.models import load_model, save_model
from rnnpanel.models.adapter import from_checkpoint, from_module

VOCAB, EMB, HIDDEN, CLASSES = 40, 7, 5, 3
RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class UserClassifier(nn.Module):
    """The usual hand-written classifier: the head reads the final hidden state ``h_n``."""

    def __init__(self, cell="lstm", *, batch_first=True, bidirectional=False, layers=1, outputs=CLASSES, bias=True):
        super().__init__()
        self.batch_first = batch_first
        with torch.random.fork_rng(devices=[]):  # reproducible weights, global RNG untouched
            torch.manual_seed(0)
            self.emb = nn.Embedding(VOCAB, EMB)
            self.encoder = nn.Module()
            self.encoder.rnn = RNNS[cell](EMB, HIDDEN, num_layers=layers, batch_first=batch_first,
                                          bidirectional=bidirectional, bias=bias)
            self.drop = nn.Dropout(0.3)
            self.fc = nn.Linear(HIDDEN * (2 if bidirectional else 1), outputs)

    def forward(self, ids):  # ids: (B, T), no padding
        x = self.emb(ids)
        if not self.batch_first:
            x = x.transpose(0, 1)
        _, final = self.encoder.rnn(x)
        h_n = final[0] if isinstance(final, tuple) else final
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.encoder.rnn.bidirectional else h_n[-1]
        return self.fc(self.drop(last))


def sequences(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(2, VOCAB, (int(torch.randint(1, 12, (1,), generator=g)),), generator=g) for _ in range(n)]


def padded(seqs):
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
    return ids, lengths


def assert_same_logits(user, ours, atol=1e-5):
    """Ours runs padded, variable-length batches; the user's module runs each sequence on its own."""
    seqs = sequences()
    with torch.no_grad():
        expected = torch.cat([user(s[None]) for s in seqs])
        got = ours(*padded(seqs))
    torch.testing.assert_close(got, expected, atol=atol, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 2)])
def test_from_module_gives_the_users_logits(cell, batch_first, bidirectional, layers):
    user = UserClassifier(cell, batch_first=batch_first, bidirectional=bidirectional, layers=layers).eval()
    ours = from_module(user, embedding="emb", rnn="encoder.rnn", head="fc", class_names=("x", "y", "z"),
                       max_length=50, truncation="first")
    assert not ours.training
    assert (ours.config.cell, ours.config.num_layers, ours.config.bidirectional) == (cell, layers, bidirectional)
    assert (ours.config.max_length, ours.config.truncation, ours.config.class_names) == (50, "first", ("x", "y", "z"))
    assert_same_logits(user, ours)


def test_sigmoid_head_becomes_two_classes_with_the_same_probabilities():
    user = UserClassifier("lstm", outputs=1).eval()
    ours = from_module(user, embedding="emb", rnn="encoder.rnn", head="fc")
    assert ours.config.n_classes == 2
    seqs = sequences()
    with torch.no_grad():
        p_user = torch.sigmoid(torch.cat([user(s[None]) for s in seqs]))[:, 0]
        p_ours = torch.softmax(ours(*padded(seqs)), dim=1)[:, 1]
    torch.testing.assert_close(p_ours, p_user, atol=1e-6, rtol=0)


def test_rnn_without_bias_is_equivalent():
    user = UserClassifier("gru", bias=False).eval()
    assert_same_logits(user, from_module(user, embedding="emb", rnn="encoder.rnn", head="fc"))


def test_converted_model_survives_save_and_load(tmp_path):
    vocab = Vocabulary(["<pad>", "<unk>", *(f"w{i}" for i in range(VOCAB - 2))])
    user = UserClassifier("lstm").eval()
    ours = from_module(user, embedding="emb", rnn="encoder.rnn", head="fc")
    save_model(tmp_path / "byo", ours, vocab)
    assert_same_logits(user, load_model(tmp_path / "byo").model)


@pytest.mark.parametrize(
    "change,fragment",
    [
        (lambda m: {"embedding": "embedding"}, "is not a submodule"),
        (lambda m: {"embedding": "fc"}, "must be an nn.Embedding"),
        (lambda m: {"rnn": "emb"}, "must be an nn.LSTM, nn.GRU or nn.RNN"),
        (lambda m: {"head": "encoder.rnn"}, "a head may chain only"),
        (lambda m: setattr(m, "fc", nn.Linear(HIDDEN + 1, 2)), "the head must read the last state"),
        (lambda m: setattr(m, "emb", nn.Embedding(VOCAB, EMB + 1)), "embedding has dimension"),
        (lambda m: setattr(m.encoder, "rnn", nn.RNN(EMB, HIDDEN, nonlinearity="relu")), "nonlinearity='relu'"),
        (lambda m: setattr(m.encoder, "rnn", nn.LSTM(EMB, HIDDEN, proj_size=2)), "proj_size"),
    ],
)
def test_shapes_and_types_are_validated(change, fragment):
    user = UserClassifier("lstm")
    names = {"embedding": "emb", "rnn": "encoder.rnn", "head": "fc"}
    names.update(change(user) or {})
    with pytest.raises(ModelError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        from_module(user, **names)


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
@pytest.mark.parametrize("cell,bidirectional", [("lstm", False), ("gru", True)])
def test_from_checkpoint_reads_a_bare_state_dict(tmp_path, fmt, cell, bidirectional):
    user = UserClassifier(cell, bidirectional=bidirectional, layers=2).eval()
    path = tmp_path / f"user.{fmt}"
    if fmt == "pt":
        torch.save({"state_dict": user.state_dict(), "epoch": 3}, path)
    else:
        save_file({k: v.contiguous() for k, v in user.state_dict().items()}, str(path))
    config = {"modules": {"embedding": "emb", "rnn": "encoder.rnn", "head": "fc"}, "cell": cell,
              "max_length": 30, "truncation": "last", "class_names": ["p", "q", "r"], "dataset": "mine"}
    (tmp_path / "config.json").write_text(json.dumps(config))

    ours = from_checkpoint(path, tmp_path / "config.json")
    assert (ours.config.cell, ours.config.num_layers, ours.config.bidirectional) == (cell, 2, bidirectional)
    assert (ours.config.hidden_size, ours.config.vocab_size, ours.config.n_classes) == (HIDDEN, VOCAB, CLASSES)
    assert ours.config.class_names == ("p", "q", "r") and ours.config.dataset == "mine"
    assert_same_logits(user, ours)
    assert from_checkpoint(path, {k: v for k, v in config.items() if k != "cell"}).config.cell == cell


@pytest.mark.parametrize(
    "config,fragment",
    [
        ({"modules": {"embedding": "emb", "rnn": "rnn", "head": "fc"}}, "no tensors under 'rnn.'"),
        ({"modules": {"embedding": "emb", "rnn": "encoder.rnn", "head": "fc"}, "cell": "gru"}, "cell 'gru' needs"),
        ({"modules": {"embedding": "emb", "rnn": "encoder.rnn", "head": "fc"}, "colour": 1}, "unknown keys"),
        ({"modules": {"embedding": "emb", "rnn": "encoder.rnn", "head": "fc"}, "truncation": "middle"},
         "unknown truncation"),
    ],
)
def test_from_checkpoint_errors_name_the_fix(tmp_path, config, fragment):
    path = tmp_path / "user.pt"
    torch.save(UserClassifier("lstm").state_dict(), path)
    with pytest.raises(ModelError, match=fragment):
        from_checkpoint(path, config)


def test_from_checkpoint_missing_files(tmp_path):
    torch.save(UserClassifier("lstm").state_dict(), tmp_path / "user.pt")
    with pytest.raises(ModelError, match="does not exist"):
        from_checkpoint(tmp_path / "user.pt", tmp_path / "absent.json")
    with pytest.raises(ModelError, match="does not exist"):
        from_checkpoint(tmp_path / "absent.pt", {})


def test_from_checkpoint_refuses_shapes_of_no_known_cell(tmp_path):
    state = UserClassifier("lstm").state_dict()
    for key in [k for k in state if k.startswith("encoder.rnn.")]:
        state[key] = state[key][: 2 * HIDDEN]  # two gate blocks: neither LSTM (4), GRU (3) nor RNN (1)
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(ModelError, match="not 4, 3 or 1 times the hidden size"):
        from_checkpoint(tmp_path / "odd.pt", {"modules": {"embedding": "emb", "rnn": "encoder.rnn", "head": "fc"}})
    with pytest.raises(ModelError, match="class_names must be a list"):
        from_checkpoint(tmp_path / "odd.pt", {"class_names": "ab"})
