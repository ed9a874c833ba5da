"""Damaged store entries in the app without a browser: the process-wide registry, the entry list
that marks them, and sessions that show a good entry instead of a damaged one, whoever found it
(this session, another, a child process computing a map, the Units tab)."""

from __future__ import annotations

import gc
import os

import pytest

from rnnpanel.app.damaged_entries import (
    DAMAGED,
    MARK,
    DamagedEntries,
    EntryChoice,
    entry_choices,
    next_good,
)
from rnnpanel.app.entry_list import notice_html
from rnnpanel.app.sequence_tabs import TABS
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.errors import DamagedEntry
from rnnpanel.store import StateStore
from tests.ui.conftest import wait_until

REPAIR = "rnnpanel store check --store"


def labels(app: RnnPanelApp) -> dict[str, str]:
    """The entry list as the sidebar offers it: key → label."""
    return {key: label for label, key in app.param.entry.names.items()}


# -- the registry and the list -----------------------------------------------------------------
class Watcher:
    def __init__(self) -> None:
        self.calls = 0

    def heard(self) -> None:
        self.calls += 1


def test_the_registry_keeps_a_mark_per_store_and_entry_and_tells_its_watchers_once(tmp_path):
    registry, watcher = DamagedEntries(), Watcher()
    registry.watch(watcher.heard)
    for root in ("a", "b"):
        (tmp_path / root / "entries" / "k").mkdir(parents=True)
        (tmp_path / root / "entries" / "k" / "zarr.json").write_text("{}")
    assert registry.mark(tmp_path / "a", "k", "k is damaged")
    assert not registry.mark(tmp_path / "a", "k", "k is damaged")      # known: nobody told again
    assert watcher.calls == 1
    assert registry.messages(tmp_path / "a") == {"k": "k is damaged"}
    assert registry.messages(tmp_path / "b") == {}                       # another store
    assert registry.messages(str(tmp_path / "a" / "entries" / "..")) == {"k": "k is damaged"}   # the same, resolved
    del watcher
    gc.collect()
    registry.mark(tmp_path / "b", "k", "k is damaged too")             # a closed session is not called


