"""`verifae report`: one page that shows, for every case, what was proved and how well.

The report is built in a temporary folder beside the target and moved into place
only when complete, so an interrupted run never leaves half a report and never
destroys the previous one. Each case runs in its own process (`jobs`); a case
that is invalid or raises does not stop the batch. Results are cached by a hash of
the case file's bytes and the options, so re-running on unchanged inputs reuses them.
"""

from __future__ import annotations

import hashlib
import html
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ._version import __version__
from .bound import bound, to_json
from .cases import DEFAULT_MAX_BYTES, CaseError, load_case
from .errors import VerifaeError

__all__ = ["ReportOptions", "CaseEntry", "collect_cases", "build_report", "exit_code"]

CACHE = ".cache"


@dataclass(frozen=True)
class ReportOptions:
    backend: str = "auto"
    precision: int | None = None
    runs: int = 1000
    seed: int = 0
    method: str = "auto"
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
    boxes: int = 1
    output_max_width: float | None = None
    reconstruction_error: list | None = None
    largest_gradient_width: float | None = None
    float_runs: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False
    result: str = ""
    plots: dict[str, str] = field(default_factory=dict)


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


def _code_fingerprint() -> str:
    """A hash of verifae's own source, so a changed verifae never reuses old results."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(data: bytes, options: ReportOptions) -> str:
    """A hash of the case file's bytes, the options and the verifae code that ran."""
    h = hashlib.sha256()
    h.update(data)
    h.update(json.dumps({**asdict(options), "verifae": __version__}, sort_keys=True).encode())
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


def process_case(file: str, slug: str, options: ReportOptions, out: str, old_cache: str | None) -> dict:
    """Run one case into folder `out` (the result JSON and its plots); return its entry.

    Never raises for a bad case: invalid input and exceptions become the entry's status.
    """
    from .plots import PLOTS

    start = time.perf_counter()
    entry = CaseEntry(file=file, slug=slug, name=Path(file).stem)
    out_dir = Path(out)
    try:
        data = Path(file).read_bytes() if Path(file).is_file() else b""
        key = cache_key(data, options)
        cached = Path(old_cache) / key if old_cache else None
        new_cache = out_dir / CACHE / key
        if cached is not None and (cached / "entry.json").is_file():
            shutil.copytree(cached, new_cache)
            stored = json.loads((new_cache / "entry.json").read_text())
            for name in [stored["result"], *stored["plots"].values()]:
                shutil.copyfile(new_cache / name, out_dir / name)
            stored["cached"] = True
            return stored
        case = load_case(file, options.max_bytes)
        entry.name, entry.description = case.name, case.description
        spec = case.spec
        entry.dims, entry.activation = f"{spec.input_dim}-{spec.hidden_dim}-{spec.input_dim}", spec.activation
        result = bound(case, backend=options.backend, precision=options.precision, runs=options.runs,
                       seed=options.seed, method=options.method)
        doc = to_json(result)
        entry.status = doc["status"]
        _figures(entry, doc)
        entry.result = f"{slug}.json"
        (out_dir / entry.result).write_text(json.dumps(doc) + "\n")
        for suffix, (plot, _) in PLOTS.items():
            name = f"{slug}-{suffix}.png"
            plot(doc, out_dir / name)
            entry.plots[suffix] = name
        entry.seconds = time.perf_counter() - start
        new_cache.mkdir(parents=True)
        for name in [entry.result, *entry.plots.values()]:
            shutil.copyfile(out_dir / name, new_cache / name)
        (new_cache / "entry.json").write_text(json.dumps(asdict(entry)))
    except VerifaeError as exc:
        entry.status, entry.error = "invalid", str(exc)
    except Exception as exc:  # a bug: the batch goes on, and the report shows it
        entry.status = "error"
        entry.error = f"internal error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
    entry.seconds = time.perf_counter() - start
    return asdict(entry)


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


