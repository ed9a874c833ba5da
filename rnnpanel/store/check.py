"""What state a store is in, entry by entry: read everything once and say what is wrong with it.

:func:`check_store` reads every chunk of every entry and of each entry's maps (their CRC32C
checksums are verified on the way), compares the metadata with the copy kept when the entry was
completed, and looks at the derived arrays and the unfinished extractions beside the entries. It
changes nothing; :mod:`rnnpanel.pipeline.repair` mends what it finds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from rnnpanel.store.atomic import PARTIAL_PREFIX, TMP_PREFIX
from rnnpanel.store.integrity import (
    METADATA_FILE,
    ArrayCheck,
    check_group,
    damaged_metadata,
    read_record,
)
from rnnpanel.store.locks import held
from rnnpanel.store.mapped import ATTRS_FILE
from rnnpanel.store.partial import LOCK_SUFFIX, REQUEST_FILE, SHARDS, extract_command
from rnnpanel.store.state_store import (
    DERIVED,
    FORMAT_VERSION,
    PROJECTIONS,
    VOCAB_FILE,
    StateStore,
)

FINE, UNCHECKED, DAMAGED, INCOMPLETE, OTHER_VERSION, UNREADABLE, BUSY = (
    "fine", "unchecked", "damaged", "incomplete", "other format version", "unreadable metadata", "being written")


@dataclass
class MapCheck:
    """One stored projection of an entry: its key, what it maps (``layer``, ``state``), what is damaged."""

    key: str
    attrs: dict[str, Any]
    arrays: list[ArrayCheck] = field(default_factory=list)
    problem: str = ""

    @property
    def damaged(self) -> bool:
        return bool(self.problem) or any(a.bad_chunks for a in self.arrays)

    def describe(self) -> str:
        what = f"map {self.key} ({self.attrs.get('method', '?')}, layer {self.attrs.get('layer', '?')} " \
               f"{self.attrs.get('state', '?')})"
        if not self.damaged:
            return f"{what}: fine"
        return f"{what}: damaged: {self.problem or '; '.join(a.describe() for a in self.arrays if a.bad_chunks)}"


@dataclass
class EntryCheck:
    """What :func:`check_store` found for one entry folder (complete or not)."""

    key: str
    status: str
    detail: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: list[ArrayCheck] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)  # metadata documents missing or changed
    vocab_damaged: bool = False
    maps: list[MapCheck] = field(default_factory=list)
    derived: dict[str, str] = field(default_factory=dict)  # derived folder → what is wrong with it

    @property
    def damaged_arrays(self) -> list[ArrayCheck]:
        return [a for a in self.arrays if a.bad_chunks]

    @property
    def needs_repair(self) -> bool:
        return self.status in (DAMAGED, UNREADABLE) or any(m.damaged for m in self.maps) or bool(self.derived)

    def describe(self) -> str:
        """One line for the entry, then one indented line per map and derived folder."""
        label = _label(self.attrs)
        head = f"entry {self.key}{f' ({label})' if label else ''}: {self.status}"
        if self.status == DAMAGED:
            parts = [a.describe() for a in self.damaged_arrays]
            parts += [f"metadata {name} missing or changed" for name in self.metadata]
            parts += [f"{VOCAB_FILE} unreadable"] if self.vocab_damaged else []
            head += ": " + "; ".join(parts)
        elif self.detail:
            head += f": {self.detail}"
        lines = [head] + [f"  {m.describe()}" for m in self.maps]
        lines += [f"  derived {name}: {why}" for name, why in sorted(self.derived.items())]
        return "\n".join(lines)


def _label(attrs: dict[str, Any]) -> str:
    if not attrs:
        return ""
    cfg = attrs.get("model_config", {})
    return (f"{attrs.get('dataset', '?')} · {str(cfg.get('cell', '?')).upper()}-{cfg.get('hidden_size', '?')} · "
            f"{attrs.get('n_sequences', '?'):,} seq / {attrs.get('n_states', '?'):,} states")


Progress = Callable[[str], None]


def check_store(store: StateStore, *, progress: Progress | None = None) -> list[EntryCheck]:
    """Check every entry of ``store``, oldest first, then the unfinished extractions.

    ``progress(message)`` is told before each entry is read (reading is the slow part: every chunk
    of every array, about the speed of the disk).
    """
    folder = store.entries_dir
    if not folder.is_dir():
        return []
    complete, partial = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(PARTIAL_PREFIX) and path.is_dir():
            partial.append(path)
        elif path.is_dir() and not path.name.startswith(TMP_PREFIX):
            complete.append(path)
    checks = []
    for index, path in enumerate(complete):
        if progress is not None:
            progress(f"checking entry {index + 1} of {len(complete)}: {path.name}")
        checks.append(check_entry(store, path.name))
    checks.sort(key=lambda c: (c.attrs.get("created", 0), c.key))
    return checks + [check_partial(path) for path in partial]


def check_entry(store: StateStore, key: str) -> EntryCheck:
    """Read every chunk of entry ``key`` and its maps, and look at its derived arrays."""
    path = store.entry_path(key)
    record = read_record(path)
    metadata = damaged_metadata(path, record)
    if not (path / METADATA_FILE).is_file() or metadata and METADATA_FILE in metadata:
        if record is None:
            return EntryCheck(key, UNREADABLE, "its metadata is missing or unreadable and it has no copy to restore "
                                               "(written before copies were kept); delete it and extract it again")
        attrs = json.loads(record["metadata"][METADATA_FILE]).get("attributes", {})
        return EntryCheck(key, DAMAGED, attrs=attrs, metadata=metadata)
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception as exc:  # zarr raises several types for damaged metadata
        return EntryCheck(key, UNREADABLE, f"{type(exc).__name__}: {exc}")
    if attrs.get("format_version") != FORMAT_VERSION or not attrs.get("complete"):
        return EntryCheck(key, OTHER_VERSION, f"format {attrs.get('format_version')!r}, this rnnpanel reads "
                                              f"{FORMAT_VERSION}; extract it again with this version", attrs=attrs)
    try:
        arrays = check_group(path)
    except Exception as exc:  # an array's own metadata is damaged beyond what the record restores
        return EntryCheck(key, DAMAGED if record else UNREADABLE, f"{type(exc).__name__}: {exc}", attrs=attrs,
                          metadata=metadata)
    vocab_damaged = not _json_list(path / VOCAB_FILE)
    check = EntryCheck(key, FINE, attrs=attrs, arrays=arrays, metadata=metadata, vocab_damaged=vocab_damaged)
    if check.damaged_arrays or metadata or vocab_damaged:
        check.status = DAMAGED
    elif not all(a.checked for a in arrays):
        check.status, check.detail = UNCHECKED, "readable; written before chunk checksums, so silent damage " \
                                                "cannot be seen (extract it again to get checksums)"
    elif record is None:
        check.detail = "checksums fine; no copy of its metadata is kept"
    check.maps = [check_map(store, key, p) for p in _children(path / PROJECTIONS)]
    check.derived = {p.name: why for p in _children(path / DERIVED) if (why := check_mapped(p))}
    return check


def check_map(store: StateStore, entry_key: str, path: Path) -> MapCheck:
    """Read every chunk of one stored projection."""
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception as exc:  # zarr raises several types for damaged metadata
        record = read_record(path)
        attrs = json.loads(record["metadata"][METADATA_FILE]).get("attributes", {}) if record else {}
        return MapCheck(path.name, attrs, problem=f"metadata unreadable ({type(exc).__name__})")
    try:
        return MapCheck(path.name, attrs, check_group(path))
    except Exception as exc:  # an array's metadata is damaged
        return MapCheck(path.name, attrs, problem=f"{type(exc).__name__}: {exc}")


def check_mapped(folder: Path) -> str:
    """What is wrong with a derived folder of memory-mapped arrays ('' when every array opens with
    the size its header promises)."""
    try:
        names = json.loads((folder / ATTRS_FILE).read_text())["arrays"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{ATTRS_FILE} unreadable"
    for name in names:
        try:
            np.load(folder / f"{name}.npy", mmap_mode="r")
        except (OSError, ValueError) as exc:
            return f"{name}.npy unreadable ({exc})"
    return ""


def check_partial(path: Path) -> EntryCheck:
    """An unfinished extraction: how far it got, and the command that resumes it."""
    key = path.name[len(PARTIAL_PREFIX):]
    try:
        plan = dict(zarr.open_group(str(path), mode="r").attrs).get("partial") or {}
        n_states = int(plan["layout"]["token_ids"][0][0])
        total = -(-n_states // int(plan["chunk_rows"]))
    except Exception:  # a run killed before its first metadata was written
        return EntryCheck(key, INCOMPLETE, "started, no shard written; run the extraction again to start it over")
    done = len(list((path / SHARDS).glob("[0-9]*.npz")))
    try:
        request = json.loads((path / REQUEST_FILE).read_text())
    except (OSError, ValueError):
        request = None
    if held(path.with_name(path.name + LOCK_SUFFIX)):
        return EntryCheck(key, BUSY, f"{done} of {total} shards written so far by a running extraction")
    resume = extract_command(request, path.parent.parent) if request else "the same `rnnpanel extract` command"
    return EntryCheck(key, INCOMPLETE, f"{done} of {total} shards written; resume with: {resume}")


def _children(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((TMP_PREFIX, ".")))


def _json_list(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text()), list)
    except (OSError, ValueError):
        return False
