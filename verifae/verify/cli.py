"""`verifae verify` and `verifae check-cert`: parse, call the library, map to exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..api import SEMANTICS
from ..cases import DEFAULT_MAX_BYTES, load_case
from ..errors import EnvironmentFailure, OutputError, UnsupportedError, VerifaeError
from ..files import write_atomically
from ..layered import LayeredSpec
from ..methods import METHOD_NAMES
from .api import certificate_json, default_jobs, render_verdicts, to_json, verify
from .checker import check_certificate_file
from .properties import parse_property
from .search import DEFAULT_MAX_PARTS, DEFAULT_TIMEOUT
from .torchlean import crown_query, replay_check

__all__ = ["verify_command", "check_cert_command", "COMMANDS"]

EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_ENVIRONMENT = 2, 3, 5

VERIFY_EPILOG = """\b
Examples:
  verifae verify cases/tiny-relu-2-1-2.json --property 'error<=4.5'
  verifae verify cases/digits-64-16-64-eps0.01.json --property 'error<=0.0135' --semantics float32
  verifae verify cases/tiny-relu-2-1-2.json --property 'output[0]<=3' --certificate cert.json
  verifae verify cases/tiny-relu-2-1-2.json --property unsafe.vnnlib --torchlean query.json

\b
Exit codes:
  0    every property proved in every semantics asked for
  1    some property violated (a confirmed counterexample)
  2    bad input: an unparseable property, an index out of range, a bad case file,
       a VNN-LIB construct not read, a VNN-LIB input box other than the case's
  3    internal error (rerun with --debug for the traceback)
  4    some verdict unknown (a budget ran out), none violated
  5    environment: a needed service or optional package is unavailable (e.g. the Dask scheduler)
  130  interrupted (Ctrl-C)
"""

CHECK_EPILOG = """\b
Exit codes:
  0    the certificate is accepted
  1    the certificate is rejected (the reasons are printed)
  2    bad usage, or a --case file that cannot be read
  3    internal error (rerun with --debug for the traceback)
  130  interrupted (Ctrl-C)
"""


def _run(debug: bool, body: Callable[[], Any]) -> Any:
    """body(), with verifae's typed errors mapped to exit codes (as verifae.cli does)."""
    try:
        return body()
    except VerifaeError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT if isinstance(exc, EnvironmentFailure) else EXIT_BAD_INPUT)
    except OSError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a bug: say so plainly, keep the traceback for --debug
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        sys.exit(EXIT_INTERNAL)


def _writable(path: Path | None) -> None:
    if path is not None and path.parent != Path("") and not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")


@click.command("verify", epilog=VERIFY_EPILOG)
@click.argument("case_file", metavar="CASE.json", type=click.Path(path_type=Path))
@click.option("--property", "properties", multiple=True, required=True, metavar="PROP",
              help="error<=T, output[i]<=T, output[i]>=T, latent[i]<=T, latent[i]>=T, input_grad_inf<=T "
                   "(T exact: 0.1 is 1/10), or FILE.vnnlib (its output constraints over Y_i, the decoder "
                   "output, state the unsafe region); repeat for several.")
@click.option("--semantics", type=click.Choice(SEMANTICS), multiple=True,
              help="Semantics to decide; repeat for several (default: all three).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds per verdict (one property, one semantics, one box); then the verdict is unknown.")
@click.option("--max-parts", type=click.IntRange(min=1), default=DEFAULT_MAX_PARTS, show_default=True,
              help="Parts of the box per verdict; then the verdict is unknown.")
@click.option("--method", type=click.Choice(METHOD_NAMES), default="linear", show_default=True,
              help="Enclosure method bounding each part (layered models fall back to interval where needed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the counterexample search.")
@click.option("--certificate", "certificate", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="CERT.json", help="Write a proof object of the real-semantics proofs (check it with check-cert).")
@click.option("--torchlean", "torchlean", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.json", help="Write TorchLean's crown_query_v1 document of the output properties "
                                        "(relu models, one box) for its Lean checker.")
@click.option("--tightest", is_flag=True,
              help="Also report, per box, property and semantics, the tightest threshold proved within the budget.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes running the boxes and semantics (default: the cores).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run them on this dask.distributed scheduler (extra 'dask') instead of local processes.")
