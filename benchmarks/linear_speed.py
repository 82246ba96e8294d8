"""Time of `enclose(..., method="linear")` (and the others) on one box, this checkout against another.

    OMP_NUM_THREADS=1 python benchmarks/linear_speed.py [CASE.json] [--old DIR] [--rounds 9]
        [--calls 3] [--methods interval,linear,mean-value,auto] [--semantics real,float64,float32]
        [--in-process] [--layered]

`--old DIR` is another checkout (say main at the commit before a change: `git worktree
add DIR COMMIT`). Each round starts one process per version (PYTHONPATH=DIR, outside
any checkout: `python` puts the script's folder first, not the working directory) that
encloses the case's first box once with every (method, semantics) as a warm-up (the
parameters are converted once per spec), then times `--calls` more calls of each; the
versions alternate round by round, so both see the same load. Prints the median wall
and CPU time (process_time: the machine may be shared) of each over all rounds and
calls, and the ratio old/new of the CPU medians. `--layered` encloses the case as a
layered model (a v1 case through `LayeredSpec.from_v1`): `enclose_layered`.

Separate processes, because at this size the time depends on the allocator's state:
a fresh d × d array is about 1200 page faults (glibc returns freed memory at the top of
the heap to the system), and two versions in one process disturb each other's heap.
`--in-process` runs both in this process instead (the old package copied under the name
`verifae_old`), interleaved call by call. The same box is used every time, as a user
enclosing a box would: no method keeps a result on the box (`Box.derived` holds
conversions only), so a repeat is as costly as the first call.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

Times = dict[str, list[tuple[float, float]]]  # "method semantics" -> (wall, CPU) seconds per call


def _time(call: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _measure(package: Any, case_path: str, runs: list[tuple[str, str]], calls: int, warm: bool = True,
             layered: bool = False) -> Times:
    """Every (method, semantics) once as a warm-up, then `calls` timed calls of each."""
    case = package.cases.load_case(case_path, layered=layered)
    spec = case.spec
    if layered and not isinstance(spec, package.LayeredSpec):
        spec = package.LayeredSpec.from_v1(spec)

    def call(method: str, semantics: str) -> Any:
        return lambda: package.enclose(spec, case.boxes[0], method=method, semantics=semantics)

    if warm:
        for method, semantics in runs:
            call(method, semantics)()
    out: Times = {f"{m} {s}": [] for m, s in runs}
    for _ in range(calls):
        for method, semantics in runs:
            out[f"{method} {semantics}"].append(_time(call(method, semantics)))
    return out


def _child(args: argparse.Namespace, runs: list[tuple[str, str]]) -> None:
    print(json.dumps(_measure(importlib.import_module("verifae"), args.case, runs, args.calls, layered=args.layered)))


def _subprocess_round(tree: str, args: argparse.Namespace) -> Times:
    env = {**os.environ, "PYTHONPATH": tree}
    command = [sys.executable, str(Path(__file__).resolve()), args.case, "--child", "--calls", str(args.calls),
               "--methods", args.methods, "--semantics", args.semantics, *(["--layered"] if args.layered else [])]
    done = subprocess.run(command, check=True, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    return {key: [tuple(t) for t in value] for key, value in json.loads(done.stdout.splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "large-784-64-784.json"))
    parser.add_argument("--old", default=None, help="another checkout, timed interleaved with this one")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=3, help="timed calls of each (method, semantics) per round")
    parser.add_argument("--methods", default="interval,linear,mean-value,auto")
    parser.add_argument("--semantics", default="real,float64,float32")
    parser.add_argument("--in-process", action="store_true", help="both versions in this process")
    parser.add_argument("--layered", action="store_true", help="enclose the case as a layered model")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.case = str(Path(args.case).resolve())
    runs = [(m, s) for m in args.methods.split(",") for s in args.semantics.split(",")]
    if args.child:
        _child(args, runs)
        return
    trees = {"new": str(ROOT)} | ({"old": str(Path(args.old).resolve())} if args.old else {})
    times: dict[str, Times] = {name: {f"{m} {s}": [] for m, s in runs} for name in trees}
    if args.in_process:
        sys.path.insert(0, str(ROOT))
        packages = {"new": importlib.import_module("verifae")}
        if args.old:
            folder = tempfile.mkdtemp()
            shutil.copytree(Path(args.old) / "verifae", Path(folder) / "verifae_old")
            sys.path.insert(0, folder)
            packages["old"] = importlib.import_module("verifae_old")
        for package in packages.values():
            _measure(package, args.case, runs, 0, layered=args.layered)  # the warm-up only
        for _ in range(args.rounds):
            for name, package in packages.items():
                for key, found in _measure(package, args.case, runs, args.calls, False, args.layered).items():
                    times[name][key] += found
    else:
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for key, found in _subprocess_round(tree, args).items():
                    times[name][key] += found
    where = "in one process" if args.in_process else "a process per version and round"
    print(f"{Path(args.case).name}: medians of {args.rounds} interleaved rounds × {args.calls} calls ({where}), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load average {os.getloadavg()[0]:.1f}")
    print("| method | semantics | " + " | ".join(f"{n}: wall / CPU" for n in trees)
          + (" | old/new (CPU) |" if "old" in trees else " |"))
    print("|---|---|" + "---|" * (len(trees) + ("old" in trees)))
    for method, semantics in runs:
        key = f"{method} {semantics}"
        med = {n: [statistics.median(t[k] for t in times[n][key]) * 1e3 for k in (0, 1)] for n in trees}
        cells = " | ".join(f"{med[n][0]:.1f} / {med[n][1]:.1f} ms" for n in trees)
        ratio = f" | {med['old'][1] / med['new'][1]:.2f}× |" if "old" in trees else " |"
        print(f"| {method} | {semantics} | {cells}{ratio}")


if __name__ == "__main__":
    main()
