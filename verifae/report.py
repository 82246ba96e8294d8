"""`verifae report`: one page that shows, for every case, what was proved and how well.

The report is built in a temporary folder beside the target and moved into place
only when complete, so an interrupted run never leaves half a report and never
destroys the previous one; Ctrl-C or SIGTERM stops the workers at once and removes
the temporary folder. Each case runs in its own process (`jobs`); a case that is
invalid or raises does not stop the batch.

Results are cached in `<out>/.cache/<key>`, the key a hash of the case file's bytes
and name, the options, verifae's code and the versions of everything that can change
a result (numpy, python-flint, mpmath, PyTorch or its absence, matplotlib, Python).
A cache entry holds slug-independent files (the full result gzip'd, the compact
summary, the plots), so two case files with the same content share one entry.

What a report folder holds is kept small enough to commit: per case a compact
`<slug>.summary.json` and three plots; the full result `<slug>.json` (15 MB for a
784-64-784 model) only with `full_results`.

A case with a "verify" object (`verifae.cases.VerifySettings`) also gets a
verification section: its properties decided over the case's boxes with small
budgets, the tightest threshold proved per box, and the certified fraction against
eps, with a plot (`verification`).
"""

from __future__ import annotations

import contextlib
import decimal
import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._version import __version__
from .bound import activation_config, activation_label, bound, to_json
from .cases import DEFAULT_MAX_BYTES, Case, CaseError, LayeredCase, load_case
from .errors import VerifaeError
from .files import install_dir, make_temp_dir
from .workers import dask_client, terminate, worker_init

__all__ = ["ReportOptions", "CaseEntry", "collect_cases", "build_report", "exit_code", "environment", "cache_key"]

CACHE = ".cache"


@dataclass(frozen=True)
class ReportOptions:
    backend: str = "auto"
    precision: int | None = None
    runs: int = 1000
    seed: int = 0
    method: str = "auto"
    max_parts: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class CaseEntry:
    """One case of the report: its status and key figures (summary.json holds these)."""

    file: str
    slug: str
    name: str = ""
    description: str = ""
    status: str = "ok"  # ok | check-failed | invalid | error
    error: str = ""
    dims: str = ""
    activation: str = ""
    layered: bool = False  # a layered model (case format v2)
    boxes: int = 1
    output_max_width: float | None = None
    reconstruction_error: list | None = None
    largest_gradient_width: float | None = None
    float_runs: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False
    result: str = ""  # the full result, written only with full_results
    summary: str = ""  # the compact per-case summary
    plots: dict[str, str] = field(default_factory=dict)
    verification: dict | None = None  # the case's "verify" section (`verification`), if it asks for one


