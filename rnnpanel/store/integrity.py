"""Knowing when stored bytes went bad: chunk checksums, a copy of the metadata, a chunk manifest.

Zstandard notices garbage that no longer decompresses, but a flipped bit inside a valid frame
decodes to wrong numbers without a word. Every chunk the store writes therefore carries a
CRC32C checksum (Zarr's own ``crc32c`` codec, after the compressor), checked on every read.
Entries written before checksums keep working and are reported as *unchecked*.

Two more things a damaged folder can lose are kept beside it when it is completed:

* a copy of every Zarr metadata document of the group (``zarr.json`` files), so a deleted or
  overwritten metadata file is restored byte for byte instead of the entry vanishing;
* the list of chunk files each array had, because Zarr reads a missing chunk as its fill value:
  without the list a deleted chunk file would read as zeros.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

log = logging.getLogger(__name__)

METADATA_FILE = "zarr.json"
RECORD_FILE = "integrity.json"  # the metadata copy and chunk manifest of a completed group
RECORD_VERSION = 1


def chunk_codecs() -> dict[str, Any]:
    """Keyword arguments of ``create_array`` for checksummed chunks (Zarr's default compressor,
    then CRC32C over the compressed bytes)."""
    return {"compressors": (ZstdCodec(level=0, checksum=False), Crc32cCodec())}


def has_checksums(array: zarr.Array) -> bool:
    """Whether ``array``'s chunks carry a CRC32C checksum."""
    return any(isinstance(codec, Crc32cCodec) for codec in array.metadata.codecs)


def _arrays(group: zarr.Group, prefix: str = "") -> Iterator[tuple[str, zarr.Array]]:
    for name, array in sorted(group.arrays()):
        yield prefix + name, array
    for name, sub in sorted(group.groups()):
        yield from _arrays(sub, f"{prefix}{name}/")


def chunk_files(folder: Path, name: str) -> list[str]:
    """The chunk files array ``name`` of the group at ``folder`` has, as paths relative to the array."""
    chunks = Path(folder) / name / "c"
    if not chunks.is_dir():
        return []
    return sorted(str(p.relative_to(chunks)) for p in chunks.rglob("*") if p.is_file())


def write_record(folder: Path, *, skip: tuple[str, ...] = ()) -> None:
    """Keep a copy of every metadata document under ``folder`` and each array's chunk files.

    Called once the group is complete (its last metadata written), before it is renamed into place.
    ``skip`` names sub-folders that are not part of the group (projections, derived data).
    """
    folder = Path(folder)
    documents = {}
    for path in sorted(folder.rglob(METADATA_FILE)):
        relative = path.relative_to(folder)
        if relative.parts[0] in skip:
            continue
        documents[str(relative)] = path.read_text()
    group = zarr.open_group(str(folder), mode="r")
    manifest = {name: chunk_files(folder, name) for name, _ in _arrays(group)}
    text = json.dumps({"version": RECORD_VERSION, "metadata": documents, "chunks": manifest})
    tmp = folder / f".{RECORD_FILE}.tmp"
    tmp.write_text(text)
    os.replace(tmp, folder / RECORD_FILE)


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record of a completed group, or None when it has none or it cannot be read."""
    try:
        record = json.loads((Path(folder) / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == RECORD_VERSION else None


def damaged_metadata(folder: Path, record: dict[str, Any] | None = None) -> list[str]:
    """Metadata documents of the group that are missing or differ from their recorded copy
    (all of them are readable JSON when the group was whole)."""
    record = record if record is not None else read_record(folder)
    if record is None:
        return []
    bad = []
    for relative, text in record["metadata"].items():
        try:
            if (Path(folder) / relative).read_text() != text:
                bad.append(relative)
        except (OSError, UnicodeDecodeError):
            bad.append(relative)
    return bad


def restore_metadata(folder: Path, documents: list[str], record: dict[str, Any]) -> None:
    """Write the recorded copies of ``documents`` back into the group at ``folder``."""
    for relative in documents:
        target = Path(folder) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(record["metadata"][relative])
        os.replace(tmp, target)


@dataclass
class ArrayCheck:
    """What reading every chunk of one array found: the bad chunks (by index along the rows) and why."""

    name: str
    rows: int
    chunk_rows: int
    checked: bool  # the chunks carry checksums
    bad_chunks: dict[int, str] = field(default_factory=dict)

    def bad_rows(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of each bad chunk's rows, in order."""
        return [(i * self.chunk_rows, min((i + 1) * self.chunk_rows, self.rows)) for i in sorted(self.bad_chunks)]

    def describe(self) -> str:
        """``layer_0/h rows 0-65,535 (checksum mismatch)``, one range per bad chunk."""
        parts = [f"{start:,}-{stop - 1:,} ({self.bad_chunks[i]})"
                 for i, (start, stop) in zip(sorted(self.bad_chunks), self.bad_rows())]
        return f"{self.name} rows {', '.join(parts)}"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "checksum" in text.lower():
        return "checksum mismatch"
    if "zstd" in text.lower() or "decompress" in text.lower():
        return "does not decompress"
    return f"{type(exc).__name__}: {text}"[:120]


def check_array(array: zarr.Array, name: str, expected_files: list[str] | None,
                folder: Path) -> ArrayCheck:
    """Read ``array`` chunk by chunk along its rows; a chunk that fails to decode, fails its
    checksum or whose file is gone (``expected_files``: the files it had) is bad."""
    rows = int(array.shape[0]) if array.ndim else 1
    step = int(array.chunks[0]) if array.ndim else 1
    result = ArrayCheck(name, rows, step, has_checksums(array))
    if expected_files is not None:
        present = set(chunk_files(folder, name))
        for missing in sorted(set(expected_files) - present):
            result.bad_chunks[int(missing.split("/")[0])] = "chunk file missing"
    for index in range(-(-rows // step) if array.ndim else 1):
        if index in result.bad_chunks:
            continue
        try:
            np.asarray(array[index * step:(index + 1) * step] if array.ndim else array[...])
        except Exception as exc:  # the codecs raise their own types for bad bytes
            result.bad_chunks[index] = _reason(exc)
    return result


def check_group(folder: Path, *, progress: Any = None) -> list[ArrayCheck]:
    """Every array of the Zarr group at ``folder``, read whole, chunk by chunk.

    ``progress(done, total)`` is told after each array (sized by its rows × row width).
    """
    record = read_record(folder)
    group = zarr.open_group(str(folder), mode="r")
    arrays = list(_arrays(group))
    checks = []
    for name, array in arrays:
        expected = record["chunks"].get(name) if record else None
        checks.append(check_array(array, name, expected, Path(folder)))
        if progress is not None:
            progress(len(checks), len(arrays))
    return checks


def bad_chunk_of(array: zarr.Array, rows: slice) -> tuple[int, int, str] | None:
    """The first chunk of ``array`` among ``rows`` that cannot be read: ``(start, stop, reason)``
    (after a read of those rows failed, to say where)."""
    step = int(array.chunks[0])
    start = rows.start or 0
    stop = min(rows.stop if rows.stop is not None else array.shape[0], array.shape[0])
    for index in range(start // step, max(start, stop - 1) // step + 1):
        try:
            np.asarray(array[index * step:(index + 1) * step])
        except Exception as exc:  # the codecs raise their own types for bad bytes
            return index * step, min((index + 1) * step, int(array.shape[0])), _reason(exc)
    return None
