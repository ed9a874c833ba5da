"""``rnnpanel store check``: read every entry and map of a store, say what is damaged, repair it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: Exit status when the check found damage (and it was not, or could not all be, repaired).
EXIT_DAMAGED = 1


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("store", help="check a state store and repair damaged entries",
                              description="Work on a state store as a whole.")
    sub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check", help="read every entry and map; list what is fine, damaged, incomplete or unreadable",
        description="Read every chunk of every entry and map of the store (their checksums are verified) and "
                    "list per entry: fine, unchecked (written before chunk checksums), damaged (which arrays and "
                    "rows), incomplete (an extraction that stopped, with the command that resumes it), from "
                    "another format version, or with unreadable metadata. Exit status 1 when anything is damaged. "
                    "With --repair, compute again only the damaged chunks from the entry's own model and data, "
                    "restore damaged metadata from the copy each entry keeps, and rebuild the maps and "
                    "neighbour indexes made from the repaired arrays.")
    check.add_argument("--store", default=None, help="store folder (default: the store under $RNNPANEL_HOME)")
    check.add_argument("--repair", action="store_true", help="repair what is damaged")
    check.add_argument("--device", default=None,
                       help="where the model runs again for a repair (default: the kind of device each entry "
                            "was extracted on, so that the repaired bytes are the lost ones)")
    return p


def run(args: argparse.Namespace) -> int:
    from rnnpanel.paths import default_store
    from rnnpanel.store import StateStore
    from rnnpanel.store.check import check_store

    store = StateStore(args.store if args.store is not None else default_store())
    if not store.root.is_dir():
        from rnnpanel.errors import StoreError

        raise StoreError(f"no store at {store.root}; give --store the folder `rnnpanel extract` wrote")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    checks = check_store(store, progress=say)
    if not checks:
        print(f"store {store.root} has no entries")
        return 0
    for check in checks:
        print(check.describe(), flush=True)
    damaged = [c for c in checks if c.needs_repair]
    if not damaged:
        return 0
    if not args.repair:
        from rnnpanel.store.state_store import repair_command

        count = f"{len(damaged)} entr{'y' if len(damaged) == 1 else 'ies'}"
        print(f"{count} damaged; repair with `{repair_command(store.root)}`")
        return EXIT_DAMAGED
    from rnnpanel.pipeline.repair import repair_store

    repaired, failed = repair_store(store, damaged, device=args.device, say=say)
    for result in repaired:
        print(result.describe(), flush=True)
    for key, reason in failed.items():
        print(f"entry {key}: not repaired: {reason}", flush=True)
    return EXIT_DAMAGED if failed else 0
