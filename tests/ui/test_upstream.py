"""The seam for Bokeh's and Panel's bugs (rnnpanel/app/upstream): every workaround documented and
proven, installed only on the releases it was checked against, and its upstream reproducer still
showing the bug there (when one stops showing it, the workaround can go)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bokeh.model.util as bokeh_model_util
import panel as pn
import pytest
from bokeh.core.has_props import HasProps

from rnnpanel.app import upstream
from rnnpanel.app.upstream import bokeh_reads

REPO = Path(__file__).resolve().parents[2]
REPRODUCERS = {"bokeh-default-reads": "bokeh_default_reads.py", "panel-lost-patch": "panel_lost_patch.py",
               "panel-websocket-session-styles": "panel_websocket_session_styles.py"}


@pytest.fixture
def fresh_install(monkeypatch):
    """upstream.install() as a new process would run it, and everything it changed put back."""
    monkeypatch.setattr(upstream, "_installed", None)
    monkeypatch.setattr(HasProps, "query_properties_with_values", bokeh_reads.BOKEH_QUERY)
    monkeypatch.setattr(bokeh_model_util, "visit_immediate_value_references", bokeh_reads.BOKEH_VISIT)
    monkeypatch.setattr(pn.state, "_on_session_created", list(pn.state._on_session_created))


@pytest.mark.parametrize("workaround", upstream.WORKAROUNDS, ids=lambda w: w.name)
def test_each_workaround_names_its_report_its_proof_and_when_it_can_go(workaround):
    assert (REPO / workaround.report).is_file()
    assert (REPO / workaround.proof).is_file()
    assert REPRODUCERS[workaround.name] in workaround.obsolete_when
    assert (REPO / "docs" / "upstream" / REPRODUCERS[workaround.name]).is_file()
    assert workaround.report in (REPO / "docs" / "upstream" / "README.md").read_text().replace("](", "](docs/upstream/")


def test_on_checked_releases_every_workaround_is_installed_once(fresh_install):
    if not all(w.applies() for w in upstream.WORKAROUNDS):
        pytest.skip("Bokeh or Panel here is not a release the workarounds were checked against")
    hooks = len(pn.state._on_session_created)
    assert upstream.install() == [w.name for w in upstream.WORKAROUNDS]
    assert upstream.install() == [w.name for w in upstream.WORKAROUNDS]         # a second server start
    assert HasProps.query_properties_with_values is bokeh_reads.query_sent_values
    assert len(pn.state._on_session_created) == hooks + 1


def test_an_unchecked_release_is_left_alone_and_said_once(fresh_install, monkeypatch, caplog):
    real = upstream.release
    monkeypatch.setattr(upstream, "release", lambda library: "4.0.0" if library == "bokeh" else real(library))
    with caplog.at_level("WARNING", logger=upstream.__name__):
        installed = upstream.install()
        upstream.install()
    assert "bokeh-default-reads" not in installed
    assert HasProps.query_properties_with_values is bokeh_reads.BOKEH_QUERY
    assert bokeh_model_util.visit_immediate_value_references is bokeh_reads.BOKEH_VISIT
    said = [r.getMessage() for r in caplog.records if "bokeh-default-reads" in r.getMessage()]
    assert said == ["bokeh 4.0.0 is not a release rnnpanel's 'bokeh-default-reads' workaround was checked "
                    "against (3.9.x): leaving bokeh alone"]


def _reproduce(name: str) -> subprocess.CompletedProcess:
    workaround = next(w for w in upstream.WORKAROUNDS if w.name == name)
    if not workaround.applies():
        pytest.skip(f"{workaround.library} {upstream.release(workaround.library)} is not a checked release")
    return subprocess.run([sys.executable, str(REPO / "docs" / "upstream" / REPRODUCERS[name])],
                          capture_output=True, text=True, timeout=120)


def test_panel_still_loses_a_patch_queued_as_a_write_completes():
    done = _reproduce("panel-lost-patch")
    assert done.returncode == 1 and done.stdout.startswith("LOST"), done.stdout + done.stderr


@pytest.mark.slow
def test_panel_still_gives_a_websocket_session_the_cdns_style_sheets():
    done = _reproduce("panel-websocket-session-styles")
    assert done.returncode == 1 and "https://" in done.stdout, done.stdout + done.stderr


def test_bokeh_still_reads_defaults_it_does_not_send():
    done = _reproduce("bokeh-default-reads")
    first = done.stdout.splitlines()[0].split()      # serialising: read N property values to send M
    read, sent = int(first[2]), int(first[-1])
    assert done.returncode == 0 and read > 5 * sent, done.stdout


def test_the_releases_ci_installs_are_the_ones_the_workarounds_were_checked_against():
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    for workaround in upstream.WORKAROUNDS:
        assert pins[workaround.library].startswith(workaround.checked), workaround.name
    assert "-c constraints.txt" in (REPO / "scripts" / "setup.sh").read_text()
