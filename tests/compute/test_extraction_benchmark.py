"""The extraction benchmark script, run end to end with tiny sizes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "extraction.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("extraction_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_writes_both_baselines_and_their_ratios(bench, tmp_path, capsys):
    out = tmp_path / "bench" / "extraction.json"
    code = bench.main([
        "--json", str(out), "--n", "24", "--per-sequence-n", "6", "--hidden", "8", "--layers", "2",
        "--batch-size", "8", "--repeats", "2", "--lengths", "synthetic", "--device", "cpu",
    ])
    assert code == 0
    result = json.loads(out.read_text())

    machine = result["machine"]
    assert machine["cpu_count"] >= 1 and machine["cpu_model"] and machine["torch"]
    assert machine["torch_threads"] >= 1 and machine["device"] == "cpu"
    assert result["model"] == {"cell": "lstm", "hidden_size": 8, "num_layers": 2, "embedding_dim": 32,
                               "vocab_size": bench.VOCAB_SIZE}

    assert result["states_match"] is True
    extraction = result["extraction"]
    assert extraction["n_sequences"] == 24 and len(extraction["seconds"]) == 2
    assert result["extraction_tokens_per_s"] == extraction["tokens_per_s"] > 0
    baselines = result["baselines"]
    assert set(baselines) == {"per_sequence_loop", "batched_loop"}
    assert baselines["per_sequence_loop"]["n_sequences"] == 6
    assert baselines["batched_loop"]["n_tokens"] == extraction["n_tokens"]
    for entry in baselines.values():
        assert 0 <= entry["max_abs_difference"] <= result["tolerance"] == 1e-4
        assert len(entry["seconds"]) == 2 and entry["tokens_per_s"] > 0
        assert entry["ratio"] == pytest.approx(extraction["tokens_per_s"] / entry["tokens_per_s"])
    assert result["ratio"] == baselines["per_sequence_loop"]["ratio"]
    assert result["ratio_vs_batched_loop"] == baselines["batched_loop"]["ratio"]
    assert "per sequence loop" in capsys.readouterr().out


def test_the_per_sequence_subset_spans_the_length_distribution(bench):
    lengths = np.random.default_rng(0).integers(1, 90, size=500)
    subset = bench.even_subset(lengths, 50)
    assert len(np.unique(subset)) == 50
    assert lengths[subset].min() == lengths.min() and lengths[subset].max() == lengths.max()
    assert abs(np.median(lengths[subset]) - np.median(lengths)) <= 2
    np.testing.assert_array_equal(bench.even_subset(lengths[:10], 50), np.arange(10))


def test_loops_that_disagree_with_the_extraction_stop_the_run(bench):
    states = [{"h": np.zeros((3, 2), np.float32), "c": np.zeros((3, 2), np.float32)}]
    off = [{"h": states[0]["h"].copy(), "c": states[0]["c"] + 1e-3}]
    assert bench.max_difference(states, states, "loop") == 0.0
    with pytest.raises(SystemExit, match="differ by 1.00e-03"):
        bench.max_difference(states, off, "loop")
