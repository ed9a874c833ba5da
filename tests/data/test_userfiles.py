import json
import logging

import numpy as np
import pandas as pd
import pytest

from rnnpanel.data import load_user_file, resolve_corpus
from rnnpanel.data.resolve import split_mismatch
from rnnpanel.data.splitting import FileSplit
from rnnpanel.data.userfiles import reporting_splits
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


# -- the train/test split: the user's choice ----------------------------------------------------
FOLDS = ["Train" if i % 5 else " TEST " for i in range(30)]  # any case, surrounding spaces ignored


def by_text(corpus) -> dict[str, tuple[str, str]]:
    """Each text's (split, class name): what must not move between two loads."""
    return {t: (side, corpus.class_names[label]) for side in ("train", "test")
            for t, label in zip(corpus.split(side).texts, corpus.split(side).labels, strict=True)}


def test_default_split_is_the_one_stores_were_made_with(tmp_path):
    corpus = load(write(frame(), tmp_path / "r.csv"))
    assert sorted(TEXTS.index(t) for t in corpus.test.texts) == [6, 13, 14, 16, 20, 27]
    assert (corpus.provenance["test_fraction"], corpus.provenance["seed"]) == (0.2, 0)


@pytest.mark.parametrize("name", ["r.csv", "r.parquet", "r.jsonl"])
@pytest.mark.parametrize("train, test", [("train", "test"), ("TRAINING", "Testing"), ("Train", " TEST ")])
def test_split_column_is_respected_exactly(tmp_path, name, train, test):
    folds = [train if i % 5 else test for i in range(30)]
    corpus = load(write(frame(fold=folds), tmp_path / name), split_column="fold")
    assert corpus.test.texts == tuple(TEXTS[i] for i in range(0, 30, 5))
    assert corpus.train.texts == tuple(t for i, t in enumerate(TEXTS) if i % 5)
    assert corpus.provenance["split"] == "column" and corpus.provenance["split_column"] == "fold"
    assert "test_fraction" not in corpus.provenance and "seed" not in corpus.provenance


def test_split_column_drops_unusable_rows_per_split(tmp_path):
    texts, labels = list(TEXTS) + ["", "kept"], list(LABELS) + ["pos", None]
    corpus = load(write(frame(texts=texts, labels=labels, fold=FOLDS + ["test", "train"]), tmp_path / "r.csv"),
                  split_column="fold")
    assert (len(corpus.train), len(corpus.test)) == (24, 6)
    assert corpus.provenance["dropped_empty_text"] == {"train": 0, "test": 1}
    assert corpus.provenance["dropped_missing_label"] == {"train": 1, "test": 0}


def test_bad_split_values_are_named_with_the_allowed_ones(tmp_path):
    folds = ["holdout" if i < 3 else "train" if i % 2 else "" if i == 4 else "test" for i in range(30)]
    with pytest.raises(DataError) as caught:
        load(write(frame(fold=folds), tmp_path / "r.csv"), split_column="fold")
    message = str(caught.value)
    assert "split column 'fold'" in message
    assert "'holdout' (3 rows)" in message and "'' (1 row)" in message
    assert "train, training, test, testing" in message and "\n" not in message


def test_many_bad_values_show_a_few(tmp_path):
    folds = [f"fold{i % 9}" for i in range(30)]
    with pytest.raises(DataError, match=r"and 4 more values"):
        load(write(frame(fold=folds), tmp_path / "r.csv"), split_column="fold")


@pytest.mark.parametrize("value", ["validation", "Dev", "valid", "val"])
def test_validation_rows_are_refused_with_what_to_do(tmp_path, value):
    folds = [value if i % 7 == 0 else "train" if i % 2 else "test" for i in range(30)]
    with pytest.raises(DataError, match=rf"'{value}' \(5 rows\).*holds out its own validation rows.*train or test"):
        load(write(frame(fold=folds), tmp_path / "r.csv"), split_column="fold")


class TestSplitOptions:
    @pytest.mark.parametrize("extra", [{"test_fraction": 0.3}, {"seed": 1}, {"test_fraction": 0.2, "seed": 0}])
    def test_a_fraction_or_seed_beside_a_split_column_is_an_error(self, tmp_path, extra):
        path = write(frame(fold=FOLDS), tmp_path / "r.csv")
        with pytest.raises(
            DataError, match=r"--split-column fold names each row's split, so --(test-fraction|split-seed)"
        ):
            load(path, split_column="fold", **extra)

    def test_fraction_changes_the_counts(self, tmp_path):
        path = write(frame(), tmp_path / "r.csv")
        counts = {f: (len(c.train), len(c.test)) for f in (0.1, 0.2, 0.5) for c in [load(path, test_fraction=f)]}
        assert counts == {0.1: (27, 3), 0.2: (24, 6), 0.5: (15, 15)}

    def test_missing_split_column_names_the_columns(self, tmp_path):
        with pytest.raises(
            DataError, match=r"column 'fold' \(split_column\) is not in r.csv; its columns are: review, sentiment"
        ):
            load(write(frame(), tmp_path / "r.csv"), split_column="fold")

    def test_split_column_must_be_its_own_column(self, tmp_path):
        with pytest.raises(DataError, match="label_column and split_column are both 'sentiment'; name three different"):
            load(write(frame(), tmp_path / "r.csv"), split_column="sentiment")

    @pytest.mark.parametrize("side", ["train", "test"])
    def test_a_split_column_must_leave_both_splits(self, tmp_path, side):
        with pytest.raises(DataError, match=f"leaves no usable {'test' if side == 'train' else 'train'} row"):
            load(write(frame(fold=[side] * 30), tmp_path / "r.csv"), split_column="fold")

    def test_every_class_needs_a_train_row(self, tmp_path):
        folds = ["test" if label == "mixed" else "train" if i % 2 else "test" for i, label in enumerate(LABELS)]
        with pytest.raises(DataError, match=r"class\(es\) \['mixed'\] of r.csv have no train row"):
            load(write(frame(fold=folds), tmp_path / "r.csv"), split_column="fold")


