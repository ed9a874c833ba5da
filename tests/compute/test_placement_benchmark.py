"""The placement benchmark (sample-and-place against a full fit), run end to end with tiny sizes."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "placement.py"


def test_compare_placement_reports_quality_losses_and_speed(tmp_path):
    bench = runpy.run_path(str(SCRIPT))  # the script's globals, without running its __main__ block
    out = tmp_path / "placement.json"
    bench["main"](["--source", "synthetic", "--n", "900", "--n-fit", "300", "--max-iter", "100", "--refine-iter", "10",
                   "--json", str(out)])
    machine, rec = json.loads(out.read_text())
    assert machine["record"] == "machine" and rec["record"] == "placement"
    assert rec["n_fit"] == 300 and rec["n_placed"] == 600 and rec["full"]["seconds"] > 0
    assert rec["scaled_params"]["polish_iter"] == 50  # the default placement polishes; "median" is its start alone
    for name in ("median", "neighbors", "neighbors+refine"):
        placed = rec["placements"][name]
        assert set(placed["quality"]) == {"placed", "all"} and placed["seconds_per_million"] > 0
        assert set(placed["loss"]["placed"]) == set(bench["TARGETS"])
        assert isinstance(placed["all_targets_met"], bool)
