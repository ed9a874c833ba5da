import json

import numpy as np
import pandas as pd
import pytest

from rnnpanel.data import load_user_file, resolve_corpus
from rnnpanel.errors import DataError

TEXTS = [f"text number {i} about {'cats' if i % 3 else 'dogs'}" for i in range(30)]
LABELS = [["neg", "pos", "mixed"][i % 3] for i in range(30)]


def frame(texts=TEXTS, labels=LABELS, **extra) -> pd.DataFrame:
    return pd.DataFrame({"review": texts, "sentiment": labels, **extra})


def write(df: pd.DataFrame, path):
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix in (".tsv", ".tab"):
        df.to_csv(path, sep="\t", index=False)
    elif suffix in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    elif suffix in (".jsonl", ".ndjson"):
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        raise AssertionError(suffix)
    return path


def load(path, **kwargs):
    return load_user_file(path, text_column="review", label_column="sentiment", **kwargs)


@pytest.mark.parametrize("name", ["r.csv", "r.tsv", "r.tab", "r.parquet", "r.pq", "r.jsonl", "r.ndjson", "R.CSV"])
def test_every_format_loads_the_same_corpus(tmp_path, name):
    corpus = load(write(frame(), tmp_path / name))
    assert corpus.class_names == ("mixed", "neg", "pos")
    assert len(corpus.train) + len(corpus.test) == 30
    assert (len(corpus.train), len(corpus.test)) == (24, 6)
    assert np.bincount(corpus.test.labels).tolist() == [2, 2, 2]
    texts = corpus.train.texts + corpus.test.texts
    assert sorted(texts) == sorted(TEXTS)
    by_text = dict(zip(TEXTS, LABELS, strict=True))
    for split in (corpus.train, corpus.test):
        assert [corpus.class_names[label] for label in split.labels] == [by_text[t] for t in split.texts]
    assert corpus.name == name
    assert corpus.provenance["split"] == "stratified" and corpus.provenance["seed"] == 0


@pytest.mark.parametrize("name", ["r.csv", "r.parquet", "r.jsonl"])
def test_integer_labels_are_sorted_numerically(tmp_path, name):
    labels = [[2, 10, 1][i % 3] for i in range(30)]
    corpus = load(write(frame(labels=labels), tmp_path / name))
    assert corpus.class_names == ("1", "2", "10")
    first = corpus.train.texts.index(TEXTS[0])
    assert corpus.class_names[corpus.train.labels[first]] == "2"


def test_whole_number_float_labels_become_integers(tmp_path):
    labels = [[0.0, 1.0][i % 2] for i in range(30)]
    corpus = load(write(frame(labels=labels), tmp_path / "r.parquet"))
    assert corpus.class_names == ("0", "1")


def test_empty_texts_and_missing_labels_are_dropped_and_counted(tmp_path):
    texts = list(TEXTS) + ["", "   \t ", None, "kept text one", "kept text two"]
    labels = list(LABELS) + ["pos", "neg", "pos", None, ""]
    corpus = load(write(frame(texts=texts, labels=labels), tmp_path / "r.parquet"))
    assert len(corpus.train) + len(corpus.test) == 30
    assert corpus.provenance["dropped_empty_text"] == 3
    assert corpus.provenance["dropped_missing_label"] == 2
    assert corpus.provenance["n_rows_read"] == 35


def test_csv_cells_like_na_are_texts_not_missing(tmp_path):
    texts = list(TEXTS[:-1]) + ["NA"]
    corpus = load(write(frame(texts=texts), tmp_path / "r.csv"))
    assert "NA" in corpus.train.texts + corpus.test.texts


def test_unicode_and_markup_survive(tmp_path):
    texts = list(TEXTS[:-2]) + ["Ça <script>alert(1)</script>", "naïve, \"quoted\", comma"]
    corpus = load(write(frame(texts=texts), tmp_path / "r.csv"))
    assert {"Ça <script>alert(1)</script>", 'naïve, "quoted", comma'} <= set(corpus.train.texts + corpus.test.texts)


def test_seed_and_fraction_are_honoured_and_recorded(tmp_path):
    path = write(frame(), tmp_path / "r.csv")
    a, b, c = load(path, seed=1), load(path, seed=1), load(path, seed=2)
    assert a.test.texts == b.test.texts
    assert a.test.texts != c.test.texts
    half = load(path, test_fraction=0.5)
    assert len(half.test) == 15
    assert (half.provenance["test_fraction"], a.provenance["seed"]) == (0.5, 1)


def test_provenance_identifies_the_file(tmp_path):
    path = write(frame(), tmp_path / "r.csv")
    corpus = load(path)
    assert len(corpus.provenance["sha256"]) == 64
    assert corpus.provenance["format"] == "CSV"
    assert (corpus.provenance["text_column"], corpus.provenance["label_column"]) == ("review", "sentiment")


def test_input_frame_file_is_not_modified(tmp_path):
    path = write(frame(), tmp_path / "r.csv")
    before = path.read_bytes()
    load(path)
    assert path.read_bytes() == before


