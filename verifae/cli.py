"""The `verifae` command line: parse, call the library, map errors to exit codes.

Exit codes: 0 done, 1 a check failed (a float run or the reference fell outside
its enclosure), 2 bad input or usage, 3 an internal error (a bug; --debug shows
the traceback), 5 the environment (a needed service or optional package is
unavailable), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import torch_runs
from ._version import __version__
from .api import SEMANTICS
from .backends import RIGOROUS_BACKENDS
from .bound import bound, to_json_text
from .cases import DEFAULT_MAX_BYTES, Case, LayeredCase, load_box, load_case
from .check import prepare_check
from .errors import EnvironmentFailure, OutputError, VerifaeError
from .files import write_atomically
from .importers.cli import MODEL_OPTION_NAMES, case_command, model_options
from .layered import LayeredSpec
from .methods import METHOD_NAMES
from .model import AutoencoderSpec
from .table import render_table
from .verify.cli import COMMANDS as VERIFY_COMMANDS

__all__ = ["main"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 5, 130

EXIT_CODES = """\b
Exit codes:
  0    done
  1    a float run or the reference fell outside its enclosure (a bug in verifae)
  2    bad input or usage (the message names the file and JSON field)
  3    internal error (rerun with --debug for the traceback)
  5    environment: a needed service or optional package is unavailable
  130  interrupted (Ctrl-C); files being written are left as they were
"""

EPILOG = """\b
Examples:
  verifae bound cases/tanh-4x2.json
  verifae bound cases/digits-64-16-64-eps0.01.json --semantics float32 --runs 5000
  verifae bound cases/relu-kink-2-1-2.json --backend exact --format json -o result.json
  verifae bound cases/large-784-64-784.json --grad-output g.json --runs 0
  verifae bound cases/layered-mixed-3-4-4-2-4-3.json --method interval
  verifae bound --model cases/models/digits-layered-64-32-8-32-64.onnx --center x.npy --radius 0.02 --clip 0 1

""" + EXIT_CODES


def _debug_option(f):
    return click.option("--debug", is_flag=True, help="Show tracebacks of errors.")(f)


class _Runner:
    """Run a command body, mapping verifae's typed errors to exit codes."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def __call__(self, body):
        try:
            return body()
        except VerifaeError as exc:
            if self.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ENVIRONMENT if isinstance(exc, EnvironmentFailure) else EXIT_BAD_INPUT)
        except OSError as exc:
            if self.debug:
                raise
            click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug: say so plainly, keep the traceback for --debug
            if self.debug:
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                       err=True)
            sys.exit(EXIT_INTERNAL)


class _Group(click.Group):
    """The command group; Ctrl-C anywhere in a command exits 130 with one line.

    click's own handling turns KeyboardInterrupt into "Aborted!" and exit 1, which
    here means "a float run fell outside its enclosure".
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # On a terminal, start a fresh line after "^C" and any progress bar.
            click.echo(("\r\x1b[K" if sys.stderr.isatty() else "") + "interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EPILOG)
@click.version_option(__version__, prog_name="verifae")
@_debug_option
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Verified arithmetic for autoencoders: x_hat = W_dec·act(W_enc·x + b_enc) + b_dec
    (case format v1), or any stack of dense layers act(W·x + b) (format v2).

    Computes intervals that provably contain every value of the outputs, the
    backward-pass gradients and the reconstruction error over an input box, in real
    arithmetic and for every float32 and float64 run, and checks real float runs.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _progress():
    if not sys.stderr.isatty():
        return None
    return lambda what: click.echo(f"\r\x1b[K{what} …", err=True, nl=False)


def _weights(spec: AutoencoderSpec | LayeredSpec) -> int:
    """The number of weights that sets a result's size (v1: d·h, the size of W_enc)."""
    if isinstance(spec, LayeredSpec):
        return sum(layer.weight.size for layer in spec.layers)
    return spec.input_dim * max(spec.hidden_dim, 1)


#: runs × model file bytes from which `bound` starts PyTorch's process before reading
#: the model. The check uses that process from runs × work >= TORCH_WORKER_WORK
#: (verifae.check, 10⁷, work about half the weights); a case file spends some 5–20
#: bytes per number and a binary model file 4, so 3·10⁸ separates the 784-64-784 case
#: (2.1 MB, 50,176 work) from the 64-32-8-32-64 ones (0.15 MB, 2,304 work). A wrong
#: guess costs no result: an unneeded process is ended once the model's size is known,
#: and a needed one not started early starts when `bound` begins, as before.
EARLY_TORCH_BYTE_RUNS = 3 * 10**8


