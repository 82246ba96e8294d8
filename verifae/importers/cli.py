"""`verifae case MODEL BOX -o case.json`: a model file and a box source in, a v2 case out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import OutputError, SpecError
from ..files import write_atomically
from .load import case_data, load_model_and_boxes

__all__ = ["case_command", "dump_case", "model_options", "MODEL_OPTION_NAMES"]

CASE_EPILOG = """\b
Examples:
  verifae case model.onnx --center x.npy --radius 0.02 --clip 0 1 -o case.json
  verifae case model.safetensors --activations relu,relu,relu,sigmoid --center digits.csv --radius 0.02 -o c.json
  verifae case model.pt --activations leaky_relu:0.2,none --split 1 --lower lo.json --upper hi.json -o c.json
  verifae case model.onnx --vnnlib prop.vnnlib -o case.json

\b
Exit codes:
  0    the case was written
  1    (not used: verifae case runs no float check)
  2    bad input: a missing file, an unsupported node or module, wrong activations,
       a box that does not fit the model, NaN or infinite weights (the message says which)
  3    internal error (rerun with --debug for the traceback)
  5    environment: the package for this file type is not installed
  130  interrupted (Ctrl-C); the output file is left as it was
"""


def dump_case(data: Any) -> str:
    """JSON text with one line per row of numbers (readable and diffable; exact strings)."""
    def render(value: Any, indent: int) -> str:
        pad = " " * indent
        if isinstance(value, dict):
            items = [f'{pad} {json.dumps(k)}: {render(v, indent + 1).lstrip()}' for k, v in value.items()]
            return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
            return pad + "[\n" + ",\n".join(render(v, indent + 1) for v in value) + "\n" + pad + "]"
        return pad + json.dumps(value)

    return render(data, 0) + "\n"


#: the options that read a model file and its boxes (`load_model_and_boxes`'s keywords)
MODEL_OPTION_NAMES = ("activations", "split", "center", "radius", "clip", "lower", "upper", "vnnlib")


def model_options(command: Any) -> Any:
    """The model-file and box options of `verifae case` and `verifae bound --model`."""
    options = [
        click.option("--activations", default=None, metavar="LIST",
                     help="For weight-only files (.safetensors, .pt): one activation per dense layer in key "
                          "order, e.g. relu,relu,sigmoid; parameters after colons (leaky_relu:0.2); none for a "
                          "bare Linear."),
        click.option("--split", type=int, default=None, metavar="N",
                     help="The encoder is the first N dense layers (needed unless the names say "
                          "encoder./decoder.)."),
        click.option("--center", type=click.Path(path_type=Path), default=None, metavar="FILE",
                     help="Box centers: .npy, .json or .csv; one box per row."),
        click.option("--radius", default=None, metavar="R", help="Box radius around each center (an exact decimal)."),
        click.option("--clip", nargs=2, default=None, metavar="LO HI", help="Clip each box to [LO, HI]."),
        click.option("--lower", type=click.Path(path_type=Path), default=None, metavar="FILE",
                     help="Lower corners (.npy, .json or .csv), with --upper."),
        click.option("--upper", type=click.Path(path_type=Path), default=None, metavar="FILE",
                     help="Upper corners."),
        click.option("--vnnlib", type=click.Path(path_type=Path), default=None, metavar="FILE",
                     help="The input constraints of a VNN-LIB property (a box, or an 'or' of boxes)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("case", epilog=CASE_EPILOG)
@click.argument("model", metavar="MODEL", type=click.Path(path_type=Path))
@model_options
@click.option("--name", default=None, help="The case's name (default: the output file's stem).")
@click.option("--description", default="", help="A description stored in the case.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The case file to write (atomically).")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def case_command(ctx: click.Context, model: Path, activations: str | None, split: int | None, center: Path | None,
                 radius: str | None, clip: tuple[str, str] | None, lower: Path | None, upper: Path | None,
                 vnnlib: Path | None, name: str | None, description: str, output: Path, debug: bool) -> None:
    """Write a case file (format v2) from a model file and input boxes.

    MODEL is an ONNX file (.onnx), a safetensors file (.safetensors) or a PyTorch
    state_dict (.pt, .pth, .bin).
    Weights are kept exactly: every number in the case is an exact decimal of the
    float in the file.
    """
    from ..cli import _Runner  # the command group's error mapping (imported late: cli imports this module)
    from ..layered import LayeredSpec

    run = _Runner(debug or (ctx.obj or {}).get("debug", False))

    def body() -> tuple[LayeredSpec, int]:
        if not output.parent.is_dir() and output.parent != Path(""):
            what = "does not exist" if not output.parent.exists() else "is not a folder"
            raise OutputError(f"cannot write {output}: folder {output.parent} {what}")
        if split is not None and split < 1:
            raise SpecError(f"--split must be at least 1, got {split}")
        spec, boxes = load_model_and_boxes(model, activations=activations, split=split, center=center,
                                           radius=radius, clip=clip, lower=lower, upper=upper, vnnlib=vnnlib)
        data = case_data(spec, boxes, name=name or output.stem, description=description)
        write_atomically(output, dump_case(data))
        return spec, len(boxes)

    spec, n_boxes = run(body)
    acts = ", ".join(layer.activation_name for layer in spec.layers)
    sizes = " -> ".join(map(str, spec.layer_sizes))
    click.echo(f"wrote {output}: {sizes} ({acts}), encoder {len(spec.encoder)} layers, "
               f"{n_boxes} box{'es' if n_boxes != 1 else ''}")
