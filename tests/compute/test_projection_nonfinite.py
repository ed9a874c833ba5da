"""States with NaN or infinite values (a diverged model) are refused with a message that says so, never mapped.

From every backend and AutoProjection, in memory, on a torch tensor and read block by block from
disk, up to ``rnnpanel project``, which prints one line and exits with status 2.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpanel.cli import main
from rnnpanel.compute.extraction import extract_states
from rnnpanel.compute.projection import (
    BACKEND_NAMES,
    AutoProjection,
    ScaledProjection,
    make_backend,
    stratified_sample,
    unavailable_reason,
)
from rnnpanel.compute.projection.base import NonFiniteStates, ParameterError
from rnnpanel.errors import DataError, RnnpanelError
from rnnpanel.models import ModelConfig, RecurrentClassifier
from rnnpanel.store import StateStore, entry_key

FAST = {"opentsne": {"max_iter": 40, "early_exaggeration_iter": 20, "perplexity": 5},
        "opentsne-default": {"max_iter": 40, "perplexity": 5}, "sklearn": {"max_iter": 250, "perplexity": 5},
        "umap": {"n_neighbors": 5, "max_iter": 20}}
AVAILABLE = [name for name in BACKEND_NAMES if unavailable_reason(name) is None]


def states_with(bad: float, cells: list[tuple[int, int]], n: int = 60, d: int = 6) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    for row, col in cells:
        x[row, col] = bad
    return x


def test_the_error_is_a_value_error_and_a_user_error():
    assert issubclass(NonFiniteStates, ParameterError) and issubclass(NonFiniteStates, ValueError)
    assert issubclass(NonFiniteStates, DataError) and issubclass(NonFiniteStates, RnnpanelError)


@pytest.mark.parametrize("name", AVAILABLE)
def test_every_backend_counts_the_nan_values_and_their_rows(name):
    x = states_with(np.nan, [(3, 0), (3, 1), (7, 2), (40, 5)])
    with pytest.raises(NonFiniteStates, match=r"^the states contain 4 NaN values \(in 3 of 60 rows\): the model "
                                              r"that produced them may have diverged"):
        make_backend(name, **FAST.get(name, {})).fit(x)


def test_infinite_values_are_named_apart_from_nan():
    x = states_with(np.inf, [(1, 1)])
    x[2, 2] = np.nan
    x[5, 0] = -np.inf
    with pytest.raises(NonFiniteStates, match=r"1 NaN value and 2 infinite values \(in 3 of 60 rows\)"):
        make_backend("pca").fit(x)


def test_transform_refuses_non_finite_new_states():
    est = make_backend("opentsne", random_state=0, **FAST["opentsne"]).fit(states_with(0.0, []))
    with pytest.raises(NonFiniteStates, match=r"1 infinite value \(in 1 of 2 rows\)"):
        est.transform(states_with(np.inf, [(0, 0)], n=2))


def test_auto_refuses_at_once_instead_of_trying_every_backend():
    auto = AutoProjection(method="tsne", params=FAST["opentsne"], random_state=0)
    with pytest.raises(NonFiniteStates, match="4 NaN values"):
        auto.fit(states_with(np.nan, [(0, 0), (0, 1), (0, 2), (9, 0)]))
    assert not hasattr(auto, "skipped_")


def test_a_torch_tensor_is_counted_by_torch():
    x = torch.from_numpy(states_with(np.nan, [(2, 0), (2, 3)]))
    with pytest.raises(NonFiniteStates, match=r"2 NaN values \(in 1 of 60 rows\)"):
        AutoProjection(method="pca").fit(x)


def test_states_read_from_disk_are_checked_block_by_block(tmp_path):
    zarr = pytest.importorskip("zarr")
    fitted = stratified_sample(np.zeros(1000, dtype=int), 200, random_state=0)  # the 200 states fitted
    placed = np.setdiff1d(np.arange(1000), fitted)
    bad = placed[placed >= 900][:2]  # two states only the placement reads, both in the last block
    x = states_with(np.nan, [(int(row), 1) for row in bad], n=1000)
    z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(100, x.shape[1]), dtype="f4")
    z[:] = x
    scaled = ScaledProjection(make_backend("opentsne", **FAST["opentsne"]), max_fit=200, block_size=100,
                              random_state=0)
    with pytest.raises(
        NonFiniteStates, match=r"^the states \(rows 900 to 999\) contain 2 NaN values \(in 2 of 100 rows\)"
    ):
        scaled.fit(z)


# -- the command line: a diverged model's states --------------------------------------------------
@pytest.fixture
def diverged_store(tmp_path) -> StateStore:
    """A store entry from a model whose training diverged: token 5's embedding is NaN, so every state from it on is."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    config = ModelConfig(cell="lstm", vocab_size=30, n_classes=2, embedding_dim=8, hidden_size=6, num_layers=1,
                         class_names=("neg", "pos"), dataset="toy")
    model = RecurrentClassifier(config).eval()
    with torch.no_grad():
        model.embedding.weight[5] = float("nan")
    sequences = [rng.integers(6, 30, size=int(rng.integers(4, 10))).tolist() for _ in range(30)]
    sequences[3][-2:] = [5, 7]  # the last two states of two sequences
    sequences[11][-1] = 5       # and the last of a third
    ext = extract_states(model, sequences, device="cpu")
    arrays = {"offsets": ext.offsets, "token_ids": ext.token_ids, "labels": np.arange(30) % 2,
              "predictions": ext.predictions, "probs": ext.probs, "ep": ext.ep, "sequence_ids": np.arange(30)}
    arrays.update({f"layer_0/{kind}": values for kind, values in ext.layers[0].items()})
    key = entry_key(weights_sha256="diverged", dataset="toy", split="test", sequence_ids=np.arange(30),
                    max_length=100, truncation="last")
    attrs = {"layers": 1, "hidden_size": 6, "state_size": 6, "bidirectional": False, "state_kinds": ["h", "c"],
             "model_config": config.to_dict(), "dataset": "toy", "split": "test", "model_name": "diverged-lstm",
             "class_names": ["neg", "pos"], "n_sequences": 30, "n_states": ext.n_states}
    store = StateStore(tmp_path / "store")
    store.write_entry(key, arrays, attrs, ["<pad>", "<unk>"] + [f"w{i}" for i in range(2, 30)])
    return store


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_project_on_a_diverged_model_exits_with_one_line(diverged_store, capsys, method):
    code = main(["project", "--store", str(diverged_store.root), "--method", method, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("rnnpanel project: error: the states contain 18 NaN values (in 3 of ")
    assert "the model that produced them may have diverged" in err
    assert diverged_store.projections(diverged_store.entries()[0].key) == []
