"""Wall time of `verifae bound` on a case, as a user runs it (a fresh process each time).

    python benchmarks/bound_speed.py [CASE.json] [--repeat 3] [--runs 1000]

Prints each run's wall time, the median, and where the time goes inside one run
(case loading, each semantics' enclosure, the Float-run check).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "large-784-64-784.json"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    command = [sys.executable, "-m", "verifae", "bound", args.case, "--runs", str(args.runs),
               "--format", "json", "-o", "/dev/null"]
    walls = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True)
        walls.append(time.perf_counter() - start)
        print(f"wall {walls[-1]:.2f} s")
    print(f"median wall time over {args.repeat}: {statistics.median(walls):.2f} s  ({' '.join(command[2:5])})")

    from verifae.bound import bound
    from verifae.cases import load_case

    start = time.perf_counter()
    case = load_case(args.case)
    print(f"in one process: load {time.perf_counter() - start:.2f} s", end="")
    result = bound(case, runs=args.runs)
    print("".join(f", {k} {v:.2f} s" for k, v in result.timings.items()))


if __name__ == "__main__":
    main()
