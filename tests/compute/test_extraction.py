"""Parity of the batched extraction with the model's own recurrent module.

Each test builds a small random model (seeded, isolated from the global RNG) and a batch of
sequences of different lengths, extracts with a batch size smaller than the number of
sequences, and compares with what the model's multi-layer ``nn.LSTM``/``nn.GRU``/``nn.RNN``
returns for the same padded batch.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from tqdm import tqdm

from rnnpanel.compute.extraction import ExtractedStates, extract_states
from rnnpanel.errors import DataError, ModelError
from rnnpanel.models.classifier import RecurrentClassifier
from rnnpanel.models.config import ModelConfig

TOL = 1e-5
VOCAB = 40
HIDDEN = 7
N_SEQUENCES = 23
BATCH_SIZE = 5


def make_model(
    cell: str, layers: int, bidirectional: bool, *, seed: int = 0, n_classes: int = 3
) -> RecurrentClassifier:
    config = ModelConfig(
        cell=cell,
        vocab_size=VOCAB,
        n_classes=n_classes,
        embedding_dim=5,
        hidden_size=HIDDEN,
        num_layers=layers,
        bidirectional=bidirectional,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RecurrentClassifier(config)
    return model.eval()


def make_sequences(n: int = N_SEQUENCES, *, seed: int = 1, max_length: int = 13) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_length + 1, size=n)
    lengths[0] = max_length  # the longest is not first after sorting by accident only
    return [rng.integers(1, VOCAB, size=int(k)).tolist() for k in lengths]


def module_reference(model: RecurrentClassifier, sequences: list[list[int]]):
    """The model's own module on one padded batch: per-step top output and final states."""
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
    with torch.no_grad():
        out, final = model.encode(ids, lengths)
        probs = torch.softmax(model(ids, lengths), dim=-1)
    h_n, c_n = final if isinstance(final, tuple) else (final, None)
    return out.numpy(), h_n.numpy(), None if c_n is None else c_n.numpy(), probs.numpy()


def rows_of(states: ExtractedStates, s: int) -> slice:
    return slice(int(states.offsets[s]), int(states.offsets[s + 1]))


CASES = [
    (cell, layers, bidirectional)
    for cell in ("lstm", "gru", "rnn")
    for layers in (1, 2, 3)
    for bidirectional in (False, True)
]


def case_id(case) -> str:
    cell, layers, bidirectional = case
    return f"{cell}-{layers}layer-{'bi' if bidirectional else 'uni'}"


def _extract_case(case):
    cell, layers, bidirectional = case
    model = make_model(cell, layers, bidirectional)
    sequences = make_sequences()
    states = extract_states(model, sequences, batch_size=BATCH_SIZE, device="cpu")
    return model, sequences, states


@pytest.fixture(scope="module", params=CASES, ids=case_id)
def extracted(request):
    return _extract_case(request.param)


@pytest.fixture(scope="module", params=[c for c in CASES if c[0] == "lstm"], ids=case_id)
def lstm_extracted(request):
    return _extract_case(request.param)


def test_layout_keeps_the_given_order(extracted):
    model, sequences, states = extracted
    assert states.offsets.dtype == np.int64 and states.token_ids.dtype == np.int32
    np.testing.assert_array_equal(np.diff(states.offsets), [len(s) for s in sequences])
    np.testing.assert_array_equal(states.token_ids, np.concatenate(sequences))
    assert len(states.layers) == model.config.num_layers
    kinds = {"h", "c"} if model.config.cell == "lstm" else {"h"}
    for layer in states.layers:
        assert set(layer) == kinds
        for array in layer.values():
            assert array.shape == (states.n_states, model.config.state_size)
            assert array.dtype == np.float32
    assert states.ep.shape == (states.n_states, model.config.n_classes) and states.ep.dtype == np.float32
    assert states.probs.shape == (len(sequences), model.config.n_classes)
    assert states.predictions.dtype == np.int64


def test_top_layer_h_equals_module_output(extracted):
    model, sequences, states = extracted
    out, _, _, _ = module_reference(model, sequences)
    top = states.layers[-1]["h"]
    for s, seq in enumerate(sequences):
        np.testing.assert_allclose(top[rows_of(states, s)], out[s, : len(seq)], atol=TOL, rtol=0)