@click.option("--scheduler-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the Dask scheduler.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the result here instead of standard output.")
@click.option("--max-size", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True,
              help="Refuse case files larger than this many bytes.")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def verify_command(ctx, case_file, properties, semantics, timeout, max_parts, method, seed, certificate, torchlean,
                   tightest, jobs, scheduler, scheduler_timeout, fmt, output, max_size, debug):
    """Prove or refute properties over every box of a case, per semantics."""
    debug = debug or bool((ctx.obj or {}).get("debug", False))

    def body():
        _writable(output)
        _writable(certificate)
        _writable(torchlean)
        case = load_case(case_file, max_size, layered=True)
        props = [parse_property(p) for p in properties]
        layered = case.spec if isinstance(case.spec, LayeredSpec) else LayeredSpec.from_v1(case.spec)
        for prop in props:
            prop.check_dims(layered.input_dim, layered.latent_dim)
        query = None
        if torchlean is not None:  # refused (exit 2) before any search when it cannot be written
            if len(case.boxes) != 1:
                raise UnsupportedError(f"--torchlean writes one box's document; the case has {len(case.boxes)} boxes")
            query = crown_query(case.spec, case.boxes[0], props)
        result = verify(case.spec, case.boxes, props, semantics=tuple(semantics) or SEMANTICS,
                        timeout=timeout, max_parts=max_parts, method=method, seed=seed,
                        certificate=certificate is not None, tightest=tightest, name=case.name,
                        jobs=jobs or default_jobs(), scheduler=scheduler, scheduler_timeout=scheduler_timeout)
        text = json.dumps(to_json(result), indent=1) + "\n" if fmt == "json" else render_verdicts(result)
        if output is None:
            click.echo(text, nl=False)
        else:
            write_atomically(output, text)
        if certificate is not None:
            cert = certificate_json(result)
            if cert["proofs"]:
                write_atomically(certificate, json.dumps(cert) + "\n")
                click.echo(f"certificate: {certificate} ({len(cert['proofs'])} proof(s), "
                           f"{sum(len(p['leaves']) for p in cert['proofs'])} leaves)", err=True)
            else:
                click.echo("certificate: not written; no property was proved in the real semantics", err=True)
        if torchlean is not None and query is not None:
            write_atomically(torchlean, json.dumps(query) + "\n")
            expected = "accepts" if replay_check(query) else "rejects (one affine pass does not prove it)"
            click.echo(f"torchlean: {torchlean} (crown_query_v1, {len(query['query']['bias'])} row(s); "
                       f"verifae's replay of its check {expected})", err=True)
        return result

    result = _run(debug, body)
    sys.exit(result.exit_code)


@click.command("check-cert", epilog=CHECK_EPILOG)
@click.argument("cert_file", metavar="CERT.json", type=click.Path(path_type=Path))
@click.option("--case", "case_file", type=click.Path(path_type=Path), default=None, metavar="CASE.json",
              help="Also check that the certificate is about this case: its model exactly, and boxes of it.")
@click.option("--max-size", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True,
              help="Refuse certificate and case files larger than this many bytes.")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def check_cert_command(ctx, cert_file, case_file, max_size, debug):
    """Re-check a certificate of `verifae verify` in exact rational arithmetic."""
    debug = debug or bool((ctx.obj or {}).get("debug", False))

    def body():
        case = None if case_file is None else load_case(case_file, max_size, layered=True)
        return check_certificate_file(cert_file, max_size, case)

    report = _run(debug, body)
    if report.accepted:
        click.echo(f"model: {report.model}" + ("" if case_file is None else f" (the model of {case_file})"))
        for line in report.checked:
            click.echo(f"checked: {line}")
        click.echo(f"accepted: {report.proofs} proof(s), {report.leaves} leaves")
        sys.exit(0)
    for reason in report.reasons[:20]:
        click.echo(f"rejected: {reason}")
    if len(report.reasons) > 20:
        click.echo(f"rejected: ... and {len(report.reasons) - 20} more")
    sys.exit(1)


#: the commands verifae.cli registers
COMMANDS = (verify_command, check_cert_command)
