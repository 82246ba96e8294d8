"""PyTorch's runs in a second process: started ahead of need, and never a hang at exit."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None

CHILD = textwrap.dedent('''
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np


    def job():
        from verifae import AutoencoderSpec, Box, check
        rng = np.random.default_rng(0)
        spec = AutoencoderSpec(rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(5, 3)),
                               rng.normal(size=5), "tanh")
        result = check(spec, Box.around(rng.random(5), "0.1"), runs=20, torch_worker=True, method="interval")
        return result.formats["float32"].implementations["torch"]


    if __name__ == "__main__":
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            print(pool.submit(job).result())
''')


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_a_child_process_with_a_torch_process_exits(tmp_path):
    """Regression: a report worker (a multiprocessing child) that had started the PyTorch
    process hung at exit, joining its idle child, which waited for work forever."""
    script = tmp_path / "child_job.py"
    script.write_text(CHILD)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "20"
