"""What the app benchmarks share: Debian's Chromium and how to drive it, the page-side probes that
time the app with the page's own clock, and the server started as a user starts it.

Used by ``app_latency.py`` (one user at a time) and ``app_load.py`` (many at once). The probes
rely on the names the app gives its Bokeh models (rnnpanel/app/ and rnnpanel/views/).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnpanel.bench.browser import CHROMIUM_ARGS  # noqa: F401 -- the benchmarks' Chromium too

REPO = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 900}

# Names the app gives its Bokeh models (see rnnpanel/app/session.py and rnnpanel/views/).
POINTS_SOURCE = "points_src"
RASTER_SOURCE = "raster_src"
MODES = {"auto": None, "glyphs": 10**12, "raster": 0}   # value of $RNNPANEL_RASTER_ABOVE
PROJECTION_FIGURE = "projection"
SELECTION_SOURCES = ("states_src", "heatmap_src", "distances_src")
TEXT_WORDS = "text_words"
TEXT_FIGURE = "text_view"
HOVER_SOURCE = "hover_state"

# --- page-side probes (all timing is done with the page's own clock) -----------------------------

READY_JS = """
([pointsName, rasterName, figName, n, timeout]) => new Promise((resolve) => {
  const give_up = performance.now() + timeout;
  let drawn_as = null;
  function ready() {
    if (!(window.Bokeh && Bokeh.documents.length)) return false;
    const doc = Bokeh.documents[0];
    if (!doc.is_idle) return false;
    if (document.documentElement.dataset.rnnpanelKeys !== 'ready') return false;  // arrow keys work
    const pts = doc.get_model_by_name(pointsName), raster = doc.get_model_by_name(rasterName);
    const glyphs = pts && pts.data.x && pts.data.x.length === n;
    const image = raster && raster.data.image && raster.data.image.length === 1;
    if (!(glyphs || image)) return false;
    drawn_as = glyphs ? 'glyphs' : 'raster';
    const fig = doc.get_model_by_name(figName);
    const view = fig && doc.views_manager.find_one(fig);
    return Boolean(view && view.has_finished());
  }
  function poll() {
    if (ready()) { resolve({ms: performance.now(), drawn_as: drawn_as}); return; }
    if (performance.now() > give_up) { resolve(null); return; }
    requestAnimationFrame(poll);
  }
  poll();
})
"""

SELECT_JS = """
([names, timeout]) => new Promise((resolve) => {
  const doc = Bokeh.documents[0];
  const sources = names.map((n) => doc.get_model_by_name(n));
  const before = sources.map((s) => s.data);
  const give_up = performance.now() + timeout;
  const t0 = performance.now();
  document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown', bubbles: true, composed: true}));
  function updated() {
    // every view's source replaced; the distance bars stay empty for a one-word sequence
    const states = sources[0].data;
    const n = states.t ? states.t.length : 0;
    return sources.every((s, i) => s.data !== before[i] || (i === 2 && n < 2 && sources[0].data !== before[0]));
  }
  function poll() {
    if (updated()) {
      requestAnimationFrame(() => resolve({ms: performance.now() - t0, n: sources[0].data.t.length}));
      return;
    }
    if (performance.now() > give_up) { resolve(null); return; }
    requestAnimationFrame(poll);
  }
  poll();
})
"""

WORD_XY_JS = """
([figName, rendererName, i]) => {
  const doc = Bokeh.documents[0];
  const fig = doc.get_model_by_name(figName), r = doc.get_model_by_name(rendererName);
  const view = doc.views_manager.find_one(fig);
  const rv = [...view.all_renderer_views].find((x) => x.model === r);
  const data = r.data_source.data;
  const rect = view.canvas_view.el.getBoundingClientRect();
  return [rect.left + rv.coordinates.x_scale.compute(data.wx[i]),
          rect.top + rv.coordinates.y_scale.compute(data.wy[i]), data.t.length];
}
"""

HOVER_ARM_JS = """
([hoverName, step, timeout]) => {
  const doc = Bokeh.documents[0];
  const hover = doc.get_model_by_name(hoverName);
  window.__hover_ms = new Promise((resolve) => {
    let t0 = null, frames = 0;
    const give_up = performance.now() + timeout;
    document.addEventListener('pointermove', (e) => { if (t0 === null) t0 = e.timeStamp; },
                              {capture: true, once: true});
    function poll() {
      if (t0 !== null) frames += 1;  // animation frames since the pointer moved, this one included
      const t = hover.data.t;
      if (t0 !== null && t && t.length && Math.round(t[0]) === step) {
        // the highlight is painted in this frame (Bokeh paints in an animation frame requested
        // by the hover callback); the next frame starts once it is on screen
        requestAnimationFrame(() => resolve({ms: performance.now() - t0, frames: frames}));
        return;
      }
      if (performance.now() > give_up) { resolve(null); return; }
      requestAnimationFrame(poll);
    }
    poll();
  });
}
"""

# --- the server -----------------------------------------------------------------------------------

def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")




def _tree_sum(pid: int, measure) -> float:
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += measure(proc)
        except psutil.NoSuchProcess:
            pass
    return total


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (a server forked by --num-procs), in MB."""
    return _tree_sum(pid, lambda p: p.memory_info().rss / 2**20)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its descendants have used so far."""
    return sum(process_cpu_s(pid).values())


def process_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) each of a process and its descendants has used so far, by pid."""
    import psutil

    root = psutil.Process(pid)
    used = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            used[proc.pid] = sum(proc.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return used


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(store: Path, port: int, *, command: str = "panel", num_procs: int = 1,
                   num_threads: int | None = None, origin: str | None = None) -> list[str]:
    """The command line a user types: `panel serve apps/` (``command="panel"``) or `rnnpanel serve
    --no-demo` (``"rnnpanel"``), on 127.0.0.1 only; ``num_procs``/``num_threads`` are Bokeh's and
    Panel's options of `panel serve`; ``origin`` the host:port users reach it at (a proxy's)."""
    origin = origin or f"127.0.0.1:{port}"
    if command == "panel":
        cmd = [sys.executable, "-m", "panel", "serve", str(REPO / "apps"), "--port", str(port),
               "--address", "127.0.0.1", "--allow-websocket-origin", origin]
        if origin != f"127.0.0.1:{port}":
            cmd += ["--use-xheaders"]
        if num_procs != 1:
            cmd += ["--num-procs", str(num_procs)]
        if num_threads is not None:
            cmd += ["--num-threads", str(num_threads)]
        return cmd
    if command == "rnnpanel":
        if num_procs != 1 or num_threads is not None:
            raise SystemExit("--num-procs and --num-threads are options of `panel serve apps/` (--server panel)")
        cmd = [sys.executable, "-m", "rnnpanel", "serve", "--store", str(store), "--no-demo", "--no-show",
               "--port", str(port), "--address", "127.0.0.1"]
        return cmd if origin == f"127.0.0.1:{port}" else cmd + ["--allow-websocket-origin", origin]
    raise SystemExit(f"unknown server command {command!r}: panel or rnnpanel")


def start_server(store: Path, port: int, raster_above: int | None = None, *, log: Path | None = None,
                 **how) -> subprocess.Popen:
    """The app served over ``store`` as a user starts it (:func:`server_command`; ``how`` is its
    options), its log written to ``log`` if given; returns once /apps answers."""
    env = {**os.environ, "RNNPANEL_STORE": str(store)}
    env.pop("RNNPANEL_RASTER_ABOVE", None)
    if raster_above is not None:
        env["RNNPANEL_RASTER_ABOVE"] = str(raster_above)
    cmd = server_command(store, port, **how)
    err = subprocess.PIPE if log is None else log.open("wb")
    # a group of its own, so that stopping it stops the processes --num-procs forks too
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    # on_server_loaded warms the cache first
    return until_answering(proc, port, f"{cmd[2]} serve", 600,
                           lambda: proc.stderr.read().decode() if log is None else log.read_text(errors="replace"))


def until_answering(proc: subprocess.Popen, port: int, what: str, limit_s: float,
                    said: Callable[[], str]) -> subprocess.Popen:
    """``proc`` once http://127.0.0.1:``port``/apps answers; if it exits first, or does not answer
    within ``limit_s``, it is stopped and the run ends with ``what`` and its last words (``said()``)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}: {said()[-2000:]}")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/apps", timeout=60).status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise SystemExit(f"{what} did not answer within {limit_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server and the processes it forked (its process group, see :func:`start_server`)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


# --- a reverse proxy in front of several servers ---------------------------------------------------

NGINX_CONF = REPO / "deploy" / "nginx-rnnpanel.conf"


def nginx_site(port: int, upstream_ports: list[int], conf: Path = NGINX_CONF) -> str:
    """``conf`` (the README's nginx site) listening on 127.0.0.1:``port`` in front of the servers
    on ``upstream_ports``, the rest of it as written."""
    import re

    text = conf.read_text()
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstream_ports)
    text, n_upstream = re.subn(r"(upstream rnnpanel \{\n(?:\s*#.*\n|\s*least_conn;\n)*)(?:\s*server [^\n]+;\n)+",
                               lambda m: m.group(1) + servers, text)
    text, n_listen = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    if n_upstream != 1 or n_listen != 1:
        raise SystemExit(f"{conf} has no upstream rnnpanel block with servers, or no single listen line")
    return text


def start_nginx(port: int, upstream_ports: list[int], workdir: Path) -> subprocess.Popen:
    """nginx (the machine's; never downloaded) serving :func:`nginx_site` from ``workdir``, one worker,
    no access log; returns once it answers."""
    import shutil

    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        raise SystemExit("--proxy nginx needs nginx installed (Debian: apt-get install nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "rnnpanel.conf").write_text(nginx_site(port, upstream_ports))
    temp = "".join(
        f"    {kind}_temp_path {workdir / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (workdir / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'};\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n    access_log off;\n{temp}    include {workdir / 'rnnpanel.conf'};\n}}\n")
    proc = subprocess.Popen([binary, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    return until_answering(proc, port, "nginx", 30, lambda: proc.stderr.read().decode())
