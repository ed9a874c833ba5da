"""Stores with one damaged entry beside a good one, copied from the small real store of the session
tests (a tiny model trained in the test, its states extracted by the real pipeline): the damage is
written into the copy, never into the store the other tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rnnpanel.store import StateStore
from tests.ui.conftest import small_store  # noqa: F401 -- the fixture, shared with the session tests

#: The damaged entry's key: it sorts first, so it is the store's first (default) entry.
DAMAGED_KEY = "0" * 20


def garble(folder: Path) -> None:
    """Overwrite every chunk under ``folder`` with bytes that do not decode (its metadata kept)."""
    for chunk in folder.rglob("*"):
        if chunk.is_file() and chunk.name != "zarr.json":
            chunk.write_bytes(b"\x00not zstd" * 8)


def damaged_copy(source: Path, good: str, root: Path, *, damage: str, map_stored: bool = False) -> dict:
    """``source`` copied to ``root`` (no stored maps), with a copy of its entry ``good`` under
    :data:`DAMAGED_KEY` damaged: ``chunk`` (the top layer's h chunks garbled) or ``metadata`` (its
    ``zarr.json`` deleted). ``map_stored``: its PCA map is stored first, so it opens and the
    damage is found only when its states are read."""
    from rnnpanel.pipeline.states import EntryStates

    shutil.copytree(source, root, ignore=shutil.ignore_patterns("projections", "derived"))
    entries = root / "entries"
    shutil.copytree(entries / good, entries / DAMAGED_KEY)
    top = int(StateStore(root).entry(DAMAGED_KEY).attrs["layers"]) - 1
    if map_stored:
        EntryStates(StateStore(root).entry(DAMAGED_KEY).states(layer=top)).project(method="pca")
    if damage == "chunk":
        garble(entries / DAMAGED_KEY / f"layer_{top}" / "h")
    else:
        (entries / DAMAGED_KEY / "zarr.json").unlink()
    return {"store": root, "good": good, "damaged": DAMAGED_KEY}


@pytest.fixture
def chunk_damaged(small_store, tmp_path) -> dict:  # noqa: F811 -- the fixture imported above
    """A good entry and, first, a copy whose states' chunks are garbage (no map stored: opening it
    computes one, in a child process, which finds the damage)."""
    return damaged_copy(small_store["store"], small_store["entry"], tmp_path / "chunk", damage="chunk")


@pytest.fixture
def metadata_damaged(small_store, tmp_path) -> dict:  # noqa: F811
    """A good entry and a copy whose ``zarr.json`` is deleted."""
    return damaged_copy(small_store["store"], small_store["entry"], tmp_path / "metadata", damage="metadata")


@pytest.fixture
def damaged_after_opening(small_store, tmp_path) -> dict:  # noqa: F811
    """A good entry and, first, a copy whose PCA map is stored but whose states are garbage."""
    return damaged_copy(small_store["store"], small_store["entry"], tmp_path / "after", damage="chunk",
                        map_stored=True)
