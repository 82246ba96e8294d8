"""`verifae verify` and `verifae check-cert`: exit codes, messages, JSON shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from verifae.cli import main
from verifae.verify import runs as verify_runs

CASES = Path(__file__).resolve().parent.parent / "cases"
RELU = str(CASES / "tiny-relu-2-1-2.json")  # E <= 4, output in [1, 5/2] on [0, 1/2]²


@pytest.fixture(autouse=True)
def no_torch(monkeypatch):
    monkeypatch.setattr(verify_runs.torch_runs, "available", lambda: False)


def _run(*args):
    # one process unless a test asks for more: spawned workers cost seconds to start and
    # do not see this module's monkeypatches
    jobs = () if "--jobs" in args or "--scheduler" in args else ("--jobs", "1")
    return CliRunner().invoke(main, ["verify", *args, *jobs], catch_exceptions=False)


def test_all_proved_exits_0_with_a_table():
    r = _run(RELU, "--property", "error<=4.5", "--property", "output[0]<=2.6")
    assert r.exit_code == 0, r.output
    assert "error<=4.5               real      proved" in r.output
    assert "summary: 6 verdict(s): 6 proved, 0 violated, 0 unknown" in r.output


def test_violated_exits_1_with_the_counterexample():
    r = _run(RELU, "--property", "error<=3", "--semantics", "real", "--semantics", "float32")
    assert r.exit_code == 1, r.output
    assert "error<=3                 real      violated" in r.output
    assert "counterexample: real value in [4, 4] (arb at 200 bits at the exact point)" in r.output
    assert "counterexample: float32 runs give numpy 4; real value in [4, 4]" in r.output


def test_unknown_exits_4():
    r = _run(RELU, "--property", "output[0]<=2.5", "--semantics", "real", "--max-parts", "3")
    assert r.exit_code == 4, r.output
    assert "output[0]<=2.5           real      unknown" in r.output
    assert re.search(r"open: [123] part\(s\) of the box still undecided", r.output)


def test_violated_wins_over_unknown():
    r = _run(RELU, "--property", "output[0]<=2.5", "--property", "error<=3", "--semantics", "real",
             "--max-parts", "3")
    assert r.exit_code == 1


def test_json_shape():
    r = _run(RELU, "--property", "error<=3", "--property", "latent[0]>=0.5", "--semantics", "real",
             "--semantics", "float64", "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert data["case"] == "tiny-relu-2-1-2" and data["semantics"] == ["real", "float64"]
    assert data["summary"]["violated"] == 2 and data["summary"]["proved"] == 2
    error = data["boxes"][0]["properties"][0]
    assert error["property"] == "error<=3"
    real = error["verdicts"]["real"]
    assert set(real) >= {"status", "bound", "counterexample", "parts", "seconds", "threshold"}
    assert real["status"] == "violated" and real["threshold"] == "3"
    assert real["counterexample"]["x"] == ["1/2", "1/2"] and real["counterexample"]["value"] == [4.0, 4.0]
    f64 = error["verdicts"]["float64"]["counterexample"]
    assert f64["runs"]["numpy"] == {"value": 4.0, "violated": True} and f64["real"]["violated"] is True
    latent = data["boxes"][0]["properties"][1]["verdicts"]["real"]
    assert latent["status"] == "proved" and "counterexample" not in latent and latent["bound"][0] <= 1


@pytest.mark.parametrize("prop, message", [
    ("error<0.1", "error: 'error<0.1': comparison '<' is not supported; use <= or >="),
    ("output[2]<=1", "error: 'output[2]<=1': index 2 is out of range; the model's output has 2 entries"),
    ("latent[1]>=0", "error: 'latent[1]>=0': index 1 is out of range; the model's latent has 1 entries"),
    ("banana", "error: cannot parse property 'banana'"),
])
def test_bad_property_exits_2(prop, message):
    r = CliRunner().invoke(main, ["verify", RELU, "--property", prop])
    assert r.exit_code == 2
    assert message in r.output


def test_missing_case_exits_2(tmp_path):
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "nope.json"), "--property", "error<=1"])
    assert r.exit_code == 2 and "no such file" in r.output


def test_multi_box_summary(tmp_path):
    case = json.loads((CASES / "tiny-relu-2-1-2.json").read_text())
    case["input"] = [case["input"], {"lower": [0, 0], "upper": ["0.1", "0.1"]}]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(case))
    r = _run(str(path), "--property", "error<=2", "--semantics", "real")
    # box 0 reaches E = 4; on [0, 0.1]² z <= 1.3 and E <= 1.69
    assert r.exit_code == 1, r.output
    assert "error<=2 (real): 1 proved, 1 violated, 0 unknown of 2 boxes" in r.output


def test_certificate_round_trip(tmp_path):
    cert = tmp_path / "cert.json"
    r = _run(str(CASES / "relu-kink-2-1-2.json"), "--property", "error<=5.01", "--semantics", "real",
             "--certificate", str(cert))
    assert r.exit_code == 0, r.output
    checked = CliRunner().invoke(main, ["check-cert", str(cert)])
    assert checked.exit_code == 0 and "accepted: 1 proof(s)" in checked.output
    data = json.loads(cert.read_text())
    data["proofs"][0]["leaves"].pop()
    cert.write_text(json.dumps(data))
    rejected = CliRunner().invoke(main, ["check-cert", str(cert)])
    assert rejected.exit_code == 1
    assert "rejected: proofs[0]: the leaves do not tile the box exactly" in rejected.output


def test_check_cert_of_a_missing_file_is_rejected(tmp_path):
    r = CliRunner().invoke(main, ["check-cert", str(tmp_path / "none.json")])
    assert r.exit_code == 1 and "no such file" in r.output


def test_certificate_refused_for_float_semantics_only():
    r = CliRunner().invoke(main, ["verify", RELU, "--property", "error<=5", "--semantics", "float32",
                                  "--certificate", "/tmp/never-written.json"])
    assert r.exit_code == 2 and "certificates cover the real semantics only" in r.output


def test_tightest_in_table_and_json():
    r = _run(RELU, "--property", "error<=4.5", "--semantics", "real", "--tightest")
    assert r.exit_code == 0
    assert "error<=4.000001 proved in real (runs reach 4;" in r.output  # the bound, rounded up to 7 digits
    r = _run(RELU, "--property", "error<=4.5", "--semantics", "real", "--tightest", "--format", "json")
    level = json.loads(r.output)["boxes"][0]["properties"][0]["tightest"]["real"]
    assert level["seen"] == 4.0 and 4.0 <= level["proved"] < 4.00001


# ---------------------------------------------------------------- VNN-LIB properties and TorchLean

DECLARE = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
QUARTER_BOX = "".join(f"(assert (>= X_{i} 0))\n(assert (<= X_{i} 0.5))\n" for i in range(2))


def _vnnlib(tmp_path, body, name="p.vnnlib"):
    path = tmp_path / name
    path.write_text(DECLARE + body)
    return str(path)


def test_vnnlib_property_proved_and_violated(tmp_path):
    # the outputs Y_0 = Y_1 lie in [1, 5/2]; the second disjunct (Y_0 − Y_1 >= 0.1) never holds, and
    # CROWN with c = (1, −1) proves it on the whole box in one part (the outputs' intervals alone
    # give Y_0 − Y_1 in [−3/2, 3/2]). At T = 5/2 it leads the margin everywhere but near the
    # maximum, where only the first disjunct can be met: the ascent must still climb there.
    above = _vnnlib(tmp_path, "(assert (or (>= Y_0 2.501) (>= (- Y_0 Y_1) 0.1)))", "above.vnnlib")
    r = _run(RELU, "--property", above, "--semantics", "real", "--semantics", "float32")
    assert r.exit_code == 0, r.output
    assert re.search(r"vnnlib:\S*above\.vnnlib real +proved +\[0\.000999\d*, 0\.1000001\] +1 ", r.output)
    at = _vnnlib(tmp_path, QUARTER_BOX + "(assert (or (>= Y_0 2.5) (>= (- Y_0 Y_1) 0.1)))", "at.vnnlib")
    r = _run(RELU, "--property", at, "--semantics", "real", "--semantics", "float32", "--format", "json")
    assert r.exit_code == 1, r.output
    verdicts = json.loads(r.output)["boxes"][0]["properties"][0]["verdicts"]
    assert verdicts["real"]["counterexample"]["x"] == ["1/2", "1/2"]
    assert verdicts["real"]["counterexample"]["value"] == [0.0, 0.0]  # the margin: on the boundary, unsafe
    assert verdicts["float32"]["counterexample"]["runs"]["numpy"] == {"value": 0.0, "violated": True}


@pytest.mark.parametrize("body, message", [
    ("(assert (> Y_0 1))", "p.vnnlib, line 5: (> Y_0 1): strict comparisons are not read"),
    ("(assert (<= (* Y_0 Y_1) 1))", "p.vnnlib, line 5: (* Y_0 Y_1): a product of outputs is not linear"),
    (QUARTER_BOX.replace("0.5", "0.25") + "(assert (>= Y_0 3))",
     "the file's input constraints are not the case's box (box 0, X_0: the file has [0, 1/4], the case [0, 1/2])"),
])
def test_vnnlib_bad_input_exits_2(tmp_path, body, message):
    r = _run(RELU, "--property", _vnnlib(tmp_path, body))
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_vnnlib_dimension_mismatch_exits_2(tmp_path):
    path = tmp_path / "three.vnnlib"
    path.write_text(DECLARE + "(declare-const Y_2 Real)\n(assert (>= Y_2 3))\n")
    r = _run(RELU, "--property", str(path))
    assert r.exit_code == 2
    assert "declares 3 outputs Y_i, but the model's output (its decoder's) has 2 entries" in r.output


def test_vnnlib_certificate_refused(tmp_path):
    r = _run(RELU, "--property", _vnnlib(tmp_path, "(assert (>= Y_0 3))"), "--semantics", "real",
             "--certificate", str(tmp_path / "cert.json"))
    assert r.exit_code == 2
    assert "the checker bounds error, output and latent properties only" in r.output
    assert not (tmp_path / "cert.json").exists()


def test_torchlean_document_written(tmp_path):
    out = tmp_path / "query.json"
    r = CliRunner().invoke(main, ["verify", RELU, "--property", _vnnlib(tmp_path, "(assert (>= Y_0 2.6))"),
                                  "--property", "output[1]>=0.5", "--semantics", "real", "--jobs", "1",
                                  "--torchlean", str(out)])
    assert r.exit_code == 0, r.output
    assert f"torchlean: {out} (crown_query_v1, 2 row(s); verifae's replay of its check accepts)" in r.output
    doc = json.loads(out.read_text())
    assert doc["input"] == {"lo": ["0", "0"], "hi": ["1/2", "1/2"]}
    assert doc["layers"][:2] == [{"kind": "linear", "weights": [["1", "2"]], "bias": ["1"]},
                                 {"kind": "relu", "alpha": ["1"]}]
    assert doc["query"] == {"weights": [["1", "0"], ["0", "-1"]], "bias": ["-13/5", "1/2"], "strict": True}


def test_torchlean_rejected_query_is_said(tmp_path):
    out = tmp_path / "query.json"
    r = CliRunner().invoke(main, ["verify", RELU, "--property", "output[0]<=2.4", "--semantics", "real",
                                  "--jobs", "1", "--torchlean", str(out)])
    assert r.exit_code == 1
    assert "verifae's replay of its check rejects (one affine pass does not prove it)" in r.output


@pytest.mark.parametrize("case, prop, message", [
    ("tiny-tanh-2-1-2.json", "output[0]<=3", "layer encoder.0 has activation 'tanh'"),
    ("tiny-relu-2-1-2.json", "error<=5", "TorchLean's query states linear output properties only"),
    ("digits-64-16-64-four-boxes.json", "output[0]<=3", "--torchlean writes one box's document; the case has 4 boxes"),
])
def test_torchlean_refusals_exit_2_before_searching(tmp_path, case, prop, message):
    out = tmp_path / "query.json"
    r = _run(str(CASES / case), "--property", prop, "--torchlean", str(out))
    assert r.exit_code == 2, r.output
    assert message in r.output and not out.exists()


# ---------------------------------------------------------------- --jobs and --scheduler


def _four_boxes(tmp_path: Path) -> Path:
    """tiny-relu-2-1-2's model with four boxes (E at most 4 on the first, larger elsewhere)."""
    case = json.loads(Path(RELU).read_text())
    case["name"] = "tiny-relu-four-boxes"
    case["input"] = [{"lower": [0, 0], "upper": ["1/2", "1/2"]}, {"lower": [-1, 0], "upper": [0, 1]},
                     {"lower": ["1/4", "1/4"], "upper": ["1/2", "1/2"]}, {"lower": [-2, -2], "upper": [-1, -1]}]
    path = tmp_path / "four.json"
    path.write_text(json.dumps(case))
    return path


