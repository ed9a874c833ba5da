"""``rnnpanel bench scale``: every stage of a real corpus run, timed with its peak memory, in records and a figure."""

from __future__ import annotations

import json

import pytest

from rnnpanel.cli import main


def test_bad_sizes_and_quality_fit_are_refused_before_anything_runs(capsys):
    assert main(["bench", "scale", "--sizes", "lots"]) == 2
    assert "--sizes takes positive numbers" in capsys.readouterr().err
    assert main(["bench", "scale", "--peer", "100", "--quality-fit", "500"]) == 2
    assert "--quality-fit must lie between" in capsys.readouterr().err
    assert main(["bench", "scale", "--clusters", "lokal"]) == 2
    assert "unknown --cluster" in capsys.readouterr().err


@pytest.mark.slow
def test_small_run_records_every_stage_in_one_process_and_on_a_cluster(tmp_path, quick_rt_model, capsys):
    model_dir = quick_rt_model
    out = tmp_path / "scale.json"
    code = main(["bench", "scale", "--dataset", "rotten_tomatoes", "--model", str(model_dir), "--sizes", "1500",
                 "--clusters", "none", "local:2", "--peer", "600", "--work", str(tmp_path / "work"),
                 "--json", str(out), "--plot", str(tmp_path / "scale")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    records = json.loads(out.read_text())
    kinds = [r["record"] for r in records]
    assert kinds == ["machine", "input", "extract", "project", "extract", "project", "peer", "quality"]
    one, cluster = records[2], records[4]
    assert one["entry"] == cluster["entry"] and one["n_states"] >= 1500  # the same entry either way
    for stage in ("read_tokenise", "extract", "write", "commit", "peak_rss_mb"):
        assert stage in one["stages"]
    assert cluster["stages"]["workers_peak_rss_mb"] > 0
    assert records[3]["timings"]["fit"] > 0 and records[3]["peak_rss_mb"] > 0
    assert records[6]["n_states"] == 600 and records[7]["n_fit"] == 60
    assert "| 1," in captured.out  # the Markdown table row of the size
    assert (tmp_path / "scale.html").is_file()
