"""Device choice for extraction, and the cell-state recovery on its own."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnpanel.compute.device as device_mod
from rnnpanel.compute.device import default_batch_size, resolve_device
from rnnpanel.compute.gates import lstm_cell_states
from rnnpanel.errors import BackendUnavailable


def test_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_names_the_remedy():
    with pytest.raises(BackendUnavailable, match="--device cpu"):
        resolve_device("cuda")


def test_unknown_device_names_the_choices():
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.parametrize(("gib", "batch"), [
    (14.58, 1024), (15.6, 1024), (15.9, 1024), (16.0, 1024),  # "16 GB" cards as their drivers report them
    (7.6, 256), (11.7, 1024), (23.6, 1024), (31.7, 2048), (39.4, 2048), (47.5, 3072), (79.1, 4096), (139.8, 4096),
])
def test_the_cuda_batch_rounds_the_memory_to_the_nearest_16_gib(gib, batch, monkeypatch):
    """A 16 GB card that reports 15.6 GiB gets 1,024 sequences, not the CPU's 256 (truncating did that)."""
    class Properties:
        total_memory = int(gib * 2**30)

    monkeypatch.setattr(device_mod, "resolve_device", lambda name: torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Properties())
    assert default_batch_size("cuda") == batch
    monkeypatch.setattr(device_mod, "resolve_device", lambda name: torch.device("cpu"))
    assert default_batch_size("cpu") == 256


def test_cell_states_of_a_padded_batch_end_in_each_sequences_c_n():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(3, 4, batch_first=True)
        x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 4, 1])
    weights = [getattr(lstm, f"{k}_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    with torch.no_grad():
        _, (_, c_n) = lstm(pack_padded_sequence(x, lengths, batch_first=True))
        out, _ = lstm(x)  # padded: valid steps are a prefix, so they are exact
        c = lstm_cell_states(x, out, *weights)
        no_bias = lstm_cell_states(x, out, weights[0], weights[1], None, None)
    for row, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(c[row, length - 1], c_n[0, row], atol=1e-6, rtol=0)
    assert not torch.allclose(no_bias, c, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_cuda_and_cpu_extract_the_same_states(cell):
    from rnnpanel.compute.extraction import extract_states
    from rnnpanel.models.classifier import RecurrentClassifier
    from rnnpanel.models.config import ModelConfig

    config = ModelConfig(cell=cell, vocab_size=50, n_classes=3, embedding_dim=8, hidden_size=16,
                         num_layers=2, bidirectional=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = RecurrentClassifier(config).eval()
    gen = torch.Generator().manual_seed(1)
    sequences = [torch.randint(1, 50, (int(n),), generator=gen).tolist()
                 for n in torch.randint(1, 40, (300,), generator=gen)]
    on_cpu = extract_states(model, sequences, batch_size=64, device="cpu")
    on_gpu = extract_states(model, sequences, batch_size=64, device="cuda")
    for cpu_layer, gpu_layer in zip(on_cpu.layers, on_gpu.layers, strict=True):
        for kind in cpu_layer:
            torch.testing.assert_close(gpu_layer[kind], cpu_layer[kind], atol=1e-5, rtol=0)
    torch.testing.assert_close(on_gpu.ep, on_cpu.ep, atol=1e-5, rtol=0)
    torch.testing.assert_close(on_gpu.probs, on_cpu.probs, atol=1e-5, rtol=0)
