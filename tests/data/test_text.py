import json

import pytest

from rnnpanel.data.text import PAD_ID, UNK_ID, Vocabulary, cut_window, tokenize
from rnnpanel.errors import DataError


class TestTokenize:
    def test_lower_cases_words_and_splits_punctuation(self):
        assert tokenize("Hello, World!") == ["hello", ",", "world", "!"]

    def test_keeps_inner_apostrophes(self):
        assert tokenize("Don't stop; it's O'Neill's") == ["don't", "stop", ";", "it's", "o'neill's"]

    def test_curly_apostrophe_is_the_same_word(self):
        assert tokenize("Eastwood\u2019s film") == tokenize("Eastwood's film") == ["eastwood's", "film"]

    def test_outer_apostrophes_are_punctuation(self):
        assert tokenize("'quoted' dogs'") == ["'", "quoted", "'", "dogs", "'"]

    def test_markup_survives_as_tokens(self):
        assert tokenize("<script>alert(1)</script>") == [
            "<", "script", ">", "alert", "(", "1", ")", "<", "/", "script", ">",
        ]

    def test_each_punctuation_mark_is_its_own_token(self):
        assert tokenize("wait... what?!") == ["wait", ".", ".", ".", "what", "?", "!"]

    def test_empty_and_whitespace_give_no_tokens(self):
        assert tokenize("") == []
        assert tokenize(" \t\n ") == []

    def test_non_ascii_letters_are_words(self):
        assert tokenize("Café Ünïcode") == ["café", "ünïcode"]


class TestVocabulary:
    def test_special_ids(self):
        vocab = Vocabulary.build([["a", "a"]])
        assert (PAD_ID, UNK_ID) == (0, 1)
        assert vocab.words[:2] == ["<pad>", "<unk>"]

    def test_order_is_frequency_then_alphabetical(self):
        vocab = Vocabulary.build([["b", "c", "a", "c"], ["b", "c", "d", "a"]], min_freq=1)
        assert vocab.words == ["<pad>", "<unk>", "c", "a", "b", "d"]

    def test_min_freq_drops_rare_tokens(self):
        vocab = Vocabulary.build([["x", "x", "y"]], min_freq=2)
        assert vocab.words == ["<pad>", "<unk>", "x"]

    def test_max_size_counts_the_special_tokens(self):
        vocab = Vocabulary.build([list("aaaabbbccd")], min_freq=1, max_size=4)
        assert vocab.words == ["<pad>", "<unk>", "a", "b"]
        assert len(vocab) == 4

    def test_max_size_none_keeps_everything(self):
        assert len(Vocabulary.build([list("abcdef")], min_freq=1, max_size=None)) == 8

    def test_special_tokens_in_input_are_not_duplicated(self):
        vocab = Vocabulary.build([["<pad>", "<unk>", "w", "w"]], min_freq=1)
        assert vocab.words == ["<pad>", "<unk>", "w"]

    def test_encode_drops_unknown_tokens(self):
        vocab = Vocabulary.build([["good", "good", "film", "film"]])
        assert vocab.encode(["good", "unseen", "film", "<unk>", "<pad>"]) == [
            vocab.words.index("good"), vocab.words.index("film"),
        ]
        assert vocab.encode(["nothing", "known"]) == []

    def test_decode_inverts_encode(self):
        vocab = Vocabulary.build([tokenize("the cat sat on the mat the cat")], min_freq=1)
        tokens = tokenize("the cat sat")
        assert vocab.decode(vocab.encode(tokens)) == tokens

    def test_build_accepts_a_generator_and_does_not_mutate_input(self):
        lists = [["a", "b"], ["a"]]
        Vocabulary.build((t for t in lists), min_freq=1)
        assert lists == [["a", "b"], ["a"]]

    def test_empty_vocabulary_is_a_data_error(self):
        with pytest.raises(DataError, match="min_freq=3"):
            Vocabulary.build([["a", "b"]], min_freq=3)

    @pytest.mark.parametrize("kwargs", [{"min_freq": 0}, {"max_size": 2}])
    def test_bad_arguments_are_named(self, kwargs):
        name = next(iter(kwargs))
        with pytest.raises(ValueError, match=name):
            Vocabulary.build([["a", "a"]], **kwargs)

    def test_save_load_round_trip(self, tmp_path):
        vocab = Vocabulary.build([tokenize("Ça va? Don't <b>panic</b> ça va")], min_freq=1)
        path = tmp_path / "vocab.json"
        vocab.save(path)
        loaded = Vocabulary.load(path)
        assert loaded == vocab
        assert loaded.encode(["ça", "panic"]) == vocab.encode(["ça", "panic"])
        assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


