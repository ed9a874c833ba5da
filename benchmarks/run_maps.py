"""A training run's maps: how long the chained maps take, and how still they hold between epochs.

``rnnpanel project --run RUN`` fits the last checkpoint's map and starts each earlier one from the
next one's positions. This benchmark reads those stored maps and, for a few epochs, fits the
same states independently (the default t-SNE: PCA start, seed 0), then reports the median
displacement of corresponding states between consecutive epochs, as a fraction of the later map's
diagonal: chained maps as they are, independent ones as fitted and once aligned by orthogonal
Procrustes (rotation or reflection, scale, shift). Small is still: a state moves only as far as
its neighbourhood changed. It also sums the chained maps' own timings from their attributes.

    rnnpanel train --dataset rotten_tomatoes --out RUN --epochs 20 --patience 100 --checkpoints 1
    rnnpanel extract --model RUN --checkpoints --dataset rotten_tomatoes --split test --n 2000 --store STORE
    rnnpanel project --store STORE --run RUN
    python benchmarks/run_maps.py --store STORE --run RUN --epochs 1 10 19 --json run-maps.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from rnnpanel.compute.comparison import median_displacement, procrustes
    from rnnpanel.pipeline.project import project_states
    from rnnpanel.pipeline.run_maps import run_entries
    from rnnpanel.store import StateStore

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--run", required=True, help="the run (trained with --checkpoints)")
    parser.add_argument("--epochs", type=int, nargs="+", required=True,
                        help="epochs E whose step E -> E+1 is measured against independent fits")
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)

    store = StateStore(args.store)
    entries = dict(run_entries(store, args.run))
    chained = {}
    for epoch, entry in entries.items():
        maps = [m for m in store.projections(entry.key) if m.get("method") == "tsne"
                and isinstance((m.get("params") or {}).get("init"), dict) == (epoch != max(entries))]
        if not maps:
            raise SystemExit(f"epoch {epoch} has no chained t-SNE map; run `rnnpanel project --run {args.run}` first")
        chained[epoch] = maps[-1]
    embedding = {e: store.read_projection(entries[e].key, m["projection_key"])[0]["embedding"]
                 for e, m in chained.items()}
    steps = []
    for epoch in args.epochs:
        if epoch + 1 not in entries:
            raise SystemExit(f"epoch {epoch + 1} is not in the run's entries ({sorted(entries)})")
        independent = {}
        for e in (epoch, epoch + 1):
            started = time.perf_counter()
            independent[e] = project_states(entries[e].states(), method="tsne", progress=False).embedding
            print(f"independent fit of epoch {e}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        later, earlier = independent[epoch + 1], independent[epoch]
        steps.append({
            "from_epoch": epoch, "to_epoch": epoch + 1,
            "chained": median_displacement(embedding[epoch + 1], embedding[epoch]),
            "independent": median_displacement(later, earlier),
            "independent_aligned": median_displacement(later, procrustes(later, earlier).apply(earlier)),
            "chained_aligned": median_displacement(embedding[epoch + 1],
                                                   procrustes(embedding[epoch + 1], embedding[epoch]).apply(
                                                       embedding[epoch])),
        })
    seconds = {e: float(m.get("seconds_backend") or 0.0) for e, m in chained.items()}
    record = {
        "benchmark": "run_maps", "run": os.path.basename(os.path.normpath(args.run)),
        "n_checkpoints": len(entries), "n_states": int(entries[max(entries)].attrs["n_states"]),
        "backend": chained[max(entries)].get("backend_used"),
        "map_seconds": seconds, "map_seconds_total": sum(seconds.values()),
        "steps": steps, "displacement_unit": "median over states, fraction of the later map's diagonal",
        "load_average": list(os.getloadavg()), "cpus": os.cpu_count(),
    }
    with open(args.json, "w") as handle:
        json.dump(record, handle, indent=1)
    for step in steps:
        print(f"epoch {step['from_epoch']} -> {step['to_epoch']}: chained {step['chained']:.3f}, independent "
              f"{step['independent']:.3f}, independent aligned {step['independent_aligned']:.3f}")
    print(f"{len(entries)} maps of {record['n_states']:,} states: {record['map_seconds_total']:.0f} s of fitting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
