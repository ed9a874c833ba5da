"""Models written the way researchers write them convert to the same logits, and explore stores their states.

Packed sequences, ``batch_first``, an MLP head with functional activations, a GloVe-sized frozen
embedding, a bidirectional GRU with a sigmoid output and padding at the last id: each is
converted and compared logit for logit with the original module on padded batches.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from rnnpanel.errors import ModelError
from rnnpanel.explorer import store_states
from rnnpanel.models import load_model
from rnnpanel.models.adapter import convert_module, find_parts, from_module
from rnnpanel.store import StateStore

WORDS = ["<pad>", "<unk>", *(f"w{i}" for i in range(30))]


class PackedLSTM(nn.Module):
    """Packed padded batches, batch_first, and an MLP head written with F.relu in forward."""

    def __init__(self, vocab_size=None, pad=0):
        super().__init__()
        vocab_size = len(WORDS) if vocab_size is None else vocab_size
        self.embedding = nn.Embedding(vocab_size, 12, padding_idx=pad)
        self.lstm = nn.LSTM(12, 9, num_layers=2, batch_first=True, dropout=0.1)
        self.fc1 = nn.Linear(9, 16)
        self.fc2 = nn.Linear(16, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.fc2(self.drop(F.relu(self.fc1(h_n[-1]))))


class MlpHead(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, classes))

    def forward(self, x):
        return self.net(x)


class BiGRU(nn.Module):
    """A bidirectional GRU whose padding is the last id, with one sigmoid output."""

    def __init__(self, vocab_size=None):
        super().__init__()
        vocab_size = len(WORDS) if vocab_size is None else vocab_size
        self.pad = vocab_size - 1
        self.emb = nn.Embedding(vocab_size, 10, padding_idx=self.pad)
        self.rnn = nn.GRU(10, 7, batch_first=True, bidirectional=True)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(14, 1), nn.Sigmoid())

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.emb(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.classifier(torch.cat([h_n[-2], h_n[-1]], dim=1))


class GloveGRU(nn.Module):
    """A frozen GloVe-sized embedding (400,000 × 50) under a GRU and an MLP head module."""

    def __init__(self, vectors):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(vectors, freeze=True, padding_idx=0)
        self.encoder = nn.GRU(vectors.shape[1], 8, batch_first=True)
        self.head = MlpHead(8, 2)

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.encoder(packed)
        return self.head(h_n[-1])


def built(cls, *args):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return cls(*args).eval()


def batch(vocab_size, *, pad=0, low=2, n=7, seed=3):
    """A padded, batch-first batch of random lengths whose words avoid the special ids."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 15, (n,), generator=g)
    ids = torch.full((n, int(lengths.max())), pad, dtype=torch.long)
    high = vocab_size - (1 if pad == vocab_size - 1 else 0)
    for i, length in enumerate(lengths):
        ids[i, :length] = torch.randint(low, high, (int(length),), generator=g)
    return ids, lengths


def ours_on(converted, ids, lengths):
    """The converted model on the same words: user ids mapped to its ids (padding is 0)."""
    mapped = torch.as_tensor(converted.new_ids)[ids].clamp(min=0)
    for i, length in enumerate(lengths):
        mapped[i, length:] = 0
    return converted.model(mapped, lengths)


def test_packed_lstm_with_functional_mlp_head_gives_the_same_logits():
    user = built(PackedLSTM)
    ids, lengths = batch(len(WORDS))
    converted = convert_module(user, WORDS, unk_id=1)
    assert converted.model.config.head_layers[1] == {"kind": "relu"}
    with torch.no_grad():
        torch.testing.assert_close(ours_on(converted, ids, lengths), user(ids, lengths), atol=1e-5, rtol=1e-5)