def collect_cases(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a folder means its *.json files, sorted. Raises CaseError if none."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise CaseError("no *.json case files in this folder", file=str(p))
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise CaseError("no such file or folder", file=str(p))
    return files


def _slugs(files: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for f in files:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f.stem).strip("-") or "case"
        seen[slug] = seen.get(slug, 0) + 1
        out.append(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}")
    return out


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """A hash of verifae's own source, so a changed verifae never reuses old results."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(f.relative_to(Path(__file__).parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _distribution(name: str, module: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        # Importable without package metadata (a source checkout on sys.path): present,
        # version unknown. Not importing it keeps this cheap (PyTorch takes a second).
        return "unknown version" if importlib.util.find_spec(module) is not None else None


def environment() -> dict[str, str | None]:
    """What besides the case, the options and verifae's code can change a result:
    the numerical libraries (None when absent: without PyTorch there are no PyTorch
    runs), matplotlib for the plots, and the Python version."""
    return {
        "python": platform.python_version(),
        "numpy": _distribution("numpy", "numpy"),
        "python-flint": _distribution("python-flint", "flint"),
        "mpmath": _distribution("mpmath", "mpmath"),
        "torch": _distribution("torch", "torch"),
        "matplotlib": _distribution("matplotlib", "matplotlib"),
    }


def cache_key(data: bytes, name: str, options: ReportOptions, env: dict | None = None) -> str:
    """A hash of the case file's bytes and name (the default case name), the options,
    the verifae code that runs and the environment."""
    h = hashlib.sha256()
    h.update(data)
    h.update(json.dumps({"name": name, "options": asdict(options), "verifae": __version__,
                         "environment": environment() if env is None else env}, sort_keys=True).encode())
    h.update(_code_fingerprint().encode())
    return h.hexdigest()[:32]


def _figures(entry: CaseEntry, doc: dict) -> None:
    real = doc["enclosures"].get("real") or next(iter(doc["enclosures"].values()))
    widths = [hi - lo for lo, hi in _finite_pairs(real["output"])]
    entry.output_max_width = max(widths) if widths else None
    entry.reconstruction_error = real["reconstruction_error"]
    gw = [hi - lo for g in real["gradients"].values() for lo, hi in _finite_pairs(g)]
    entry.largest_gradient_width = max(gw) if gw else None
    entry.boxes = doc.get("box_count", 1)
    checks = [b["float_check"] for b in doc["boxes"]] if "boxes" in doc else [doc.get("float_check")]
    for check in filter(None, checks):  # the runs of every box, added up
        for fmt, c in check.items():
            if fmt in ("float64", "float32"):
                total = entry.float_runs.setdefault(fmt, {"runs": 0, "outside": 0})
                total["runs"] += c["runs"]
                total["outside"] += c["outside"]


def _finite_pairs(nested: Any):
    if nested and isinstance(nested[0], list):
        for item in nested:
            yield from _finite_pairs(item)
    elif len(nested) == 2 and all(isinstance(v, float | int) for v in nested):
        yield nested


def _width(pair: list) -> float | str:
    lo, hi = pair
    if isinstance(lo, str) or isinstance(hi, str):
        return "inf"  # an unbounded endpoint ("-inf"/"inf")
    return hi - lo


def _width_stats(nested: Any) -> dict[str, Any]:
    pairs = list(_all_pairs(nested))
    if not pairs:
        return {"count": 0}
    widths = [_width(p) for p in pairs]
    finite = [w for w in widths if not isinstance(w, str)]
    worst = max(range(len(widths)), key=lambda i: float("inf") if isinstance(widths[i], str) else widths[i])
    return {"count": len(widths), "unbounded": len(widths) - len(finite),
            "min": min(finite) if finite else None,
            "median": statistics.median(finite) if finite else None,
            "max": widths[worst], "widest": worst}


def _all_pairs(nested: Any):
    if nested and isinstance(nested[0], list):
        for item in nested:
            yield from _all_pairs(item)
    elif len(nested) == 2:
        yield nested


def _check_summary(check: dict | None) -> dict | None:
    """A Float-run check without its per-coordinate observed ranges and samples."""
    if check is None:
        return None
    return {fmt: {k: v for k, v in c.items() if k not in ("observed", "error_samples")} for fmt, c in check.items()}


def case_summary(doc: dict) -> dict:
    """The compact per-case summary: every key figure of the full result, no vectors. A
    layered result (v2) gives per layer the width statistics of its pre- and
    post-activations and those of the latent, where v1 gives pre_activation and hidden."""
    def enclosure(e: dict) -> dict:
        if "layers" in e:
            found: dict[str, Any] = {
                "layers": [{"name": layer["name"], "pre_activation_width": _width_stats(layer["pre_activation"]),
                            "post_activation_width": _width_stats(layer["post_activation"])}
                           for layer in e["layers"]],
                "latent_width": _width_stats(e["latent"])}
        else:
            found = {"pre_activation_width": _width_stats(e["pre_activation"]),
                     "hidden_width": _width_stats(e["hidden"])}
        return {**found, "output_width": _width_stats(e["output"]),
                "reconstruction_error": e["reconstruction_error"],
                "gradient_width": {g: _width_stats(v) for g, v in e["gradients"].items()},
                "notes": e["notes"]}

    keep = ("format_version", "case", "description", "input_dim", "hidden_dim", "latent_dim", "layer_sizes",
            "architecture", "activation", "compression_ratio", "backend", "precision", "method", "grad_output",
            "status", "seconds", "verifae", "box_count")
    out = {k: doc[k] for k in keep if k in doc}
    out["enclosures"] = {s: enclosure(e) for s, e in doc["enclosures"].items()}
    out["float_check"] = _check_summary(doc.get("float_check"))
    if "boxes" in doc:
        out["boxes"] = [{"reconstruction_error": {s: e["reconstruction_error"] for s, e in b["enclosures"].items()},
                         "output_width": {s: _width_stats(e["output"]) for s, e in b["enclosures"].items()},
                         "float_check": _check_summary(b["float_check"])} for b in doc["boxes"]]
    out["note"] = "Compact summary; `verifae bound` or `verifae report --full-results` gives every interval."
    return out


def verification(case: Case | LayeredCase) -> dict:
    """The verification section of a case with a "verify" object: each property decided
    (`verifae.verify.verify`, seed 0) in each semantics over every box of the case, with
    the tightest threshold proved per box, and over the boxes of radius eps around the
    centers for each eps; every verdict within the case's budgets (`timeout` seconds and
    `max_parts` parts). A box of the sweep equal to one of the case's is decided once."""
    from .verify import verify
    from .verify.runs import json_float

    settings = case.verify
    assert settings is not None
    start = time.perf_counter()
    props = list(settings.properties)
    budget: dict[str, Any] = {"semantics": settings.semantics, "timeout": settings.timeout,
                              "max_parts": settings.max_parts, "seed": 0, "name": case.name}
    own = verify(case.spec, case.boxes, props, tightest=True, **budget)
    assert own.tightest is not None

    def key(box: Any) -> tuple:
        return tuple(box.lower), tuple(box.upper)

    decided = {key(box): verdicts for box, verdicts in zip(case.boxes, own.boxes)}
    sweeps = [settings.boxes_at(eps) for eps in settings.eps]
    todo = list({key(b): b for boxes in sweeps for b in boxes if key(b) not in decided}.values())
    if todo:
        decided.update(zip(map(key, todo), verify(case.spec, todo, props, **budget).boxes))

    def counts(per_box: list) -> dict[str, dict[str, int]]:
        return {S: {status: sum(v[S].status == status for v in per_box) for status in ("proved", "violated", "unknown")}
                for S in settings.semantics}

    properties = []
    for p, prop in enumerate(props):
        boxes = [{S: {"status": v.status, "bound": [json_float(v.lower), json_float(v.upper)], "parts": v.parts,
                      "tightest": json_float(t[S]["proved"]), "seen": json_float(t[S]["seen"])}
                  for S, v in per_box[p].items()} for per_box, t in zip(own.boxes, (t[p] for t in own.tightest))]
        eps = [{"eps": text, "counts": counts([decided[key(b)][p] for b in boxes_at])}
               for text, boxes_at in zip(settings.eps_text, sweeps)]
        properties.append({"property": prop.text, "sense": prop.sense, "counts": counts([v[p] for v in own.boxes]),
                           "boxes": boxes, "eps": eps})
    return {"semantics": list(settings.semantics), "timeout": settings.timeout, "max_parts": settings.max_parts,
            "boxes": len(case.boxes), "centers": len(settings.centers), "properties": properties,
            "seconds": round(time.perf_counter() - start, 3)}


