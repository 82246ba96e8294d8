"""Time of `enclose(..., method="linear")` (and the others) on one box, this checkout against another.

    OMP_NUM_THREADS=1 python benchmarks/linear_speed.py [CASE.json] [--old DIR] [--rounds 9]
        [--methods linear,auto] [--semantics real,float64,float32]

`--old DIR` is another checkout (say main at the commit before a change: `git worktree
add DIR COMMIT`); its package `DIR/verifae` is copied under the name `verifae_old`
into a temporary folder and imported beside this one (the package imports itself
relatively), so both run in one process, round by round interleaved: each round times
every (method, semantics) once with each version, after a warm-up call that converts
the parameters once per spec. Prints the median wall and CPU time (process_time: the
machine may be shared) of each, and the ratio old/new of the CPU medians. The same box
is used every time, as a user enclosing a box would: no method keeps a result on the
box (`Box.derived` holds conversions only), so a repeat is as costly as the first call.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _versions(old: str | None) -> dict[str, Any]:
    versions: dict[str, Any] = {"new": importlib.import_module("verifae")}
    if old:
        folder = tempfile.mkdtemp()
        shutil.copytree(Path(old) / "verifae", Path(folder) / "verifae_old")
        sys.path.insert(0, folder)
        versions["old"] = importlib.import_module("verifae_old")
    return versions


def _time(call: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "large-784-64-784.json"))
    parser.add_argument("--old", default=None, help="another checkout, timed interleaved with this one")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--methods", default="interval,linear,mean-value,auto")
    parser.add_argument("--semantics", default="real,float64,float32")
    args = parser.parse_args()
    versions = _versions(args.old)
    loaded = {name: v.cases.load_case(args.case) for name, v in versions.items()}
    runs = [(m, s) for m in args.methods.split(",") for s in args.semantics.split(",")]

    def call(name: str, method: str, semantics: str) -> Any:
        case = loaded[name]
        return lambda: versions[name].enclose(case.spec, case.boxes[0], method=method, semantics=semantics)

    for name in versions:  # warm-up: parameter conversions, caches of the spec, imports
        for method, semantics in runs:
            call(name, method, semantics)()
    times: dict[tuple[str, str, str], list[tuple[float, float]]] = {
        (name, m, s): [] for name in versions for m, s in runs}
    for _ in range(args.rounds):
        for method, semantics in runs:
            for name in versions:
                times[(name, method, semantics)].append(_time(call(name, method, semantics)))
    print(f"{args.case}, median of {args.rounds} interleaved rounds, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}, load average {os.getloadavg()[0]:.1f}")
    print("| method | semantics | " + " | ".join(f"{n} wall / CPU" for n in versions)
          + (" | ratio old/new (CPU) |" if "old" in versions else " |"))
    print("|---|---|" + "---|" * (len(versions) + ("old" in versions)))
    for method, semantics in runs:
        med = {n: tuple(statistics.median(t[k] for t in times[(n, method, semantics)]) * 1e3 for k in (0, 1))
               for n in versions}
        cells = " | ".join(f"{med[n][0]:.1f} / {med[n][1]:.1f} ms" for n in versions)
        ratio = f" | {med['old'][1] / med['new'][1]:.2f}× |" if "old" in versions else " |"
        print(f"| {method} | {semantics} | {cells}{ratio}")


if __name__ == "__main__":
    main()
