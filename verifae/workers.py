"""Running work in other processes: local process pools and a Dask scheduler, as
`verifae report` (cases) and `verifae verify --jobs/--scheduler` (boxes) use them."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .errors import EnvironmentFailure, VerifaeError

__all__ = ["worker_init", "terminate", "dask_client"]


def worker_init() -> None:
    # Each worker leads its own process group, so that ending it also ends the PyTorch
    # process it may have started (orphaned, that one would wait on its queue forever),
    # and Ctrl-C at the terminal reaches the parent alone, which ends the workers itself.
    try:
        os.setpgrp()
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel what has not started, end the workers mid-case, with
    whatever they started.

    ProcessPoolExecutor has no public way to end running workers before Python 3.14,
    and shutdown() waits for every running case: minutes on an interrupted report.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        _signal_group(p, signal.SIGTERM)
    for p in processes:
        p.join(5)
        if p.is_alive():
            # SIGKILL cannot be caught, but on a loaded machine the exit itself can take a
            # while: wait for it (bounded), so that no worker outlives the pool
            _signal_group(p, signal.SIGKILL)
            p.join(15)


def _signal_group(p: Any, signum: int) -> None:
    try:
        if os.getpgid(p.pid) == p.pid:  # its own group (see worker_init): the PyTorch child too
            os.killpg(p.pid, signum)
        else:
            os.kill(p.pid, signum)
    except (ProcessLookupError, PermissionError, TypeError):
        pass


def dask_client(address: str, timeout: float):
    try:
        from distributed import Client
    except ImportError:
        raise EnvironmentFailure("--scheduler needs dask.distributed: pip install 'verifae[dask]'") from None
    try:
        return Client(address, timeout=timeout)
    except ValueError as exc:  # a malformed address: the user's input
        raise VerifaeError(f"--scheduler {address!r}: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise EnvironmentFailure(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