# A cache entry's files, independent of the slug the case gets in a report.
_ENTRY, _RESULT, _SUMMARY = "entry.json", "result.json.gz", "summary.json"


def process_case(file: str, slug: str, options: ReportOptions, out: str, key: str | None,
                 full_results: bool = False) -> dict:
    """Run one case: its files go to a new cache entry `out/.cache/<key>`, then into `out`
    under `slug`. Return its entry.

    Never raises for a bad case: invalid input and exceptions become the entry's status.
    """
    from .plots import plot_verification, plots_for

    start = time.perf_counter()
    entry = CaseEntry(file=file, slug=slug, name=Path(file).stem)
    out_dir = Path(out)
    try:
        case = load_case(file, options.max_bytes, layered=True)
        entry.name, entry.description = case.name, case.description
        entry.dims, entry.activation = _architecture(case)
        entry.layered = isinstance(case, LayeredCase)
        result = bound(case, backend=options.backend, precision=options.precision, runs=options.runs,
                       seed=options.seed, method=options.method, max_parts=options.max_parts)
        doc = to_json(result)
        entry.status = doc["status"]
        _figures(entry, doc)
        if case.verify is not None:
            entry.verification = verification(case)
        # Never parents=True: once an interrupted report's folder is gone, a straggling
        # worker must fail here instead of recreating it.
        staging = make_temp_dir(out_dir / CACHE / (key or "uncached"))
        try:
            (staging / _RESULT).write_bytes(gzip.compress(json.dumps(doc).encode(), compresslevel=6, mtime=0))
            summary = case_summary(doc)
            if entry.verification is not None:
                summary["verification"] = entry.verification
            (staging / _SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
            for suffix, (plot, _) in plots_for(doc).items():
                plot(doc, staging / f"{suffix}.png")
                entry.plots[suffix] = f"{suffix}.png"
            if entry.verification is not None:
                plot_verification(entry.verification, staging / "verify.png", case.name)
                entry.plots["verify"] = "verify.png"
            entry.seconds = time.perf_counter() - start
            stored = asdict(entry)
            (staging / _ENTRY).write_text(json.dumps(stored))
            done = _materialize(stored, staging, out_dir, slug, file, full_results, cached=False)
            if key is None:
                shutil.rmtree(staging, ignore_errors=True)
            else:
                install_dir(staging, out_dir / CACHE / key)  # an identical entry may be there: fine
            return done
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except VerifaeError as exc:
        entry.status, entry.error = "invalid", str(exc)
    except Exception as exc:  # a bug: the batch goes on, and the report shows it
        entry.status = "error"
        entry.error = f"internal error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
    entry.seconds = time.perf_counter() - start
    return asdict(entry)


def _architecture(case: Case | LayeredCase) -> tuple[str, str]:
    """(dims, activation) of a case's row: "64-16-64" and "tanh" for a v1 case;
    "64-32-8-32-64" and the layers' activations, "relu,relu,…", for a layered one."""
    if isinstance(case, LayeredCase):
        labels = [activation_label(activation_config(layer.activation)) for layer in case.spec.layers]
        return "-".join(map(str, case.spec.layer_sizes)), ",".join(labels)
    spec = case.spec
    return f"{spec.input_dim}-{spec.hidden_dim}-{spec.input_dim}", activation_label(spec.activation_config)


def _materialize(stored: dict, src: Path, out_dir: Path, slug: str, file: str, full_results: bool,
                 cached: bool) -> dict:
    """Copy a cache entry's files into the report under `slug`; return the case's entry."""
    entry = dict(stored, file=file, slug=slug, cached=cached, plots={}, result="", summary="")
    for suffix, name in stored["plots"].items():
        entry["plots"][suffix] = f"{slug}-{suffix}.png"
        shutil.copyfile(src / name, out_dir / entry["plots"][suffix])
    entry["summary"] = f"{slug}.summary.json"
    shutil.copyfile(src / _SUMMARY, out_dir / entry["summary"])
    if full_results:
        entry["result"] = f"{slug}.json"
        with gzip.open(src / _RESULT, "rb") as f, open(out_dir / entry["result"], "wb") as g:
            shutil.copyfileobj(f, g)
    return entry


def _from_cache(old: Path, new_cache: Path, key: str, slug: str, file: str, out_dir: Path,
                full_results: bool) -> dict | None:
    """The entry of a case from the previous report's cache, carried over into the new
    report's cache; None if absent or unreadable (then the case is recomputed)."""
    src = old / key
    try:
        stored = json.loads((src / _ENTRY).read_text())
        target = new_cache / key
        if not target.exists():
            staging = make_temp_dir(target)
            try:
                shutil.copytree(src, staging, dirs_exist_ok=True)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            install_dir(staging, target)
        return _materialize(stored, target, out_dir, slug, file, full_results, cached=True)
    except (OSError, ValueError, KeyError, VerifaeError):
        return None


def exit_code(entries: list[dict]) -> int:
    """2 if any case was invalid, 3 if one raised (a bug), 1 if a check failed, else 0."""
    statuses = {e["status"] for e in entries}
    if "invalid" in statuses:
        return 2
    if "error" in statuses:
        return 3
    if "check-failed" in statuses:
        return 1
    return 0


class _Progress:
    """One line on stderr (a terminal only): cases done of all, ETA, which are running,
    and the last one finished, marked "(cached)" when it came from the cache."""

    def __init__(self, total: int, show: bool) -> None:
        self.total, self.show, self.done = total, show, 0
        self.running: list[str] = []
        self.last = ""
        self.start = time.monotonic()
        self.computed_time = 0.0
        self.computed = 0

    def begin(self, name: str) -> None:
        self.running.append(name)
        self._render()

    def finish(self, name: str, cached: bool = False) -> None:
        if name in self.running:
            self.running.remove(name)
        self.done += 1
        self.last = f"{name} (cached)" if cached else name
        self._render()

    def _render(self) -> None:
        if not self.show:
            return
        elapsed = time.monotonic() - self.start
        parts = [f"cases {self.done}/{self.total}", f"{elapsed:4.0f} s"]
        if self.running:
            parts.append("running " + ", ".join(self.running))
        if self.last:
            parts.append("done " + self.last)
        width = shutil.get_terminal_size((100, 20)).columns - 1
        line = " · ".join(parts)
        line = line if len(line) <= width else line[: width - 1] + "…"
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()

    def close(self) -> None:
        if self.show:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


_QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def _run_local(tasks: list[tuple], jobs: int, progress: _Progress) -> dict[int, dict]:
    results: dict[int, dict] = {}
    if jobs <= 1 or len(tasks) <= 1:
        for i, t in tasks:
            progress.begin(t[1])
            results[i] = process_case(*t)
            progress.finish(t[1])
        return results
    # Workers ended mid-case leave their PyTorch process's semaphores registered; the
    # resource tracker (a child, reading this variable at start) would then print a
    # warning under the one-line "interrupted".
    if _QUIET_TRACKER not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), _QUIET_TRACKER]))
    # "spawn", not fork: a forked child of a process that has started threads (BLAS,
    # PyTorch's pool) can deadlock on a lock held by a thread that does not exist in it.
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_init)
    try:
        # At most `jobs` cases in flight, so the progress line names the running ones
        # and an interrupt has nothing queued to cancel.
        queue = list(tasks)
        running: dict[Future, tuple[int, tuple]] = {}
        while queue or running:
            while queue and len(running) < jobs:
                i, t = queue.pop(0)
                running[pool.submit(process_case, *t)] = (i, t)
                progress.begin(t[1])
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                i, t = running.pop(f)
                results[i] = f.result()
                progress.finish(t[1])
    except BaseException:
        terminate(pool)
        raise
    pool.shutdown(wait=True)
    return results


