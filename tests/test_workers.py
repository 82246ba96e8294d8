"""Process pools and the Dask scheduler shared by `report` and `verify`."""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from verifae.errors import EnvironmentFailure, VerifaeError
from verifae.workers import dask_client, terminate, worker_init


def test_terminate_ends_a_running_worker_at_once():
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init)
    future = pool.submit(time.sleep, 120)
    deadline = time.monotonic() + 60
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    processes = list(pool._processes.values())
    start = time.monotonic()
    terminate(pool)
    assert time.monotonic() - start < 25
    # the pool's manager thread may be reaping the same process: its exit status can
    # reach is_alive() a moment later
    while any(p.is_alive() for p in processes) and time.monotonic() - start < 25:
        time.sleep(0.1)
    assert processes and not any(p.is_alive() for p in processes)


def test_an_unreachable_scheduler_is_the_environment_and_a_malformed_one_bad_input():
    pytest.importorskip("distributed")
    with pytest.raises(EnvironmentFailure, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"):
        dask_client("tcp://127.0.0.1:1", 1)
    with pytest.raises(VerifaeError, match="--scheduler 'nonsense://x'"):
        dask_client("nonsense://x", 1)