def test_every_layer_final_h_equals_h_n(extracted):
    model, sequences, states = extracted
    _, h_n, _, _ = module_reference(model, sequences)
    directions, hidden = model.config.num_directions, model.config.hidden_size
    for layer, kinds in enumerate(states.layers):
        for s in range(len(sequences)):
            h = kinds["h"][rows_of(states, s)]
            np.testing.assert_allclose(h[-1, :hidden], h_n[layer * directions, s], atol=TOL, rtol=0)
            if directions == 2:  # the backward direction ends at the first token
                np.testing.assert_allclose(h[0, hidden:], h_n[layer * directions + 1, s], atol=TOL, rtol=0)


def test_probs_come_from_the_model_and_ep_from_the_head(extracted):
    model, sequences, states = extracted
    _, _, _, probs = module_reference(model, sequences)
    np.testing.assert_allclose(states.probs, probs, atol=TOL, rtol=0)
    np.testing.assert_array_equal(states.predictions, probs.argmax(axis=1))
    with torch.no_grad():
        ep = torch.softmax(model.head(torch.from_numpy(states.layers[-1]["h"])), dim=-1).numpy()
    np.testing.assert_allclose(states.ep, ep, atol=TOL, rtol=0)
    if not model.config.bidirectional:
        last = states.offsets[1:] - 1
        np.testing.assert_allclose(states.ep[last], states.probs, atol=TOL, rtol=0)


def _gate(weight_ih, weight_hh, bias, x, h_prev, index: int, hidden: int) -> np.ndarray:
    rows = slice(index * hidden, (index + 1) * hidden)
    return x @ weight_ih[rows].T + h_prev @ weight_hh[rows].T + bias[rows]


def test_lstm_cell_states_reproduce_h_and_c_n(lstm_extracted):
    model, sequences, states = lstm_extracted
    _, _, c_n, _ = module_reference(model, sequences)
    directions, hidden = model.config.num_directions, model.config.hidden_size
    rnn = model.rnn
    with torch.no_grad():
        embedded = model.embedding(torch.from_numpy(states.token_ids.astype(np.int64))).double().numpy()
    for layer, kinds in enumerate(states.layers):
        x_all = embedded if layer == 0 else states.layers[layer - 1]["h"].astype(np.float64)
        for d in range(directions):
            suffix = "_reverse" if d else ""
            w_ih = getattr(rnn, f"weight_ih_l{layer}{suffix}").detach().double().numpy()
            w_hh = getattr(rnn, f"weight_hh_l{layer}{suffix}").detach().double().numpy()
            bias = (getattr(rnn, f"bias_ih_l{layer}{suffix}") + getattr(rnn, f"bias_hh_l{layer}{suffix}"))
            bias = bias.detach().double().numpy()
            cols = slice(d * hidden, (d + 1) * hidden)
            for s in range(len(sequences)):
                x = x_all[rows_of(states, s)]
                h = kinds["h"][rows_of(states, s), cols].astype(np.float64)
                c = kinds["c"][rows_of(states, s), cols].astype(np.float64)
                zero = np.zeros((1, hidden))
                h_prev = np.vstack([zero, h[:-1]]) if d == 0 else np.vstack([h[1:], zero])
                o = 1.0 / (1.0 + np.exp(-_gate(w_ih, w_hh, bias, x, h_prev, 3, hidden)))
                np.testing.assert_allclose(o * np.tanh(c), h, atol=TOL, rtol=0)
                final = c[-1] if d == 0 else c[0]
                np.testing.assert_allclose(final, c_n[layer * directions + d, s], atol=TOL, rtol=0)


@pytest.mark.parametrize("batch_size", [1, 4, 1000])
def test_batch_size_does_not_change_results(batch_size):
    model = make_model("lstm", 2, True, seed=3)
    sequences = make_sequences(seed=4)
    reference = extract_states(model, sequences, batch_size=7, device="cpu")
    other = extract_states(model, sequences, batch_size=batch_size, device="cpu")
    for mine, theirs in zip(other.layers, reference.layers):
        for kind in mine:
            np.testing.assert_allclose(mine[kind], theirs[kind], atol=TOL, rtol=0)
    np.testing.assert_allclose(other.ep, reference.ep, atol=TOL, rtol=0)
    np.testing.assert_allclose(other.probs, reference.probs, atol=TOL, rtol=0)