def _start_torch_early(path: Path, runs: int) -> bool:
    """Start PyTorch's process now, before the model is read, when the check will likely
    run PyTorch there: its import (about two seconds of CPU) then overlaps reading the
    model and the enclosures on the other core instead of only the enclosures."""
    try:
        size = path.stat().st_size
    except OSError:
        return False  # the loader reports it
    return runs * size >= EARLY_TORCH_BYTE_RUNS and torch_runs.available() and torch_runs.start()


@main.command("bound", epilog=EPILOG)
@click.argument("case_file", metavar="CASE.json", type=click.Path(path_type=Path), required=False)
@click.option("--model", type=click.Path(path_type=Path), default=None, metavar="MODEL",
              help="Bound a model file (.onnx, .safetensors, .pt) directly, instead of CASE.json, over the boxes "
                   "of --center/--radius, --lower/--upper or --vnnlib (as for verifae case).")
@model_options
@click.option("--backend", type=click.Choice(("auto", *RIGOROUS_BACKENDS)), default="auto", show_default=True,
              help="Rigorous arithmetic to compute in; auto: arb above 53 bits, else fast for a batch of boxes "
                   "or d·h >= 1024, else arb.")
@click.option("--precision", type=click.IntRange(min=2), default=None,
              help="Working precision in bits (arb and mpmath; default 53).")
@click.option("--semantics", type=click.Choice(SEMANTICS), multiple=True,
              help="Semantics to enclose; repeat for several (default: all three).")
@click.option("--method", type=click.Choice(METHOD_NAMES), default="auto", show_default=True,
              help="Tightening: interval propagation, linear relaxation, mean-value form, bisection, "
                   "or auto (their intersection).")
@click.option("--max-parts", type=click.IntRange(min=1), default=None,
              help="Bisection budget in parts (default: 128 for bisect; 16 for auto when d <= 16, else none).")
