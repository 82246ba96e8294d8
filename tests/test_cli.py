"""The command line: outputs, exit codes and an error message for every kind of bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import verifae
from verifae.cli import main

from .reference import layered_reference, outside

CASES = Path(__file__).resolve().parent.parent / "cases"

GOOD = {
    "name": "good",
    "model": {
        "activation": "tanh",
        "W_enc": [[0.1, -0.2], [0.3, 0.4], [0.5, -0.6]],
        "b_enc": [0, 0, 0],
        "W_dec": [[1, 0, 1], [0, 1, -1]],
        "b_dec": [0, "0.1"],
    },
    "input": {"lower": [0, 0], "upper": [1, 1]},
}


def run(*args, input_text=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input_text)


def write(tmp_path, content, name="case.json"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_text(content)
    else:
        p.write_text(json.dumps(content))
    return p


def changed(path: str, value):
    """GOOD with the field at dotted `path` replaced (or removed when value is DELETE)."""
    case = json.loads(json.dumps(GOOD))
    *parents, last = path.split(".")
    node = case
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return case


DELETE = object()


class TestOutput:
    def test_table_fits_100_columns_for_784_model(self):
        result = run("bound", CASES / "large-784-64-784.json", "--runs", "3", "--semantics", "real")
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert max(len(line) for line in lines) <= 100
        assert len(lines) < 60  # summarized, not 50,000 intervals
        assert "784-64-784 tanh" in result.output and "(784 intervals)" in result.output

    def test_json_follows_the_design(self, tmp_path):
        result = run("bound", write(tmp_path, GOOD), "--format", "json", "--runs", "20")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.output)
        for key in ("case", "input_dim", "hidden_dim", "activation", "compression_ratio", "backend",
                    "precision", "method", "enclosures", "float_check"):
            assert key in doc
        assert (doc["case"], doc["input_dim"], doc["hidden_dim"], doc["compression_ratio"]) == ("good", 2, 3, 2 / 3)
        assert set(doc["enclosures"]) == {"real", "float64", "float32"}
        real = doc["enclosures"]["real"]
        assert set(real["gradients"]) == {"W_enc", "b_enc", "W_dec", "b_dec", "input"}
        assert np.array(real["gradients"]["W_enc"]).shape == (3, 2, 2)
        assert len(real["reconstruction_error"]) == 2
        assert doc["float_check"]["float64"]["runs"] > 0 and doc["float_check"]["float32"]["outside"] == 0

    def test_json_endpoints_are_the_outward_rounded_doubles(self, tmp_path):
        case = changed("model.b_dec", ["0.1", "0.1"])
        case["model"]["activation"] = "relu"
        case["input"] = {"center": ["0.1", "0.2"], "radius": 0}
        result = run("bound", write(tmp_path, case), "--format", "json", "--runs", "0", "--semantics", "real",
                     "--backend", "exact")
        doc = json.loads(result.output)
        e = verifae.enclose(verifae.cases.load_case(tmp_path / "case.json").spec, verifae.Box.point(["0.1", "0.2"]),
                            backend="exact")
        assert doc["enclosures"]["real"]["output"] == e.output.tolist()

    def test_unbounded_endpoints_are_strings(self):
        result = run("bound", CASES / "overflow-float32-2-1-2.json", "--format", "json", "--runs", "0",
                     "--semantics", "float32")
        doc = json.loads(result.output)
        assert doc["enclosures"]["float32"]["output"][0] == ["-inf", "inf"]
        assert "can exceed the largest finite float32" in doc["enclosures"]["float32"]["notes"][0]

    def test_output_file_is_written_atomically(self, tmp_path):
        out = tmp_path / "result.json"
        result = run("bound", write(tmp_path, GOOD), "--format", "json", "-o", out, "--runs", "0")
        assert result.exit_code == 0 and result.output == ""
        assert json.loads(out.read_text())["case"] == "good"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "result.json"]

    def test_output_to_a_device_is_not_replaced(self, tmp_path):
        result = run("bound", write(tmp_path, GOOD), "--format", "json", "-o", "/dev/null", "--runs", "0")
        assert result.exit_code == 0 and Path("/dev/null").is_char_device()

    def test_grad_output_option_overrides_the_case(self, tmp_path):
        g = write(tmp_path, {"center": [1, -1], "radius": "0.5"}, "g.json")
        result = run("bound", write(tmp_path, GOOD), "--grad-output", g, "--format", "json", "--runs", "10",
                     "--backend", "mpmath")  # mpmath keeps endpoints exact (Arb rounds radii up)
        doc = json.loads(result.output)
        assert doc["grad_output"] == "box"
        assert doc["enclosures"]["real"]["gradients"]["b_dec"] == [[0.5, 1.5], [-1.5, -0.5]]

    def test_semantics_selection(self, tmp_path):
        result = run("bound", write(tmp_path, GOOD), "--semantics", "float32", "--format", "json", "--runs", "5")
        assert set(json.loads(result.output)["enclosures"]) == {"float32"}

    def test_a_case_with_several_boxes(self, tmp_path):
        case = json.loads(json.dumps(GOOD))
        case["input"] = [{"lower": [0, 0], "upper": [1, 1]}, {"center": ["0.5", "0.25"], "radius": "0.1"},
                         {"lower": [-1, 0], "upper": [0, 0]}]
        path = write(tmp_path, case)
        doc = json.loads(run("bound", path, "--format", "json", "--runs", "30", "--method", "linear").output)
        assert doc["box_count"] == 3 and len(doc["boxes"]) == 3 and doc["backend"] == "fast"
        assert doc["enclosures"] == doc["boxes"][0]["enclosures"]
        for box in doc["boxes"]:
            assert box["float_check"]["float32"]["runs"] > 0 and box["float_check"]["float32"]["outside"] == 0
        assert doc["method"] == "linear"  # the batch is propagated at once, then each box tightened
        one = json.loads(run("bound", write(tmp_path, changed("input", case["input"][1]), "one.json"),
                             "--format", "json", "--runs", "0", "--backend", "fast", "--method", "linear").output)
        # The batch rounds box endpoints outward to doubles ("0.5 ± 0.1" is not a double
        # box), so the two agree up to that rounding.
        box1 = doc["boxes"][1]["enclosures"]["real"]["output"]
        for (lo, hi), (lo1, hi1) in zip(box1, one["enclosures"]["real"]["output"]):
            assert abs(lo - lo1) <= 1e-12 and abs(hi - hi1) <= 1e-12
        table = run("bound", path, "--runs", "10", "--method", "interval").output
        assert "3 boxes (box 0 below, all at the end)" in table and "Boxes (real)" in table
        assert max(len(line) for line in table.splitlines()) <= 100

    def test_version_and_help(self):
        assert run("--version").output.strip() == f"verifae, version {verifae.__version__}"
        help_text = run("bound", "--help").output
        assert "Examples:" in help_text and "--grad-output" in help_text and "Exit codes" in help_text

    def test_python_dash_m(self):
        out = subprocess.run([sys.executable, "-m", "verifae", "--version"], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == f"verifae, version {verifae.__version__}"


class TestExitCodes:
    def test_check_failure_exits_1(self, tmp_path, monkeypatch):
        from verifae import bound as bound_module

        real_bound = bound_module.bound

        def failing(*args, **kwargs):
            result = real_bound(*args, **kwargs)
            result.check.formats["float32"].outside = 1
            return result

        monkeypatch.setattr("verifae.cli.bound", failing)
        result = run("bound", write(tmp_path, GOOD), "--runs", "5")
        assert result.exit_code == 1
        assert "error: a float run fell outside its enclosure in case 'good'" in result.output
        assert "FAILED" in result.output

    def test_internal_error_exits_3_without_traceback(self, tmp_path, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr("verifae.cli.bound", broken)
        result = run("bound", write(tmp_path, GOOD))
        assert result.exit_code == 3
        assert result.output == "internal error: RuntimeError: boom (rerun with --debug for the traceback)\n"

    def test_debug_shows_the_exception(self, tmp_path):
        result = run("--debug", "bound", tmp_path / "missing.json")
        assert isinstance(result.exception, verifae.VerifaeError) and result.exit_code != 0

    def test_usage_error_exits_2(self):
        assert run("bound").exit_code == 2
        assert run("bound", "x.json", "--backend", "gpu").exit_code == 2


def bad(tmp_path, content, *extra):
    p = write(tmp_path, content)
    result = run("bound", p, "--runs", "0", *extra)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output.replace(str(p), "CASE")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "error: CASE: the file is empty (expected a JSON object)\n"),
        (b"   \n", "error: CASE: the file is empty (expected a JSON object)\n"),
        (b"\xff\xfe{}", "error: CASE: not UTF-8 text (byte 0 is 0xff)\n"),
        (b'{"model": ', "error: CASE: invalid JSON at line 1, column 11: Expecting value\n"),
        (b"[1, 2]", "error: CASE: the top level must be a JSON object, got a list\n"),
        (b'"text"', "error: CASE: the top level must be a JSON object, got a string\n"),
    ],
    ids=["empty", "blank", "not-utf8", "invalid-json", "list", "string"],
)
def test_unreadable_files(tmp_path, content, message):
    assert bad(tmp_path, content) == message


def test_missing_file(tmp_path):
    result = run("bound", tmp_path / "nope.json")
    assert result.exit_code == 2
    assert result.output == f"error: {tmp_path / 'nope.json'}: no such file\n"


def test_file_over_the_size_limit(tmp_path):
    output = bad(tmp_path, GOOD, "--max-size", "100")
    size = (tmp_path / "case.json").stat().st_size
    assert output == f"error: CASE: the file has {size} bytes, more than the limit of 100 (raise it with --max-size)\n"


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("model", DELETE, "missing key 'model'"),
        ("input", DELETE, "missing key 'input'"),
        ("model.W_dec", DELETE, "model.W_dec: missing key"),
        ("model.activation", DELETE, "model.activation: missing key"),
        ("model.extra", 1, "model.extra: unknown key; expected one of activation, W_enc, b_enc, W_dec, b_dec"),
        ("grad", "mse", "grad: unknown key; expected one of name, description, model, input, grad_output, verify"),
        ("model.W_enc", "weights", "model.W_enc: expected a list of rows, got a string"),
        ("model.b_enc", [0, True, 0], "model.b_enc[1]: expected a number, got true"),
        ("model.b_enc", [0, None, 0], "model.b_enc[1]: expected a number, got null"),
        ("model.b_dec", {"a": 1}, "model.b_dec: expected a list of numbers, got an object"),
        ("name", 5, "name: expected a non-empty string, got a number"),
        ("input", [0, 1], "input[0]: expected an object with lower/upper or center/radius, got a number"),
        ("input", "box",
         "input: expected an object with lower/upper or center/radius (or a list of them), got a string"),
        ("input", [], "input: expected at least one box"),
        ("grad_output", "l1", "grad_output: expected \"mse\" or a box, got 'l1'"),
    ],
)
def test_missing_keys_and_wrong_types(tmp_path, path, value, message):
    assert bad(tmp_path, changed(path, value)) == f"error: CASE: {message}\n"


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("model.W_enc", [[0.1, -0.2], [0.3], [0.5, -0.6]], "model.W_enc[1]: expected 2 numbers, got 1"),
        ("model.W_enc", [[0.1, -0.2, 1]] * 3, "model.W_dec: expected 3 rows (input_dim 3, from model.W_enc), got 2"),
        ("model.b_enc", [0, 0], "model.b_enc: expected 3 numbers (one per row of model.W_enc), got 2"),
        ("model.W_dec", [[1, 0, 1]], "model.W_dec: expected 2 rows (input_dim 2, from model.W_enc), got 1"),
        ("model.W_dec", [[1, 0], [0, 1]], "model.W_dec[0]: expected 3 numbers (input_dim 2, from model.W_enc), got 2"),
        ("model.W_dec", [[1, 0, 1], [0, 1]], "model.W_dec[1]: expected 3 numbers, got 2"),
        ("model.b_dec", [0, 0, 0], "model.b_dec: expected 2 numbers (input_dim 2, from model.W_enc), got 3"),
        ("input", {"lower": [0, 0, 0], "upper": [1, 1, 1]}, "input.lower: expected 2 numbers (input_dim 2), got 3"),
        ("input", {"lower": [0, 0], "upper": [1]}, "input.upper: expected 2 numbers (as many as lower), got 1"),
        ("input", {"center": [0, 0], "radius": [1]},
         "input.radius: expected 2 numbers (one per entry of center), got 1"),
        ("input", {"lower": [0, 0]}, "input.upper: missing key (a box needs both lower and upper)"),
        ("input", {"center": [0, 0]}, "input.radius: missing key (a box needs both center and radius)"),
        ("input", {"lower": [0, 0], "center": [0, 0]}, "input.center: unknown key; expected one of lower, upper"),
        ("grad_output", {"lower": [0], "upper": [1]}, "grad_output.lower: expected 2 numbers (input_dim 2), got 1"),
    ],
)
def test_shapes_that_disagree(tmp_path, path, value, message):
    assert bad(tmp_path, changed(path, value)).startswith(f"error: CASE: {message}")


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("input", {"lower": [0, 2], "upper": [1, 1]}, "input: lower[1] = 2.0 exceeds upper[1] = 1.0"),
        ("input", {"center": [0, 0], "radius": "-0.1"}, "input.radius: -0.1 is negative"),
        ("input", {"center": [0, 0], "radius": [1, -2]}, "input.radius[1]: -2.0 is negative"),
        ("grad_output", {"center": [0, 0], "radius": -1}, "grad_output.radius: -1.0 is negative"),
    ],
)
def test_bad_boxes(tmp_path, path, value, message):
    assert bad(tmp_path, changed(path, value)) == f"error: CASE: {message}\n"


@pytest.mark.parametrize(
    "token, message",
    [
        ("NaN", "model.b_dec[1]: NaN is not a finite number"),
        ("Infinity", "model.b_dec[1]: Infinity is not a finite number"),
        ("-Infinity", "model.b_dec[1]: -Infinity is not a finite number"),
        ("1e400", "model.b_dec[1]: 1E+400 is beyond the double range (magnitude at most 1.8e308)"),
        ('"1e400"', "model.b_dec[1]: 1e400 is beyond the double range (magnitude at most 1.8e308)"),
        ('"nan"', "model.b_dec[1]: 'nan' is not a number (expected a decimal like '0.1', a rational like '1/3' "
                  "or a hexadecimal float like '0x1.8p-3')"),
        ('"1/0"', "model.b_dec[1]: '1/0': zero denominator"),
        ('"0.1.2"', "model.b_dec[1]: '0.1.2' is not a number"),
    ],
)
def test_bad_numbers(tmp_path, token, message):
    text = json.dumps(GOOD).replace('"b_dec": [0, "0.1"]', f'"b_dec": [0, {token}]')
    assert bad(tmp_path, text).startswith(f"error: CASE: {message}")


def test_unknown_activation(tmp_path):
    assert bad(tmp_path, changed("model.activation", "softmax")) == (
        "error: CASE: model.activation: unknown activation 'softmax'; "
        "valid activations are: relu, sigmoid, tanh, identity, leaky_relu, elu, softplus, silu, gelu\n"
    )


def test_zero_input_dim(tmp_path):
    case = changed("model.W_enc", [[], [], []])
    case["model"]["W_dec"], case["model"]["b_dec"] = [], []
    case["input"] = {"lower": [], "upper": []}
    assert bad(tmp_path, case) == "error: CASE: model.W_enc: input_dim must be at least 1, but the rows are empty\n"


def test_bad_grad_output_file(tmp_path):
    g = write(tmp_path, {"lower": [0, 0]}, "g.json")
    result = run("bound", write(tmp_path, GOOD), "--grad-output", g)
    assert result.exit_code == 2
    assert result.output == f"error: {g}: upper: missing key (a box needs both lower and upper)\n"


def test_exact_backend_refuses_tanh_with_exit_2(tmp_path):
    result = run("bound", write(tmp_path, GOOD), "--backend", "exact")
    assert result.exit_code == 2 and "cannot evaluate 'tanh'" in result.output


# ---------------------------------------------------------------- regressions of issue 12


def _help_texts():
    yield "verifae", run("--help").output
    for name in main.commands:
        yield f"verifae {name}", run(name, "--help").output


def test_case_files_cited_in_help_exist():
    """Regression: `verifae bound --help` cited cases/relu-kink.json, which does not exist."""
    root = CASES.parent
    cited = {(where, path) for where, text in _help_texts() for path in re.findall(r"cases/[\w./*-]+\.json", text)}
    assert cited  # the examples cite case files
    for where, path in cited:
        assert list(root.glob(path)), f"{where} --help cites {path}, which does not exist"


def test_each_command_is_registered_once(monkeypatch):
    """Regression: `bound` was registered twice (once as bound_command, once renamed)."""
    import importlib

    import click

    import verifae.cli as cli

    added = []
    real = click.Group.add_command

    def counting(self, cmd, name=None):
        added.append(name or cmd.name)
        return real(self, cmd, name)

    monkeypatch.setattr(click.Group, "add_command", counting)
    importlib.reload(cli)
    assert sorted(added) == ["bound", "case", "check-cert", "report", "verify"]
    commands = run("--help").output.split("Commands:")[1].split("Examples:")[0].split()
    assert [w for w in commands if w in ("bound", "report", "bound-command")] == ["bound", "report"]


def test_help_documents_every_exit_code():
    for where, text in _help_texts():
        codes = re.findall(r"^\s+(\d+)\s{2,}", text.split("Exit codes:")[1], re.M)
        expected = {"verifae verify": ["0", "1", "2", "3", "4", "5", "130"],
                    "verifae check-cert": ["0", "1", "2", "3", "130"]}
        assert codes == expected.get(where, ["0", "1", "2", "3", "5", "130"]), where
    assert "5    environment: a needed service or optional package is unavailable" in run("--help").output


def test_ctrl_c_exits_130_with_one_line(tmp_path, monkeypatch):
    """Regression: click turned Ctrl-C into "Aborted!" and exit 1 (= a float run fell outside)."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("verifae.cli.bound", interrupted)
    result = run("bound", write(tmp_path, GOOD), "-o", tmp_path / "result.json")
    assert result.exit_code == 130
    assert result.output == "interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json"]


