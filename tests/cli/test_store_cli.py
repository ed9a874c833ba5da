"""`rnnpanel store check [--repair]`, and a damaged entry met by the other commands: one line, exit 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.store import StateStore

from .conftest import review_rows, untrained_gru


def rnnpanel(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnpanel", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> tuple[Path, str]:
    """A store with one extracted entry of a 2-layer GRU, 256 states a chunk: ``(store root, key)``."""
    import pandas as pd

    folder = tmp_path_factory.mktemp("store-cli")
    csv = folder / "reviews.csv"
    pd.DataFrame(review_rows(2000)).to_csv(csv, index=False)
    model = untrained_gru(csv, folder / "gru", num_layers=2)
    entry, _ = extract_to_store(model, str(csv), store_root=folder / "store", device="cpu", progress=False,
                                text_column="text", label_column="label", chunk_states=256)
    return folder / "store", entry.key


@pytest.fixture
def store(healthy, tmp_path) -> tuple[Path, Path]:
    root, key = healthy
    shutil.copytree(root, tmp_path / "store")
    return tmp_path / "store", tmp_path / "store" / "entries" / key


def test_a_healthy_store_checks_fine(store):
    root, path = store
    out = rnnpanel("store", "check", "--store", str(root))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(": fine")
    assert path.name in out.stdout


def test_a_damaged_chunk_is_listed_with_its_rows_then_repaired(store):
    root, path = store
    original = (path / "layer_1" / "h" / "c" / "2" / "0").read_bytes()
    (path / "layer_1" / "h" / "c" / "2" / "0").write_bytes(b"garbage")
    out = rnnpanel("store", "check", "--store", str(root))
    assert out.returncode == 1
    assert f"entry {path.name}" in out.stdout and "damaged: layer_1/h rows 512-767 (checksum mismatch)" in out.stdout
    assert f"repair with `rnnpanel store check --store {root.resolve()} --repair`" in out.stdout
    fixed = rnnpanel("store", "check", "--store", str(root), "--repair")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"entry {path.name}: repaired: layer_1/h rows 512-767" in fixed.stdout
    assert (path / "layer_1" / "h" / "c" / "2" / "0").read_bytes() == original
    assert rnnpanel("store", "check", "--store", str(root)).returncode == 0


def test_project_on_a_damaged_entry_is_one_line_that_names_the_repair(store):
    root, path = store
    (path / "layer_1" / "h" / "c" / "0" / "0").write_bytes(b"garbage")
    out = rnnpanel("project", "--store", str(root), "--method", "pca")
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if "%|" not in line and line.strip()]
    assert lines == [f"rnnpanel project: error: store entry {path.name} is damaged: layer_1/h rows 0-255 cannot be "
                     f"read (checksum mismatch); repair it with `rnnpanel store check --store {root.resolve()} "
                     "--repair`"]


def test_a_deleted_metadata_file_names_the_entry_instead_of_an_empty_store(store):
    root, path = store
    (path / "zarr.json").unlink()
    out = rnnpanel("project", "--store", str(root), "--method", "pca")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"rnnpanel project: error: store entry {path.name} cannot be read: its metadata file zarr.json is missing; "
        f"repair it with `rnnpanel store check --store {root.resolve()} --repair`"]
    assert rnnpanel("store", "check", "--store", str(root), "--repair").returncode == 0
    assert [e.key for e in StateStore(root).entries()] == [path.name]


def test_a_repair_that_cannot_be_done_says_why_and_exits_non_zero(store, tmp_path):
    root, path = store
    (path / "layer_0" / "h" / "c" / "1" / "0").write_bytes(b"garbage")
    model = Path(StateStore(root).entry(path.name).attrs["model_dir"])
    shutil.move(model, tmp_path / "elsewhere")
    try:
        out = rnnpanel("store", "check", "--store", str(root), "--repair")
    finally:
        shutil.move(tmp_path / "elsewhere", model)
    assert out.returncode == 1
    assert f"entry {path.name}: not repaired: entry {path.name} cannot be repaired: its model {model} cannot be " \
           "loaded" in out.stdout


def test_a_missing_store_is_one_line(tmp_path):
    out = rnnpanel("store", "check", "--store", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"rnnpanel store: error: no store at {tmp_path / 'nowhere'}; give --store the folder `rnnpanel extract` wrote"]
