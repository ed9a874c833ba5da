"""``rnnpanel project``: project a stored entry's states to 2-D and cache the map in the store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rnnpanel import paths
from rnnpanel.compute.projection.names import ALIASES, BACKEND_NAMES, METHODS
from rnnpanel.compute.projection.placement import DEFAULT_POLISH_ITER

# rnnpanel.store.state_kinds.STATE_KINDS, copied so that `--help` imports no store code;
# tests/cli/test_project_cli.py checks that the two match
STATE_KINDS = ("h", "c", "h_fwd", "h_bwd", "c_fwd", "c_bwd")

SUMMARY_KEYS = (
    "entry_key", "projection_key", "method", "backend_requested", "backend_used", "skipped", "layer", "state",
    "n_states", "n_fitted", "placement", "seconds_backend", "seconds_overhead", "seconds_total", "timings",
    "cache_hit", "quality",
)


def backend_choices() -> list[str]:
    return ["auto", *BACKEND_NAMES, *sorted({alias for _, alias in ALIASES})]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "project",
        help="project stored hidden states to 2-D (t-SNE, UMAP or PCA) and cache the map",
        description="Project one layer's states of a stored entry with t-SNE, UMAP or PCA. `--backend auto` "
        "picks the best backend that works here (cuML, tsnecuda, openTSNE, scikit-learn for t-SNE) and "
        "says why it skipped the others. The map is cached in the store; a second identical call is instant.",
    )
    p.add_argument("--store", default=None, help="store folder (default: the store under $RNNPANEL_HOME)")
    p.add_argument("--entry", default=None, help="entry key (default: the store's only or most recent entry)")
    p.add_argument("--run", default=None, metavar="RUN",
                   help="instead of one entry, every extracted checkpoint of this run (trained with --checkpoints): "
                        "the last epoch fitted first, each earlier one started from the next one's map, so that "
                        "the maps stay aligned")
    p.add_argument("--method", choices=METHODS, default="tsne")
    p.add_argument("--backend", choices=backend_choices(), default="auto", metavar="NAME",
                   help=f"auto or one of: {', '.join(backend_choices()[1:])} (default: auto)")
    p.add_argument("--layer", type=int, default=-1, help="layer index; negative counts from the top (default: -1)")
    p.add_argument("--state", choices=STATE_KINDS, default="h", help="state kind (default: h)")
    p.add_argument("--perplexity", type=float, default=None, help="t-SNE perplexity (default: 30)")
    p.add_argument(
        "--max-iter", type=int, default=None, help="iterations (t-SNE) or epochs (UMAP); default: the backend's"
    )
    p.add_argument("--learning-rate", type=float, default=None, help="default: auto")
    p.add_argument("--n-neighbors", type=int, default=None, help="UMAP neighbours (default: 15)")
    p.add_argument("--min-dist", type=float, default=None, help="UMAP minimum distance (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--deterministic", action="store_true",
                   help="on a GPU, give cuML the seed: the same map again on the same GPU, at 1.2-2.8x the time "
                        "(t-SNE) or with exact neighbours (UMAP); by default GPU maps are fast and unseeded (the "
                        "CPU backends are reproducible from --seed either way)")
    p.add_argument(
        "--max-fit",
        default="auto",
        help="fit at most this many states and place the rest; 'auto' = the backend's limit, 'none' = fit all",
    )
    p.add_argument(
        "--quality", action="store_true", help="also report trustworthiness, k-NN preservation, neighbourhood hit"
    )
    p.add_argument("--polish-iter", type=int, default=DEFAULT_POLISH_ITER, metavar="N",
                   help="t-SNE steps of each placed state against the fixed fitted map (cheap; 0 = leave it "
                        f"where its fitted neighbours put it; default {DEFAULT_POLISH_ITER})")
    p.add_argument("--refine-iter", type=int, default=0, metavar="N",
                   help="after placing the states that were not fitted, optimise all of them for N t-SNE "
                        "iterations (150 brought a placed map's quality to a full fit's, at 9x the placement's time "
                        "on 200,000 states and 24x on 2.6 million, where it took 1,645 s and 6.4 GB; measured "
                        "2026-12-02, benchmarks/RESULTS.md; default 0)")
    p.add_argument("--refine", action="store_true",
                   help="when the t-SNE map was placed (more states than the backend fits), refine every state of it "
                        "in a separate process after it is stored, following its progress, and store the refined map "
                        "beside it (the app then shows that one); interrupted, the refinement goes on in the "
                        "background (the app starts it by itself when it shows a placed map)")
    p.add_argument("--cluster", default=None, metavar="SPEC",
                   help="place the states that are not fitted on a Dask cluster: local[:N], local-cuda or "
                        "tcp://HOST:PORT (default: this process's threads)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="when another process is computing the same map, wait up to this long for it and then "
                        "read its map (a cache hit); 0 refuses at once (default: 3600)")
    return p


def parse_max_fit(text: str) -> Any:
    if text == "auto":
        return "auto"
    if text.lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--max-fit must be 'auto', 'none' or an integer, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"--max-fit must be at least 2, got {value}")
    return value


def backend_params(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options the user gave, under the backends' shared parameter names."""
    given = {
        "perplexity": args.perplexity,
        "max_iter": args.max_iter,
        "learning_rate": args.learning_rate,
        "n_neighbors": args.n_neighbors,
        "min_dist": args.min_dist,
        "deterministic": True if getattr(args, "deterministic", False) else None,
    }
    return {k: v for k, v in given.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    # torch and scikit-learn load only when the command runs, so `rnnpanel --help` stays quick
    from rnnpanel.pipeline.project import default_entry, project_states
    from rnnpanel.store import StateStore

    try:
        max_fit = parse_max_fit(args.max_fit)
    except argparse.ArgumentTypeError as exc:
        print(f"rnnpanel project: error: {exc}", file=sys.stderr)
        return 2
    store = StateStore(args.store or paths.default_store())
    if args.run is not None:
        return _project_run(args, store, max_fit)
    try:
        entry = default_entry(store) if args.entry is None else store.entry(args.entry)
        result = project_states(
            entry.states(layer=args.layer, kind=args.state), method=args.method, backend=args.backend,
            params=backend_params(args), max_fit=max_fit, random_state=args.seed, quality=args.quality,
            progress=not args.no_progress, cluster=args.cluster, polish_iter=args.polish_iter,
            refine_iter=args.refine_iter, wait=args.wait,
        )
    except ValueError as exc:  # parameter values a backend refuses
        print(f"rnnpanel project: error: {exc}", file=sys.stderr)
        return 2
    attrs = result.summary()
    print(describe_backend(attrs), file=sys.stderr)
    summary = {key: attrs[key] for key in SUMMARY_KEYS if key in attrs}
    print(json.dumps(summary, sort_keys=False), flush=True)
    if args.refine:
        return _follow_refinement(entry.states(layer=args.layer, kind=args.state), result.key, not args.no_progress)
    return 0


def _follow_refinement(states: Any, placed_key: str, bar: bool) -> int:
    """Start (or join) the separate process refining map ``placed_key`` and follow it to its end;
    one more summary line, of the refined map."""
    import time

    from rnnpanel.pipeline.project import progress_callback
    from rnnpanel.pipeline.refined_map import (
        needs_refinement,
        refined_key,
        refinement_status,
        start_refinement,
    )

    store, entry = states.entry.store, states.entry
    if not needs_refinement(store.read_projection(entry.key, placed_key)[1]):
        print("rnnpanel project: this map was fitted whole; nothing to refine", file=sys.stderr)
        return 0
    start_refinement(states, placed_key)
    report, close = progress_callback(bar or None, "refining")
    try:
        status = refinement_status(states, placed_key)
        waited = 0.0
        while status.state != "done":
            if status.state == "failed" or (status.state == "none" and waited > 30):
                print(f"rnnpanel project: error: the refinement failed: {status.message or 'its process ended'}",
                      file=sys.stderr)
                return 1
            if report is not None and status.state == "running":
                report(status.fraction, status.message)
            time.sleep(1.0)
            waited += 1.0
            status = refinement_status(states, placed_key)
    except KeyboardInterrupt:
        print("rnnpanel project: the refinement goes on in the background", file=sys.stderr)
        return 130
    finally:
        close()
    key = refined_key(placed_key)
    attrs = store.read_projection(entry.key, key)[1]
    print(json.dumps({"projection_key": key, "refined_from": placed_key, "placement": attrs.get("placement"),
                      "refine": attrs.get("refine")}), flush=True)
    return 0


def _project_run(args: argparse.Namespace, store: Any, max_fit: Any) -> int:
    """Every checkpoint's map of a run, chained; one summary line per epoch."""
    from rnnpanel.pipeline.run_maps import project_run, run_entries

    if args.entry is not None:
        print("rnnpanel project: error: give --entry or --run, not both", file=sys.stderr)
        return 2
    entries = run_entries(store, args.run)
    results = project_run(entries, layer=args.layer, kind=args.state, method=args.method, backend=args.backend,
                          params=backend_params(args), max_fit=max_fit, random_state=args.seed,
                          progress=not args.no_progress, polish_iter=args.polish_iter, refine_iter=args.refine_iter,
                          wait=args.wait, say=lambda message: print(message, file=sys.stderr, flush=True))
    for epoch, result in results.items():
        attrs = result.summary()
        print(json.dumps({"epoch": epoch, **{key: attrs[key] for key in SUMMARY_KEYS if key in attrs}}))
    return 0


def describe_backend(attrs: dict[str, Any]) -> str:
    """One human line: which backend ran, and why the ones before it were skipped."""
    line = f"{attrs['method']} ran on {attrs['backend_used']}"
    if attrs.get("cache_hit"):
        line += " (cached result)"
    skipped = attrs.get("skipped") or {}
    if skipped:
        line += "; skipped " + "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
    if attrs.get("placement") not in (None, "none"):
        line += f"; fitted {attrs['n_fitted']} of {attrs['n_states']} states, placed the rest by {attrs['placement']}"
    return line
