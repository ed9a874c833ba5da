"""A served notebook drawn in Debian's Chromium: shared by the notebook's own test and the test of
the demo's install."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

POINTS_DRAWN_JS = ("() => window.Bokeh && Bokeh.documents.length > 0 && "
                   "Bokeh.documents[0].get_model_by_name('points') !== null")


def points_drawn(command: list[str], port: int, *, cwd: Path | None, env: dict, log: Path,
                 timeout_s: float = 300, shot: str | None = None) -> tuple[int, list[str]]:
    """Start ``command`` (a `panel serve` of the notebook on ``port``), open its page in Chromium,
    and return how many states the map draws and the page's script errors; the server is stopped."""
    from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, screenshot

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                deadline = time.monotonic() + 60
                while True:
                    assert server.poll() is None, log.read_text()[-3000:]
                    try:
                        page.goto(f"http://127.0.0.1:{port}/explore", timeout=timeout_s * 1000)
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(1)
                page.wait_for_function(POINTS_DRAWN_JS, timeout=timeout_s * 1000)
                n_points = page.evaluate(
                    "() => Bokeh.documents[0].get_model_by_name('points').data_source.get_length()")
                if shot:
                    screenshot(page, shot)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return n_points, errors