class TestBadInput:
    def test_missing_file(self, tmp_path):
        with pytest.raises(DataError, match="does not exist"):
            load(tmp_path / "absent.csv")

    def test_a_directory(self, tmp_path):
        folder = tmp_path / "folder.csv"
        folder.mkdir()
        with pytest.raises(DataError, match="is not a file"):
            load(folder)

    def test_unknown_extension_lists_the_known_ones(self, tmp_path):
        path = tmp_path / "r.xlsx"
        path.write_text("whatever")
        with pytest.raises(DataError, match=r"unknown file type '\.xlsx'.*\.csv, \.tsv"):
            load(path)

    @pytest.mark.parametrize("argument, kwargs", [
        ("text_column", {"text_column": "body", "label_column": "sentiment"}),
        ("label_column", {"text_column": "review", "label_column": "class"}),
    ])
    def test_missing_column_names_the_columns_that_exist(self, tmp_path, argument, kwargs):
        path = write(frame(), tmp_path / "r.csv")
        with pytest.raises(DataError) as caught:
            load_user_file(path, **kwargs)
        message = str(caught.value)
        assert argument in message and "its columns are: review, sentiment" in message

    def test_same_column_twice(self, tmp_path):
        path = write(frame(), tmp_path / "r.csv")
        with pytest.raises(DataError, match="two different columns"):
            load_user_file(path, text_column="review", label_column="review")

    def test_parquet_that_is_text(self, tmp_path):
        path = tmp_path / "r.parquet"
        path.write_text("review,sentiment\nhello,pos\n")
        with pytest.raises(DataError, match="could not read r.parquet as Parquet") as caught:
            load(path)
        assert "\n" not in str(caught.value)

    def test_csv_that_is_parquet(self, tmp_path):
        path = tmp_path / "r.csv"
        write(frame(), tmp_path / "real.parquet").rename(path)
        with pytest.raises(DataError, match="not a CSV file: it contains binary data"):
            load(path)

    def test_jsonl_that_is_not_json(self, tmp_path):
        path = tmp_path / "r.jsonl"
        path.write_text("review,sentiment\nhello,pos\n")
        with pytest.raises(DataError, match="could not read r.jsonl as JSON Lines"):
            load(path)

    def test_csv_that_is_not_utf8(self, tmp_path):
        path = tmp_path / "r.csv"
        path.write_bytes("review,sentiment\ncaf\xe9,pos\n".encode("latin-1"))
        with pytest.raises(DataError, match="not UTF-8 text .* save it with UTF-8 encoding"):
            load(path)

    def test_empty_file(self, tmp_path):
        path = tmp_path / "r.csv"
        path.write_text("")
        with pytest.raises(DataError, match="could not read r.csv as CSV"):
            load(path)

    def test_a_single_class(self, tmp_path):
        path = write(frame(labels=["pos"] * 30), tmp_path / "r.csv")
        with pytest.raises(DataError, match=r"1 class\(es\) \['pos'\].*at least 2"):
            load(path)

    def test_header_only(self, tmp_path):
        path = tmp_path / "r.tsv"
        path.write_text("review\tsentiment\n")
        with pytest.raises(DataError, match="at least 2"):
            load(path)

    @pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
    def test_bad_test_fraction(self, tmp_path, fraction):
        path = write(frame(), tmp_path / "r.csv")
        with pytest.raises(DataError, match="test_fraction"):
            load(path, test_fraction=fraction)


class TestResolve:
    def test_a_path_with_columns_loads_the_file(self, tmp_path):
        path = write(frame(), tmp_path / "r.jsonl")
        corpus = resolve_corpus(str(path), text_column="review", label_column="sentiment")
        assert corpus.n_classes == 3

    def test_a_path_without_columns_asks_for_them(self, tmp_path):
        path = write(frame(), tmp_path / "r.csv")
        with pytest.raises(DataError, match="name its text column and label column"):
            resolve_corpus(str(path))
        with pytest.raises(DataError, match="name its label column"):
            resolve_corpus(str(path), text_column="review")

    def test_unknown_name_lists_the_registered_corpora(self):
        with pytest.raises(DataError) as caught:
            resolve_corpus("imdb")
        assert str(caught.value) == (
            "unknown dataset 'imdb'; choose one of rotten_tomatoes, reuters_r8, reuters_r52, "
            "newsgroups20 or give a path to a CSV/TSV/Parquet/JSONL file"
        )

    def test_a_missing_file_path(self, tmp_path):
        with pytest.raises(DataError, match="does not exist"):
            resolve_corpus(str(tmp_path / "absent.csv"), text_column="a", label_column="b")


def test_jsonl_with_non_string_texts(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"review": i if i % 2 else f"word {i}", "sentiment": ["a", "b"][i % 2]} for i in range(20)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    corpus = load(path)
    assert "3" in corpus.train.texts + corpus.test.texts
