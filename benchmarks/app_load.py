"""Many users at once: N sessions of the app opened at the same moment, each selecting sequences
for a while, against the app served as users serve it (`panel serve apps/` or `rnnpanel serve`).

Two kinds of sessions (one asyncio loop, so no session waits for another to be started):

* ``--sessions`` Bokeh client sessions: the app's websocket (``/apps/ws``) opened with a fresh
  session id, which makes the server build a whole session as for a browser (``main.py`` run,
  the document pulled); then the page's ``document_ready`` event is sent, so the server also
  builds what the app sends after the first page (the tables and the sidebar's tools). They
  select the next sequence as the arrow key does (the app's key relay source) and time the
  round trip until the server's patch of the per-sequence views arrives.
* ``--pages`` real Chromium pages (Debian's, driven by Playwright; never downloaded) that are
  timed as ``app_latency.py`` times them, with the page's own clock: interactive (the map drawn,
  its states there, the arrow keys listened to), a selection (arrow key → the text, heatmap and
  distance views hold the next sequence and the frame is painted) and a hover (mouse onto a word
  → the shared hover source and the frame drawn).

The client sessions are started at the same moment. The pages are opened first, one after another,
and select and hover while the client sessions open and select (``--pages-open first``, the
default: a room where some already work when the others arrive); with ``--pages-open with-burst``
they are started at that moment too, and count among the sessions opened at once. Every client
session selects for ``--duration`` seconds once it is interactive, with a think time between
selections; the pages select and hover as long as the client sessions run (with ``with-burst``,
for ``--duration`` seconds). Recorded: the errors of every session (failed connections, timeouts,
errors the server sent or logged, page errors), time to interactive per session (p50/p95/max of
the sessions opened at once, and of the pages), selection and hover latency under that load, the
server's resident memory (with its forked processes) before, at its peak and after, per extra
session, the CPU seconds the server, the client sessions and Chromium each used until the last
session was interactive (on one machine they share its cores), and the machine (cores, load
average before and after). ``--servers N`` starts N independent servers and deals the sessions
over them in turn, as a proxy with sticky sessions in front of them would; with ``--proxy nginx``
every session goes through nginx (the machine's) configured by ``deploy/nginx-rnnpanel.conf``, as
the README's team layout has it. Traffic goes only to the servers it starts on 127.0.0.1.

    python benchmarks/app_load.py --sessions 20 --json app_load.json
    python benchmarks/app_load.py --sessions 20 --num-procs 2 --json app_load_2procs.json
    python benchmarks/app_load.py --sessions 20 --servers 2 --json app_load_2servers.json
    python benchmarks/app_load.py --sessions 20 --servers 2 --proxy nginx --json app_load_nginx.json
    python benchmarks/app_load.py --sessions 20 --pages-open with-burst --json app_load_pages_in_burst.json
    python benchmarks/app_load.py --server rnnpanel --sessions 4 --pages 1 --duration 5 --json small.json

The store is ``--store`` (its first entry, as the app opens it) or, by default, the 50,000-state
entry of ``app_latency.py --sizes 50000`` (made first when missing). Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from appbench import (
    CHROMIUM_ARGS,
    HOVER_ARM_JS,
    HOVER_SOURCE,
    POINTS_SOURCE,
    PROJECTION_FIGURE,
    RASTER_SOURCE,
    READY_JS,
    SELECT_JS,
    SELECTION_SOURCES,
    TEXT_FIGURE,
    TEXT_WORDS,
    VIEWPORT,
    WORD_XY_JS,
    free_port,
    percentile,
    process_cpu_s,
    start_nginx,
    start_server,
    stop_server,
    tree_cpu_s,
    tree_rss_mb,
)

log = logging.getLogger("app_load")

KEYS_SOURCE = "keys_src"       # the app's key relay (rnnpanel/app/key_relay.py)
HOVER_WORDS = 8                # a page hovers one of its sequence's first words (long texts scroll)
HOVER_TIMEOUT_S = 10           # client-side linking: no server round trip to wait for
MAX_MESSAGE = 256 * 2**20


def summary(values: list[float]) -> dict:
    """p50 / p95 / max (and how many) of some timings."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {"n": len(values), "p50": statistics.median(values), "p95": percentile(values, 95), "max": max(values)}


