"""Wall time of `verifae bound` on a case, as a user runs it (a fresh process each time).

    python benchmarks/bound_speed.py [CASE.json] [--repeat 3] [--runs 1000] [--compare DIR]

Times, in fresh processes, the default command (table output) and `--format json -o
FILE`, and the import of the CLI (wall seconds, and CPU seconds with PyTorch's
process); with `--compare DIR` (another checkout, say the commit before a change)
the same commands under PYTHONPATH=DIR, interleaved with
these round by round, so both see the same load. Prints each median (and the least
wall time: on a shared machine, the run least slowed by other jobs), then where the
time goes inside one run of this checkout (case loading, each semantics' enclosure,
the parts of the Float-run check, writing the JSON), started as the command starts
it (PyTorch's process before the case is read, the enclosures' JSON text written
while the check waits for that process). Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _wall(command: list[str], pythonpath: str, cwd: str) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the process and its children (PyTorch's process):
    the CPU time hardly depends on the load of a shared machine. `cwd` holds no checkout:
    `python -m` puts the working directory before PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "large-784-64-784.json"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--compare", default=None, help="another checkout, timed interleaved with this one")
    args = parser.parse_args()
    args.case = str(Path(args.case).resolve())
    elsewhere = tempfile.mkdtemp()
    out = Path(elsewhere) / "result.json"
    bound = [sys.executable, "-m", "verifae", "bound", args.case, "--runs", str(args.runs)]
    commands = {
        "import verifae.cli": [sys.executable, "-c", "import verifae.cli"],
        "bound (table)": bound,
        "bound --format json -o FILE": [*bound, "--format", "json", "-o", str(out)],
    }
    trees = {"this": str(ROOT)} | ({"compare": args.compare} if args.compare else {})
    walls: dict[tuple[str, str], list[tuple[float, float]]] = {(t, c): [] for t in trees for c in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            for tree, path in trees.items():
                walls[(tree, name)].append(_wall(command, str(Path(path).resolve()), elsewhere))
    for name in commands:
        line = "  ".join(f"{tree} {statistics.median(w for w, _ in walls[(tree, name)]):.2f} s "
                         f"(min {min(w for w, _ in walls[(tree, name)]):.2f} s, "
                         f"CPU {statistics.median(c for _, c in walls[(tree, name)]):.2f} s)" for tree in trees)
        print(f"median wall over {args.repeat}, {name}: {line}")

    # inside one process of this checkout
    sys.path.insert(0, str(ROOT))
    start = time.perf_counter()
    import json

    from verifae import torch_runs
    from verifae.bound import bound as bound_case
    from verifae.bound import to_json, to_json_text
    from verifae.cases import load_case

    print(f"in one process: import {time.perf_counter() - start:.2f} s", end="")
    start = time.perf_counter()
    torch_runs.start()  # as `verifae bound` does for a big model file, before reading it
    case = load_case(args.case, layered=True)
    print(f", load {time.perf_counter() - start:.2f} s")
    result = bound_case(case, runs=args.runs, json_ahead=True)
    torch_runs.stop()
    for k, v in result.timings.items():
        print(f"  {k}: {v:.2f} s")
    start = time.perf_counter()
    text = to_json_text(result)
    middle = time.perf_counter()
    ahead, result.json_texts = result.json_texts, {}
    whole = to_json_text(result)
    end = time.perf_counter()
    same = json.dumps(to_json(result)) == text == whole
    print(f"  JSON text after the check: {middle - start:.2f} s with the enclosures' text written ahead "
          f"({len(ahead)} arrays), {end - middle:.2f} s all of it (json.dumps(to_json(...)): "
          f"{time.perf_counter() - end:.2f} s, {'the same text' if same else 'A DIFFERENT TEXT'}, "
          f"{len(text) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
