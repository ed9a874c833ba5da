"""``--cluster``: where shards run. Dask's own ``Client`` and clusters; nothing home-made.

* ``local`` / ``local:N`` — a ``dask.distributed.LocalCluster`` of N worker processes (default:
  one per core), one thread each, on the loopback interface (its dashboard on a free port), started
  and stopped with the run;
* ``local-cuda`` — ``dask_cuda.LocalCUDACluster``: one worker per visible GPU (gpu/README.md);
* ``tcp://HOST:PORT`` (or ``tls://``, ``ucx://``) — a running ``dask-scheduler`` and its workers,
  which must see the same store path (a shared filesystem).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

from rnnpanel.errors import DataError

log = logging.getLogger(__name__)

_LOCAL = re.compile(r"^local(?::(\d+))?$")
_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$")
HELP = "local[:N] (N worker processes here), local-cuda (one worker per GPU) or tcp://HOST:PORT of a dask-scheduler"


def check_cluster(spec: str | None) -> None:
    """Refuse a malformed ``--cluster`` before any work starts."""
    if spec is None:
        return
    match = _LOCAL.match(spec)
    if match and (match.group(1) is None or int(match.group(1)) >= 1):
        return
    if spec == "local-cuda" or _ADDRESS.match(spec):
        return
    raise DataError(f"unknown --cluster {spec!r}; use {HELP}")


@contextlib.contextmanager
def dask_client(spec: str) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``; a local cluster it started is closed on exit."""
    check_cluster(spec)
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError(f"--cluster needs dask.distributed ({exc}); pip install 'dask[distributed]'") from None
    if not log.isEnabledFor(logging.INFO):  # Dask's scheduler logs every connection at INFO in this process
        logging.getLogger("distributed").setLevel(logging.WARNING)
    match = _LOCAL.match(spec)
    if match:
        workers = int(match.group(1) or os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.WARNING)
    elif spec == "local-cuda":
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as exc:
            raise DataError(
                f"--cluster local-cuda needs dask-cuda ({exc}); install gpu/requirements-cuda*.txt"
            ) from None
        cluster = LocalCUDACluster(dashboard_address="127.0.0.1:0")
    else:
        cluster = None
    try:
        client = Client(cluster if cluster is not None else spec, timeout="30s")
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise DataError(
            f"cannot reach the Dask scheduler at {spec} ({exc}); start `dask-scheduler` there first"
        ) from None
    try:
        log.info("running on %s (%d workers)", spec, len(client.scheduler_info().get("workers", {})))
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
