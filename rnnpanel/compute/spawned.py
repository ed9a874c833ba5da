"""Call a function that may end its whole process in a child interpreter, and get its result or the reason it died.

Some GPU libraries end the process instead of raising: tsnecuda's C code calls ``exit()`` on a
CUDA error and aborts on a failed allocation. Called in the command line or the app server,
that would end them. :func:`call_in_child` runs such a call in a fresh interpreter (no threads or
CUDA context of the caller are copied) and turns a death into :class:`ChildProcessDied`, whose
message says how the child ended (its exit status or signal) and the last line it printed —
where such libraries write their CUDA error before exiting.

The child is a plain ``python`` started with :mod:`subprocess`, not a ``multiprocessing``
process: the app computes maps in a daemonic ``multiprocessing`` child
(:mod:`rnnpanel.pipeline.child_process`), and daemonic processes may not start ``multiprocessing``
children of their own. It sees the caller's ``sys.path``. Everything travels through a temporary
folder: the input array as a ``.npy`` file that the child maps into memory (no pickling of
gigabytes; not ``/dev/shm`` either, often 64 MB in containers), the call (the function by
reference, its keyword arguments) and the answer (the result, or the Python exception the child
raised, raised again here with its type) as pickles, and the child's stdout and stderr, read
only when it failed.

This is the compute layer's own helper (``compute`` never imports ``pipeline``); the pipeline's
:mod:`rnnpanel.pipeline.child_process` runs whole store-to-store jobs, with progress.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_CHILD = "import sys; from rnnpanel.compute.spawned import _child_main; _child_main(sys.argv[1])"


class ChildProcessDied(RuntimeError):  # noqa: N818 - it names what happened, as the user reads it
    """The child ended (killed, ``exit()``, ``abort()``) before answering; the message says how."""


def call_in_child(target: Callable[..., Any], X: np.ndarray, kwargs: dict[str, Any] | None = None, *,
                  what: str = "the computation", timeout: float | None = None) -> Any:
    """``target(X, **kwargs)`` computed in a child interpreter; its return value (picklable) comes back.

    ``target`` must be importable by name (a module-level function). ``X`` is read in the child as
    a read-only memory map of a copy of it. An exception the child raised is raised here again; a
    child that ended without answering raises :class:`ChildProcessDied` naming its exit status or
    signal and its last line of output; past ``timeout`` seconds the child is killed and
    :class:`ChildProcessDied` says so.
    """
    with tempfile.TemporaryDirectory(prefix="rnnpanel-child-") as name:
        folder = Path(name)
        np.save(folder / "input.npy", np.ascontiguousarray(X))
        with open(folder / "call.pkl", "wb") as f:
            pickle.dump((target, dict(kwargs or {})), f)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with open(folder / "output.log", "wb") as output:
            child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder)], stdin=subprocess.DEVNULL,
                                     stdout=output, stderr=subprocess.STDOUT, env=env)
            try:
                code = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise ChildProcessDied(f"the process computing {what} did not finish within {timeout:.0f} s") from None
            except BaseException:  # interrupted here (Ctrl-C, a stopped server): the child goes too
                child.kill()
                child.wait()
                raise
        answer = folder / "answer.pkl"
        if not answer.is_file():
            last = _last_line(folder / "output.log")
            raise ChildProcessDied(f"the process computing {what} {how_ended(code)}: {last}")
        with open(answer, "rb") as f:
            kind, value = pickle.load(f)
    if kind == "ok":
        return value
    raise value


def _child_main(folder: str) -> None:
    """In the child: read the call, run it on the memory-mapped input, write the answer (atomically)."""
    path = Path(folder)
    with open(path / "call.pkl", "rb") as f:
        target, kwargs = pickle.load(f)
    try:
        answer: tuple[str, Any] = ("ok", target(np.load(path / "input.npy", mmap_mode="r"), **kwargs))
    except Exception as exc:  # noqa: BLE001 - every failure is the parent's to report (sys.exit() ends the child)
        answer = ("error", exc)
    try:
        data = pickle.dumps(answer)
    except Exception as exc:  # noqa: BLE001 - an answer that does not pickle comes back as its text
        data = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__} while returning the answer: {exc}")))
    partial = path / "answer.pkl.partial"
    partial.write_bytes(data)
    os.replace(partial, path / "answer.pkl")  # a child killed while writing leaves no answer, not half of one


def how_ended(code: int | None) -> str:
    """How a child ended: its exit status, or the signal that killed it (SIGABRT: an abort or a failed
    assertion in C code; SIGKILL: most often the kernel's out-of-memory killer)."""
    if code is None:
        return "did not end"
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = " (out of memory?)" if -code == signal.SIGKILL else ""
    return f"was killed by {name}{hint}"


def _last_line(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "no output"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