def test_a_mark_is_dropped_when_the_entry_is_written_anew(tmp_path):
    registry = DamagedEntries()
    metadata = tmp_path / "entries" / "k" / "zarr.json"
    metadata.parent.mkdir(parents=True)
    metadata.write_text("{}")
    registry.mark(tmp_path, "k", "k is damaged")
    stat = metadata.stat()
    os.utime(metadata, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # repaired: its metadata rewritten
    assert registry.messages(tmp_path) == {}


def test_the_next_good_entry_wraps_round_and_skips_the_damaged():
    choices = [EntryChoice("a", "A"), EntryChoice("b", "B", "damaged"), EntryChoice("c", "C", "damaged")]
    assert next_good(choices, "b") == next_good(choices, "c") == next_good(choices, None) == "a"
    assert next_good(choices, "a") is None                              # never itself
    assert next_good(choices[1:], None) is None


def test_the_list_marks_entries_found_damaged_in_place_and_unreadable_ones_last(chunk_damaged, metadata_damaged):
    store = StateStore(chunk_damaged["store"])
    good, damaged = chunk_damaged["good"], chunk_damaged["damaged"]
    assert [c.damaged for c in entry_choices(store)] == [None, None]
    DAMAGED.mark(store.root, damaged, f"store entry {damaged} is damaged: ... repair it with `{REPAIR} S --repair`")
    choices = entry_choices(store)
    assert [c.key for c in choices] == [damaged, good]                 # where it stood
    assert choices[0].label.startswith(MARK) and damaged[:8] in choices[0].label and REPAIR in choices[0].damaged
    unreadable = entry_choices(StateStore(metadata_damaged["store"]))
    assert [c.key for c in unreadable] == [metadata_damaged["good"], metadata_damaged["damaged"]]
    assert unreadable[1].label == MARK + metadata_damaged["damaged"]
    assert "zarr.json" in unreadable[1].damaged and REPAIR in unreadable[1].damaged


def test_the_notice_shows_the_repair_command_as_code_and_escapes_the_rest():
    text = notice_html("entry <k> is damaged; repair it with `rnnpanel store check --store S --repair`", "B & C")
    assert "<code>rnnpanel store check --store S --repair</code>" in text
    assert "entry &lt;k&gt; is damaged" in text and "Showing <b>B &amp; C</b> instead" in text


# -- sessions ----------------------------------------------------------------------------------
def test_a_damaged_first_entry_is_found_by_the_child_computing_its_map_and_the_session_opens_the_next(
        chunk_damaged):
    good, damaged = chunk_damaged["good"], chunk_damaged["damaged"]
    app = RnnPanelApp(store_root=chunk_damaged["store"], method="pca")
    assert app.entry == good and app.sample is not None and app._shown_key == good
    assert labels(app)[damaged].startswith(MARK) and not labels(app)[good].startswith(MARK)
    assert REPAIR in app.entries.notice and damaged in app.entries.notice
    assert app._main.objects[0] is app.entries.notice_pane()            # above the map
    assert "Starting a process" not in app._loader.status.object and not app._loader.progress.visible
    assert DAMAGED.messages(chunk_damaged["store"]).keys() == {damaged}  # found in the child, with its key
    # a new session of the process opens on the good entry at once, the damaged one marked
    later = RnnPanelApp(store_root=chunk_damaged["store"], method="pca")
    assert later.entry == good and labels(later)[damaged].startswith(MARK)
    assert REPAIR in later.entries.notice


def test_choosing_a_damaged_entry_shows_why_and_stays_on_the_entry_shown(chunk_damaged, caplog):
    good, damaged = chunk_damaged["good"], chunk_damaged["damaged"]
    DAMAGED.mark(chunk_damaged["store"], damaged, f"store entry {damaged} is damaged; repair it with `{REPAIR} S`")
    app = RnnPanelApp(store_root=chunk_damaged["store"], entry=good, method="pca")
    sample = app.sample
    assert app.entries.notice == ""
    app.entry = damaged
    assert app.entry == good and app.sample is sample                   # nothing loaded
    assert REPAIR in app.entries.notice and app._main.objects[0] is app.entries.notice_pane()
    assert any(REPAIR in r.getMessage() for r in caplog.records)         # the notification
    app.state = "c"                                                      # the user moves on: the notice goes
    assert app.entries.notice == "" and app.entries.notice_pane() is None
    wait_until(lambda: app.sample.state == "c", timeout=60)
    assert not any(getattr(part, "name", "") == "damaged-entry-notice" for part in app._main.objects)


def test_an_entry_whose_metadata_is_gone_is_listed_marked_and_refused(metadata_damaged):
    good, damaged = metadata_damaged["good"], metadata_damaged["damaged"]
    app = RnnPanelApp(store_root=metadata_damaged["store"], method="pca")
    assert app.entry == good and app.sample is not None and app.entries.notice == ""
    assert labels(app)[damaged] == MARK + damaged
    app.entry = damaged
    assert app.entry == good and "zarr.json" in app.entries.notice and REPAIR in app.entries.notice


def test_a_link_to_a_damaged_entry_opens_the_next_good_one(metadata_damaged):
    app = RnnPanelApp(store_root=metadata_damaged["store"], entry=metadata_damaged["damaged"], method="pca")
    assert app.entry == metadata_damaged["good"] and app.sample is not None
    assert REPAIR in app.entries.notice


def test_damage_found_by_the_units_tab_marks_the_entry_for_every_session_and_shows_the_next(damaged_after_opening):
    good, damaged = damaged_after_opening["good"], damaged_after_opening["damaged"]
    app = RnnPanelApp(store_root=damaged_after_opening["store"], method="pca")
    other = RnnPanelApp(store_root=damaged_after_opening["store"], entry=good, method="pca")
    assert app.entry == damaged and app.sample is not None               # its map is stored: it opens
    assert not labels(other)[damaged].startswith(MARK)
    app.tabs.tabs.active = TABS.index("Units")
    app.sequence = 0                                                     # reads the sequence's states
    wait_until(lambda: app._shown_key == good, timeout=60)
    assert REPAIR in app.entries.notice and labels(app)[damaged].startswith(MARK)
    assert labels(other)[damaged].startswith(MARK)                       # the other session's list too
    assert other.entry == good and other.sample is not None              # and it keeps working
    assert RnnPanelApp(store_root=damaged_after_opening["store"], method="pca").entry == good


def test_damage_found_by_the_neighbours_tab_or_the_live_input_is_handed_to_the_session(damaged_after_opening):
    good, damaged = damaged_after_opening["good"], damaged_after_opening["damaged"]
    app = RnnPanelApp(store_root=damaged_after_opening["store"], entry=damaged, method="pca")
    app.tabs.tabs.active = TABS.index("Neighbours")
    app.sequence = 1                                                     # the exact index reads the states
    wait_until(lambda: app._shown_key == good, timeout=60)
    assert labels(app)[damaged].startswith(MARK)
    error = DamagedEntry(f"store entry {good} is damaged: ...", key=good)
    app.live_input._damaged(error)                                      # e.g. the index of a large entry
    assert app.entry is None and app._top is None                        # nothing good is left: says so
    assert "No entry of the store" in app._main.objects[-1].object


@pytest.fixture(autouse=True)
def _forget_marks():
    """Each test's stores are its own (their roots differ), but keep the registry small."""
    yield
    DAMAGED.clear()
