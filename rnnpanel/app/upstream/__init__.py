"""Every workaround for Bokeh and Panel, behind one seam.

Each entry says what it fixes, the library releases it was checked against, how to tell it is no
longer needed, the test that proves it and the report written for upstream (docs/upstream/).
:func:`install` is the one call a serving process makes at start: it installs every workaround
whose library is a checked release, and leaves any other release alone, saying so once in the log.
Nothing else in rnnpanel touches a private part of Bokeh or Panel; removing a workaround once
upstream has fixed it is deleting its entry, its module and its test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workaround:
    """One workaround: what it mends, where it was checked, and how it goes away."""

    name: str
    library: str                      #: the distribution it works around: "bokeh" or "panel"
    checked: tuple[str, ...]          #: release prefixes it was checked against ("1.9.")
    fixes: str
    obsolete_when: str
    proof: str                        #: the test that shows the workaround at work
    report: str                       #: the upstream report, under docs/upstream/
    install: Callable[[], None] | None = None                #: once per process
    on_session: Callable[[object], None] | None = None       #: for each served session's document

    def applies(self) -> bool:
        """Whether the installed release of the library is one this was checked against."""
        return release(self.library).startswith(self.checked)


def release(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return ""


def _install_bokeh_reads() -> None:
    from rnnpanel.app.upstream import bokeh_reads

    bokeh_reads.install()


def _sweep_stranded_patches(doc) -> None:
    from rnnpanel.app.upstream import patch_delivery

    patch_delivery.start_sweeping()


def _serve_styles_locally(doc) -> None:
    from rnnpanel.app.upstream.session_styles import serve_styles_locally

    serve_styles_locally(doc)


WORKAROUNDS: tuple[Workaround, ...] = (
    Workaround(
        name="bokeh-default-reads",
        library="bokeh", checked=("3.9.",),
        fixes="serialising a model and walking its references read property defaults that are then "
              "dropped: most of a new session's server time once apps are built ahead",
        obsolete_when="docs/upstream/bokeh_default_reads.py reads no more values than it sends",
        proof="tests/ui/test_bokeh_reads.py",
        report="docs/upstream/bokeh-default-reads.md",
        install=_install_bokeh_reads,
    ),
    Workaround(
        name="panel-lost-patch",
        library="panel", checked=("1.9.",),
        fixes="a patch queued in the event-loop turn in which the previous write completes is never "
              "sent: a selection under load got no answer",
        obsolete_when="docs/upstream/panel_lost_patch.py prints DELIVERED",
        proof="tests/ui/test_patch_delivery.py",
        report="docs/upstream/panel-lost-patch.md",
        on_session=_sweep_stranded_patches,
    ),
    Workaround(
        name="panel-websocket-session-styles",
        library="panel", checked=("1.9.",),
        fixes="a session made from its websocket alone (--num-procs, servers behind a proxy) loads its "
              "style sheets from the CDN: offline browsers spun a core retrying them",
        obsolete_when="docs/upstream/panel_websocket_session_styles.py names no CDN address",
        proof="tests/ui/test_session_without_page.py",
        report="docs/upstream/panel-websocket-session-styles.md",
        on_session=_serve_styles_locally,
    ),
)

_installed: list[str] | None = None


def install() -> list[str]:
    """Install, once per process, every workaround checked against the installed releases, and
    have Panel apply the per-session ones to each new session before its app is made; returns
    their names. Each one left out is logged once, with the release it would need."""
    global _installed
    if _installed is not None:
        return list(_installed)
    import panel as pn

    chosen = []
    for workaround in WORKAROUNDS:
        if not workaround.applies():
            log.warning("%s %s is not a release rnnpanel's '%s' workaround was checked against (%s): "
                        "leaving %s alone", workaround.library, release(workaround.library) or "(absent)",
                        workaround.name, ", ".join(f"{c}x" for c in workaround.checked), workaround.library)
            continue
        if workaround.install is not None:
            workaround.install()
        chosen.append(workaround)
    per_session = [w.on_session for w in chosen if w.on_session is not None]
    if per_session:
        def prepare_session(session_context) -> None:
            doc = pn.state.curdoc     # Panel sets the session's document around this call
            for apply in per_session:
                apply(doc)

        pn.state.on_session_created(prepare_session)
    _installed = [w.name for w in chosen]
    return list(_installed)
