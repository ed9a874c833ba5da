"""Benchmark records on disk: what every `rnnpanel bench` command writes with ``--json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def write_json(records: list[dict[str, Any]], out: Path) -> None:
    """The records as a JSON list, written under a temporary name first (a reader never sees half)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=2, default=float))
    tmp.replace(out)
    print(f"wrote {len(records)} records to {out}", file=sys.stderr)
