"""``rnnpanel bench projection``: identical input for every backend, a table, and JSON records."""

from __future__ import annotations

import json

import pytest

from rnnpanel.cli import main

RUN_KEYS = {"backend", "method", "n", "dims", "seconds", "trustworthiness", "knn_preservation", "neighborhood_hit",
            "speedup_vs_sklearn", "available", "reason"}


def test_synthetic_benchmark_writes_machine_input_and_run_records(tmp_path, capsys):
    out_file = tmp_path / "bench" / "out.json"
    code = main(["bench", "projection", "--source", "synthetic", "--n", "120", "200", "--backends", "auto",
                 "opentsne-default", "sklearn", "tsnecuda", "pca", "--perplexity", "10", "--metric-points", "150",
                 "--json", str(out_file), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    records = json.loads(out_file.read_text())
    machine, source, runs = records[0], records[1], records[2:]
    assert machine["record"] == "machine" and machine["cores"] >= 1 and machine["cpu"]
    assert "openTSNE" in machine["versions"] and "scikit-learn" in machine["versions"]
    assert source == {**source, "record": "input", "source": "synthetic", "n_states": 200}
    assert len(runs) == 2 * 5 and [r["n"] for r in runs] == [120] * 5 + [200] * 5
    for r in runs:
        assert RUN_KEYS <= set(r) and r["dims"] == source["dims"]
        assert r["method"] == ("pca" if r["backend"] == "pca" else "tsne")
    unavailable = [r for r in runs if not r["available"]]
    assert {r["backend"] for r in unavailable} == {"tsnecuda"} or machine["gpu"]
    for r in runs:
        if r["available"]:
            assert 0 < r["trustworthiness"] <= 1 and 0 < r["knn_preservation"] <= 1 and 0 < r["neighborhood_hit"] <= 1
            assert r["seconds"] > 0 and r["speedup_vs_sklearn"] > 0
        else:
            assert r["reason"] and r["seconds"] is None
    assert all(r["speedup_vs_sklearn"] == 1.0 for r in runs if r["backend"] == "sklearn")
    assert "backend" in out and "speed-up" in out and "unavailable" in out


def test_a_missing_model_folder_is_named(tmp_path, capsys):
    """(Without --model the demo model is used, and trained first when missing, as `rnnpanel serve` does.)"""
    code = main(["bench", "projection", "--model", str(tmp_path / "nope"), "--n", "100", "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2
    assert f"no model at {tmp_path / 'nope'}" in err and "--source synthetic" in err


def test_plot_suffix_is_checked_before_anything_runs(capsys):
    assert main(["bench", "projection", "--source", "synthetic", "--n", "100", "--plot", "out.pdf"]) == 2
    assert "--plot writes .html, .png or .svg" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_source_projects_real_hidden_states(tmp_path, quick_rt_model, capsys):
    """A real model trained briefly on the real Rotten Tomatoes corpus, its real states benchmarked."""
    model_dir = quick_rt_model
    out_file = tmp_path / "demo.json"
    code = main(["bench", "projection", "--source", "demo", "--model", str(model_dir), "--n", "400", "--backends",
                 "auto", "sklearn", "--json", str(out_file), "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 0, err
    records = json.loads(out_file.read_text())
    source = records[1]
    assert source["source"] == "demo" and source["dataset"] == "rotten_tomatoes" and source["n_states"] == 400
    assert source["dims"] == 100 and source["splits"][0]["split"] == "test"
    runs = records[2:]
    assert [r["backend"] for r in runs] == ["auto", "sklearn"] and all(r["available"] for r in runs)
    assert all(r["trustworthiness"] > 0.8 for r in runs)


def test_command_line_constants_match_the_pipeline():
    from rnnpanel.bench import projection as project_bench
    from rnnpanel.cli import bench

    assert bench.SOURCES == project_bench.SOURCES and bench.DEMO_DATASET == project_bench.DEMO_DATASET