def _run_all(tasks: list[tuple], jobs: int, submit: Callable | None, tick: Callable[[], None]) -> list[dict]:
    if submit is not None:  # an external engine (Dask): submit(fn, *args) -> future
        futures = [submit(process_case, *t) for t in tasks]
        results = []
        for f in futures:
            results.append(f.result())
            tick()
        return results
    if jobs <= 1 or len(tasks) <= 1:
        results = []
        for t in tasks:
            results.append(process_case(*t))
            tick()
        return results
    results_by_index: dict[int, dict] = {}
    # "spawn", not fork: a forked child of a process that has started threads (BLAS,
    # PyTorch's pool) can deadlock on a lock held by a thread that does not exist in it.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(process_case, *t): i for i, t in enumerate(tasks)}
        for f in as_completed(futures):
            results_by_index[futures[f]] = f.result()
            tick()
    return [results_by_index[i] for i in range(len(tasks))]


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
) -> tuple[list[dict], int]:
    """Build the report of `cases` into folder `out`; return the entries and the exit code.

    With `scheduler` (a dask.distributed scheduler address, the extra `dask`), cases
    run on that cluster instead of local processes; its workers must see `out`'s
    parent folder (a shared filesystem), where they write each case's files.
    """
    files = collect_cases(cases)
    client = _dask_client(scheduler, scheduler_timeout) if scheduler else None
    submit = (lambda fn, *args: client.submit(fn, *args, pure=False)) if client else None
    out = Path(out)
    jobs = jobs or os.cpu_count() or 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / CACHE).mkdir()
        old_cache = str(out / CACHE) if use_cache and (out / CACHE).is_dir() else None
        tasks = [(str(f), slug, options, str(tmp), old_cache) for f, slug in zip(files, _slugs(files))]
        show = sys.stderr.isatty() if progress is None else progress
        entries = _with_progress(tasks, jobs, submit, show)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        code = exit_code(entries)
        summary = {"verifae": __version__, "generated": started, "options": asdict(options), "exit_code": code,
                   "cases": entries}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        (tmp / "index.md").write_text(render_markdown(summary))
        (tmp / "index.html").write_text(render_html(summary))
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if client is not None:
            client.close()
    return entries, code


def _dask_client(address: str, timeout: float):
    try:
        from distributed import Client
    except ImportError:
        raise VerifaeError("--scheduler needs dask.distributed: pip install 'verifae[dask]'") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise VerifaeError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None


def _with_progress(tasks, jobs, submit, show: bool) -> list[dict]:
    if not show:
        return _run_all(tasks, jobs, submit, lambda: None)
    import click

    with click.progressbar(length=len(tasks), label="cases", file=sys.stderr, show_eta=True, show_pos=True) as bar:
        return _run_all(tasks, jobs, submit, lambda: bar.update(1))


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Replace `out` by the finished `tmp`: the old report survives until the new one is in place."""
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
            lines += ["", f"![{e['name']} {suffix}]({name})"]
        if e["result"]:
            lines += ["", f"Full result: [{e['result']}]({e['result']})"]
    return "\n".join(lines) + "\n"


CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f8; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { border-radius: 3px; padding: 1px 6px; color: #fff; font-weight: 600; }
.ok { background: #2e7d32; } .check-failed { background: #c62828; } .invalid { background: #ef6c00; }
.error { background: #6a1b9a; }
section { border-top: 2px solid #eee; margin-top: 2em; padding-top: .5em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 12px; } pre { background: #fafafa; padding: .6em; overflow-x: auto; }
.meta { color: #555; }
"""


def render_html(summary: dict) -> str:
    from .plots import PLOTS

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
                     f"{e['seconds']:.2f} s</p>")
        if e["error"]:
            parts.append(f"<pre>{esc(e['error'].strip())}</pre>")
        for suffix, name in e["plots"].items():
            caption = PLOTS[suffix][1]
            parts.append(f'<figure><img src="{esc(name)}" alt="{esc(e["name"])}: {esc(caption)}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
        if e["result"]:
            parts.append(f'<p><a href="{esc(e["result"])}">full result ({esc(e["result"])})</a></p>')
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
