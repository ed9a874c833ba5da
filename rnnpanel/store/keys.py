"""Content keys: an entry or projection is named by a hash of everything that determines it.

Two runs that would compute the same arrays get the same key (a cache hit); any change in model
weights, sample, window, layer, state kind, method, backend or parameters gives a new key, so a
stale entry is never read for a different question.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

KEY_LENGTH = 20


def _canonical(value: Any) -> Any:
    """Turn a value into something with one JSON spelling (sorted keys, arrays hashed)."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"__array__": hashlib.sha256(data.tobytes()).hexdigest(), "dtype": str(data.dtype),
                "shape": list(data.shape)}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def content_key(kind: str, **parts: Any) -> str:
    """A short hex digest of ``kind`` and ``parts`` (order-independent)."""
    text = json.dumps({"kind": kind, **_canonical(parts)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def entry_key(*, weights_sha256: str, dataset: str, split: str, sequence_ids: np.ndarray,
              max_length: int, truncation: str) -> str:
    """Key of the states of one model on one sample of one dataset split."""
    return content_key(
        "entry", weights_sha256=weights_sha256, dataset=dataset, split=split,
        sequence_ids=np.asarray(sequence_ids, dtype=np.int64), max_length=int(max_length),
        truncation=truncation,
    )


def projection_key(entry_key: str, *, layer: int, state: str, method: str, backend: str,
                   params: dict[str, Any] | None = None) -> str:
    """Key of one 2-D projection of one layer's states of an entry."""
    return content_key(
        "projection", entry=entry_key, layer=int(layer), state=state, method=method,
        backend=backend, params=params or {},
    )
