"""A patch Panel queued for a page and left without a writer is written by the sweep, through
Panel's own writer (rnnpanel/app/upstream/patch_delivery.py)."""

from __future__ import annotations

import asyncio
import threading

from bokeh.document import Document
from panel.io import document as panel_document

from rnnpanel.app.upstream import patch_delivery


class _Socket:
    """A socket type Panel writes through ``extra_socket_handlers`` (no write lock, never busy)."""


class _Connection:
    def __init__(self) -> None:
        self._socket = _Socket()


def _run_on_a_loop_of_its_own(coroutine):
    """Run ``coroutine`` on a new event loop in a thread of its own (as a server's loop runs; the
    test process may already run a loop in its main thread) and return its result."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(asyncio.run(coroutine)))
    worker.start()
    worker.join(timeout=30)
    assert result, "the loop did not finish"
    return result[0]


def _capture(monkeypatch) -> list:
    sent: list = []
    monkeypatch.setitem(panel_document.extra_socket_handlers, _Socket,
                        lambda conn, msg=None, events=None: sent.append(msg) or [])
    return sent


def test_a_queued_patch_without_a_writer_is_written_and_the_queue_emptied(monkeypatch):
    sent = _capture(monkeypatch)
    doc, conn = Document(), _Connection()
    panel_document._WRITE_MSGS[doc] = {conn: ["the selection's patch"]}   # queued, and no writer marked

    async def sweep_and_let_the_writer_run() -> int:
        delivered = patch_delivery.deliver_stranded()
        for _ in range(5):
            await asyncio.sleep(0.01)
        return delivered

    assert _run_on_a_loop_of_its_own(sweep_and_let_the_writer_run()) == 1
    assert sent == ["the selection's patch"]
    assert doc not in panel_document._WRITE_MSGS and doc not in panel_document._WRITE_BLOCK
    assert patch_delivery.deliver_stranded() == 0          # nothing left to deliver


def test_a_queue_whose_writer_is_at_work_is_left_to_it():
    doc, other = Document(), Document()
    queued = {doc: {"conn": ["patch"]}, other: {}}
    assert patch_delivery.stranded(queued, writing={doc: True}) == []
    assert patch_delivery.stranded(queued, writing={}) == [doc]


def test_the_sweep_started_by_a_session_delivers_on_its_own(monkeypatch):
    sent = _capture(monkeypatch)
    doc, conn = Document(), _Connection()

    async def serve_a_while() -> None:
        patch_delivery.start_sweeping()
        patch_delivery.start_sweeping()          # a second session of the same server: one sweep
        panel_document._WRITE_MSGS[doc] = {conn: ["a patch stranded later"]}
        for _ in range(50):
            if sent:
                return
            await asyncio.sleep(0.02)

    _run_on_a_loop_of_its_own(serve_a_while())
    assert sent == ["a patch stranded later"] and doc not in panel_document._WRITE_MSGS


def test_a_panel_without_these_queues_gets_no_sweep_and_a_warning(monkeypatch, caplog):
    monkeypatch.delattr(panel_document, "_WRITE_MSGS")
    monkeypatch.delattr(panel_document, "_WRITE_EVENTS", raising=False)
    assert patch_delivery.deliver_stranded() == 0

    async def start() -> None:
        patch_delivery.start_sweeping()

    with caplog.at_level("WARNING", logger=patch_delivery.__name__):
        _run_on_a_loop_of_its_own(start())
    assert "no sweep of unsent patches" in caplog.text
