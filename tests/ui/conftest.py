"""Real-browser fixtures: a real store built by the real pipeline, a real Panel server, Debian's Chromium.

The store holds small but real versions of both demo tasks (a binary and an 8-class model trained
briefly on real corpora, their states extracted and projected with t-SNE) and one entry whose
texts and class names are HTML, to check that text is shown as data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnpanel.bench.browser import CHROMIUM_ARGS

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 900}
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

HOSTILE_LABELS = ("<i>pos</i>", "neg & <b>co</b>")
HOSTILE_TEXTS = (
    "<script>window.__xss = 1</script> what a great fun film & cast",
    "<img src=x onerror=\"window.__xss = 2\"> a dull < boring film",
)


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hostile_entry(store: Path, work: Path) -> str:
    """An entry made by the real pipeline from a user CSV whose texts and class names are HTML."""
    from rnnpanel.data import load_user_file
    from rnnpanel.models import save_model
    from rnnpanel.models.training import TrainingRecipe, train_model
    from rnnpanel.pipeline.extract import extract_to_store
    from rnnpanel.pipeline.project import project_states

    rng = np.random.default_rng(0)
    rows = [{"text": HOSTILE_TEXTS[i % 2] + " " + " ".join(rng.choice(["good", "bad", "film", "plot"], 5)),
             "label": HOSTILE_LABELS[i % 2]} for i in range(160)]
    csv = work / "hostile.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    if not (work / "hostile-model").is_dir():
        corpus = load_user_file(csv, text_column="text", label_column="label")
        model, vocab, metrics = train_model(corpus, recipe=TrainingRecipe(max_epochs=1, val_fraction=0.0),
                                            hidden_size=16, progress=False)
        save_model(work / "hostile-model", model, vocab, metrics=metrics)
    entry, _ = extract_to_store(work / "hostile-model", str(csv), n=40, store_root=store, progress=False,
                                text_column="text", label_column="label")
    project_states(entry.states(), method="tsne", backend="auto", progress=None)
    return entry.key


SMALL_WORDS = {"pos": ("good", "great", "fine", "superb", "lovely", "moving"),
               "neg": ("bad", "awful", "dull", "boring", "weak", "messy")}
SMALL_NEUTRAL = ("film", "the", "a", "plot", "actor", "story", "scene", "was", "is", "and")


@pytest.fixture(scope="session")
def small_store(tmp_path_factory) -> dict:
    """A small real store for the quick session tests: a tiny LSTM trained in the test on short
    synthetic reviews, its states extracted by the real pipeline (about 250 states), in seconds."""
    from rnnpanel.data import load_user_file
    from rnnpanel.models import save_model
    from rnnpanel.models.training import TrainingRecipe, train_model
    from rnnpanel.pipeline.extract import extract_to_store

    work = tmp_path_factory.mktemp("small-store")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        label = ("neg", "pos")[i % 2]
        words = list(rng.choice(SMALL_NEUTRAL, size=int(rng.integers(3, 8))))
        words += list(rng.choice(SMALL_WORDS[label], size=int(rng.integers(1, 4))))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    csv = work / "reviews.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    corpus = load_user_file(csv, text_column="text", label_column="label")
    model, vocab, metrics = train_model(corpus, recipe=TrainingRecipe(max_epochs=2, val_fraction=0.0),
                                        embedding_dim=8, hidden_size=12, progress=False)
    save_model(work / "model", model, vocab, metrics=metrics)
    entry, _ = extract_to_store(work / "model", str(csv), n=40, store_root=work / "store", progress=False,
                                text_column="text", label_column="label")
    return {"store": work / "store", "entry": entry.key}


@pytest.fixture(scope="session")
def ui_store(shared_home) -> dict:
    """Store path and entry keys: ``binary``, ``multiclass``, ``hostile``.

    Built under the run's shared home, so a second run in the same home reuses it (every step is
    content-keyed, so a changed pipeline still rebuilds what changed).
    """
    from rnnpanel.models.training import TrainingRecipe
    from rnnpanel.pipeline.demo import DemoSpec, ensure_demo

    work = Path(shared_home) / "ui-test"
    work.mkdir(parents=True, exist_ok=True)
    store = work / "store"
    quick = TrainingRecipe(max_epochs=2, val_fraction=0.0)
    specs = (DemoSpec("rotten_tomatoes", n=150, max_train=3000, recipe=quick),
             DemoSpec("reuters_r8", n=40, max_train=1500, recipe=quick))
    binary, multi = ensure_demo(store, models_root=work / "models", specs=specs, progress=False)
    return {"store": store, "binary": binary.key, "multiclass": multi.key, "hostile": _hostile_entry(store, work)}


@pytest.fixture(scope="session")
def server(ui_store):
    """A real Panel server of the app over the UI store, on a free loopback port."""
    yield from running_app(ui_store["store"])


def running_app(store, **serve_kwargs):
    """Serve the app over ``store`` in a thread (as `rnnpanel serve` does); yield its URL."""
    import urllib.request

    from rnnpanel.app.server import serve

    port = _free_port()
    srv = serve(store, port=port, address="127.0.0.1", show=False, threaded=True, **serve_kwargs)
    url = f"http://127.0.0.1:{port}/apps"

    def up() -> bool:
        try:
            return urllib.request.urlopen(url, timeout=30).status == 200
        except OSError:
            return False

    try:                  # stopped however the generator ends (next() past the yield, or close())
        wait_until(up, timeout=90, interval=0.5)
        yield url
    finally:
        stop_server(srv)


@contextlib.contextmanager
def served(store, **serve_kwargs) -> Iterator[str]:
    """The URL of a server of its own over ``store``, stopped after the ``with`` block."""
    servers = running_app(store, **serve_kwargs)
    try:
        yield next(servers)
    finally:
        servers.close()


def stop_server(srv) -> None:
    """Stop a threaded Panel server and make sure its thread ends: Panel's graceful stop waits for
    every task of the loop to finish cancelling, and a stuck one kept the test process alive."""
    srv.stop()
    srv.join(timeout=20)
    if srv.is_alive():
        srv.asyncio_loop.call_soon_threadsafe(srv.asyncio_loop.stop)
        srv.join(timeout=20)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        message = f"Chromium not found at {CHROMIUM}: install Debian's chromium (scripts/test.sh does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh page with the app loaded and its Bokeh document ready."""
    yield from open_page(browser, server, "points")


def open_page(browser, url: str, map_renderer: str, viewport: dict | None = None):
    """A page at ``url`` once its map (``map_renderer``) is there and the arrow keys work."""
    pg = browser.new_page(viewport=viewport or VIEWPORT)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(url)
    pg.wait_for_function("(name) => window.Bokeh && Bokeh.documents.length > 0 && "
                         "Bokeh.documents[0].get_model_by_name(name) !== null && "
                         "document.documentElement.dataset.rnnpanelKeys === 'ready'", arg=map_renderer,
                         timeout=60000)
    pg.page_errors = errors
    try:
        yield pg
    finally:
        pg.close()


def screenshot(pg, name: str, *, full_page: bool = True) -> Path:
    """``name``.png in artifacts/ (the whole page, or the window as a user sees it), copied to the
    folder ``RNNPANEL_SHOTS`` names when set (where an engineer looks at them)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("RNNPANEL_SHOTS"):
        shutil.copy(path, Path(os.environ["RNNPANEL_SHOTS"]) / path.name)
    return path
