"""The Sample a server builds from an entry: its largest per-state array shared between processes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rnnpanel.pipeline import load
from rnnpanel.pipeline.states import EntryStates


@pytest.fixture
def extracted(tmp_path):
    """A store with one entry extracted by the real pipeline from the synthetic source."""
    from rnnpanel.pipeline.extract import extract_to_store
    from rnnpanel.store import StateStore

    from .conftest import synthetic_source

    csv, model_dir = synthetic_source(tmp_path, n_texts=80, max_len=20, hidden=4, layers=1)
    entry, _ = extract_to_store(model_dir, str(csv), store_root=tmp_path / "store", split="test", device="cpu",
                                progress=False, text_column="text", label_column="label")
    return StateStore(tmp_path / "store"), entry


@pytest.fixture
def fresh_samples():
    EntryStates._samples.clear()
    yield load
    EntryStates._samples.clear()


def test_a_samples_ep_is_mapped_from_an_uncompressed_copy_every_process_shares(extracted, fresh_samples):
    store, entry = extracted
    sample = EntryStates(store.entry(entry.key).states()).sample(method="pca")
    np.testing.assert_array_equal(sample.ep, entry.load("ep"))
    assert isinstance(sample.ep.base, np.memmap) or isinstance(sample.ep, np.memmap)
    with pytest.raises(ValueError):
        sample.ep[0, 0] = 0.5                          # read-only: shared, never changed by a session
    folder = store.derived_path(entry.key, fresh_samples.MAPPED_FOLDER)
    written = os.path.getmtime(folder / "ep.npy")
    EntryStates._samples.clear()                       # as in another process of the server
    again = EntryStates(store.entry(entry.key).states()).sample(method="pca")
    np.testing.assert_array_equal(again.ep, sample.ep)
    assert os.path.getmtime(folder / "ep.npy") == written      # mapped again, not written again


def test_a_store_that_cannot_keep_the_copy_still_gives_the_sample(extracted, fresh_samples, monkeypatch, caplog):
    store, entry = extracted

    def refuse(*args, **kwargs):
        raise PermissionError("read-only store")

    monkeypatch.setattr(fresh_samples, "write_mapped", refuse)
    sample = EntryStates(store.entry(entry.key).states()).sample(method="pca")
    np.testing.assert_array_equal(sample.ep, entry.load("ep"))
    assert "cannot keep a mapped copy" in caplog.text