def test_bidirectional_gru_padded_at_the_last_id_with_a_sigmoid_output():
    user = built(BiGRU)
    ids, lengths = batch(len(WORDS), pad=user.pad)
    converted = convert_module(user, [*WORDS[:-1], "PAD"], unk_id=1)   # padding_idx read from the embedding
    assert converted.vocabulary.words[:2] == ["<pad>", "<unk>"] and converted.new_ids[user.pad] == -1
    with torch.no_grad():
        probs = torch.softmax(ours_on(converted, ids, lengths), dim=-1)[:, 1]
        torch.testing.assert_close(probs, user(ids, lengths)[:, 0], atol=1e-6, rtol=1e-5)


@pytest.mark.slow
def test_glove_sized_frozen_embedding_converts_saves_and_reads(tmp_path):
    vectors = torch.randn(400_000, 50, generator=torch.Generator().manual_seed(0))
    vectors[0] = 0
    user = built(GloveGRU, vectors)
    assert find_parts(user) == {"embedding": "embedding", "rnn": "encoder", "head": "head"}
    model = from_module(user)
    ids, lengths = batch(400_000)
    with torch.no_grad():
        torch.testing.assert_close(model(ids, lengths), user(ids, lengths), atol=1e-5, rtol=1e-5)
    names = {f"tok{i}": i for i in range(400_000)}
    texts = ["tok5 tok77 tok399999 tok12", "tok3 tok3 tok8"]
    prepared = store_states(user, texts, [0, 1], tokenizer=str.split, vocab=names, unk_id=None, pad_id=0,
                            store=tmp_path / "store", progress=False)
    entry = StateStore(tmp_path / "store").entry(prepared.entry_key)
    assert [str(w) for w in entry.words()] == ["tok5", "tok77", "tok399999", "tok12", "tok3", "tok3", "tok8"]
    with torch.no_grad():
        want = torch.softmax(user(torch.tensor([[5, 77, 399_999, 12]]), torch.tensor([4])), -1).numpy()
    np.testing.assert_allclose(entry.load("probs")[:1], want, atol=1e-5)
    assert load_model(prepared.model_dir).config.head_layers  # the MLP head survives save and load


def test_a_head_that_is_not_a_plain_chain_is_refused():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(9, 9), nn.Linear(9, 4)

        def forward(self, x):
            return self.b(x + self.a(x))

    user = built(PackedLSTM)
    user.fc1, user.fc2 = Residual(), nn.Identity()
    with pytest.raises(ModelError, match="plain chain"):
        from_module(user, head="fc1")


def test_parts_that_cannot_be_told_apart_must_be_named():
    with pytest.raises(ModelError, match="head"):
        find_parts(built(PackedLSTM))   # fc1 and fc2: which is the head?
    assert from_module(built(PackedLSTM), head="fc1").config.n_classes == 16


def test_explore_stores_states_with_an_id_tokenizer_and_hits_the_cache(tmp_path):
    user = built(BiGRU)
    names = [*WORDS[:-1], "PAD"]
    to_ids = {w: i for i, w in enumerate(names)}

    def tokenizer(text):          # str -> list[int], the ids named by `names`
        return [to_ids.get(w, 1) for w in text.split()]

    texts = ["w1 w2 w3", "w4 nope w5 w6", "nope"]
    first = store_states(user, texts, ["neg", "pos", "pos"], class_names=["neg", "pos"], tokenizer=tokenizer,
                         vocab=names, store=tmp_path / "s", progress=False)
    assert first.summary["n_sequences"] == 2 and not first.summary["cache_hit"]
    entry = StateStore(tmp_path / "s").entry(first.entry_key)
    assert [str(w) for w in entry.words()] == ["w1", "w2", "w3", "w4", "w5", "w6"]   # what the model read
    assert entry.attrs["class_names"] == ["neg", "pos"] and entry.load("labels").tolist() == [0, 1]
    again = store_states(user, texts, ["neg", "pos", "pos"], class_names=["neg", "pos"], tokenizer=tokenizer,
                         vocab=names, store=tmp_path / "s", progress=False)
    assert again.summary["cache_hit"] and again.entry_key == first.entry_key
