"""A map or neighbour index whose computation fails (a child process killed, a damaged entry found
by the child) says why and stops saying it is computing: no status that never ends."""

from __future__ import annotations

import pytest
from bokeh.models import ColumnDataSource, Range1d

from rnnpanel.app.damaged_entries import DAMAGED
from rnnpanel.app.details import NEIGHBOURS, StateDetails
from rnnpanel.app.loading import SampleLoader
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.errors import DamagedEntry, RnnpanelError
from rnnpanel.pipeline import states as states_module
from rnnpanel.pipeline.child_process import run_in_child
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.store import StateStore
from tests.app.dying import die
from tests.ui.conftest import wait_until


def entry_states(store: dict, which: str, **options) -> EntryStates:
    return EntryStates(StateStore(store["store"]).entry(store[which]).states(), **options)


def test_a_killed_child_is_an_error_naming_the_signal():
    messages = []
    with pytest.raises(RnnpanelError, match="the process computing the t-SNE map was killed by SIGKILL"):
        run_in_child(die, (), lambda f, m="": messages.append(m), name="rnnpanel-test", what="the t-SNE map")
    assert messages == ["Starting a process to compute the t-SNE map…"]


def test_a_damaged_entry_found_by_the_child_comes_back_with_its_key(chunk_damaged):
    with pytest.raises(DamagedEntry, match="rnnpanel store check") as caught:
        entry_states(chunk_damaged, "damaged").store_map("pca")
    assert caught.value.key == chunk_damaged["damaged"]


def test_a_map_whose_child_dies_ends_the_status_with_the_reason(chunk_damaged, monkeypatch):
    monkeypatch.setattr(states_module, "_project_in_child", die)
    failures = []
    loader = SampleLoader(failed=failures.append)
    sample = loader.load_now(lambda: entry_states(chunk_damaged, "good"), method="pca")
    assert sample is None and len(failures) == 1
    assert "Starting a process" not in loader.status.object and "killed by SIGKILL" in loader.status.object
    assert not loader.progress.visible


def test_a_sessions_map_whose_child_dies_says_why_and_the_session_keeps_its_map(chunk_damaged, monkeypatch, caplog):
    app = RnnPanelApp(store_root=chunk_damaged["store"], entry=chunk_damaged["good"], method="pca")
    shown = app.sample
    monkeypatch.setattr(states_module, "_project_in_child", die)
    app.state = "c"                                          # a map not stored: computed in a child, killed
    # the status, the progress bar and the page's busy mark are set by separate callbacks: wait for all
    wait_until(lambda: "killed by SIGKILL" in app._loader.status.object and not app._loader.progress.visible
               and not app._main.loading and any("killed by SIGKILL" in r.getMessage() for r in caplog.records),
               timeout=60)                                   # ... and the notification
    assert "Starting a process" not in app._loader.status.object and app.sample is shown
    assert DAMAGED.messages(chunk_damaged["store"]) == {}                          # not a damaged entry


def details_of(states: EntryStates, damaged=None) -> StateDetails:
    return StateDetails(states=states, sample=states.sample(method="pca"), hover=ColumnDataSource(),
                        step_range=Range1d(), select=lambda s: None, damaged=damaged)


def test_a_neighbour_index_whose_child_dies_says_why_in_its_tab(chunk_damaged, monkeypatch):
    states = entry_states(chunk_damaged, "good", exact_up_to=10)      # indexed in a child, as a large entry
    details = details_of(states)
    monkeypatch.setattr(states_module, "_index_in_child", die)
    details.show(NEIGHBOURS, details._sample, 0)
    assert "Indexing" in details.neighbors.objects[0].object
    wait_until(lambda: not details._building, timeout=60)
    text = details.neighbors.objects[0].object
    assert "Cannot search neighbours" in text and "killed by SIGKILL" in text and "Indexing" not in text
    assert not details.neighbors.loading


def test_a_neighbour_index_whose_child_finds_the_entry_damaged_hands_it_on(damaged_after_opening):
    found = []
    details = details_of(entry_states(damaged_after_opening, "damaged", exact_up_to=10), damaged=found.append)
    details.show(NEIGHBOURS, details._sample, 0)
    wait_until(lambda: not details._building, timeout=60)
    assert [e.key for e in found] == [damaged_after_opening["damaged"]]
    assert "rnnpanel store check" in details.neighbors.objects[0].object and not details.neighbors.loading


@pytest.fixture(autouse=True)
def _forget_marks():
    yield
    DAMAGED.clear()