def test_model_is_left_untouched_and_dropout_is_off():
    model = make_model("gru", 2, False, seed=5).train()  # dropout 0.5 would make results random
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sequences = make_sequences(seed=6)
    first = extract_states(model, sequences, batch_size=4, device="cpu")
    second = extract_states(model, sequences, batch_size=4, device="cpu")
    assert model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    np.testing.assert_array_equal(first.probs, second.probs)
    _, _, _, probs = module_reference(model.eval(), sequences)
    np.testing.assert_allclose(first.probs, probs, atol=TOL, rtol=0)


def test_progress_callback_and_tqdm_reach_the_total():
    model = make_model("rnn", 1, False)
    sequences = make_sequences()
    total = sum(len(s) for s in sequences)
    calls: list[tuple[int, int]] = []
    extract_states(model, sequences, batch_size=BATCH_SIZE, device="cpu", progress=lambda d, t: calls.append((d, t)))
    assert len(calls) == -(-len(sequences) // BATCH_SIZE)
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    bar = tqdm(file=io.StringIO(), unit="state")
    extract_states(model, sequences, batch_size=BATCH_SIZE, device="cpu", progress=bar)
    assert bar.total == total and bar.n == total
    bar.close()


@pytest.mark.parametrize(
    "sequences, match",
    [
        ([], "no sequences"),
        ([[1, 2], []], "empty"),
        ([[1, 2], [3, VOCAB]], "outside the model's vocabulary"),
        ([[0, 2]], "0 is padding"),
    ],
)
def test_bad_sequences_are_refused(sequences, match):
    with pytest.raises(DataError, match=match):
        extract_states(make_model("lstm", 1, False), sequences, device="cpu")


def test_bad_arguments_are_refused():
    model = make_model("lstm", 1, False)
    with pytest.raises(ValueError, match="batch_size"):
        extract_states(model, [[1, 2]], batch_size=0, device="cpu")
    with pytest.raises(ModelError, match="RecurrentClassifier"):
        extract_states(model.rnn, [[1, 2]], device="cpu")


class MeanPoolingClassifier(RecurrentClassifier):
    """A model whose forward does not read the final state: its states cannot explain its predictions."""

    def forward(self, ids, lengths):
        out, _ = self.encode(ids, lengths)
        mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        return self.head((out * mask).sum(1) / lengths[:, None])


def test_a_forward_that_ignores_the_final_state_is_refused():
    model = make_model("lstm", 1, False)
    pooled = MeanPoolingClassifier(model.config)
    pooled.load_state_dict(model.state_dict())
    with pytest.raises(ModelError, match="do not reproduce the model's own prediction"):
        extract_states(pooled.eval(), make_sequences(), batch_size=BATCH_SIZE, device="cpu")


def test_the_cell_state_rows_are_copied_once_per_batch_not_per_layer_and_direction(monkeypatch):
    """The packed rows one step earlier (the recurrence's one host array) go to the device once per batch; every layer
    and direction of the batch reuses them (on CUDA a pinned, non-blocking copy), and the states are unchanged."""
    from rnnpanel.compute import gates

    model, sequences = make_model("lstm", 2, True), make_sequences()
    expected = extract_states(model, sequences, device="cpu", batch_size=BATCH_SIZE)
    built = []
    real = gates.previous_rows

    def counting(batch_sizes, device):
        built.append(tuple(batch_sizes))
        return real(batch_sizes, device)

    monkeypatch.setattr(gates, "previous_rows", counting)
    again = extract_states(model, sequences, device="cpu", batch_size=BATCH_SIZE)
    assert len(built) == -(-N_SEQUENCES // BATCH_SIZE)  # one per batch (5 batches), not 2 layers x 2 directions each
    for a, b in zip(expected.layers, again.layers, strict=True):
        np.testing.assert_array_equal(a["c"], b["c"])