def _run_dask(client: Any, tasks: list[tuple], progress: _Progress) -> dict[int, dict]:
    from distributed import as_completed as dask_as_completed

    futures = {}
    for i, t in tasks:
        futures[client.submit(process_case, *t, pure=False)] = (i, t)
        progress.begin(t[1])
    results: dict[int, dict] = {}
    try:
        for f in dask_as_completed(list(futures)):
            i, t = futures[f]
            results[i] = f.result()
            progress.finish(t[1])
    except BaseException:
        client.cancel(list(futures))
        raise
    return results


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """SIGTERM becomes SystemExit(143), so `finally` blocks clean up as for Ctrl-C.

    Only in the main thread, and only where nobody else handles SIGTERM already.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminated(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore a second Ctrl-C while cleaning up after the first, which would leave the
    temporary folder behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def build_report(
    cases: Iterable[str | Path],
    out: str | Path,
    options: ReportOptions = ReportOptions(),
    *,
    jobs: int | None = None,
    use_cache: bool = True,
    scheduler: str | None = None,
    scheduler_timeout: float = 30.0,
    progress: bool | None = None,
    full_results: bool = False,
) -> tuple[list[dict], int]:
    """Build the report of `cases` into folder `out`; return the entries and the exit code.

    With `scheduler` (a dask.distributed scheduler address, the extra `dask`), cases
    run on that cluster instead of local processes; its workers must see `out`'s
    parent folder (a shared filesystem), where they write each case's files.
    `full_results` also writes each case's full result JSON (large for big models).
    """
    files = collect_cases(cases)
    out = Path(out)
    jobs = jobs or os.cpu_count() or 1
    out.parent.mkdir(parents=True, exist_ok=True)
    client = dask_client(scheduler, scheduler_timeout) if scheduler else None
    try:
        with _signals():
            tmp = make_temp_dir(out)
            try:
                entries, code = _build(files, out, tmp, options, jobs, use_cache, client, progress, full_results)
                _swap_into_place(tmp, out)
            except BaseException:
                with _no_interrupts():
                    shutil.rmtree(tmp, ignore_errors=True)
                raise
    finally:
        if client is not None:
            client.close()
    return entries, code


def _build(files: list[Path], out: Path, tmp: Path, options: ReportOptions, jobs: int, use_cache: bool,
           client: Any, progress: bool | None, full_results: bool) -> tuple[list[dict], int]:
    new_cache = tmp / CACHE
    new_cache.mkdir()
    old_cache = out / CACHE if use_cache and (out / CACHE).is_dir() else None
    env = environment()
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(len(files), show)
    entries: dict[int, dict] = {}
    todo: list[tuple[int, tuple]] = []
    try:
        for i, (f, slug) in enumerate(zip(files, _slugs(files))):
            try:
                key: str | None = cache_key(f.read_bytes(), f.stem, options, env)
            except OSError:
                key = None  # unreadable: the case reports why
            hit = None
            if key is not None and old_cache is not None:
                hit = _from_cache(old_cache, new_cache, key, slug, str(f), tmp, full_results)
            if hit is not None:
                entries[i] = hit
                bar.finish(slug, cached=True)
            else:
                todo.append((i, (str(f), slug, options, str(tmp), key, full_results)))
        # Largest files first: the long cases start at once instead of last on one core.
        todo.sort(key=lambda it: -_size(it[1][0]))
        entries.update(_run_dask(client, todo, bar) if client is not None else _run_local(todo, jobs, bar))
    finally:
        bar.close()
    ordered = [entries[i] for i in range(len(files))]
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    code = exit_code(ordered)
    summary = {"verifae": __version__, "generated": started, "options": asdict(options), "environment": env,
               "exit_code": code, "cases": ordered}
    (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (tmp / "index.md").write_text(render_markdown(summary))
    (tmp / "index.html").write_text(render_html(summary))
    return ordered, code


def _size(file: str) -> int:
    try:
        return os.path.getsize(file)
    except OSError:
        return 0


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Replace `out` by the finished `tmp`: the old report survives until the new one is in place."""
    with _no_interrupts():
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)