def _without_seconds(doc):
    if isinstance(doc, dict):
        return {k: _without_seconds(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [_without_seconds(v) for v in doc]
    return doc


def test_jobs_give_the_same_verdicts_as_one_process(tmp_path):
    """Each (box, semantics) task has its own seeded search, so two spawned processes
    give the verdicts of one (budgets in parts, not seconds; real semantics only: the
    workers do not see this module's no-PyTorch patch, which float counterexamples report)."""
    case = _four_boxes(tmp_path)
    args = [str(case), "--property", "error<=4.5", "--property", "output[0]<=2", "--property", "output[0]<=2.5",
            "--semantics", "real", "--max-parts", "6", "--tightest", "--format", "json"]
    one = _run(*args, "--jobs", "1")
    two = _run(*args, "--jobs", "2")
    assert one.exit_code == two.exit_code == 1, (one.output, two.output)
    a, b = json.loads(one.output), json.loads(two.output)
    assert _without_seconds(a) == _without_seconds(b)
    statuses = {v["status"] for box in a["boxes"] for p in box["properties"] for v in p["verdicts"].values()}
    assert statuses == {"proved", "violated", "unknown"}


def test_dask_gives_the_verdicts_of_one_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    case = _four_boxes(tmp_path)
    args = [str(case), "--property", "error<=4.5", "--semantics", "real", "--semantics", "float64",
            "--max-parts", "6", "--format", "json"]
    one = _run(*args, "--jobs", "1")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        remote = _run(*args, "--scheduler", cluster.scheduler_address)
    assert one.exit_code == remote.exit_code, (one.output, remote.output)
    assert _without_seconds(json.loads(one.output)) == _without_seconds(json.loads(remote.output))


def test_unreachable_scheduler_exits_5(tmp_path):
    """Not the user's input: exit 5, not 2 (loopback only; nothing listens on port 1)."""
    pytest.importorskip("distributed")
    out = tmp_path / "verdicts.json"
    r = _run(RELU, "--property", "error<=4.5", "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "1",
             "-o", str(out))
    assert r.exit_code == 5, r.output
    assert r.output.startswith("error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:1': ")
    assert not out.exists()


def test_jobs_must_be_positive():
    r = _run(RELU, "--property", "error<=4.5", "--jobs", "0")
    assert r.exit_code == 2
    assert "Invalid value for '--jobs': 0 is not in the range x>=1." in r.output


@pytest.mark.parametrize("body, message", [
    # SMT-LIB symbols are whole names: Y_01 is a variable of its own, never Y_1 (found by the
    # adversarial review: verifae read Y_01 as Y_1 and proved a property the file does not state)
    ("(declare-const Y_01 Real)\n(assert (>= Y_01 5))", "variable 'Y_01' is neither an input X_i nor an output Y_j"),
    ("(assert (>= Y_01 5))", "line 5: (>= Y_01 5): an assertion on no variable"),
    # Y_² passes str.isdigit but is no index: bad input, not an internal error
    ("(assert (<= Y_\u00b2 0))", "line 5: (<= Y_\u00b2 0): an assertion on no variable"),
    ("(declare-const X_\u00b2 Real)\n(assert (<= Y_0 0))",
     "variable 'X_\u00b2' is neither an input X_i nor an output Y_j"),
])
def test_vnnlib_names_are_whole_symbols(tmp_path, body, message):
    r = _run(RELU, "--property", _vnnlib(tmp_path, body), "--semantics", "real")
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_check_cert_against_the_case(tmp_path):
    cert = tmp_path / "cert.json"
    kink = str(CASES / "relu-kink-2-1-2.json")
    assert _run(kink, "--property", "output[0]<=3", "--semantics", "real", "--certificate", str(cert)).exit_code == 0
    r = CliRunner().invoke(main, ["check-cert", str(cert), "--case", kink])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"model: 2 -> 1 -> 2, negative-side slopes 0, 1 (the model of {kink})\n")
    r = CliRunner().invoke(main, ["check-cert", str(cert), "--case", RELU])
    assert r.exit_code == 1
    assert "rejected: model: not the case's model (a weight, bias, activation or shape differs)" in r.output
    r = CliRunner().invoke(main, ["check-cert", str(cert), "--case", str(tmp_path / "none.json")])
    assert r.exit_code == 2
