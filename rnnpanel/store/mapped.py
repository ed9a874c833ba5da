"""Arrays stored uncompressed, to be memory-mapped: built once, then shared by every process.

What a server reads whole and never changes (an entry's neighbour index: half a gigabyte at 2.6
million states) is better on disk as plain ``.npy`` files than in each serving process's memory:
``np.load(mmap_mode="r")`` opens it at once, only the pages a query touches are read, and every
process of ``--num-procs`` (and the next server started) shares them through the operating
system's file cache instead of building and holding its own copy. Written through
:func:`~rnnpanel.store.atomic.atomic_directory`, so a folder that exists is complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel.store.atomic import atomic_directory, remove_stale_temporaries

ATTRS_FILE = "attrs.json"


def has_mapped(folder: Path) -> bool:
    """Whether ``folder`` holds a complete set of mapped arrays."""
    return (Path(folder) / ATTRS_FILE).is_file()


def write_mapped(folder: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write ``arrays`` (one ``.npy`` each) and JSON ``attrs`` into ``folder``, atomically; a folder
    another writer completed first is kept (the same name means the same content)."""
    folder = Path(folder)
    remove_stale_temporaries(folder.parent)
    with atomic_directory(folder) as tmp:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
        (tmp / ATTRS_FILE).write_text(json.dumps({**attrs, "arrays": sorted(arrays)}))


def read_mapped(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays of ``folder``, memory-mapped read-only, and its attributes."""
    folder = Path(folder)
    attrs = json.loads((folder / ATTRS_FILE).read_text())
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in attrs.pop("arrays")}
    return arrays, attrs