# ---------------------------------------------------------------- rendering


def _fmt(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.4g}"


def _interval(pair: list | None) -> str:
    return "—" if not pair else f"[{_fmt(pair[0])}, {_fmt(pair[1])}]"


def _runs(entry: dict) -> str:
    if not entry["float_runs"]:
        return "—"
    total = sum(v["runs"] for v in entry["float_runs"].values())
    outside = sum(v["outside"] for v in entry["float_runs"].values())
    return f"{total} runs, {outside} outside"


COLUMNS = ("case", "dims", "activation", "status", "output width", "reconstruction error",
           "largest gradient width", "float runs", "time")


def _row(e: dict) -> list[str]:
    name = e["name"] + (f" ({e['boxes']} boxes; figures of box 0)" if e.get("boxes", 1) > 1 else "")
    return [name, e["dims"] or "—", e["activation"] or "—", e["status"], _fmt(e["output_max_width"]),
            _interval(e["reconstruction_error"]), _fmt(e["largest_gradient_width"]), _runs(e),
            f"{e['seconds']:.2f} s" + (" (cached)" if e.get("cached") else "")]


def render_markdown(summary: dict) -> str:
    o = summary["options"]
    lines = [
        "# verifae report",
        "",
        f"{len(summary['cases'])} cases · backend {o['backend']} · method {o['method']} · {o['runs']} float-run "
        f"points per case · verifae {summary['verifae']} · {summary['generated']}",
        "",
        "Widths and the reconstruction-error interval are of the real enclosure.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for e in summary["cases"]:
        row = _row(e)
        row[0] = f"[{row[0]}](#{e['slug']})"
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    for e in summary["cases"]:
        lines += ["", f"## {e['name']}", "", f"<a id=\"{e['slug']}\"></a>"]
        if e["description"]:
            lines += ["", e["description"]]
        if e["error"]:
            lines += ["", "```", e["error"].strip(), "```"]
        for suffix, name in e["plots"].items():
            if suffix != "verify":
                lines += ["", f"![{e['name']} {suffix}]({name})"]
        if e.get("verification"):
            intro, tables = verification_tables(e["verification"])
            lines += ["", "### Verification", "", intro]
            for head, rows in tables:
                lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
            if "verify" in e["plots"]:
                lines += ["", f"![{e['name']} verify]({e['plots']['verify']})"]
        links = [f"[{e[k]}]({e[k]})" for k in ("summary", "result") if e.get(k)]
        if links:
            lines += ["", "Key figures: " + " · full result: ".join(links)]
    return "\n".join(lines) + "\n"


def _outward(v: float | str, up: bool) -> str:
    """4 significant digits rounded outward (up for an upper end, down for a lower
    one), so that a printed bound or proved threshold still holds."""
    if isinstance(v, str) or not math.isfinite(v):
        return str(v)
    rounding = decimal.ROUND_CEILING if up else decimal.ROUND_FLOOR
    return format(decimal.Context(prec=4, rounding=rounding).create_decimal(v), "g")


def verification_tables(v: dict) -> tuple[str, list[tuple[list[str], list[list[str]]]]]:
    """The verification section of a case as a sentence and tables (header, rows): the
    counts per property and semantics, the verdict and tightest threshold per box, and
    the certified fraction per eps. Markdown and HTML render the same tables."""
    semantics = ", ".join(v["semantics"])
    boxes = f"{v['boxes']} box" + ("es" if v["boxes"] != 1 else "")
    intro = (f"Each property decided over the case's {boxes} in {semantics}, at most "
             f"{v['max_parts']} parts or {v['timeout']:g} s per verdict ({v['seconds']:.2f} s in all). "
             "A bound is the enclosure of the property's value over the box; the tightest threshold is the "
             "best one branch and bound proves within the same budget, and the float64 runs of the "
             "counterexample search reach the value beside it: the true extreme lies between the two.")
    counts = (["property", "semantics", "proved", "violated", "unknown"],
              [[p["property"], S, *(str(c[s]) for s in ("proved", "violated", "unknown"))]
               for p in v["properties"] for S, c in p["counts"].items()])
    per_box = (["box", "property", "semantics", "verdict", "bound", "tightest threshold proved", "runs reach"],
               [[str(b), p["property"], S, r["status"], f"[{_outward(r['bound'][0], False)}, "
                 f"{_outward(r['bound'][1], True)}]",
                 f"{p['sense']} {_outward(r['tightest'], p['sense'] == '<=')}", _fmt(r["seen"])]
                for p in v["properties"] for b, box in enumerate(p["boxes"]) for S, r in box.items()])
    tables = [counts, per_box]
    if any(p["eps"] for p in v["properties"]):
        centers = f"{v['centers']} center" + ("s" if v["centers"] != 1 else "")
        intro += f" The certified fraction: of the boxes of radius eps around the {centers}, the share proved."
        tables.append((["eps", "property", "semantics", "proved", "violated", "unknown", "certified fraction"],
                       [[row["eps"], p["property"], S, *(str(c[s]) for s in ("proved", "violated", "unknown")),
                         f"{c['proved']}/{v['centers']}"]
                        for p in v["properties"] for row in p["eps"] for S, c in row["counts"].items()]))
    return intro, tables


CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f8; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { border-radius: 3px; padding: 1px 6px; color: #fff; font-weight: 600; }
.ok { background: #2e7d32; } .check-failed { background: #c62828; } .invalid { background: #ef6c00; }
.error { background: #6a1b9a; }
table.verify { width: auto; margin: .6em 0; }
section { border-top: 2px solid #eee; margin-top: 2em; padding-top: .5em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 12px; } pre { background: #fafafa; padding: .6em; overflow-x: auto; }
.meta { color: #555; }
"""


def render_html(summary: dict) -> str:
    from .plots import LAYERED_PLOTS, PLOTS, VERIFY_CAPTION

    esc = html.escape
    o = summary["options"]
    rows = []
    for e in summary["cases"]:
        cells = [esc(c) for c in _row(e)]
        cells[0] = f'<a href="#{esc(e["slug"])}">{cells[0]}</a>'
        cells[3] = f'<span class="status {esc(e["status"])}">{cells[3]}</span>'
        rows.append("<tr>" + "".join(
            f'<td class="num">{c}</td>' if i >= 4 else f"<td>{c}</td>" for i, c in enumerate(cells)) + "</tr>")
    sections = []
    for e in summary["cases"]:
        parts = [f'<section id="{esc(e["slug"])}">', f"<h2>{esc(e['name'])} "
                 f'<span class="status {esc(e["status"])}">{esc(e["status"])}</span></h2>']
        if e["description"]:
            parts.append(f"<p>{esc(e['description'])}</p>")
        parts.append(f'<p class="meta">file {esc(e["file"])} · {esc(e["dims"] or "—")} {esc(e["activation"])} · '
                     f"reconstruction error {esc(_interval(e['reconstruction_error']))} · {esc(_runs(e))} · "
                     f"{e['seconds']:.2f} s{' (cached)' if e.get('cached') else ''}</p>")
        if e["error"]:
            parts.append(f"<pre>{esc(e['error'].strip())}</pre>")
        for suffix, name in e["plots"].items():
            if suffix == "verify":
                continue
            caption = (LAYERED_PLOTS if e.get("layered") else PLOTS)[suffix][1]
            parts.append(f'<figure><img src="{esc(name)}" alt="{esc(e["name"])}: {esc(caption)}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
        if e.get("verification"):
            intro, tables = verification_tables(e["verification"])
            parts += ["<h3>Verification</h3>", f"<p>{esc(intro)}</p>"]
            for head, body in tables:
                parts.append('<table class="verify"><thead><tr>' + "".join(f"<th>{esc(c)}</th>" for c in head)
                             + "</tr></thead><tbody>" + "".join(
                                 "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in body)
                             + "</tbody></table>")
            if "verify" in e["plots"]:
                parts.append(f'<figure><img src="{esc(e["plots"]["verify"])}" alt="{esc(e["name"])}: '
                             f'{esc(VERIFY_CAPTION)}"><figcaption>{esc(VERIFY_CAPTION)}</figcaption></figure>')
        links = [f'<a href="{esc(e[k])}">{what} ({esc(e[k])})</a>'
                 for k, what in (("summary", "key figures"), ("result", "full result")) if e.get(k)]
        if links:
            parts.append(f"<p>{' · '.join(links)}</p>")
        parts.append("</section>")
        sections.append("\n".join(parts))
    header = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    counts = {s: sum(e["status"] == s for e in summary["cases"]) for s in ("ok", "check-failed", "invalid", "error")}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>verifae report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>verifae report</h1>
<p class="meta">{len(summary['cases'])} cases ({esc(tally)}) · backend {esc(str(o['backend']))} · method
{esc(str(o['method']))} · {o['runs']} float-run points per case · verifae {esc(summary['verifae'])} ·
{esc(summary['generated'])}. Widths and the reconstruction-error interval are of the real enclosure;
float runs are float64 and float32 runs of numpy, explicit loops and PyTorch checked against their own
format's enclosure.</p>
<table id="summary"><thead><tr>{header}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
{chr(10).join(sections)}
</body></html>
"""