def test_output_into_a_missing_folder_names_the_users_path(tmp_path, monkeypatch):
    """Regression: the error named the hidden temporary file (.result.json.xxxx.tmp)."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, GOOD)
    result = run("bound", "case.json", "--runs", "0", "-o", "out/missing/result.json")
    assert result.exit_code == 2
    assert result.output == "error: cannot write out/missing/result.json: folder out/missing does not exist\n"
    (tmp_path / "file").write_text("")
    result = run("bound", "case.json", "--runs", "0", "-o", "file/result.json")
    assert result.exit_code == 2
    assert result.output == "error: cannot write file/result.json: folder file is not a folder\n"


def test_output_file_is_written_with_the_umask_mode(tmp_path):
    """Regression: -o files were created 0600 (mkstemp), whatever the umask."""
    import os

    old = os.umask(0o022)
    try:
        result = run("bound", write(tmp_path, GOOD), "--runs", "0", "-o", tmp_path / "a.json")
        os.umask(0o077)
        result2 = run("bound", write(tmp_path, GOOD), "--runs", "0", "-o", tmp_path / "b.json")
    finally:
        os.umask(old)
    assert result.exit_code == result2.exit_code == 0
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600


def test_unwritable_output_is_a_clear_error(tmp_path, monkeypatch):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    result = run("bound", write(tmp_path, GOOD), "--runs", "0", "-o", folder / "r.json")
    assert result.exit_code == 2 and result.output == f"error: cannot write {folder / 'r.json'}: Permission denied\n"


def test_zero_hidden_units(tmp_path):
    """Regression: a model with h = 0 was accepted."""
    case = changed("model.W_enc", [])
    case["model"]["b_enc"], case["model"]["W_dec"] = [], [[], []]
    assert bad(tmp_path, case) == (
        "error: CASE: model.W_enc: expected at least one row (hidden_dim must be at least 1)\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"model": {"activation": "tanh", "W_enc": [[1]], "W_enc": [[2]], "b_enc": [0], "W_dec": [[1]], '
         '"b_dec": [0]}, "input": {"lower": [0], "upper": [1]}}', 'model: duplicate key "W_enc"'),
        ('{"name": "a", "name": "b", "model": {}, "input": {}}', 'duplicate key "name"'),
        ('{"model": {"activation": "tanh", "W_enc": [[1]], "b_enc": [0], "W_dec": [[1]], "b_dec": [0]}, '
         '"input": {"lower": [0], "upper": [1], "upper": [2]}}', 'input: duplicate key "upper"'),
    ],
    ids=["model", "top-level", "input"],
)
def test_duplicate_keys(tmp_path, text, message):
    """Regression: JSON's last-one-wins silently dropped the first W_enc."""
    assert bad(tmp_path, text) == f"error: CASE: {message}\n"


