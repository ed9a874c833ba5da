"""The built-in demo: make sure the demo models, their states and projections exist.

``rnnpanel serve`` calls :func:`ensure_demo` before it starts the app, so that a new user's first
command ends in the app showing real data: it fetches each corpus, trains the paper's model on it
(embedding 32, one LSTM layer of 100 units, dropout 0.5) unless a trained one is already there,
extracts the states of a test sample and projects them with t-SNE, each step with a progress bar.
Every step is cached, so a second start only checks keys.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from rnnpanel import paths
from rnnpanel.data import load_corpus
from rnnpanel.data.corpus import Corpus, Split
from rnnpanel.errors import ModelError
from rnnpanel.models import load_model, save_model
from rnnpanel.models.training import TrainingRecipe, train_model
from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.pipeline.project import project_states
from rnnpanel.store import StateStore, StoredEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSpec:
    """One demo dataset: which corpus, how many test sequences to show, how to train.

    ``n`` is chosen so each demo shows about 40,000–50,000 states: enough to see structure, small
    enough for a CPU t-SNE in about a minute. ``max_train`` and ``recipe`` exist so tests can
    build a quick, small but real version of the same demo.
    """

    dataset: str
    n: int
    recipe: TrainingRecipe = dataclasses.field(default_factory=TrainingRecipe)
    max_train: int | None = None
    seed: int = 0

    @property
    def model_name(self) -> str:
        return f"{self.dataset}-lstm"


DEMOS: tuple[DemoSpec, ...] = (
    DemoSpec("rotten_tomatoes", n=2000),
    DemoSpec("reuters_r8", n=400),
)


def _limit_train(corpus: Corpus, max_train: int | None) -> Corpus:
    if max_train is None or max_train >= len(corpus.train):
        return corpus
    train = Split(corpus.train.texts[:max_train], corpus.train.labels[:max_train])
    return dataclasses.replace(corpus, train=train,
                               provenance={**corpus.provenance, "train_limited_to": max_train})


def ensure_demo_model(spec: DemoSpec, models_root: Path | None = None, *, progress: bool = True) -> Path:
    """The demo model's directory, trained and saved first if it is missing or unreadable."""
    directory = Path(models_root or paths.models_dir()) / spec.model_name
    try:
        load_model(directory)
        return directory
    except ModelError as exc:
        if directory.exists():
            log.warning("retraining the demo model: %s", exc)
    log.info("training demo model %s", spec.model_name)
    corpus = _limit_train(load_corpus(spec.dataset, progress=progress), spec.max_train)
    model, vocab, metrics = train_model(corpus, recipe=spec.recipe, progress=progress)
    save_model(directory, model, vocab, metrics=metrics)
    return directory


def ensure_demo(store_root: str | Path | None = None, *, models_root: str | Path | None = None,
                specs: tuple[DemoSpec, ...] = DEMOS, method: str = "tsne", backend: str = "auto",
                progress: bool = True) -> list[StoredEntry]:
    """Train, extract and project every demo in ``specs`` that is not cached yet; return their entries."""
    store = StateStore(store_root or paths.default_store())
    entries = []
    for spec in specs:
        model_dir = ensure_demo_model(spec, Path(models_root) if models_root else None, progress=progress)
        entry, summary = extract_to_store(model_dir, spec.dataset, split="test", n=spec.n, seed=spec.seed,
                                          store_root=store.root, progress=progress)
        log.info("demo %s: %s", spec.dataset, summary)
        project_states(entry.states(layer=-1, kind="h"), method=method, backend=backend, progress=progress)
        entries.append(entry)
    return entries
