"""The work that follows a session's first page waits for the other sessions' first pages."""

from __future__ import annotations

import pytest

from rnnpanel.app import first_pages


class Served:
    """A served session's document, as far as first_pages uses it: timeouts collected, run by hand."""

    session_context = object()

    def __init__(self) -> None:
        self.timeouts = []

    def add_timeout_callback(self, callback, ms) -> None:
        self.timeouts.append(callback)

    def tick(self) -> None:
        due, self.timeouts = self.timeouts, []
        for callback in due:
            callback()


@pytest.fixture(autouse=True)
def no_pending():
    first_pages._pending.clear()
    yield
    first_pages._pending.clear()


def test_the_first_drawn_page_waits_for_the_others_then_does_its_work():
    a, b, done = Served(), Served(), []
    first_pages.opened(a)
    first_pages.opened(b)
    first_pages.after_first_pages(a, lambda: done.append("a"))
    assert done == [] and a.timeouts                      # b's page is still on its way
    a.tick()
    assert done == []
    first_pages.after_first_pages(b, lambda: done.append("b"))
    assert done == ["b"]                                  # the last page: nobody left to wait for
    a.tick()
    assert done == ["b", "a"] and not a.timeouts


def test_a_page_that_never_loads_holds_nobody_back_for_long(monkeypatch):
    a, closed, done = Served(), Served(), []
    first_pages.opened(closed)
    first_pages.opened(a)
    monkeypatch.setattr(first_pages, "PATIENCE_S", 0.0)
    first_pages.after_first_pages(a, lambda: done.append("a"))
    assert done == ["a"] and not first_pages._pending


def test_outside_a_server_the_work_runs_at_once():
    class Plain:
        session_context = None

    done = []
    first_pages.opened(Served())
    first_pages.after_first_pages(Plain(), lambda: done.append(1))
    assert done == [1]
