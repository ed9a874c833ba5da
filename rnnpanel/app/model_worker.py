"""The server process's one thread for running a model for the page (what if: word importance, the
smallest flip), with torch on one thread there.

One thread for all sessions: a model run takes a core, and on a small machine two at once only slow
each other and the server's own work. Torch runs one thread there (docs/design.md, What if,
"Threads": on a busy machine a second torch thread stalls every recurrent step, about 11 times
slower at the median). That setting is the worker thread's own: torch keeps a per-thread thread
count (OpenMP's and MKL's), but ``torch.set_num_threads`` also sets the count threads started
later begin with, so a short-lived thread sets that back; the server's other threads keep theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_EXECUTOR: ThreadPoolExecutor | None = None
_MAKING = threading.Lock()


def _one_torch_thread() -> None:
    """Torch on one thread in the calling thread only (see the module docstring)."""
    import torch

    others = torch.get_num_threads()        # what a new thread starts with
    torch.set_num_threads(1)
    restore = threading.Thread(target=torch.set_num_threads, args=(others,), name="rnnpanel-torch-threads")
    restore.start()
    restore.join()


def submit(work: Callable[..., Any], *args: Any) -> Future:
    """Run ``work(*args)`` on the model thread, after the work submitted before it."""
    global _EXECUTOR
    with _MAKING:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnpanel-model",
                                           initializer=_one_torch_thread)
        return _EXECUTOR.submit(work, *args)