def test_a_5000_digit_integer_is_refused_with_its_path(tmp_path):
    """Regression: Python's int-string limit raised a ValueError: exit 3, no field path."""
    text = json.dumps(GOOD).replace('"b_dec": [0, "0.1"]', f'"b_dec": [0, 1{"0" * 5000}]')
    assert bad(tmp_path, text) == ("error: CASE: model.b_dec[1]: 100000000000… (5001 characters) is beyond "
                                   "the double range (magnitude at most 1.8e308)\n")


@pytest.mark.parametrize("token", ["1e999999999", "-1E+999999999", "1e-999999999"])
def test_huge_exponents_are_refused_at_once(tmp_path, token):
    """Regression: 1e999999999 hung, building a billion-digit integer."""
    text = json.dumps(GOOD).replace('"b_dec": [0, "0.1"]', f'"b_dec": [0, {token}]')
    output = bad(tmp_path, text)
    assert output.startswith("error: CASE: model.b_dec[1]: ")
    assert output.endswith(("is beyond the double range (magnitude at most 1.8e308)\n", "exponent out of range\n"))


def test_a_byte_order_mark_is_accepted(tmp_path):
    """Regression: a UTF-8 BOM (Windows editors) gave "invalid JSON at line 1, column 1"."""
    p = write(tmp_path, b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    result = run("bound", p, "--runs", "0", "--format", "json", "--semantics", "real")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["case"] == "good"


def test_max_parts_reaches_the_bisection(tmp_path, monkeypatch):
    from verifae import methods

    budgets: list[int] = []
    original = methods.TIGHTENINGS["bisect"]

    def counting(spec, box, semantics="real", budget=128):
        budgets.append(budget)
        return original(spec, box, semantics, budget)

    monkeypatch.setitem(methods.TIGHTENINGS, "bisect", counting)
    case = write(tmp_path, json.dumps(GOOD))
    result = run("bound", case, "--max-parts", "3", "--runs", "0", "--semantics", "real")
    assert result.exit_code == 0, result.output
    assert budgets == [3]
    result = run("report", case, "--out", tmp_path / "r", "--max-parts", "2", "--runs", "0", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert budgets[1:] == [2, 2, 2]  # one bisection in each semantics


def test_max_parts_below_one_is_a_usage_error(tmp_path):
    result = run("bound", write(tmp_path, json.dumps(GOOD)), "--max-parts", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--max-parts': 0 is not in the range x>=1." in result.output


# ---------------------------------------------------------------- layered models (case format v2)

LAYERED = sorted(p.name for p in CASES.glob("layered-*.json"))


class _Enclosure:
    """One semantics of a v2 result document as `tests.reference.outside` reads it."""

    def __init__(self, e: dict) -> None:
        self.e = e

    def items(self):
        for layer in self.e["layers"]:
            for part in ("pre_activation", "post_activation"):
                yield f"layers.{layer['name']}.{part}", _bounds(layer[part])
        for key in ("latent", "output", "reconstruction_error"):
            yield key, _bounds(self.e[key])
        for key, value in self.e["gradients"].items():
            yield f"gradients.{key}", _bounds(value)


def _bounds(nested) -> np.ndarray:
    return np.vectorize(lambda v: float(v), otypes=[float])(np.asarray(nested, dtype=object))


@pytest.mark.parametrize("name", LAYERED)
def test_bound_a_layered_case_as_json(name):
    """The v2 result of design §6, and every interval of the real enclosure contains the
    independent reference (exact rationals, Arb at 256 bits) at the box centre."""
    from verifae.layered import gradient_names

    result = run("bound", CASES / name, "--format", "json", "--runs", "0", "--method", "interval")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    case = verifae.cases.load_case(CASES / name, layered=True)
    spec = case.spec
    assert {"format_version", "case", "description", "input_dim", "latent_dim", "layer_sizes", "architecture",
            "compression_ratio", "backend", "precision", "method", "grad_output", "enclosures", "float_check",
            "status", "seconds", "verifae", "box_count"} <= set(doc)
    assert "hidden_dim" not in doc and "activation" not in doc
    assert (doc["format_version"], doc["case"], doc["method"], doc["float_check"]) == (2, case.name, "interval", None)
    assert (doc["input_dim"], doc["latent_dim"], doc["layer_sizes"]) == (spec.input_dim, spec.latent_dim,
                                                                         list(spec.layer_sizes))
    assert [a["name"] for a in doc["architecture"]] == [layer.name for layer in spec.layers]
    assert set(doc["enclosures"]) == {"real", "float64", "float32"}
    for e in doc["enclosures"].values():
        assert set(e) == {"layers", "latent", "output", "reconstruction_error", "gradients", "notes"}
        assert [layer["name"] for layer in e["layers"]] == [layer.name for layer in spec.layers]
        assert list(e["gradients"]) == list(gradient_names(spec))
        for layer, written in zip(spec.layers, e["layers"]):
            assert np.shape(written["pre_activation"]) == np.shape(written["post_activation"]) == (
                layer.out_features, 2)
            assert np.shape(e["gradients"][f"{layer.name}.weight"]) == (*layer.weight.shape, 2)
        assert e["latent"] == e["layers"][len(spec.encoder) - 1]["post_activation"]
        assert e["output"] == e["layers"][-1]["post_activation"]
    misses = outside(_Enclosure(doc["enclosures"]["real"]), layered_reference(spec, list(case.box.center), None))
    assert not misses, misses[:5]


def test_the_layered_architecture_in_the_result():
    doc = json.loads(run("bound", CASES / "layered-mixed-3-4-4-2-4-3.json", "--format", "json", "--runs", "0",
                         "--method", "interval", "--semantics", "real").output)
    assert doc["architecture"][1] == {"name": "encoder.1", "part": "encoder", "in_features": 4, "out_features": 4,
                                      "activation": {"name": "leaky_relu", "negative_slope": "1/5"}}
    assert [a["activation"] for a in doc["architecture"]] == [
        "relu", {"name": "leaky_relu", "negative_slope": "1/5"}, "tanh", "elu", "sigmoid"]
    assert doc["architecture"][-1]["name"] == "out" and "out.weight" in doc["enclosures"]["real"]["gradients"]


@pytest.mark.parametrize("name", LAYERED)
def test_bound_a_layered_case_as_a_table(name):
    result = run("bound", CASES / name, "--runs", "0", "--method", "interval")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 100
    spec = verifae.cases.load_case(CASES / name, layered=True).spec
    assert f"layered {'-'.join(map(str, spec.layer_sizes))}" in result.output
    for semantics in ("real", "float64", "float32"):
        assert any(line.startswith(f"{semantics} ─") for line in lines)
    for layer in spec.layers:  # a row per layer, three times, and its gradients by name
        assert sum(line.startswith(f"  {layer.name} ") for line in lines) == 3
        assert sum(line.startswith(f"  {layer.name}.weight ") for line in lines) == 3
    assert result.output.count("  latent\n") == 3 and "  skipped (--runs 0)" in lines


def test_the_layered_table_names_configured_activations():
    result = run("bound", CASES / "layered-mixed-3-4-4-2-4-3.json", "--runs", "0", "--method", "interval",
                 "--semantics", "real")
    rows = [line for line in result.output.splitlines() if line.startswith("  encoder.1 ")]
    assert rows and "leaky_relu(negative_slope=0.2)" in rows[0] and "4×4" in rows[0]


def test_a_layered_case_with_the_float_run_check():
    """With runs, a layered case is checked like a v1 case: every run of every
    implementation inside, the command succeeds."""
    result = run("bound", CASES / "layered-mixed-3-4-4-2-4-3.json", "--format", "json", "--runs", "20",
                 "--method", "interval")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["float_check"] and "float_check_note" not in doc
    assert doc["float_check"]["float32"]["runs"] > 0 and doc["float_check"]["reference"]["points"] > 0
    assert all(c["outside"] == 0 for c in doc["float_check"].values())


def test_a_layered_case_with_several_boxes_and_a_grad_output_box(tmp_path):
    case = json.loads((CASES / "layered-mixed-3-4-4-2-4-3.json").read_text())
    case["input"] = [case["input"], {"lower": ["0", "0", "0"], "upper": ["0.1", "0.1", "0.1"]}]
    case["grad_output"] = {"center": ["1", "0", "-1"], "radius": "0.5"}
    result = run("bound", write(tmp_path, case), "--format", "json", "--runs", "0", "--method", "interval",
                 "--semantics", "real")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["box_count"] == 2 and doc["grad_output"] == "box" and len(doc["boxes"]) == 2
    assert doc["boxes"][0]["enclosures"] == doc["enclosures"]
    assert doc["boxes"][0]["enclosures"] != doc["boxes"][1]["enclosures"]
    loaded = verifae.cases.load_case(tmp_path / "case.json", layered=True)
    g = list(loaded.grad_output.upper)  # a corner of the incoming-gradient box
    for box, written in zip(loaded.boxes, doc["boxes"]):
        misses = outside(_Enclosure(written["enclosures"]["real"]), layered_reference(loaded.spec, list(box.lower), g))
        assert not misses, misses[:5]
    table = run("bound", tmp_path / "case.json", "--runs", "0", "--method", "interval", "--semantics", "real")
    assert table.exit_code == 0 and "Boxes (real)" in table.output


def layered_case(encoder, decoder, **extra):
    return {"model": {"encoder": encoder, "decoder": decoder}, "input": {"center": ["0", "0.5"], "radius": "0.1"},
            **extra}


def dense(rows, cols, activation="relu", **extra):
    return {"weight": [["0.1"] * cols for _ in range(rows)], "bias": ["0"] * rows, "activation": activation, **extra}


@pytest.mark.parametrize("content, message", [
    (layered_case([dense(4, 2)], [dense(8, 3)]),
     "error: CASE: model.decoder[0].weight: shape (8, 3) does not chain: the previous layer gives 4 values "
     "(model.encoder[0].weight has shape (4, 2))\n"),
    (layered_case([dense(4, 2), dense(3, 5)], [dense(2, 3)]),
     "error: CASE: model.encoder[1].weight: shape (3, 5) does not chain: the previous layer gives 4 values "
     "(model.encoder[0].weight has shape (4, 2))\n"),
    (layered_case([dense(4, 2)], [dense(3, 4)]),
     "error: CASE: model.decoder[0].weight: shape (3, 4) ends the decoder with 3 values, but the model's "
     "input_dim is 2 (model.encoder[0].weight has 2 columns)\n"),
    (layered_case([dense(4, 2)], [{"weight": [["1"] * 4] * 2, "bias": ["0"] * 3, "activation": "relu"}]),
     "error: CASE: model.decoder[0].weight: expected 3 rows (one per entry of model.decoder[0].bias), got 2\n"),
    (layered_case([dense(4, 2, "selu")], [dense(2, 4)]),
     "error: CASE: model.encoder[0].activation: unknown activation 'selu'; valid activations are: relu, "
     "sigmoid, tanh, identity, leaky_relu, elu, softplus, silu, gelu\n"),
    (layered_case([dense(4, 2, {"name": "leaky_relu", "negative_slope": "1.5"})], [dense(2, 4)]),
     "error: CASE: model.encoder[0].activation.negative_slope: leaky_relu: negative_slope must lie in [0, 1], "
     "got '1.5'\n"),
    (layered_case([dense(4, 2)], [{"weight": [["1"] * 4] * 2, "bias": ["0", "NaN"], "activation": None}]),
     "error: CASE: model.decoder[0].bias[1]: 'NaN' is not a number (expected a decimal like '0.1', a rational "
     "like '1/3' or a hexadecimal float like '0x1.8p-3')\n"),
    (layered_case([dense(4, 2, name="z")], [dense(2, 4, name="z")]),
     "error: CASE: model.decoder[0].name: layer name 'z' is also the name of model.encoder[0]\n"),
    (layered_case([dense(4, 2)], []), "error: CASE: model.decoder: expected at least one layer\n"),
    (layered_case([dense(4, 2)], [dense(2, 4)], input={"center": [0, 0, 0], "radius": 1}),
     "error: CASE: input.center: expected 2 numbers (input_dim 2), got 3\n"),
    (layered_case([dense(4, 2)], [dense(2, 4)], grad_output={"center": [0], "radius": 1}),
     "error: CASE: grad_output.center: expected 2 numbers (input_dim 2), got 1\n"),
    ({"model": {"encoder": [dense(4, 2)], "decoder": [dense(2, 4)], "W_enc": [[1]]},
      "input": {"center": [0, 0], "radius": 1}},
     "error: CASE: model.W_enc: unknown key; expected one of encoder, decoder\n"),
])
def test_malformed_layered_cases(tmp_path, content, message):
    assert bad(tmp_path, content, "--method", "interval") == message


def test_a_grad_output_file_that_does_not_fit_a_layered_model(tmp_path):
    g = write(tmp_path, {"center": [0, 0, 0], "radius": 1}, "g.json")
    p = write(tmp_path, layered_case([dense(4, 2)], [dense(2, 4)]))
    result = run("bound", p, "--grad-output", g, "--runs", "0", "--method", "interval")
    assert result.exit_code == 2
    assert result.output == "error: grad_output has 3 entries but the model's output has 2\n"


def test_a_v1_activation_object_round_trips(tmp_path):
    """v1's activation as an object: the result writes the configuration, which read back
    as a case gives the same spec and the same enclosures."""
    case = changed("model.activation", {"name": "leaky_relu", "negative_slope": "0.2"})
    # the float runs (numpy, loops, PyTorch) use the configured slope, or they would fall outside
    result = run("bound", write(tmp_path, case), "--format", "json", "--runs", "20", "--semantics", "real",
                 "--method", "interval")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["activation"] == {"name": "leaky_relu", "negative_slope": "1/5"}
    assert set(doc) >= {"hidden_dim", "activation"} and "format_version" not in doc  # still a v1 result
    assert doc["float_check"]["float64"]["outside"] == 0 and doc["float_check"]["float32"]["outside"] == 0
    again = changed("model.activation", doc["activation"])
    second = json.loads(run("bound", write(tmp_path, again, "again.json"), "--format", "json", "--runs", "0",
                            "--semantics", "real").output)
    assert second["activation"] == doc["activation"]
    assert second["enclosures"]["real"]["hidden"] == doc["enclosures"]["real"]["hidden"]
    # and the slope is used: hidden unit 0 has z = 0.1 x1 − 0.2 x2 in [−0.2, 0.1], so its lower end is s·(−0.2)
    default = json.loads(run("bound", write(tmp_path, changed("model.activation", "leaky_relu"), "d.json"),
                             "--format", "json", "--runs", "0", "--semantics", "real").output)
    assert default["activation"] == "leaky_relu"
    assert default["enclosures"]["real"]["hidden"] != doc["enclosures"]["real"]["hidden"]
    table = run("bound", tmp_path / "again.json", "--runs", "0", "--semantics", "real")
    assert "2-3-2 leaky_relu(negative_slope=0.2)" in table.output


# ---------------------------------------------------------------- bound --model (a model file directly)

MODELS = CASES / "models"


@pytest.mark.skipif(__import__("importlib").util.find_spec("onnx") is None, reason="needs the onnx extra")
def test_bound_model_reads_the_model_file_and_its_boxes(tmp_path):
    """bound --model MODEL BOX bounds what `verifae case` would have written: the same
    enclosures as bound on the committed case made from that file."""
    centre = tmp_path / "x.npy"
    np.save(centre, np.load(MODELS / "digits-test.npy")[:1])
    direct = run("bound", "--model", MODELS / "digits-layered-64-32-8-32-64.onnx", "--center", centre,
                 "--radius", "0.02", "--clip", "0", "1", "--runs", "0", "--semantics", "real", "--method", "interval",
                 "--format", "json")
    assert direct.exit_code == 0, direct.output
    doc = json.loads(direct.output)
    assert doc["format_version"] == 2 and doc["layer_sizes"] == [64, 32, 8, 32, 64]
    via_case = json.loads(run("bound", CASES / "digits-layered-64-32-8-32-64-eps0.02.json", "--runs", "0",
                              "--semantics", "real", "--method", "interval", "--format", "json").output)
    assert doc["enclosures"]["real"]["output"] == via_case["enclosures"]["real"]["output"]


@pytest.mark.parametrize("args, message", [
    ((), "give either CASE.json or --model MODEL"),
    ((str(CASES / "tiny-relu-2-1-2.json"), "--model", "m.onnx"), "give either CASE.json or --model MODEL"),
    ((str(CASES / "tiny-relu-2-1-2.json"), "--radius", "0.1"), "--radius goes with --model"),
])
def test_bound_model_misuse_is_a_usage_error(args, message):
    result = run("bound", *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_bound_model_with_a_missing_file_exits_2():
    result = run("bound", "--model", "no-such-model.onnx", "--center", "x.npy", "--radius", "0.1")
    assert result.exit_code == 2 and "no-such-model.onnx" in result.output and "Traceback" not in result.output


HAVE_TORCH = __import__("importlib").util.find_spec("torch") is not None


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("name", ["tanh-4x2.json", "not-a-case.json"])
def test_bound_ends_an_early_torch_process_when_the_model_is_small_or_bad(monkeypatch, tmp_path, name):
    """`bound` starts PyTorch's process before it reads a big model file; when the model
    turns out small (PyTorch runs in this process) or the file is bad, it ends the
    process at once, and the result is the one without the early start."""
    import verifae.cli as cli
    from verifae import torch_runs

    path = CASES / name if name != "not-a-case.json" else write(tmp_path, {"name": "bad"}, name)
    plain = run("bound", path, "--runs", "20", "--format", "json")
    monkeypatch.setattr(cli, "EARLY_TORCH_BYTE_RUNS", 1)  # every file counts as big
    stops = []
    real_stop = torch_runs.stop
    monkeypatch.setattr(torch_runs, "stop", lambda **kw: (stops.append(kw), real_stop(**kw))[1])
    early = run("bound", path, "--runs", "20", "--format", "json")
    assert stops[0] == {"terminate": True} and torch_runs._pool is None
    assert early.exit_code == plain.exit_code == (0 if name == "tanh-4x2.json" else 2)
    strip = re.compile(r'"seconds": [0-9.e-]+')
    assert strip.sub("", early.output) == strip.sub("", plain.output)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_the_early_start_guesses_the_checks_choice_on_every_shipped_case(monkeypatch):
    """The file-size guess of `_start_torch_early` agrees with the check's own choice
    (`verifae.check._torch_elsewhere`) on every case in cases/, at 1000 and 100 runs."""
    import verifae.cli as cli
    from verifae import torch_runs
    from verifae.cases import load_case
    from verifae.check import _torch_elsewhere

    monkeypatch.setattr(torch_runs, "start", lambda: True)  # the guess only, no process
    for path in sorted(CASES.glob("*.json")):
        case = load_case(path, layered=True)
        for runs in (1000, 100):
            expected = _torch_elsewhere(case.spec, max(1, runs // len(case.boxes)))
            assert cli._start_torch_early(path, runs) == expected, (path.name, runs)