@click.option("--runs", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Points for the Float-run check; 0 skips it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampled points.")
@click.option("--grad-output", "grad_output", metavar="mse|FILE.json", default=None,
              help="Incoming gradient: 'mse' or a box file; overrides the case's grad_output.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the result here (atomically) instead of standard output.")
@click.option("--max-size", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True,
              help="Refuse case files larger than this many bytes.")
@_debug_option
@click.pass_context
def bound_command(ctx, case_file, model, backend, precision, semantics, method, max_parts, runs, seed, grad_output,
                  fmt, output, max_size, debug, **model_args):
    """Enclose every quantity of one case (or of a model file and its boxes, --model) and
    check float runs against the enclosures."""
    run = _Runner(debug or ctx.obj.get("debug", False))
    given = [f"--{name}" for name in MODEL_OPTION_NAMES if model_args[name] is not None]
    if (case_file is None) == (model is None):
        raise click.UsageError("give either CASE.json or --model MODEL (with its box options)")
    if model is None and given:
        raise click.UsageError(f"{given[0]} goes with --model; a case file holds its own model and boxes")

    def body():
        if output is not None and not output.parent.is_dir() and output.parent != Path(""):
            # Before the work, not after it: a typo in -o should not cost the whole run.
            what = "does not exist" if not output.parent.exists() else "is not a folder"
            raise OutputError(f"cannot write {output}: folder {output.parent} {what}")
        early = _start_torch_early(model if model is not None else case_file, runs)
        try:
            case: Case | LayeredCase
            if model is not None:
                from .importers import load_model_case

                case = load_model_case(model, **model_args)
            else:
                case = load_case(case_file, max_size, layered=True)
            if early and not prepare_check(case.spec, max(1, runs // len(case.boxes))):
                torch_runs.stop(terminate=True)  # a small model after all: PyTorch runs here
            g = None
            if grad_output is not None:
                g = "mse" if grad_output == "mse" else load_box(grad_output, max_size)
            progress = _progress()
            # Indented for small models; compact for large ones (a 784-64-784 result has
            # 300,000 intervals, and indentation triples the size and the time to write),
            # whose arrays' text is written while the check waits for PyTorch's process.
            compact = fmt == "json" and _weights(case.spec) > 4096
            result = bound(case, backend=backend, precision=precision, semantics=tuple(semantics) or SEMANTICS,
                           runs=runs, seed=seed, grad_output=g, method=method, max_parts=max_parts,
                           progress=progress, json_ahead=compact)
        except BaseException:
            torch_runs.stop(terminate=True)  # bad input, Ctrl-C: exit without waiting for PyTorch's import
            raise
        torch_runs.stop()  # one case per command: PyTorch's process exits while we write
        if progress:
            click.echo("\r\x1b[K", err=True, nl=False)
        if fmt == "json":
            text = to_json_text(result, indent=None if compact else 1) + "\n"
        else:
            text = render_table(result)
        if output is None:
            click.echo(text, nl=False)
        else:
            write_atomically(output, text)
        return result

    result = run(body)
    if result.failed:
        click.echo(f"error: a float run fell outside its enclosure in case {result.case.name!r}", err=True)
        sys.exit(EXIT_CHECK_FAILED)


REPORT_EPILOG = """\b
Examples:
  verifae report cases --out reports
  verifae report cases/tiny-*.json cases/tanh-4x2.json --out /tmp/report --jobs 1 --runs 200
  verifae report cases --out reports --no-cache --format json

\b
Exit codes:
  0    every case done
  1    a float run fell outside its enclosure in some case
  2    a case was invalid (the others are still reported), or bad usage
  3    a case raised an internal error
  5    environment: e.g. the Dask scheduler cannot be reached
  130  interrupted (Ctrl-C): no report written, the previous one left as it was
"""


@main.command("report", epilog=REPORT_EPILOG)
@click.argument("cases", nargs=-1, required=True, metavar="CASES...")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the report into (replaced only once the new report is complete).")
@click.option("--backend", type=click.Choice(("auto", *RIGOROUS_BACKENDS)), default="auto", show_default=True,
              help="Rigorous arithmetic to compute in; auto: arb above 53 bits, else fast for a batch of boxes "
                   "or d·h >= 1024, else arb.")
@click.option("--precision", type=click.IntRange(min=2), default=None, help="Working precision in bits.")
@click.option("--method", type=click.Choice(METHOD_NAMES), default="auto", show_default=True,
              help="Tightening method, as in bound.")
@click.option("--max-parts", type=click.IntRange(min=1), default=None, help="Bisection budget, as in bound.")
@click.option("--runs", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Float-run check points per case; 0 skips the check.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Cases run in this many processes (default: the number of cores).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="What to print on standard output: a summary table, or summary.json.")
@click.option("--no-cache", is_flag=True, help="Recompute every case instead of reusing unchanged results.")
@click.option("--full-results", is_flag=True,
              help="Also write each case's full result as CASE.json (every interval; 15 MB for a 784-64-784 model).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run the cases on this dask.distributed scheduler (extra 'dask') instead of local processes.")
@click.option("--scheduler-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the Dask scheduler.")
@click.option("--max-size", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True,
              help="Refuse case files larger than this many bytes.")
@_debug_option
@click.pass_context
def report_command(ctx, cases, out, backend, precision, method, max_parts, runs, seed, jobs, fmt, no_cache,
                   full_results, scheduler, scheduler_timeout, max_size, debug):
    """Bound every case of CASES (files, or folders of *.json) into one HTML/Markdown/JSON report."""
    from .report import ReportOptions, build_report

    run = _Runner(debug or ctx.obj.get("debug", False))
    options = ReportOptions(backend=backend, precision=precision, runs=runs, seed=seed, method=method,
                            max_parts=max_parts, max_bytes=max_size)
    entries, code = run(lambda: build_report(cases, out, options, jobs=jobs, use_cache=not no_cache,
                                             scheduler=scheduler, scheduler_timeout=scheduler_timeout,
                                             full_results=full_results))
    if fmt == "json":
        click.echo((out / "summary.json").read_text(), nl=False)
    else:
        for e in entries:
            runs_text = ", ".join(f"{k} {v['runs']}/{v['outside']} out" for k, v in e["float_runs"].items())
            cached = " (cached)" if e.get("cached") else ""
            click.echo(f"{e['status']:<13} {e['name']:<34} {e['seconds']:6.2f} s{cached}  {runs_text}")
            if e["error"]:
                click.echo(f"  {e['error'].strip().splitlines()[0]}")
        click.echo(f"report: {out / 'index.html'}")
    sys.exit(code)


main.add_command(case_command)
for _command in VERIFY_COMMANDS:  # verify, check-cert (verifae.verify.cli)
    main.add_command(_command)
