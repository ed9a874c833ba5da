"""The latency a user feels in the app, measured in a real Chromium against `panel serve apps/`.

For each requested size (default 10,000 and 50,000 states) the script makes a store entry of that
many states of *real* hidden states (the demo Rotten Tomatoes model run over training texts,
projected with t-SNE; both cached, so a second run only measures), serves the app exactly as a
user does (`panel serve apps/` in a subprocess, the store given by ``RNNPANEL_STORE``), and times
in the browser, with the page's own clock (``performance.now()``):

* ``page_interactive_s``: navigation start → the Bokeh document idle, every state on the map
  (every point in the projection's source, or the rasterised image for large samples), the
  projection drawn and the arrow keys listened to (median of ``--loads`` page loads; the first,
  with cold browser caches, is also reported). ``page_complete_s``: until the sequence table,
  sent right after the first page, is drawn too.
* ``selection_ms``: an arrow key pressed → the text, heatmap and distance views hold the next
  sequence's data and the following animation frame has been painted (at least 20 selections;
  median and 95th percentile).
* ``hover_ms``: the mouse moved onto a word of the text view → the shared hover source holds
  that step (client-side linking, no server round trip) and the frame drawing it has ended;
  ``hover_frames_max``: in which animation frame after the pointer event that happened at worst
  (1 = the very next frame).
* ``search_ms``: Enter pressed in the word search box → the map's rings replaced and the next
  frame drawn (a few words and patterns; median and maximum); ``server_rss_mb``: the server's
  resident memory after all of it.

    python benchmarks/app_latency.py --json app_latency.json
    python benchmarks/app_latency.py --sizes 10000 --selections 30 --json small.json
    python benchmarks/app_latency.py --sizes 50000 --modes auto glyphs --json modes.json

Whole corpora (``--store``, an existing store whose entry has a stored projection, e.g. all of
20 Newsgroups) add the server-side measures of the tools, timed in a separate process that builds
one session as the server does and uses every tab (``server_side``): word search (the shared
word index built once, then each query), a lasso around about 100,000 states (filtered table and
over-represented words), the neighbours of a state (the shared index built once, then each
query), a sequence's units, the sequence table sorted, filtered and paged by the server, and the
process's resident memory after all of it:

    python benchmarks/app_latency.py --store STORE --json corpus.json

The compare view (``--compare STORE``: a store holding a run's checkpoints, extracted over the same
texts as another entry, and the run's maps, e.g. made by ``rnnpanel train --checkpoints 1``,
``rnnpanel extract --model RUN --checkpoints`` and ``rnnpanel project --run RUN``) is measured on
``?entry=A&compare=B`` (A the run's last checkpoint, B the other entry) and ``?entry=A&compare=run``:

* ``compare_interactive_s``: navigation start → both maps drawn (every point in their sources, or
  their images), the document idle and the keys listened to (median of ``--loads``); the single
  view of A (``single_interactive_s``, ``single_selection_ms_median``) is measured first, under
  the same load;
* ``compare_selection_ms``: an arrow key → both maps' trajectory sources replaced and the next
  frame drawn (``compare_selection_with_ep_ms``: A's EP curve too, which follows on the next tick);
* ``run_interactive_s``: the same for ``?entry=A&compare=run`` (``run_interactive_first_s``: its
  first open in the server process, which compares A with every checkpoint);
* ``compare_step_ms``: a click on the run's "next" (or "previous") button → B's points (or its
  image) replaced in their source and the next frame drawn (the glyphs' travel, 0.7 s, follows);

    python benchmarks/app_latency.py --compare STORE --json compare.json

Selection while the entry's fragility is computed (``--fragility``; docs/design.md, "What if"): an
entry of ``--fragility-sequences`` (default 50,000) Rotten Tomatoes texts drawn with replacement
(seed 0, as ``benchmarks/importance.py`` draws its windows), read by the model and mapped by PCA
(cached; with ``--store``, that store's newest entry instead). Its stored fragility is removed,
the page opened, selections timed while idle (``selection_idle_ms``), then the page's "Compute
fragility" button clicked and selections timed, one every ``--pause-ms``, until the column is filled
(``selection_computing_ms``, each with its time after the click): ``child_started_s`` (click → the
child process first seen), ``fragility_stored_s`` (click → the result stored by the child) and
``fragility_shown_s`` (click → the page says it is done), with the load average and the CPU seconds of
the server and of its child every 10 s:

    python benchmarks/app_latency.py --fragility --model MODEL --json fragility.json

``--modes``: ``auto`` serves the app as users get it (the map is an image above the app's raster
threshold, glyphs below); ``glyphs`` and ``raster`` force one way for every size, to compare.

Chromium is Debian's (``--chromium``, default /usr/bin/chromium), driven by Python Playwright;
the script never downloads a browser. The numbers we measured are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from appbench import (
    CHROMIUM_ARGS,
    HOVER_ARM_JS,
    HOVER_SOURCE,
    MODES,
    POINTS_SOURCE,
    PROJECTION_FIGURE,
    RASTER_SOURCE,
    READY_JS,
    REPO,
    SELECT_JS,
    SELECTION_SOURCES,
    TEXT_FIGURE,
    TEXT_WORDS,
    VIEWPORT,
    WORD_XY_JS,
    free_port,
    percentile,
    rss_mb,
    start_server,
    stop_server,
)

log = logging.getLogger("app_latency")

# --- page-side probes (all timing is done with the page's own clock) -----------------------------

COMPLETE_JS = """
([timeout]) => new Promise((resolve) => {
  const give_up = performance.now() + timeout;
  function done() {
    const doc = Bokeh.documents[0];
    if (!doc.is_idle) return false;
    const tables = [...doc._all_models.values()].filter((m) => m.type && m.type.endsWith('DataTabulator'));
    return tables.some((m) => { const v = doc.views_manager.find_one(m); return v && v.has_finished(); });
  }
  function poll() {
    if (done()) { resolve(performance.now()); return; }
    if (performance.now() > give_up) { resolve(null); return; }
    requestAnimationFrame(poll);
  }
  poll();
})
"""

SEARCH_ARM_JS = """
([sourceName, timeout]) => {
  const doc = Bokeh.documents[0];
  const found = [...doc._all_models.values()].filter((m) => m.name === sourceName).pop();
  const before = found.data;
  window.__search_ms = new Promise((resolve) => {
    let t0 = null;
    const give_up = performance.now() + timeout;
    document.addEventListener('keydown', (e) => { if (e.key === 'Enter' && t0 === null) t0 = e.timeStamp; },
                              {capture: true});
    function poll() {
      if (t0 !== null && found.data !== before) {
        requestAnimationFrame(() => resolve({ms: performance.now() - t0, n: found.data.x.length}));
        return;
      }
      if (performance.now() > give_up) { resolve(null); return; }
      requestAnimationFrame(poll);
    }
    poll();
  });
}
"""
SEARCH_SOURCE = "search_src"
SEARCH_BOX = "e.g. good, bad*  (Enter)"
BROWSER_SEARCHES = ("the", "god", "car*", "space, nasa", "film", "good, bad*")

COMPARE_READY_JS = """
([prefixes, sizes, timeout]) => new Promise((resolve) => {
  const give_up = performance.now() + timeout;
  const drawn_as = [];
  function ready() {
    if (!(window.Bokeh && Bokeh.documents.length)) return false;
    const doc = Bokeh.documents[0];
    if (!doc.is_idle) return false;
    if (document.documentElement.dataset.rnnpanelKeys !== 'ready') return false;
    for (let i = 0; i < prefixes.length; i++) {
      const p = prefixes[i];
      const pts = doc.get_model_by_name(p + 'points_src'), raster = doc.get_model_by_name(p + 'raster_src');
      const glyphs = pts && pts.data.x && pts.data.x.length === sizes[i];
      const image = raster && raster.data.image && raster.data.image.length === 1;
      if (!(glyphs || image)) return false;
      drawn_as[i] = glyphs ? 'glyphs' : 'raster';
      const fig = doc.get_model_by_name(p + 'map');
      const view = fig && doc.views_manager.find_one(fig);
      if (!(view && view.has_finished())) return false;
    }
    return true;
  }
  function poll() {
    if (ready()) { resolve({ms: performance.now(), drawn_as: drawn_as}); return; }
    if (performance.now() > give_up) { resolve(null); return; }
    requestAnimationFrame(poll);
  }
  poll();
})
"""

STEP_ARM_JS = """
([names, timeout]) => {
  const doc = Bokeh.documents[0];
  const sources = names.map((n) => doc.get_model_by_name(n)).filter((s) => s !== null);
  const before = sources.map((s) => s.data);
  window.__step_ms = new Promise((resolve) => {
    let t0 = null;
    const give_up = performance.now() + timeout;
    document.addEventListener('pointerdown', (e) => { if (t0 === null) t0 = e.timeStamp; },
                              {capture: true, once: true});
    function poll() {
      if (t0 !== null && sources.some((s, i) => s.data !== before[i])) {
        requestAnimationFrame(() => resolve({ms: performance.now() - t0}));
        return;
      }
      if (performance.now() > give_up) { resolve(null); return; }
      requestAnimationFrame(poll);
    }
    poll();
  });
}
"""
COMPARE_PREFIXES = ("compare_a_", "compare_b_")
COMPARE_SELECTION_SOURCES = ("compare_a_states_src", "compare_b_states_src")
COMPARE_SELECTION_ALL = ("compare_a_states_src", "compare_b_states_src", "compare_ep_a_src")

# --- data: real states of the demo model ---------------------------------------------------------

def _states_per_sample(lengths: np.ndarray, n: int, seed: int) -> int:
    from rnnpanel.pipeline.extract import choose_sample

    return int(lengths[choose_sample(len(lengths), n, seed)].sum())


def sample_size_for(model_dir: Path, dataset: str, split: str, target: int, seed: int) -> int:
    """How many sequences the extraction must sample to produce about ``target`` states."""
    from rnnpanel.data import load_corpus
    from rnnpanel.models import load_model
    from rnnpanel.models.encoding import encode_split

    loaded = load_model(model_dir)
    ids, _, _ = encode_split(load_corpus(dataset).split(split), loaded.vocab, loaded.config)
    lengths = np.array([len(x) for x in ids])
    if lengths.sum() < target:
        raise SystemExit(f"{dataset} {split} has only {lengths.sum()} states; ask for --sizes ≤ that")
    n = max(1, int(round(target / lengths.mean())))
    for _ in range(20):  # the sample is random, so the count is only roughly proportional to n
        got = _states_per_sample(lengths, n, seed)
        if abs(got - target) <= 0.01 * target:
            break
        n = max(1, int(round(n * target / got)))
    return n


def prepare_store(root: Path, target: int, *, model_dir: Path | None, dataset: str, split: str,
                  method: str, seed: int) -> dict:
    """A store holding one entry of about ``target`` real states with its projection (cached)."""
    from rnnpanel.pipeline.demo import DemoSpec, ensure_demo_model
    from rnnpanel.pipeline.extract import extract_to_store
    from rnnpanel.pipeline.project import project_states

    if model_dir is None:
        model_dir = ensure_demo_model(DemoSpec(dataset, n=0), progress=True)
    n = sample_size_for(model_dir, dataset, split, target, seed)
    entry, _ = extract_to_store(model_dir, dataset, split=split, n=n, seed=seed, store_root=root, progress=True)
    started = time.perf_counter()
    result = project_states(entry.states(), method=method, backend="auto", progress=True)
    log.info("entry %s: %d states, projection %s (%s, %.0f s)", entry.key, entry.attrs["n_states"],
             method, result.backend_used, time.perf_counter() - started)
    return {"key": entry.key, "n_states": int(entry.attrs["n_states"]),
            "n_sequences": int(entry.attrs["n_sequences"]), "model": Path(model_dir).name,
            "dataset": dataset, "split": split, "projection": f"{method}/{result.backend_used}"}


def existing_store(root: Path) -> dict:
    """The newest entry of an existing store and its stored projection (none is computed here)."""
    from rnnpanel.pipeline.states import EntryStates
    from rnnpanel.store import StateStore

    store = StateStore(root)
    entries = store.entries()
    if not entries:
        raise SystemExit(f"no entries in {root}")
    entry = entries[-1]
    method = EntryStates(store.entry(entry.key).states()).preferred_method()
    return {"key": entry.key, "n_states": int(entry.attrs["n_states"]),
            "n_sequences": int(entry.attrs["n_sequences"]), "model": entry.attrs.get("model_name"),
            "dataset": entry.attrs.get("dataset"), "split": entry.attrs.get("split"), "projection": method}


# --- server-side measures of the tools, in a process of their own --------------------------------

SEARCHES = ("the", "god", "windows", "car*", "space, nasa", "good, bad*", "israel*")


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Median milliseconds of ``repeat`` calls of ``fn`` and its last result."""
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), out


