"""The store keeps what extraction wrote, keys by content, and never trusts a half-written entry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from rnnpanel.errors import StoreError
from rnnpanel.store import StateStore, entry_key, projection_key


def _arrays(n_seq=3, lengths=(4, 2, 5), hidden=6, layers=2, lstm=True, rng=None):
    rng = rng or np.random.default_rng(0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(offsets[-1])
    arrays = {
        "offsets": offsets,
        "token_ids": rng.integers(2, 10, n).astype(np.int32),
        "labels": rng.integers(0, 2, n_seq),
        "predictions": rng.integers(0, 2, n_seq),
        "ep": rng.random((n, 2)).astype(np.float32),
    }
    for layer in range(layers):
        arrays[f"layer_{layer}/h"] = rng.standard_normal((n, hidden)).astype(np.float32)
        if lstm:
            arrays[f"layer_{layer}/c"] = rng.standard_normal((n, hidden)).astype(np.float32)
    return arrays


def _attrs(layers=2, hidden=6, bidirectional=False, kinds=("h", "c")):
    return {"layers": layers, "hidden_size": hidden // (2 if bidirectional else 1), "state_size": hidden,
            "bidirectional": bidirectional, "state_kinds": list(kinds), "model_config": {"cell": "lstm"},
            "dataset": "toy", "model_name": "toy-lstm"}


WORDS = ["<pad>", "<unk>"] + [f"w{i}" for i in range(2, 10)]


def test_round_trip_keeps_arrays_words_and_attrs(tmp_path):
    store = StateStore(tmp_path / "store")
    arrays = _arrays()
    entry = store.write_entry("k1", arrays, _attrs(), WORDS)
    assert store.has_entry("k1") and [e.key for e in store.entries()] == ["k1"]
    for name, value in arrays.items():
        np.testing.assert_array_equal(entry.load(name), value)
    np.testing.assert_array_equal(entry.states(layer=-1, kind="h").read_all(), arrays["layer_1/h"])
    np.testing.assert_array_equal(entry.states(layer=0, kind="c").read_all(), arrays["layer_0/c"])
    assert list(entry.words()) == [WORDS[i] for i in arrays["token_ids"]]
    assert entry.attrs["dataset"] == "toy" and entry.attrs["entry_key"] == "k1"


def test_direction_halves_of_bidirectional_states(tmp_path):
    store = StateStore(tmp_path)
    arrays = _arrays(hidden=8, layers=1)
    entry = store.write_entry("bi", arrays, _attrs(layers=1, hidden=8, bidirectional=True), WORDS)
    np.testing.assert_array_equal(entry.states(layer=0, kind="h_fwd").read_all(), arrays["layer_0/h"][:, :4])
    np.testing.assert_array_equal(entry.states(layer=0, kind="c_bwd").read_all(), arrays["layer_0/c"][:, 4:])


def test_state_choices_are_exactly_the_kinds_states_accepts(tmp_path):
    store = StateStore(tmp_path)
    bi = store.write_entry("bi", _arrays(hidden=8, layers=1), _attrs(layers=1, hidden=8, bidirectional=True), WORDS)
    gru = store.write_entry("gru", _arrays(lstm=False), _attrs(kinds=("h",)), WORDS)
    assert bi.state_choices == ["h", "c", "h_fwd", "h_bwd", "c_fwd", "c_bwd"]
    assert gru.state_choices == ["h"]
    for entry in (bi, gru):
        for kind in entry.state_choices:
            assert len(entry.states(layer=0, kind=kind).read_all()) == len(entry.load("token_ids"))


def test_bad_layer_and_kind_name_the_allowed_values(tmp_path):
    store = StateStore(tmp_path)
    entry = store.write_entry("gru", _arrays(lstm=False), _attrs(kinds=("h",)), WORDS)
    with pytest.raises(StoreError, match="0..1"):
        entry.states(layer=2, kind="h").read_all()
    with pytest.raises(StoreError, match="choose one of h"):
        entry.states(layer=0, kind="c").read_all()
    with pytest.raises(StoreError, match="bidirectional"):
        entry.states(layer=0, kind="h_bwd").read_all()
    with pytest.raises(StoreError, match="no entry 'missing'"):
        store.entry("missing")


def test_keys_change_with_every_ingredient():
    base = dict(weights_sha256="ab", dataset="rt", split="test", sequence_ids=np.arange(5),
                max_length=100, truncation="last")
    key = entry_key(**base)
    assert key == entry_key(**{**base, "sequence_ids": np.arange(5).astype(np.int32)})
    for change in ({"weights_sha256": "ac"}, {"dataset": "r8"}, {"split": "train"},
                   {"sequence_ids": np.arange(1, 6)}, {"max_length": 99}, {"truncation": "first"}):
        assert entry_key(**{**base, **change}) != key
    p = projection_key(key, layer=0, state="h", method="tsne", backend="opentsne", params={"perplexity": 30})
    assert p == projection_key(key, layer=0, state="h", method="tsne", backend="opentsne", params={"perplexity": 30})
    assert p != projection_key(key, layer=0, state="h", method="tsne", backend="opentsne", params={"perplexity": 50})
    assert p != projection_key(key, layer=0, state="c", method="tsne", backend="opentsne", params={"perplexity": 30})


def test_projection_round_trip_and_listing(tmp_path):
    store = StateStore(tmp_path)
    store.write_entry("e", _arrays(), _attrs(), WORDS)
    emb = np.random.default_rng(1).random((11, 2)).astype(np.float32)
    assert not store.has_projection("e", "p")
    store.write_projection("e", "p", {"embedding": emb, "fitted": np.ones(11, bool)}, {"backend_used": "pca"})
    arrays, attrs = store.read_projection("e", "p")
    np.testing.assert_array_equal(arrays["embedding"], emb)
    assert attrs["backend_used"] == "pca" and [p["projection_key"] for p in store.projections("e")] == ["p"]
    with pytest.raises(StoreError):
        store.write_projection("nope", "p", {"embedding": emb}, {})


def test_failing_writer_leaves_nothing(tmp_path):
    store = StateStore(tmp_path)
    arrays = _arrays()
    arrays["bad"] = np.array([object()], dtype=object)  # zarr cannot encode this
    with pytest.raises(Exception):
        store.write_entry("k", arrays, _attrs(), WORDS)
    assert not store.has_entry("k")
    assert list(store.entries_dir.iterdir()) == []


def test_incompatible_entry_is_reported_not_misread(tmp_path):
    store = StateStore(tmp_path)
    entry = store.write_entry("k", _arrays(), _attrs(), WORDS)
    meta = entry.path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["format_version"] = 999
    meta.write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="format 999"):
        store.entry("k")
    assert store.entries() == []


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from rnnpanel.store import StateStore
    rng = np.random.default_rng(0)
    n = 400_000
    arrays = {"offsets": np.array([0, n]), "token_ids": np.zeros(n, np.int32)}
    for layer in range(6):
        arrays[f"layer_{layer}/h"] = rng.standard_normal((n, 32)).astype(np.float32)
    print("writing", flush=True)
    StateStore(sys.argv[1]).write_entry("big", arrays, {"layers": 6, "state_kinds": ["h"]}, ["<pad>"])
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_writer_killed_at_any_moment_leaves_a_complete_entry_or_none(tmp_path):
    root = tmp_path / "store"
    outcomes = set()
    for delay in (0.0, 0.3, 0.6, 1.0, 1.5, 2.5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = StateStore(root)
        if store.has_entry("big"):
            outcomes.add("complete")
            entry = store.entry("big")
            assert entry.load("layer_5/h").shape == (400_000, 32)
            break
        outcomes.add("none")
        assert store.entries() == []
    assert "none" in outcomes  # at least one kill landed mid-write and left nothing trusted
    # a later writer succeeds despite the debris and cleans stale temporaries
    leftovers = [p for p in (root / "entries").iterdir()]
    for p in leftovers:
        os.utime(p, (0, 0))
    store = StateStore(root)
    store.write_entry("small", _arrays(), _attrs(), WORDS)
    assert "small" in [e.key for e in store.entries()]
    assert all(p.name in {"small", "big"} for p in (root / "entries").iterdir())