@pytest.mark.parametrize("labels, names", [
    (LABELS, ("mixed", "neg", "pos")),
    ([[2, 10, 1][i % 3] for i in range(30)], ("1", "2", "10")),
    ([["b", "B", "a"][i % 3] for i in range(30)], ("B", "a", "b")),
])
def test_class_order_does_not_depend_on_the_split(tmp_path, labels, names):
    path = write(frame(labels=labels, fold=FOLDS), tmp_path / "r.csv")
    loads = [load(path), load(path, test_fraction=0.5), load(path, seed=3), load(path, split_column="fold")]
    assert {c.class_names for c in loads} == {names}
    classes = [{t: c for t, (_, c) in by_text(corpus).items()} for corpus in loads]
    assert all(k == classes[0] for k in classes)
    shuffled = write(frame(texts=TEXTS[::-1], labels=labels[::-1]), tmp_path / "reversed.csv")
    assert load(shuffled).class_names == names  # not first-seen order


class TestSplitLine:
    def test_the_default_says_how_to_change_it(self, tmp_path):
        lines = []
        with reporting_splits(lines.append):
            load(write(frame(), tmp_path / "r.csv"))
        assert lines == ["r.csv: 80/20 stratified split by sentiment (seed 0): 24 train, 6 test; "
                         "use --split-column, --test-fraction or --split-seed to change"]

    def test_a_chosen_split_and_dropped_rows(self, tmp_path):
        lines = []
        texts, labels = list(TEXTS) + ["", "kept"], list(LABELS) + ["pos", None]
        with reporting_splits(lines.append):
            load(write(frame(texts=texts, labels=labels), tmp_path / "r.csv"), test_fraction=0.3, seed=4)
            load(write(frame(fold=FOLDS), tmp_path / "f.csv"), split_column="fold")
        assert lines == [
            "r.csv: 70/30 stratified split by sentiment (seed 4): 21 train, 9 test "
            "(dropped 1 with empty text, 1 with missing label)",
            "f.csv: split by column 'fold': 24 train, 6 test",
        ]

    def test_without_a_reporter_it_goes_to_the_log(self, tmp_path, caplog):
        with caplog.at_level(logging.INFO, logger="rnnpanel.data.userfiles"):
            load(write(frame(), tmp_path / "r.csv"))
        assert "r.csv: 80/20 stratified split by sentiment (seed 0)" in caplog.text


class TestFileSplit:
    def test_the_default_identity_is_the_one_entries_were_keyed_with(self):
        assert FileSplit().identity() == {"test_fraction": 0.2, "seed": 0}
        assert FileSplit.from_options(test_fraction=0.2, seed=0).identity() == FileSplit().identity()

    def test_every_choice_has_its_own_identity(self):
        splits = [FileSplit(), FileSplit(test_fraction=0.3), FileSplit(seed=1), FileSplit(column="fold")]
        assert len({json.dumps(s.identity(), sort_keys=True) for s in splits}) == 4

    def test_no_option_means_the_default(self):
        assert FileSplit.from_options() is None

    @pytest.mark.parametrize("fraction", [0, 1, -0.5, 2.0])
    def test_a_bad_fraction_is_refused_up_front(self, fraction):
        with pytest.raises(DataError, match=r"test_fraction \(--test-fraction\) must lie strictly between 0 and 1"):
            FileSplit.from_options(test_fraction=fraction)


class TestResolveSplit:
    def test_the_split_reaches_the_file(self, tmp_path):
        path = write(frame(fold=FOLDS), tmp_path / "r.csv")
        corpus = resolve_corpus(str(path), text_column="review", label_column="sentiment",
                                split=FileSplit(column="fold"))
        assert corpus.provenance["split_column"] == "fold" and len(corpus.test) == 6

    def test_a_registered_corpus_keeps_its_own_split(self):
        with pytest.raises(DataError, match="rotten_tomatoes is a registered corpus with its own train/test split"):
            resolve_corpus("rotten_tomatoes", split=FileSplit(test_fraction=0.3))

    def test_a_mismatch_with_training_is_told(self, tmp_path):
        path = write(frame(fold=FOLDS), tmp_path / "r.csv")
        trained = load(path, test_fraction=0.3).provenance
        assert split_mismatch(str(path), FileSplit(test_fraction=0.3), trained) is None
        assert split_mismatch(str(tmp_path / "other.csv"), None, trained) is None
        reason = split_mismatch(str(path), None, trained)
        assert reason.startswith("the model was trained on a 70/30 stratified split by sentiment (seed 0) of r.csv, "
                                 "but this uses a 80/20")
        by_column = load(path, split_column="fold").provenance
        assert split_mismatch(str(path), FileSplit(column="fold"), by_column) is None
        assert "split by column 'fold'" in split_mismatch(str(path), None, by_column)
