"""A small real entry for the fragility tests: 300 short synthetic texts, a small LSTM balanced so that
flips of one to a few removed words are common (and one-word texts never flip), its states extracted
by the real pipeline and its PCA map stored; copies with and without the fragility stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rnnpanel.pipeline.importance import stored_fragility
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.store import StateStore
from tests.pipeline.conftest import synthetic_source
from tests.pipeline.test_importance import balanced

N_TEXTS = 300


@pytest.fixture(scope="session")
def fragile_source(tmp_path_factory) -> dict:
    """The store without fragility (never changed: tests work on copies)."""
    from rnnpanel.pipeline.extract import extract_to_store

    folder = tmp_path_factory.mktemp("fragile")
    csv, model_dir = synthetic_source(folder, n_texts=N_TEXTS, min_len=1, max_len=14, n_words=40, hidden=8,
                                      layers=1)
    balanced(csv, model_dir)
    entry, _ = extract_to_store(model_dir, str(csv), split="all", store_root=folder / "store", progress=False,
                                text_column="text", label_column="label", device="cpu")
    EntryStates(entry.states()).project(method="pca")
    return {"store": folder / "store", "entry": entry.key}


def store_copy(source: dict, root: Path) -> dict:
    shutil.copytree(source["store"], root)
    return {"store": root, "entry": source["entry"]}


@pytest.fixture(scope="session")
def fragile_computed(fragile_source, tmp_path_factory) -> dict:
    """A copy whose fragility is stored (computed once, in a child process, as a server does)."""
    copy = store_copy(fragile_source, tmp_path_factory.mktemp("fragile-computed") / "store")
    copy["fragility"] = stored_fragility(StateStore(copy["store"]).entry(copy["entry"]))
    return copy


@pytest.fixture
def fragile_fresh(fragile_source, tmp_path) -> dict:
    """A copy without fragility, for one test."""
    return store_copy(fragile_source, tmp_path / "store")
