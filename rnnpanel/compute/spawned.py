"""Call a function that may end its whole process in a spawned child, and get its result or the reason it died.

Some GPU libraries end the process instead of raising: tsnecuda's C code calls ``exit()`` on a
CUDA error and aborts on a failed allocation. Called in the command line or the app server,
that would end them. :func:`call_in_child` runs such a call in a fresh interpreter (``spawn``:
no threads or CUDA context of the parent are copied) and turns a death into
:class:`ChildProcessDied`, whose message says how the child ended (its exit status or signal)
and the last line it printed — where such libraries write their CUDA error before exiting.

The input array goes to the child through a temporary ``.npy`` file that the child maps into
memory, not through the pipe (no pickling of gigabytes; not ``/dev/shm`` either, often 64 MB in
containers); the result, and a Python exception the child raised, come back through a pipe (the
exception is raised again here, its type kept). The child's stdout and stderr go to a file in the
same temporary folder, read only when it failed.

This is the compute layer's own helper (``compute`` never imports ``pipeline``); the pipeline's
:mod:`rnnpanel.pipeline.child_process` runs whole store-to-store jobs, with progress, the same way.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

POLL_S = 0.2


class ChildProcessDied(RuntimeError):  # noqa: N818 - it names what happened, as the user reads it
    """The child ended (killed, ``exit()``, ``abort()``) before sending a result; the message says how."""


def call_in_child(target: Callable[..., Any], X: np.ndarray, kwargs: dict[str, Any] | None = None, *,
                  what: str = "the computation", timeout: float | None = None) -> Any:
    """``target(X, **kwargs)`` computed in a spawned child process; its return value (picklable) comes back.

    ``target`` must be a module-level function (the child imports it by name). ``X`` is read in the
    child as a read-only memory map of a copy of it. An exception the child raised is raised here
    again; a child that ended without answering raises :class:`ChildProcessDied` naming its exit
    status or signal and its last line of output; past ``timeout`` seconds the child is killed and
    :class:`ChildProcessDied` says so.
    """
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="rnnpanel-child-") as folder:
        data_path, output_path = Path(folder) / "input.npy", Path(folder) / "output.log"
        np.save(data_path, np.ascontiguousarray(X))
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_child_main, name=f"rnnpanel {what}", daemon=True,
                                args=(target, str(data_path), dict(kwargs or {}), str(output_path), sender))
        started = time.monotonic()
        child.start()
        sender.close()  # the child holds the only writing end: its death ends the pipe
        try:
            message = _wait(child, receiver, timeout, started, what)
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receiver.close()
        if message is None:
            raise ChildProcessDied(f"the process computing {what} {_ended(child.exitcode)}: "
                                   f"{_last_line(output_path)}")
        kind, value = message
        if kind == "ok":
            return value
        raise value


def _wait(child: Any, receiver: Any, timeout: float | None, started: float, what: str) -> tuple[str, Any] | None:
    """The child's message, or None when it ended without one."""
    while True:
        if receiver.poll(POLL_S):
            try:
                return receiver.recv()
            except EOFError:  # the child ended while (or instead of) writing
                return None
        if not child.is_alive() and not receiver.poll(0):
            return None
        if timeout is not None and time.monotonic() - started > timeout:
            child.kill()
            raise ChildProcessDied(f"the process computing {what} did not finish within {timeout:.0f} s")


def _child_main(target: Callable[..., Any], data_path: str, kwargs: dict[str, Any], output_path: str,
                sender: Any) -> None:
    """In the child: output to the file (C code included), call ``target``, send its result or exception."""
    fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        result = target(np.load(data_path, mmap_mode="r"), **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure is the parent's to report (sys.exit() ends the child)
        try:
            sender.send(("error", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle comes back as its text
            sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    else:
        sender.send(("ok", result))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sender.close()


def _ended(code: int | None) -> str:
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