def lasso_around(xy: np.ndarray, n: int) -> dict:
    """A lasso (octagon) around the ``n`` states nearest the map's densest point's neighbourhood."""
    centre = np.median(xy, axis=0)
    d = np.sqrt(((xy - centre) ** 2).sum(1))
    n = min(n, len(d) - 1)                          # an entry smaller than the region asked for
    radius = float(np.partition(d, n)[n]) * 1.05    # an octagon inside the circle holds a bit less
    angles = np.linspace(0, 2 * np.pi, 9)[:-1]
    return {"type": "poly", "x": (centre[0] + radius * np.cos(angles)).tolist(),
            "y": (centre[1] + radius * np.sin(angles)).tolist()}


def server_side(store: Path, entry_key: str, method: str, *, n_region: int = 100_000, repeat: int = 5) -> dict:
    """One session built as the server builds it, every tab used; milliseconds per action."""
    import panel as pn
    from bokeh.events import SelectionGeometry

    from rnnpanel.app.sequence_tabs import TABS
    from rnnpanel.app.session import RnnPanelApp
    from rnnpanel.pipeline.states import EntryStates
    from rnnpanel.pipeline.word_index import word_index
    from rnnpanel.store import StateStore

    pn.extension("tabulator")
    record: dict = {"rss_start_mb": rss_mb()}
    record["session_build_ms"], app = _timed(lambda: RnnPanelApp(store_root=store, entry=entry_key, method=method))
    sample = app.sample
    record["rss_after_session_mb"] = rss_mb()
    record["word_index_build_ms"], _ = _timed(lambda: word_index(sample))
    searches = {}
    for query in SEARCHES:
        def search(q=query):
            app.search = ""
            app.search = q
            return app.word_search.status.object
        searches[query] = {"ms": _timed(search, repeat)[0], "status": search()}
    record["word_search_ms"] = searches
    record["word_search_ms_max"] = max(v["ms"] for v in searches.values())
    app.search = ""

    geometry = lasso_around(sample.xy, n_region)
    fig = app.map.figure

    def lasso():
        app.map.clear_region()
        fig._trigger_event(SelectionGeometry(fig, geometry=geometry, final=True))
        return len(app.tabs.table.current_view)
    record["region_ms"], n_seq = _timed(lasso, repeat)
    record["region_states"], record["region_sequences"] = int(app.map.region.sum()), int(n_seq)
    record["region_words"] = app.tabs.region_panel._words.value["word"].head(8).tolist()
    app.map.clear_region()

    table = app.tabs.table
    record["table_rows"] = len(table.value)
    record["table_sort_ms"], _ = _timed(lambda: setattr(table, "sorters", [{"field": "confidence", "dir": "desc"}]))
    record["table_filter_ms"], _ = _timed(lambda: table.add_filter(lambda df: df[df["correct"] == False]))  # noqa: E712
    record["table_page_ms"], _ = _timed(lambda: setattr(table, "page", 50))
    record["table_filtered_rows"] = len(table.current_view)

    details, rows = app.tabs.details, sample.sequence_slice(sample.n_sequences // 2)
    app.tabs.tabs.active = TABS.index("Units")

    shown = [sample.n_sequences // 2]

    def units():
        shown[0] += 1
        app.sequence = shown[0]
    record["units_ms"], _ = _timed(units, repeat)
    states = EntryStates(StateStore(store).entry(entry_key).states(layer=sample.layer, kind=sample.state))
    # as the Neighbours tab does: built (once per entry, unless stored) in a child process, then opened
    record["neighbour_index_stored_before"] = states.neighbor_index_ready()
    record["neighbour_index_build_s"] = _timed(states.store_neighbor_index)[0] / 1000
    record["neighbour_index_child_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record["neighbour_index_open_ms"], _ = _timed(states.neighbor_index)
    record["rss_after_neighbour_index_mb"] = rss_mb()
    app.tabs.tabs.active = TABS.index("Neighbours")

    hovered = [0]

    def neighbors():
        hovered[0] += 1
        app.views.hover.data = {"x": [0.0], "y": [0.0], "t": [hovered[0] % (rows.stop - rows.start)], "wx": [0.0],
                                "wy": [0.0], "ww": [1.0]}
        return details._neighbor_table.value
    record["neighbours_ms"], _ = _timed(neighbors, max(repeat, 10))
    app.tabs.tabs.active = TABS.index("Region")
    app.tabs.tabs.active = TABS.index("Dataset overview")
    record["rss_every_tab_used_mb"] = rss_mb()
    record["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


def run_server_side(store: Path, entry: dict) -> dict:
    """:func:`server_side` in a fresh process (its memory is that of one server with one session)."""
    out = subprocess.run([sys.executable, __file__, "--server-side", str(store), entry["key"], entry["projection"]],
                         capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    if out.returncode != 0:
        raise SystemExit(f"server-side measures failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the server and the browser ------------------------------------------------------------------

def measure(browser, url: str, n_states: int, *, loads: int, selections: int, hovers: int,
            timeout_ms: float) -> dict:
    """Page-load, selection and hover latencies of one served entry."""
    interactive, complete, drawn_as = [], [], None
    ready_args = [POINTS_SOURCE, RASTER_SOURCE, PROJECTION_FIGURE, n_states, timeout_ms * 50]
    for _ in range(loads):
        context = browser.new_context(viewport=VIEWPORT)  # a fresh context: no cached resources
        page = context.new_page()
        page.goto(url, wait_until="commit")
        ready = page.evaluate(READY_JS, ready_args)
        if ready is None:
            raise SystemExit(f"the page at {url} never became interactive")
        interactive.append(ready["ms"] / 1000.0)
        drawn_as = ready["drawn_as"]
        ms = page.evaluate(COMPLETE_JS, [timeout_ms * 10])
        if ms is None:
            raise SystemExit(f"the sequence table at {url} was never drawn")
        complete.append(ms / 1000.0)
        context.close()

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url, wait_until="commit")
    page.evaluate(READY_JS, ready_args)
    page.mouse.click(20, VIEWPORT["height"] - 20)  # focus the page: empty sidebar space, no widget
    select_ms, lengths, missed = [], [], 0
    for _ in range(selections + 2):  # the first two warm the code paths and are dropped
        result = page.evaluate(SELECT_JS, [list(SELECTION_SOURCES), timeout_ms])
        if result is None:
            missed += 1
            continue
        select_ms.append(result["ms"])
        lengths.append(result["n"])
        page.wait_for_timeout(50)
    select_ms, lengths = select_ms[2:], lengths[2:]

    hover_ms, hover_frames = [], []
    for k in range(hovers):
        x, y, t = page.evaluate(WORD_XY_JS, [TEXT_FIGURE, TEXT_WORDS, 0])
        step = (k % max(t, 1))
        x, y, _ = page.evaluate(WORD_XY_JS, [TEXT_FIGURE, TEXT_WORDS, step])
        page.mouse.move(5, 5)
        page.wait_for_timeout(60)
        page.evaluate(HOVER_ARM_JS, [HOVER_SOURCE, step, timeout_ms])
        page.mouse.move(x, y)
        result = page.evaluate("window.__hover_ms")
        if result is not None:
            hover_ms.append(result["ms"])
            hover_frames.append(result["frames"])

    search_ms, search_found = [], []
    box = page.get_by_placeholder(SEARCH_BOX)
    box.wait_for(timeout=timeout_ms * 10)
    for query in BROWSER_SEARCHES:     # Enter → the rings' source replaced and the next frame drawn
        page.evaluate(SEARCH_ARM_JS, [SEARCH_SOURCE, timeout_ms * 4])
        box.fill(query)
        box.press("Enter")
        result = page.evaluate("window.__search_ms")
        if result is not None:
            search_ms.append(result["ms"])
            search_found.append(result["n"])
    context.close()

    record = {
        "n_states": n_states,
        "page_interactive_s": statistics.median(interactive),
        "page_interactive_first_s": interactive[0],
        "page_interactive_runs_s": interactive,
        "page_complete_s": statistics.median(complete),
        "map_drawn_as": drawn_as,
        "selections": len(select_ms),
        "selections_missed": missed,
        "selection_ms_median": statistics.median(select_ms) if select_ms else None,
        "selection_ms_p95": percentile(select_ms, 95) if select_ms else None,
        "selection_ms_max": max(select_ms) if select_ms else None,
        "selection_ms": select_ms,
        "selected_lengths": lengths,
        "hover_ms_median": statistics.median(hover_ms) if hover_ms else None,
        "hover_ms_p95": percentile(hover_ms, 95) if hover_ms else None,
        "hover_frames_max": max(hover_frames) if hover_frames else None,
        "hovers": len(hover_ms),
        "search_ms_median": statistics.median(search_ms) if search_ms else None,
        "search_ms_max": max(search_ms) if search_ms else None,
        "search_ms": dict(zip(BROWSER_SEARCHES, search_ms)),
        "search_found_states": dict(zip(BROWSER_SEARCHES, search_found)),
    }
    return record


def compare_entries_of(root: Path) -> dict:
    """A: the last checkpoint of the store's newest run; B: another entry over the same texts (one
    that is not of the run, else the run's first checkpoint)."""
    from rnnpanel.pipeline.compare import pair_entries
    from rnnpanel.store import StateStore

    entries = StateStore(root).entries()
    runs = [e for e in entries if e.attrs.get("checkpoint")]
    if not runs:
        raise SystemExit(f"--compare: no checkpoint of a run in {root} (rnnpanel extract --model RUN --checkpoints)")
    run = runs[-1].attrs["checkpoint"]["run"]
    epochs = sorted((e for e in runs if e.attrs["checkpoint"]["run"] == run),
                    key=lambda e: e.attrs["checkpoint"]["epoch"])
    a = epochs[-1]
    others = [e for e in entries if not e.attrs.get("checkpoint")] + epochs[:1]
    for b in others:
        try:
            pairing = pair_entries(a, b)
        except Exception:       # noqa: BLE001 -- other texts: try the next one
            continue
        return {"a": a.key, "b": b.key, "n_states": [int(a.attrs["n_states"]), int(b.attrs["n_states"])],
                "n_states_run": [int(e.attrs["n_states"]) for e in epochs], "epochs": len(epochs),
                "link": pairing.link, "models": [a.attrs.get("model_name"), b.attrs.get("model_name")]}
    raise SystemExit(f"--compare: no entry of {root} is over the same texts as {a.key}")


def _selections(browser, url: str, sources: list[str], selections: int, timeout_ms: float, ready_js: str,
                ready_args: list) -> tuple[list[float], int]:
    """Milliseconds of ``selections`` arrow-key selections on the page at ``url`` (until ``sources``
    are replaced and the next frame drawn; the first two dropped), and how many never arrived."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url, wait_until="commit")
    page.evaluate(ready_js, ready_args)
    page.get_by_text("Loading the settings").wait_for(state="detached", timeout=timeout_ms * 20)
    page.mouse.click(20, VIEWPORT["height"] - 20)
    select_ms, missed = [], 0
    for _ in range(selections + 2):
        result = page.evaluate(SELECT_JS, [sources, timeout_ms])
        if result is None:
            missed += 1
            continue
        select_ms.append(result["ms"])
        page.wait_for_timeout(50)
    context.close()
    return select_ms[2:], missed


def measure_compare(browser, base: str, entries: dict, *, loads: int, selections: int, steps: int,
                    timeout_ms: float) -> dict:
    """Page load and selection of ``?entry=A&compare=B``, and steps of the run's slider on
    ``?entry=A&compare=run``."""
    pair_url = f"{base}?entry={entries['a']}&compare={entries['b']}"
    run_url = f"{base}?entry={entries['a']}&compare=run"
    sizes = entries["n_states"]
    single = []             # the single view of A, under the same load, for comparison
    for _ in range(loads):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(f"{base}?entry={entries['a']}", wait_until="commit")
        ready = page.evaluate(READY_JS, [POINTS_SOURCE, RASTER_SOURCE, PROJECTION_FIGURE, sizes[0], timeout_ms * 50])
        single.append(ready["ms"] / 1000.0 if ready else None)
        context.close()
    single_select = _selections(browser, f"{base}?entry={entries['a']}", list(SELECTION_SOURCES), selections,
                                timeout_ms, READY_JS, [POINTS_SOURCE, RASTER_SOURCE, PROJECTION_FIGURE, sizes[0],
                                                       timeout_ms * 50])
    interactive, drawn_as = [], None
    for _ in range(loads):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(pair_url, wait_until="commit")
        ready = page.evaluate(COMPARE_READY_JS, [list(COMPARE_PREFIXES), sizes, timeout_ms * 50])
        if ready is None:
            raise SystemExit(f"the compare view at {pair_url} never became interactive")
        interactive.append(ready["ms"] / 1000.0)
        drawn_as = ready["drawn_as"]
        context.close()

    select_ms, missed = _selections(browser, pair_url, list(COMPARE_SELECTION_SOURCES), selections, timeout_ms,
                                    COMPARE_READY_JS, [list(COMPARE_PREFIXES), sizes, timeout_ms * 50])
    select_all_ms, _ = _selections(browser, pair_url, list(COMPARE_SELECTION_ALL), selections, timeout_ms,
                                   COMPARE_READY_JS, [list(COMPARE_PREFIXES), sizes, timeout_ms * 50])

    run_interactive = []        # the first open makes the run's figures (once per process), the second reads them
    for _ in range(2):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(run_url, wait_until="commit")
        ready = page.evaluate(COMPARE_READY_JS, [list(COMPARE_PREFIXES), [sizes[0], entries["n_states_run"][0]],
                                                 timeout_ms * 200])
        run_interactive.append(ready["ms"] / 1000.0 if ready else None)
        if len(run_interactive) == 1:
            context.close()
    page.get_by_text("Loading the settings").wait_for(state="detached", timeout=timeout_ms * 20)
    step_ms, direction = [], "next"
    for k in range(steps + 1):         # the first warms the path and is dropped
        if entries["epochs"] > 1 and k % (entries["epochs"] - 1) == 0 and k:
            direction = "previous" if direction == "next" else "next"
        page.evaluate(STEP_ARM_JS, [["compare_b_points_src", "compare_b_raster_src"], timeout_ms * 4])
        page.locator(f"button.{direction}").click()
        result = page.evaluate("window.__step_ms")
        if result is not None and k:
            step_ms.append(result["ms"])
        page.wait_for_timeout(900)      # the points' travel, then the next step
    context.close()
    return {
        "compare_entries": entries,
        "compare_interactive_s": statistics.median(interactive),
        "compare_interactive_runs_s": interactive,
        "single_interactive_runs_s": single,
        "single_interactive_s": statistics.median([x for x in single if x is not None]) if any(single) else None,
        "compare_maps_drawn_as": drawn_as,
        "compare_selection_ms_median": statistics.median(select_ms) if select_ms else None,
        "compare_selection_ms_p95": percentile(select_ms, 95) if select_ms else None,
        "compare_selection_ms": select_ms,
        "compare_selections_missed": missed,
        "compare_selection_with_ep_ms_median": statistics.median(select_all_ms) if select_all_ms else None,
        "compare_selection_with_ep_ms": select_all_ms,
        "single_selection_ms_median": statistics.median(single_select[0]) if single_select[0] else None,
        "single_selection_ms": single_select[0],
        "run_interactive_first_s": run_interactive[0],
        "run_interactive_s": run_interactive[1],
        "compare_step_ms_median": statistics.median(step_ms) if step_ms else None,
        "compare_step_ms_max": max(step_ms) if step_ms else None,
        "compare_step_ms": step_ms,
    }


# --- selection while the fragility is computed ----------------------------------------------------

def prepare_fragility_store(root: Path, n_sequences: int, *, model_dir: Path | None, seed: int) -> dict:
    """A store of one entry of ``n_sequences`` Rotten Tomatoes texts (train and test) drawn with replacement,
    read by the model, with a PCA map (cached). PCA, not t-SNE: a t-SNE of a million states would take
    an hour of this machine, and the map is drawn as an image either way."""
    import pandas as pd

    from rnnpanel.data import load_corpus
    from rnnpanel.pipeline.demo import DemoSpec, ensure_demo_model
    from rnnpanel.pipeline.extract import extract_to_store
    from rnnpanel.pipeline.states import EntryStates

    if model_dir is None:
        model_dir = ensure_demo_model(DemoSpec("rotten_tomatoes", n=0), progress=True)
    csv = root.parent / f"rotten-tomatoes-drawn-{n_sequences}-seed-{seed}.csv"
    if not csv.exists():
        corpus = load_corpus("rotten_tomatoes")
        every = corpus.split("all")
        rows = np.random.default_rng(seed).integers(0, len(every.texts), size=n_sequences)
        names = np.asarray(corpus.class_names, dtype=object)
        csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"text": [every.texts[r] for r in rows], "label": names[every.labels[rows]]}).to_csv(csv,
                                                                                                          index=False)
    entry, _ = extract_to_store(model_dir, str(csv), split="all", store_root=root, progress=True,
                                text_column="text", label_column="label")
    states = EntryStates(entry.states())
    if not states.has_map("pca"):
        states.project(method="pca")
    return {"key": entry.key, "n_states": int(entry.attrs["n_states"]),
            "n_sequences": int(entry.attrs["n_sequences"]), "model": Path(model_dir).name,
            "dataset": f"rotten_tomatoes, {n_sequences:,} texts drawn with replacement (seed {seed})",
            "projection": "pca"}


def measure_fragility(browser, url: str, n_states: int, folder: Path, server_pid: int, *, selections: int,
                      pause_ms: int, timeout_ms: float) -> dict:
    """Selections while idle, then while the fragility asked for by the page's button is computed."""
    from appbench import process_cpu_s

    from rnnpanel.app.fragility import COMPUTE
    from rnnpanel.store.mapped import has_mapped

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url, wait_until="commit")
    if page.evaluate(READY_JS, [POINTS_SOURCE, RASTER_SOURCE, PROJECTION_FIGURE, n_states, timeout_ms * 50]) is None:
        raise SystemExit(f"the page at {url} never became interactive")
    button = page.get_by_role("button", name=COMPUTE).first
    button.wait_for(timeout=timeout_ms * 20)
    page.mouse.click(20, VIEWPORT["height"] - 20)     # focus the page: empty sidebar space, no widget

    def select() -> float | None:
        result = page.evaluate(SELECT_JS, [list(SELECTION_SOURCES), timeout_ms])
        return None if result is None else result["ms"]

    idle = [select() for _ in range(selections + 2)][2:]
    load_idle = os.getloadavg()
    cpu_before = process_cpu_s(server_pid)
    button.click()
    clicked = time.monotonic()
    page.mouse.click(20, VIEWPORT["height"] - 20)
    computing, at, missed, samples, stored_s = [], [], 0, [], None
    child_cpu: dict[int, float] = {}
    next_sample, child_seen_s = 0.0, None
    while stored_s is None:
        elapsed = time.monotonic() - clicked
        if elapsed > 3600:
            raise SystemExit("the fragility was not stored within an hour")
        ms = select()
        if ms is None:
            missed += 1
        else:
            computing.append(ms)
            at.append(round(elapsed, 2))
        if child_seen_s is None or elapsed >= next_sample:
            used = process_cpu_s(server_pid)
            child_cpu.update({pid: s for pid, s in used.items() if pid != server_pid})
            if child_seen_s is None and child_cpu:
                child_seen_s = round(time.monotonic() - clicked, 2)
        if elapsed >= next_sample:
            samples.append({"s": round(elapsed, 1), "load_1min": round(os.getloadavg()[0], 2),
                            "server_cpu_s": round(used.get(server_pid, 0.0) - cpu_before.get(server_pid, 0.0), 1),
                            "children_cpu_s": round(sum(child_cpu.values()), 1)})
            next_sample += 10.0
        if has_mapped(folder):
            stored_s = time.monotonic() - clicked
        page.wait_for_timeout(pause_ms)
    page.get_by_text("sequences flip;").wait_for(timeout=timeout_ms * 20)
    shown_s = time.monotonic() - clicked
    after = [select() for _ in range(10)]
    cpu_after = process_cpu_s(server_pid)
    context.close()
    computing_ok = [m for m in computing if m is not None]

    def summary(values: list[float]) -> dict:
        values = [v for v in values if v is not None]
        return {"n": len(values), "median": statistics.median(values), "p95": percentile(values, 95),
                "max": max(values)} if values else {"n": 0}

    return {
        "n_states": n_states,
        "selection_idle_ms": summary(idle),
        "selection_computing_ms": summary(computing_ok),
        "selection_computing_over_150_ms": sum(m > 150 for m in computing_ok),
        "selection_after_ms": summary(after),
        "selections_missed": missed,
        "child_started_s": child_seen_s,
        "fragility_stored_s": round(stored_s, 1),
        "fragility_shown_s": round(shown_s, 1),
        "server_cpu_s_while_computing": round(cpu_after.get(server_pid, 0.0) - cpu_before.get(server_pid, 0.0), 1),
        "child_cpu_s": round(sum(child_cpu.values()), 1),
        "load_average_idle": load_idle,
        "samples": samples,
        "selection_computing_ms_all": computing,
        "selection_computing_at_s": at,
        "selection_idle_ms_all": idle,
    }


def fragility_main(args: argparse.Namespace) -> int:
    """``--fragility``: selections while the fragility is computed, one record per mode."""
    import shutil

    from playwright.sync_api import sync_playwright

    from rnnpanel import paths
    from rnnpanel.pipeline.importance import DEFAULT_LIMIT, fragility_name
    from rnnpanel.store import StateStore

    if args.store:
        root, entry = args.store, existing_store(args.store)
    else:
        root = (args.stores or (paths.home() / "bench-app")) / f"fragility-{args.fragility_sequences}"
        entry = prepare_fragility_store(root, args.fragility_sequences, model_dir=args.model, seed=args.seed)
    folder = StateStore(root).derived_path(entry["key"], fragility_name(DEFAULT_LIMIT))
    records = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for mode in args.modes:
            shutil.rmtree(folder, ignore_errors=True)          # computed again in every run
            port = free_port()
            load_before = os.getloadavg()
            server = start_server(root, port, MODES[mode])
            try:
                record = measure_fragility(browser, f"http://127.0.0.1:{port}/apps?entry={entry['key']}",
                                           entry["n_states"], folder, server.pid, selections=args.selections,
                                           pause_ms=args.pause_ms, timeout_ms=5000)
                record["server_rss_mb"] = rss_mb(server.pid)
            finally:
                stop_server(server)
            record.update(mode=mode, entry=entry, load_average_before=load_before, load_average=os.getloadavg(),
                          browser=browser.version, cpu=platform.processor() or platform.machine(),
                          cpus=os.cpu_count(), python=platform.python_version(),
                          date=time.strftime("%Y-%m-%d %H:%M:%S"))
            records.append(record)
            busy = record["selection_computing_ms"]
            log.info("fragility of %d sequences: stored after %.0f s, shown after %.0f s; selection while computing: "
                     "median %.0f ms p95 %.0f ms max %.0f ms (idle median %.0f ms)", entry["n_sequences"],
                     record["fragility_stored_s"], record["fragility_shown_s"], busy.get("median", -1),
                     busy.get("p95", -1), busy.get("max", -1), record["selection_idle_ms"].get("median", -1))
        browser.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(records, indent=2))
    print(json.dumps([{k: r[k] for k in ("mode", "fragility_stored_s", "fragility_shown_s", "selection_idle_ms",
                                         "selection_computing_ms", "selection_after_ms", "load_average")}
                      for r in records], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--server-side":
        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(server_side(Path(sys.argv[2]), sys.argv[3], sys.argv[4])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="write the records here")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000], help="states per entry")
    parser.add_argument("--selections", type=int, default=30, help="timed selections per size (≥ 20)")
    parser.add_argument("--loads", type=int, default=3, help="timed page loads per size")
    parser.add_argument("--hovers", type=int, default=20, help="timed hovers per size")
    parser.add_argument("--model", type=Path, default=None,
                        help="model directory (default: the demo model, trained first if missing)")
    parser.add_argument("--dataset", default="rotten_tomatoes")
    parser.add_argument("--split", default="train", help="split whose texts are sampled (default train: the largest)")
    parser.add_argument("--method", default="tsne", help="projection method (default tsne, as the demo)")
    parser.add_argument("--stores", type=Path, default=None,
                        help="folder of the benchmark stores (default $RNNPANEL_HOME/bench-app)")
    parser.add_argument("--store", type=Path, default=None,
                        help="measure an existing store's newest entry (its stored projection) instead of "
                             "making entries of --sizes; adds the server-side measures of the tools")
    parser.add_argument("--compare", type=Path, default=None, metavar="STORE",
                        help="measure the compare view on this store (a run's checkpoints with their maps, and "
                             "another entry over the same texts) instead")
    parser.add_argument("--steps", type=int, default=10, help="timed steps of the run's slider (--compare)")
    parser.add_argument("--fragility", action="store_true",
                        help="time selections while the page computes the entry's fragility instead")
    parser.add_argument("--fragility-sequences", type=int, default=50_000,
                        help="texts of the entry made for --fragility (without --store)")
    parser.add_argument("--pause-ms", type=int, default=200, help="pause between selections (--fragility)")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["auto"],
                        help="how the map draws the states: as the app chooses (auto), or forced")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.selections < 20:
        parser.error("--selections must be at least 20")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from playwright.sync_api import sync_playwright

    from rnnpanel import paths

    if args.compare is not None:
        return compare_main(args)
    if args.fragility:
        return fragility_main(args)
    stores = args.stores or (paths.home() / "bench-app")
    records = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for size in ([None] if args.store else args.sizes):
            if args.store:
                root, entry = args.store, existing_store(args.store)
                size = entry["n_states"]
            else:
                root = stores / f"store-{size}"
                entry = prepare_store(root, size, model_dir=args.model, dataset=args.dataset, split=args.split,
                                      method=args.method, seed=args.seed)
            for mode in args.modes:
                port = free_port()
                server = start_server(root, port, MODES[mode])
                try:
                    record = measure(browser, f"http://127.0.0.1:{port}/apps", entry["n_states"],
                                     loads=args.loads, selections=args.selections, hovers=args.hovers,
                                     timeout_ms=5000)
                    record["server_rss_mb"] = rss_mb(server.pid)
                finally:
                    stop_server(server)
                if args.store:
                    record["server_side"] = run_server_side(root, entry)
                record.update(mode=mode, entry=entry, target_states=size, load_average=os.getloadavg(),
                              browser=browser.version, cpu=platform.processor() or platform.machine(),
                              cpus=os.cpu_count(), python=platform.python_version())
                records.append(record)
                log.info("%d states (%s, map as %s): interactive %.2f s (complete %.2f s), selection median "
                         "%.0f ms p95 %.0f ms, hover median %s ms", record["n_states"], mode, record["map_drawn_as"],
                         record["page_interactive_s"], record["page_complete_s"],
                         record["selection_ms_median"] or -1, record["selection_ms_p95"] or -1,
                         record["hover_ms_median"])
        browser.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(records, indent=2))
    print(json.dumps([{k: r[k] for k in ("n_states", "mode", "map_drawn_as", "page_interactive_s", "page_complete_s",
                                         "selection_ms_median", "selection_ms_p95", "hover_ms_median",
                                         "hover_frames_max")}
                      for r in records], indent=2))
    return 0


def compare_main(args: argparse.Namespace) -> int:
    """``--compare STORE``: the compare view's measures, one record per mode."""
    from playwright.sync_api import sync_playwright

    entries = compare_entries_of(args.compare)
    records = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for mode in args.modes:
            port = free_port()
            load_before = os.getloadavg()
            server = start_server(args.compare, port, MODES[mode])
            try:
                record = measure_compare(browser, f"http://127.0.0.1:{port}/apps", entries, loads=args.loads,
                                         selections=args.selections, steps=args.steps, timeout_ms=5000)
                record["server_rss_mb"] = rss_mb(server.pid)
            finally:
                stop_server(server)
            record.update(mode=mode, load_average_before=load_before, load_average=os.getloadavg(),
                          browser=browser.version, cpu=platform.processor() or platform.machine(),
                          cpus=os.cpu_count(), python=platform.python_version(),
                          date=time.strftime("%Y-%m-%d %H:%M:%S"))
            records.append(record)
            log.info("compare (%s, maps as %s): interactive %.2f s, selection median %.0f ms, slider step median "
                     "%.0f ms", mode, record["compare_maps_drawn_as"], record["compare_interactive_s"],
                     record["compare_selection_ms_median"] or -1, record["compare_step_ms_median"] or -1)
        browser.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(records, indent=2))
    print(json.dumps([{k: r[k] for k in ("mode", "compare_maps_drawn_as", "single_interactive_s",
                                         "compare_interactive_s", "compare_selection_ms_median",
                                         "compare_selection_ms_p95", "compare_selection_with_ep_ms_median",
                                         "single_selection_ms_median",
                                         "run_interactive_first_s", "run_interactive_s", "compare_step_ms_median",
                                         "compare_step_ms_max")}
                      for r in records], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