# --- Bokeh client sessions ---------------------------------------------------------------------

def named_models(doc: dict) -> dict[str, dict]:
    """The models of a pulled document (its JSON) that carry a name, by name."""
    found: dict[str, dict] = {}
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "object" and isinstance(node.get("attributes"), dict):
                name = node["attributes"].get("name")
                if isinstance(name, str):
                    found.setdefault(name, node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def map_is_drawn(models: dict[str, dict], n_states: int) -> bool:
    """Whether the map's states are in the document: a glyph each, or the rasterised image."""
    for name, column in ((POINTS_SOURCE, "x"), (RASTER_SOURCE, "image")):
        source = models.get(name)
        if source is None:
            continue
        data = dict(source["attributes"].get("data", {}).get("entries", []))
        values = data.get(column)
        size = (values.get("shape", [0])[0] if isinstance(values, dict) else len(values or []))
        if (name == POINTS_SOURCE and size == n_states) or (name == RASTER_SOURCE and size == 1):
            return True
    return False


class ClientSession:
    """One Bokeh client session of the app: connects, pulls the document, selects sequences."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        self.ws_url, self.timeout = ws_url, timeout
        self.errors: list[str] = []
        self._socket = None
        self._patched: asyncio.Queue = asyncio.Queue()
        self._replies: asyncio.Queue = asyncio.Queue()
        self._ids: dict[str, str] = {}
        self._presses = 0

    async def open(self, n_states: int) -> None:
        """Connect with a new session id (the server builds the session) and pull the document."""
        from bokeh.client.websocket import WebSocketClientConnectionWrapper
        from bokeh.protocol import Protocol
        from bokeh.protocol.receiver import Receiver
        from bokeh.util.token import generate_jwt_token, generate_session_id
        from tornado.websocket import websocket_connect

        token = generate_jwt_token(generate_session_id(),
                                   extra_payload={"headers": {}, "cookies": {}, "arguments": {}})
        socket = await websocket_connect(self.ws_url, subprotocols=["bokeh", token], max_message_size=MAX_MESSAGE)
        self._socket = WebSocketClientConnectionWrapper(socket)
        self._protocol, self._receiver = Protocol(), Receiver(Protocol())
        self._reader = asyncio.ensure_future(self._read())
        ack = await asyncio.wait_for(self._replies.get(), self.timeout)
        if ack.msgtype != "ACK":
            raise RuntimeError(f"expected ACK, got {ack.msgtype}")
        await self._protocol.create("PULL-DOC-REQ").send(self._socket)
        reply = await asyncio.wait_for(self._replies.get(), self.timeout)
        if reply.msgtype != "PULL-DOC-REPLY":
            raise RuntimeError(f"expected the document, got {reply.msgtype}: {reply.content}")
        models = named_models(reply.content["doc"])
        if not map_is_drawn(models, n_states):
            raise RuntimeError("the pulled document has no map of the entry's states")
        missing = [n for n in (KEYS_SOURCE, *SELECTION_SOURCES) if n not in models]
        if missing:
            raise RuntimeError(f"the pulled document lacks {missing}")
        self._ids = {name: models[name]["id"] for name in (KEYS_SOURCE, *SELECTION_SOURCES)}
        # what a browser sends once it has drawn the page: the app then sends the rest of it
        await self._patch([{"kind": "MessageSent", "msg_type": "bokeh_event",
                            "msg_data": {"type": "event", "name": "document_ready",
                                         "values": {"type": "map", "entries": []}}}])

    async def _read(self) -> None:
        try:
            while True:
                fragment = await self._socket.read_message()
                if fragment is None:
                    return
                message = await self._receiver.consume(fragment)
                if message is None:
                    continue
                if message.msgtype == "PATCH-DOC":
                    ids = {e.get("model", {}).get("id") for e in message.content.get("events", [])
                           if isinstance(e.get("model"), dict)}
                    self._patched.put_nowait(ids)
                elif message.msgtype == "ERROR":
                    self.errors.append(f"server error: {message.content.get('text')}")
                elif message.msgtype != "OK":
                    self._replies.put_nowait(message)
        except Exception as exc:       # noqa: BLE001 -- recorded as the session's error
            self.errors.append(f"reading: {type(exc).__name__}: {exc}")

    async def _patch(self, events: list[dict]) -> None:
        header = {"msgid": f"m{self._presses}-{random.getrandbits(32)}", "msgtype": "PATCH-DOC"}
        async with self._socket.write_lock:
            for part in (header, {}, {"events": events}):
                await self._socket.write_message(json.dumps(part), locked=False)

    async def select_next(self) -> float | None:
        """ArrowDown through the app's key relay → milliseconds until the server's patch of the
        per-sequence views (text and heatmap) arrived; None if it did not within the timeout."""
        while not self._patched.empty():
            self._patched.get_nowait()
        self._presses += 1
        started = time.perf_counter()
        await self._patch([{"kind": "ModelChanged", "model": {"id": self._ids[KEYS_SOURCE]}, "attr": "data",
                            "new": {"type": "map", "entries": [["key", ["ArrowDown"]], ["n", [self._presses]]]}}])
        wanted = {self._ids[SELECTION_SOURCES[0]], self._ids[SELECTION_SOURCES[1]]}
        deadline = started + self.timeout
        while wanted:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            try:
                wanted -= await asyncio.wait_for(self._patched.get(), left)
            except TimeoutError:
                return None
        return 1000 * (time.perf_counter() - started)

    async def close(self) -> None:
        if self._socket is not None:
            self._socket._socket.close()
            self._reader.cancel()


async def keep_doing(action, duration: float, think: float, stop: asyncio.Event | None = None) -> None:
    """``await action()`` at least once and until ``duration`` seconds have passed, or ``stop`` is set
    when given (or it returns False), with a think time of 0.5-1.5 × ``think`` seconds between two."""
    until = time.perf_counter() + duration

    def going_on() -> bool:
        return not stop.is_set() if stop is not None else time.perf_counter() < until

    while await action() and going_on():
        await asyncio.sleep(think * random.uniform(0.5, 1.5))


async def run_client(i: int, ws_url: str, n_states: int, *, started: float, duration: float, think: float,
                     timeout: float) -> dict:
    """A client session: opened (timed from ``started``), then selecting for ``duration`` seconds
    (at least once)."""
    record = {"kind": "client", "i": i, "interactive_s": None, "selection_ms": [], "errors": []}
    session = ClientSession(ws_url, timeout)
    try:
        await session.open(n_states)
        record["interactive_s"] = time.perf_counter() - started

        async def select() -> bool:
            ms = await session.select_next()
            if ms is None:
                record["errors"].append(f"a selection got no answer within {timeout:.0f} s")
            else:
                record["selection_ms"].append(ms)
            return True
        await keep_doing(select, duration, think)
    except Exception as exc:         # noqa: BLE001 -- recorded as the session's error
        record["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        record["errors"] += session.errors
        await session.close()
    return record


# --- Chromium pages ------------------------------------------------------------------------------

async def run_page(i: int, browser, url: str, n_states: int, *, duration: float, think: float,
                   timeout: float, up: asyncio.Event | None = None, go: asyncio.Event | None = None,
                   stop: asyncio.Event | None = None) -> dict:
    """A real page: opened, timed to interactive (then ``up`` is set, also when it failed), then,
    once ``go`` is set when given, selecting and hovering a word for ``duration`` seconds, or until
    ``stop`` is set when given (at least once)."""
    record = {"kind": "page", "i": i, "interactive_s": None, "selection_ms": [], "hover_ms": [],
              "hover_frames": [], "errors": []}
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: record["errors"].append(f"page error: {exc}"))
    try:
        await page.goto(url, wait_until="commit", timeout=timeout * 1000)
        ready = await page.evaluate(READY_JS, [POINTS_SOURCE, RASTER_SOURCE, PROJECTION_FIGURE, n_states,
                                               timeout * 1000])
        if ready is None:
            raise RuntimeError(f"not interactive within {timeout:.0f} s")
        record["interactive_s"] = ready["ms"] / 1000
        record["drawn_as"] = ready["drawn_as"]
        await page.mouse.click(20, VIEWPORT["height"] - 20)  # focus the page (empty sidebar space)
        if up is not None:
            up.set()
        if go is not None:
            await go.wait()

        async def select_and_hover() -> bool:
            result = await page.evaluate(SELECT_JS, [list(SELECTION_SOURCES), timeout * 1000])
            if result is None:
                record["errors"].append(f"a selection was not drawn within {timeout:.0f} s")
                return False
            record["selection_ms"].append(result["ms"])
            x, y, n_words = await page.evaluate(WORD_XY_JS, [TEXT_FIGURE, TEXT_WORDS, 0])
            step = random.randrange(max(min(n_words, HOVER_WORDS), 1))     # on the text view's first lines
            x, y, _ = await page.evaluate(WORD_XY_JS, [TEXT_FIGURE, TEXT_WORDS, step])
            await page.mouse.move(5, 5)
            await page.wait_for_timeout(60)
            await page.evaluate(HOVER_ARM_JS, [HOVER_SOURCE, step, HOVER_TIMEOUT_S * 1000])
            await page.mouse.move(x, y)
            hover = await page.evaluate("window.__hover_ms")
            if hover is None:
                record["errors"].append(f"a hover was not drawn within {HOVER_TIMEOUT_S} s")
            else:
                record["hover_ms"].append(hover["ms"])
                record["hover_frames"].append(hover["frames"])
            return True
        await keep_doing(select_and_hover, duration, think, stop)
    except Exception as exc:        # noqa: BLE001 -- recorded as the session's error
        record["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        if up is not None:
            up.set()
        await context.close()
    return record


# --- the run ------------------------------------------------------------------------------------

def servers_cpu_s(pids: list[int]) -> dict[int, float]:
    """CPU seconds each process of the servers (and their forks) has used so far, by pid."""
    return {p: c for pid in pids for p, c in process_cpu_s(pid).items()}


def servers_rss_mb(pids: list[int]) -> float:
    """Resident memory of the servers and their forks, in MB."""
    return sum(tree_rss_mb(pid) for pid in pids)


def cpu_sample(server_pids: list[int]) -> tuple[dict[int, float], dict[str, float]]:
    """CPU seconds used so far: by each of the server's processes; and by the server, the load
    generator (this process's client sessions; Playwright's driver and Chromium, its other
    descendants) and the whole machine (every core's busy time, whoever used it), the machine's
    read just before (``machine_from``) and just after (``machine_to``) the processes', so that the
    machine's time between two samples brackets theirs."""
    import psutil

    def busy() -> float:        # a virtual machine's stolen time too: the processes' own times include it
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)

    start = busy()
    by_process = servers_cpu_s(server_pids)
    server, clients = sum(by_process.values()), sum(psutil.Process().cpu_times()[:2])
    browser = tree_cpu_s(os.getpid()) - server - clients
    return by_process, {"server": server, "client_sessions": clients, "browser": browser,
                        "machine_from": start, "machine_to": busy()}


async def sample_server(pids: list[int], peak: list[float], cpu: list[tuple[float, dict, dict]],
                        stop: asyncio.Event) -> None:
    """Every half second: the server's resident memory (its peak), and when, each of its
    processes' CPU seconds so far and who used the machine's CPU (:func:`cpu_sample`)."""
    while not stop.is_set():
        peak[0] = max(peak[0], servers_rss_mb(pids))
        cpu.append((time.perf_counter(), *cpu_sample(pids)))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


def websocket_url(url: str) -> str:
    """The app's websocket at ``url`` (http://host:port/apps)."""
    return url.replace("http://", "ws://") + "/ws"


async def until_idle(pids: list[int], *, quiet_s: float = 1.0, give_up_s: float = 60.0) -> float:
    """Wait until the servers have used under 5 % of a core for ``quiet_s`` seconds (what they do
    after a session, such as building apps ahead of the next ones, is done), at most ``give_up_s``;
    returns the seconds waited. The burst then meets servers at rest, as a room arriving after the
    first colleague does."""
    started = time.perf_counter()
    quiet_since, before = started, sum(servers_cpu_s(pids).values())
    while time.perf_counter() - started < give_up_s:
        await asyncio.sleep(0.25)
        used = sum(servers_cpu_s(pids).values())
        if used - before > 0.05 * 0.25:
            quiet_since = time.perf_counter()
        before = used
        if time.perf_counter() - quiet_since >= quiet_s:
            break
    return time.perf_counter() - started


async def load(args, urls: list[str], n_states: int, server_pids: list[int], warm_urls: list[str]) -> dict:
    """The burst: every session started at once, session i on server i mod len(urls) (``warm_urls``:
    each server's own, for its first session). With
    ``--pages-open first`` the pages are opened (and timed) before it, one after another, and select
    and hover all through it; the burst is then the client sessions alone."""
    from playwright.async_api import async_playwright

    ws_urls = [websocket_url(url) for url in urls]
    # one session first on each server, straight to it (imports and caches every session shares,
    # apps built ahead), closed again
    for ws_url in map(websocket_url, warm_urls):
        warm = await run_client(-1, ws_url, n_states, started=time.perf_counter(), duration=0, think=0,
                                timeout=args.timeout)
        if warm["errors"]:
            raise SystemExit(f"a first session failed: {warm['errors']}")
    waited_s = await until_idle(server_pids)
    memory = {"before_mb": servers_rss_mb(server_pids)}
    load_before = os.getloadavg()
    pages_first = args.pages_open == "first"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        await asyncio.sleep(1)      # Chromium starts its helper processes: their start is not the burst's CPU
        how = dict(duration=args.duration, think=args.think, timeout=args.timeout)
        page_urls = [urls[(args.sessions + i) % len(urls)] for i in range(args.pages)]
        page_tasks, burst_start, burst_over = [], asyncio.Event(), asyncio.Event()
        if pages_first:             # up before the burst, each opened alone; busy from its start
            for i, url in enumerate(page_urls):
                up = asyncio.Event()
                page_tasks.append(asyncio.ensure_future(
                    run_page(i, browser, url, n_states, up=up, go=burst_start, stop=burst_over, **how)))
                await up.wait()
        waited_s += await until_idle(server_pids)
        peak, cpu, stop = [memory["before_mb"]], [], asyncio.Event()
        cpu_before, machine_before = cpu_sample(server_pids)
        started = time.perf_counter()
        burst_start.set()
        sampler = asyncio.ensure_future(sample_server(server_pids, peak, cpu, stop))
        if not pages_first:
            page_tasks = [asyncio.ensure_future(run_page(i, browser, url, n_states, **how))
                          for i, url in enumerate(page_urls)]
        clients = await asyncio.gather(
            *[run_client(i, ws_urls[i % len(urls)], n_states, started=started, **how) for i in range(args.sessions)])
        burst_over.set()
        records = [*clients, *await asyncio.gather(*page_tasks)]
        # every session is still open on the server (a closed websocket's session lingers a while)
        memory["after_mb"] = servers_rss_mb(server_pids)
        stop.set()
        await sampler
        memory["peak_mb"] = peak[0]
        # the server's CPU time until the last session of the burst was interactive, per session opened
        burst = clients if pages_first else records
        opened = started + max((r["interactive_s"] for r in burst if r["interactive_s"] is not None), default=0)
        sampled_at, at_open, machine_open = next((c for c in cpu if c[0] >= opened),
                                                 cpu[-1] if cpu else (started, cpu_before, machine_before))
        by_process = {p: round(c - cpu_before.get(p, 0.0), 2) for p, c in at_open.items()}
        cpu_open = sum(by_process.values())
        browser_version = browser.version
        await browser.close()
    memory["per_extra_session_mb"] = (memory["after_mb"] - memory["before_mb"]) / (args.sessions + args.pages)
    return {"records": records, "memory": memory,
            "server_cpu_s": {"until_all_interactive": cpu_open,
                             "per_session_opened": cpu_open / len(burst),
                             # how the burst spread over the processes (--num-procs, --servers), busiest first
                             "by_process_until_all_interactive": sorted(by_process.values(), reverse=True),
                             "whole_run": sum(servers_cpu_s(server_pids).values()) - sum(cpu_before.values())},
            # on one machine the load generator competes with the server for the same cores
            "machine_cpu_s_until_all_interactive": {
                **{who: round(machine_open[who] - machine_before[who], 2)
                   for who in ("server", "client_sessions", "browser")},
                "machine": round(machine_open["machine_to"] - machine_before["machine_from"], 2),
                # cores x the seconds those readings span (the first sample after the last session was up)
                "capacity": round((os.cpu_count() or 1) * (sampled_at - started), 2)},
            "load_average_before": load_before, "servers_idle_after_s": round(waited_s, 2),
            "load_average_after": os.getloadavg(), "browser": browser_version}


def first_entry(root: Path) -> dict:
    """The entry the app opens first, and its size."""
    from rnnpanel.pipeline.load import list_entries
    from rnnpanel.store import StateStore

    store = StateStore(root)
    entries = list_entries(store)
    if not entries:
        raise SystemExit(f"no entries in {root}")
    key, label = entries[0]
    attrs = store.entry(key).attrs
    return {"key": key, "label": label, "n_states": int(attrs["n_states"]), "n_sequences": int(attrs["n_sequences"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="write the record here")
    parser.add_argument("--sessions", type=int, default=20, help="Bokeh client sessions opened at once (default 20)")
    parser.add_argument("--pages", type=int, default=3, help="Chromium pages (default 3)")
    parser.add_argument("--pages-open", choices=("first", "with-burst"), default="first",
                        help="the pages are open and select and hover while the client sessions open at once "
                             "(first, default), or open in the same burst as they do (with-burst)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds each session keeps selecting once it is interactive (default 60)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds between a session's selections (each 0.5-1.5 times it; default 1)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a step counts as failed")
    parser.add_argument("--server", choices=("panel", "rnnpanel"), default="panel",
                        help="`panel serve apps/` (default) or `rnnpanel serve --no-demo`")
    parser.add_argument("--num-procs", type=int, default=1, help="panel serve --num-procs (processes)")
    parser.add_argument("--num-threads", type=int, default=None, help="panel serve --num-threads")
    parser.add_argument("--servers", type=int, default=1,
                        help="independent servers, each on a port of its own, the sessions dealt over them in "
                             "turn, as a proxy with sticky sessions in front of them would (default 1)")
    parser.add_argument("--proxy", choices=("none", "nginx"), default="none",
                        help="nginx: every session through nginx with deploy/nginx-rnnpanel.conf (the README's "
                             "team layout) in front of the --servers, instead of dealt to them in turn")
    parser.add_argument("--store", type=Path, default=None,
                        help="store whose first entry is served (default: the 50,000-state benchmark store of "
                             "app_latency.py, made when missing)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.sessions < 0 or args.pages < 0 or args.sessions + args.pages == 0:
        parser.error("open at least one session (--sessions, --pages)")
    if args.servers < 1:
        parser.error("--servers must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    random.seed(args.seed)

    root = args.store
    if root is None:
        from app_latency import prepare_store

        from rnnpanel import paths

        root = paths.home() / "bench-app" / "store-50000"
        prepare_store(root, 50_000, model_dir=None, dataset="rotten_tomatoes", split="train", method="tsne",
                      seed=0)
    entry = first_entry(root)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    servers, ports, logs = [], [], []
    proxy_port = free_port() if args.proxy == "nginx" else None
    proxy_dir = args.json.with_suffix(".nginx")
    origin = None if proxy_port is None else f"127.0.0.1:{proxy_port}"
    try:
        for k in range(args.servers):       # one after the other: each port is taken before the next is chosen
            port, log = free_port(), args.json.with_suffix(f".server{k}.log")
            logs.append(log)
            servers.append(start_server(root, port, command=args.server, num_procs=args.num_procs,
                                        num_threads=args.num_threads, origin=origin, log=log))
            ports.append(port)
        direct = urls = [f"http://127.0.0.1:{port}/apps" for port in ports]
        if proxy_port is not None:          # every session through the proxy; its CPU counts as the servers'
            servers.append(start_nginx(proxy_port, ports, proxy_dir))
            urls = [f"http://127.0.0.1:{proxy_port}/apps"]
        pids = [server.pid for server in servers]
        idle_mb = servers_rss_mb(pids)
        result = asyncio.run(load(args, urls, entry["n_states"], pids, warm_urls=direct))
    finally:
        for server in servers:
            stop_server(server)
    logged = "".join(log.read_text(errors="replace") for log in logs)
    for log in logs:
        log.unlink()
    proxy_errors = []
    if proxy_dir.exists():              # what nginx could not pass on (a server refusing or gone)
        import shutil

        said = proxy_dir / "error.log"
        if said.exists():
            proxy_errors = [line for line in said.read_text(errors="replace").splitlines()
                            if any(level in line for level in ("[error]", "[crit]", "[alert]", "[emerg]"))]
        shutil.rmtree(proxy_dir)
    records = result.pop("records")
    pages = [r for r in records if r["kind"] == "page"]
    clients = [r for r in records if r["kind"] == "client"]
    errors = {f"{r['kind']} {r['i']}": r["errors"] for r in records if r["errors"]}
    logged_errors = [line for line in logged.splitlines() if "Traceback" in line or " ERROR" in line] + proxy_errors

    burst = clients if args.pages_open == "first" else records

    def interactive(rs):
        return [r["interactive_s"] for r in rs if r["interactive_s"] is not None]

    def pooled(rs, key):
        return [v for r in rs for v in r.get(key, [])]

    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "load_average_before": result["load_average_before"],
            "servers_idle_after_s": result["servers_idle_after_s"],
            "load_average_after": result["load_average_after"],
            "python": platform.python_version(),
            "browser": result["browser"],
        },
        "server": {
            "command": "panel serve apps/" if args.server == "panel" else "rnnpanel serve --no-demo",
            "num_procs": args.num_procs,
            "num_threads": args.num_threads,
            "servers": args.servers,
            "proxy": args.proxy,
        },
        "entry": entry,
        "sessions": args.sessions,
        "pages": args.pages,
        "pages_open": args.pages_open,
        "duration_s": args.duration,
        "think_s": args.think,
        "errors": sum(len(v) for v in errors.values()) + len(logged_errors),
        "session_errors": errors,
        "server_log_errors": logged_errors[:20],
        "interactive_s": {
            "all": summary(interactive(burst)),
            "pages": summary(interactive(pages)),
            "clients": summary(interactive(clients)),
        },
        "selection_ms": {
            "pages": summary(pooled(pages, "selection_ms")),
            "clients": summary(pooled(clients, "selection_ms")),
        },
        "hover_ms": summary(pooled(pages, "hover_ms")),
        "hover_frames_max": max(pooled(pages, "hover_frames"), default=None),
        "server_rss_mb": {"idle": idle_mb, **result["memory"]},
        "server_cpu_s": result["server_cpu_s"],
        "machine_cpu_s_until_all_interactive": result["machine_cpu_s_until_all_interactive"],
        "per_session": [
            {k: v for k, v in r.items() if k not in ("selection_ms", "hover_ms", "hover_frames")}
            | {
                "selections": len(r["selection_ms"]),
                "selection_ms_median": statistics.median(r["selection_ms"]) if r["selection_ms"] else None,
            }
            for r in records
        ],
    }
    args.json.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: out[k] for k in ("errors", "interactive_s", "selection_ms", "hover_ms", "server_rss_mb",
                                          "server_cpu_s", "machine_cpu_s_until_all_interactive",
                                          "machine")}, indent=2))
    return 0 if out["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
