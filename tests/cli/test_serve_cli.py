"""`rnnpanel serve` shows the store a user chose: --store, else $RNNPANEL_STORE (as `panel serve apps/`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnpanel.cli import main


@pytest.fixture
def served(monkeypatch) -> dict:
    """Stand in for the server and the demo's preparation; record which store each was given."""
    import rnnpanel.app.server as server
    import rnnpanel.pipeline.demo as demo

    seen: dict = {}
    monkeypatch.setattr(server, "serve", lambda store, **kw: seen.setdefault("served", Path(store)))
    monkeypatch.setattr(demo, "ensure_demo", lambda store, **kw: seen.setdefault("demo", Path(store)))
    return seen


def test_serve_reads_rnnpanel_store(served, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNPANEL_STORE", str(tmp_path / "team-store"))
    assert main(["serve", "--no-show"]) == 0
    assert served == {"demo": tmp_path / "team-store", "served": tmp_path / "team-store"}


def test_store_option_wins_over_the_environment(served, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNPANEL_STORE", str(tmp_path / "team-store"))
    assert main(["serve", "--no-show", "--no-demo", "--store", str(tmp_path / "mine")]) == 0
    assert served == {"served": tmp_path / "mine"}


def test_default_store_without_either(served, monkeypatch):
    from rnnpanel import paths

    monkeypatch.delenv("RNNPANEL_STORE", raising=False)
    assert main(["serve", "--no-show", "--no-demo"]) == 0
    assert served == {"served": Path(paths.default_store())}