class TestVocabularyLoadErrors:
    def write(self, tmp_path, content) -> str:
        path = tmp_path / "vocab.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return path

    def good(self, **changes):
        return {"format": "rnnpanel.vocabulary", "version": 1, "words": ["<pad>", "<unk>", "a"], **changes}

    def test_missing_file(self, tmp_path):
        with pytest.raises(DataError, match="does not exist"):
            Vocabulary.load(tmp_path / "absent.json")

    @pytest.mark.parametrize(
        "content, message",
        [
            ("{not json", "not readable JSON"),
            (["<pad>", "<unk>"], "not an rnnpanel vocabulary"),
            ({"words": ["<pad>", "<unk>"]}, "not an rnnpanel vocabulary"),
        ],
    )
    def test_not_a_vocabulary(self, tmp_path, content, message):
        with pytest.raises(DataError, match=message):
            Vocabulary.load(self.write(tmp_path, content))

    def test_other_version(self, tmp_path):
        with pytest.raises(DataError, match="version 99"):
            Vocabulary.load(self.write(tmp_path, self.good(version=99)))

    @pytest.mark.parametrize(
        "words, message",
        [
            ("<pad> <unk> a", "no list of words"),
            (["a", "<pad>", "<unk>"], "must start with"),
            (["<pad>", "<unk>", "a", "a"], "twice"),
            (["<pad>", "<unk>", 7], "string"),
        ],
    )
    def test_damaged_words(self, tmp_path, words, message):
        path = self.write(tmp_path, self.good(words=words))
        with pytest.raises(DataError, match=message) as caught:
            Vocabulary.load(path)
        assert str(path) in str(caught.value)

    def test_binary_garbage(self, tmp_path):
        path = tmp_path / "vocab.json"
        path.write_bytes(b"\xff\xfe\x00garbage")
        with pytest.raises(DataError, match="not readable JSON"):
            Vocabulary.load(path)


class TestCutWindow:
    def test_last_keeps_the_end(self):
        assert cut_window([1, 2, 3, 4, 5], 3, "last") == ([3, 4, 5], 2)

    def test_first_keeps_the_start(self):
        assert cut_window([1, 2, 3, 4, 5], 3, "first") == ([1, 2, 3], 2)

    @pytest.mark.parametrize("side", ["first", "last"])
    def test_short_sequences_are_untouched(self, side):
        assert cut_window([7, 8], 3, side) == ([7, 8], 0)
        assert cut_window([7, 8, 9], 3, side) == ([7, 8, 9], 0)
        assert cut_window([], 3, side) == ([], 0)

    def test_returns_a_new_list_and_leaves_input_alone(self):
        ids = [1, 2, 3]
        kept, _ = cut_window(ids, 5, "first")
        kept.append(99)
        assert ids == [1, 2, 3]

    def test_accepts_a_tuple(self):
        assert cut_window((1, 2, 3), 2, "last") == ([2, 3], 1)

    def test_bad_side_names_the_choices(self):
        with pytest.raises(ValueError, match="first, last"):
            cut_window([1], 1, "middle")

    def test_bad_max_length(self):
        with pytest.raises(ValueError, match="max_length"):
            cut_window([1], 0, "last")
