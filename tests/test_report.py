"""`verifae report`: the batch report, its robustness, its cache, and a real browser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from verifae import report as report_module
from verifae.cli import main
from verifae.report import ReportOptions, build_report

CASES = Path(__file__).resolve().parent.parent / "cases"
SMALL = ["tiny-relu-2-1-2", "tiny-sigmoid-2-1-2", "tanh-4x2"]
FAST = ReportOptions(runs=20)


@pytest.fixture
def folder(tmp_path):
    """Three good cases, one invalid case and one file that is not JSON."""
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in SMALL:
        shutil.copy(CASES / f"{name}.json", cases)
    bad = json.loads((CASES / "tanh-4x2.json").read_text())
    bad["model"]["activation"] = "softmax"
    (cases / "bad-activation.json").write_text(json.dumps(bad))
    (cases / "not-json.json").write_text("{oops")
    return cases


def test_a_bad_case_does_not_stop_the_batch(folder, tmp_path):
    out = tmp_path / "report"
    entries, code = build_report([folder], out, FAST, jobs=1, progress=False)
    assert code == 2
    status = {e["slug"]: e["status"] for e in entries}
    assert status == {"bad-activation": "invalid", "not-json": "invalid", "tanh-4x2": "ok",
                      "tiny-relu-2-1-2": "ok", "tiny-sigmoid-2-1-2": "ok"}
    errors = {e["slug"]: e["error"] for e in entries}
    assert "model.activation: unknown activation 'softmax'" in errors["bad-activation"]
    assert "invalid JSON at line 1" in errors["not-json"]
    names = {p.name for p in out.iterdir()}
    assert {"index.html", "index.md", "summary.json"} <= names
    for slug in SMALL:
        assert {f"{slug}.summary.json", f"{slug}-outputs.png", f"{slug}-gradients.png", f"{slug}-error.png"} <= names
        assert f"{slug}.json" not in names  # the full result only with full_results
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 2 and len(summary["cases"]) == 5
    good = next(e for e in summary["cases"] if e["slug"] == "tanh-4x2")
    assert good["dims"] == "4-2-4" and good["float_runs"]["float32"]["outside"] == 0
    assert good["reconstruction_error"][0] <= good["reconstruction_error"][1]
    html = (out / "index.html").read_text()
    for e in summary["cases"]:
        assert f'href="#{e["slug"]}"' in html and f'id="{e["slug"]}"' in html
    assert "unknown activation" in html and "<script" not in html
    md = (out / "index.md").read_text()
    assert md.count("\n| [") == 5


def test_an_internal_error_is_reported_and_the_rest_completes(folder, tmp_path, monkeypatch):
    real_bound = report_module.bound

    def sometimes_broken(case, **kwargs):
        if case.name == "tanh-4x2":
            raise ZeroDivisionError("boom")
        return real_bound(case, **kwargs)

    monkeypatch.setattr(report_module, "bound", sometimes_broken)
    entries, code = build_report([folder / "tanh-4x2.json", folder / "tiny-relu-2-1-2.json"], tmp_path / "r",
                                 FAST, jobs=1, progress=False)
    assert [e["status"] for e in entries] == ["error", "ok"] and code == 3
    assert entries[0]["error"].startswith("internal error: ZeroDivisionError: boom")


def test_a_failed_check_exits_1(folder, tmp_path, monkeypatch):
    real_bound = report_module.bound

    def failing(case, **kwargs):
        result = real_bound(case, **kwargs)
        result.check.formats["float64"].outside = 2
        return result

    monkeypatch.setattr(report_module, "bound", failing)
    entries, code = build_report([folder / "tiny-relu-2-1-2.json"], tmp_path / "r", FAST, jobs=1, progress=False)
    assert code == 1 and entries[0]["status"] == "check-failed"


def test_an_interrupted_build_keeps_the_previous_report(folder, tmp_path, monkeypatch):
    out = tmp_path / "report"
    build_report([folder / "tiny-relu-2-1-2.json"], out, FAST, jobs=1, progress=False)
    before = (out / "index.html").read_text()

    def interrupted(summary):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "render_html", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_report([folder], out, FAST, jobs=1, progress=False)
    assert (out / "index.html").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases", "report"]  # no half report left


def test_cache_reuses_unchanged_cases(folder, tmp_path):
    out = tmp_path / "report"
    files = [folder / "tiny-relu-2-1-2.json", folder / "tanh-4x2.json"]
    first, _ = build_report(files, out, FAST, jobs=1, progress=False)
    assert not any(e["cached"] for e in first)
    again, _ = build_report(files, out, FAST, jobs=1, progress=False)
    assert all(e["cached"] for e in again)
    assert [e["reconstruction_error"] for e in again] == [e["reconstruction_error"] for e in first]
    assert (out / "tanh-4x2-outputs.png").is_file()
    # A changed case, or changed options, is recomputed; --no-cache recomputes everything.
    case = json.loads(files[0].read_text())
    case["description"] = "changed"
    files[0].write_text(json.dumps(case))
    changed, _ = build_report(files, out, FAST, jobs=1, progress=False)
    assert [e["cached"] for e in changed] == [False, True]
    other, _ = build_report(files, out, ReportOptions(runs=21), jobs=1, progress=False)
    assert not any(e["cached"] for e in other)
    fresh, _ = build_report(files, out, ReportOptions(runs=21), jobs=1, use_cache=False, progress=False)
    assert not any(e["cached"] for e in fresh)


def test_parallel_jobs_give_the_same_report(folder, tmp_path):
    """Also a regression test: with threads already running in this process (PyTorch's
    pool, BLAS), forked workers deadlocked; the pool now spawns them."""
    try:
        import torch

        torch.ones(64, 64) @ torch.ones(64, 64)
    except ImportError:
        pass
    files = [folder / f"{n}.json" for n in SMALL]
    one, _ = build_report(files, tmp_path / "one", FAST, jobs=1, use_cache=False, progress=False)
    two, _ = build_report(files, tmp_path / "two", FAST, jobs=2, use_cache=False, progress=False)
    key = lambda es: [(e["slug"], e["status"], e["reconstruction_error"], e["float_runs"]) for e in es]  # noqa: E731
    assert key(one) == key(two)


def test_cli_report(folder, tmp_path):
    out = tmp_path / "r"
    result = CliRunner().invoke(main, ["report", str(folder / "tanh-4x2.json"), "--out", str(out), "--runs", "10",
                                       "--jobs", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["cases"][0]["status"] == "ok"
    result = CliRunner().invoke(main, ["report", str(folder), "--out", str(out), "--runs", "10", "--jobs", "1"])
    assert result.exit_code == 2
    assert "invalid       bad-activation" in result.output and f"report: {out / 'index.html'}" in result.output
    missing = CliRunner().invoke(main, ["report", str(tmp_path / "nowhere"), "--out", str(out)])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output


def _chromium():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


def test_report_renders_in_a_real_browser(folder, tmp_path):
    out = tmp_path / "report"
    entries, _ = build_report([folder, CASES / "large-784-64-784.json"], out, FAST, jobs=2, progress=False)
    driver = _chromium()
    try:
        driver.get((out / "index.html").as_uri())
        rows = driver.execute_script("return document.querySelectorAll('#summary tbody tr').length")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert rows == len(entries) == 6
    assert len(images) == 3 * 4  # three plots for each of the four good cases
    assert all(loaded for _, loaded in images), [src for src, loaded in images if not loaded]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_dask_gives_the_same_report_as_local_processes(folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    files = [folder / f"{n}.json" for n in SMALL] + [folder / "bad-activation.json"]
    local, local_code = build_report(files, tmp_path / "local", FAST, jobs=2, use_cache=False, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote, remote_code = build_report(files, tmp_path / "dask", FAST, use_cache=False, progress=False,
                                           scheduler=cluster.scheduler_address)
    key = lambda es: [(e["slug"], e["status"], e["error"], e["reconstruction_error"], e["float_runs"])  # noqa: E731
                      for e in es]
    assert key(local) == key(remote) and local_code == remote_code == 2
    names = {kind: sorted(p.name for p in (tmp_path / kind).iterdir()) for kind in ("dask", "local")}
    assert names["dask"] == names["local"]


def test_unreachable_scheduler_is_an_environment_failure(folder, tmp_path):
    """Not the user's input: exit 5, not 2 (loopback only; nothing listens on port 1)."""
    pytest.importorskip("distributed")
    out = tmp_path / "r"
    result = CliRunner().invoke(main, ["report", str(folder / "tanh-4x2.json"), "--out", str(out),
                                       "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "1", "--runs", "5"])
    assert result.exit_code == 5, result.output
    assert result.output.startswith("error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:1': ")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases"]  # no report, no temp folder


# ---------------------------------------------------------------- regressions of issue 12

ROOT = CASES.parent


def test_identical_case_files_share_one_cache_entry(tmp_path):
    """Regression: two case files with the same content crashed the report (FileExistsError in .cache)."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(CASES / "tiny-relu-2-1-2.json", tmp_path / folder / "same.json")
    shutil.copy(CASES / "tiny-relu-2-1-2.json", tmp_path / "a" / "copy.json")
    files = [tmp_path / "a" / "same.json", tmp_path / "b" / "same.json", tmp_path / "a" / "copy.json"]
    out = tmp_path / "r"
    for jobs in (1, 2):
        entries, code = build_report(files, out, FAST, jobs=jobs, use_cache=False, progress=False)
        assert code == 0 and [e["status"] for e in entries] == ["ok"] * 3, [e["error"] for e in entries]
        assert [e["slug"] for e in entries] == ["same", "same-2", "copy"]
        for e in entries:
            assert e["plots"]["outputs"] == f"{e['slug']}-outputs.png" and (out / e["plots"]["outputs"]).is_file()
            assert (out / f"{e['slug']}.summary.json").is_file()
        assert len(list((out / ".cache").iterdir())) == 2  # same.json twice: one entry
    again, _ = build_report(files, out, FAST, jobs=1, progress=False)
    assert [e["cached"] for e in again] == [True] * 3
    assert [e["plots"]["error"] for e in again] == ["same-error.png", "same-2-error.png", "copy-error.png"]


def test_cache_key_covers_the_environment(folder, tmp_path, monkeypatch):
    """Regression: after PyTorch was installed, the cache served results without PyTorch runs."""
    env = report_module.environment()
    assert set(env) >= {"python", "numpy", "python-flint", "mpmath", "torch"}
    assert env["numpy"] == __import__("numpy").__version__
    files = [folder / "tiny-relu-2-1-2.json"]
    out = tmp_path / "r"
    build_report(files, out, FAST, jobs=1, progress=False)
    for package, version in [("torch", None), ("torch", "0.0.1"), ("numpy", "1.0"), ("python-flint", "0.1"),
                             ("mpmath", "0.1"), ("python", "3.0.0")]:
        monkeypatch.setattr(report_module, "environment", lambda changed={**env, package: version}: changed)
        entries, _ = build_report(files, out, FAST, jobs=1, progress=False)
        assert not entries[0]["cached"], package
    monkeypatch.setattr(report_module, "environment", lambda: env)
    build_report(files, out, FAST, jobs=1, progress=False)
    entries, _ = build_report(files, out, FAST, jobs=1, progress=False)
    assert entries[0]["cached"]
    assert json.loads((out / "summary.json").read_text())["environment"] == env


def test_cached_rows_say_so_everywhere(folder, tmp_path, capsys):
    """Cached rows are marked in index.html, index.md, summary.json, the CLI's table and the progress line."""
    out = tmp_path / "r"
    args = ["report", str(folder / "tiny-relu-2-1-2.json"), "--out", str(out), "--runs", "10", "--jobs", "1"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and "(cached)" not in first.output
    assert "(cached)" not in (out / "index.html").read_text()
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0 and "s (cached)" in second.output
    assert json.loads((out / "summary.json").read_text())["cases"][0]["cached"] is True
    assert "(cached)" in (out / "index.html").read_text() and "(cached)" in (out / "index.md").read_text()
    capsys.readouterr()
    build_report([folder / "tiny-relu-2-1-2.json", folder / "tanh-4x2.json"], out, ReportOptions(runs=10), jobs=1,
                 progress=True)
    err = capsys.readouterr().err
    assert "done tiny-relu-2-1-2 (cached)" in err
    assert "running tanh-4x2" in err and "cases 2/2" in err


def test_report_files_and_folders_follow_the_umask(folder, tmp_path):
    """Regression: the report folder was 0700 (mkdtemp), whatever the umask."""
    old = os.umask(0o022)
    try:
        build_report([folder / "tiny-relu-2-1-2.json"], tmp_path / "r", FAST, jobs=1, progress=False)
    finally:
        os.umask(old)
    assert (tmp_path / "r").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "r" / "index.html").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "r" / "tiny-relu-2-1-2-outputs.png").stat().st_mode & 0o777 == 0o644


def test_full_results_on_request(folder, tmp_path):
    out = tmp_path / "r"
    build_report([folder / "tanh-4x2.json"], out, FAST, jobs=1, progress=False)
    assert not (out / "tanh-4x2.json").exists()
    summary = json.loads((out / "tanh-4x2.summary.json").read_text())
    assert summary["status"] == "ok" and summary["enclosures"]["real"]["output_width"]["count"] == 4
    entries, _ = build_report([folder / "tanh-4x2.json"], out, FAST, jobs=1, progress=False, full_results=True)
    assert entries[0]["cached"] and entries[0]["result"] == "tanh-4x2.json"
    doc = json.loads((out / "tanh-4x2.json").read_text())
    assert doc["enclosures"]["real"]["reconstruction_error"] == summary["enclosures"]["real"]["reconstruction_error"]
    assert 'href="tanh-4x2.json"' in (out / "index.html").read_text()


def test_plots_are_deterministic(tmp_path):
    """The committed report's PNGs change only when the figures do: no software version, no date."""
    from verifae.plots import PLOTS

    doc = json.loads(CliRunner().invoke(main, ["bound", str(CASES / "tiny-tanh-2-1-2.json"), "--format", "json",
                                               "--runs", "50"]).output)
    for suffix, (plot, _) in PLOTS.items():
        plot(doc, tmp_path / "a.png")
        plot(doc, tmp_path / "b.png")
        data = (tmp_path / "a.png").read_bytes()
        assert data == (tmp_path / "b.png").read_bytes(), suffix
        assert b"matplotlib" not in data.lower(), suffix


def test_ctrl_c_in_process_exits_130_and_keeps_the_previous_report(folder, tmp_path, monkeypatch):
    out = tmp_path / "r"
    build_report([folder / "tiny-relu-2-1-2.json"], out, FAST, jobs=1, progress=False)
    before = (out / "index.html").read_text()

    def interrupted(case, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "bound", interrupted)
    result = CliRunner().invoke(main, ["report", str(folder / "tanh-4x2.json"), "--out", str(out), "--jobs", "1",
                                       "--no-cache"])
    assert result.exit_code == 130 and result.output == "interrupted\n"
    assert (out / "index.html").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases", "r"]


@pytest.mark.parametrize("signum, code, message", [(signal.SIGINT, 130, "interrupted\n"), (signal.SIGTERM, 143, "")],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_workers_at_once(tmp_path, signum, code, message):
    """Regression: Ctrl-C waited ~2 minutes for the workers to finish every case, then
    exited 1, and a worker could recreate the removed temporary folder."""
    out = tmp_path / "r"
    build_report([CASES / "tiny-relu-2-1-2.json"], out, FAST, jobs=1, progress=False)
    before = (out / "index.html").read_text()
    slow = tmp_path / "slow"
    slow.mkdir()
    for i in range(6):  # about 30 s of work on two cores
        shutil.copy(CASES / "large-784-64-784.json", slow / f"large-{i}.json")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "verifae", "report", str(slow), "--out", str(out), "--jobs", "2",
                             "--no-cache"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".r.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(4)  # the workers have imported verifae and are inside a case
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == code and stderr == message and stdout == ""
    assert elapsed < 6
    assert (out / "index.html").read_text() == before
    time.sleep(1)  # no straggling worker writes anything afterwards
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "slow"]


def test_committed_report_is_small_and_complete():
    """reports/ is what `verifae report cases --out reports` writes, small enough to commit."""
    reports = ROOT / "reports"
    files = [p for p in reports.rglob("*") if p.is_file() and ".cache" not in p.parts]
    assert sum(p.stat().st_size for p in files) <= 3 * 2**20
    summary = json.loads((reports / "summary.json").read_text())
    assert [e["file"] for e in summary["cases"]] == [f"cases/{p.name}" for p in sorted(CASES.glob("*.json"))]
    for e in summary["cases"]:
        for name in [e["summary"], *e["plots"].values()]:
            assert (reports / name).is_file(), name


def test_unbounded_enclosures_are_marked_and_the_finite_ones_stay_readable(tmp_path, monkeypatch):
    """Regression: in the overflow case's plots the unbounded float32 enclosures were
    missing and the gradient heatmaps empty, with nothing saying why."""
    import matplotlib.pyplot as plt

    from verifae.plots import PLOTS

    doc = json.loads(CliRunner().invoke(main, ["bound", str(CASES / "overflow-float32-2-1-2.json"), "--format",
                                               "json", "--runs", "20"]).output)
    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig) or real_close(fig))
    for suffix, (plot, _) in PLOTS.items():
        plot(doc, tmp_path / f"{suffix}.png")
    outputs, gradients, error = figures
    ax = outputs.axes[0]
    lo, hi = ax.get_ylim()
    assert -0.3e40 < lo < 0 and 2e40 < hi < 2.3e40  # the finite real enclosures fill the axis
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "float32 enclosure unbounded (may overflow)" in legend and "real enclosure" in legend
    texts = [t.get_text() for a in gradients.axes for t in a.texts]
    assert texts.count("every entry unbounded (may overflow)") == 2
    legend = [t.get_text() for t in error.axes[0].get_legend().get_texts()]
    assert "float32 enclosure unbounded (may overflow)" in legend
    lo, hi = error.axes[0].get_xlim()
    assert 0.4e80 < lo and hi < 2.1e80


# ---------------------------------------------------------------- layered models (case format v2)

LAYERED = sorted(p.name for p in CASES.glob("layered-*.json"))
INTERVAL = ReportOptions(runs=0, method="interval")


def test_a_report_of_v1_and_layered_cases(tmp_path):
    """A folder with v1 and v2 cases: a row per case with its architecture, v2 summaries
    with per-layer widths, and the latent plot for the layered cases only."""
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in ["layered-mixed-3-4-4-2-4-3.json", "tiny-tanh-2-1-2.json"]:
        shutil.copy(CASES / name, cases)
    deep = json.loads((CASES / "layered-deep-tanh-4-3-3-3-2-3-3-3-4.json").read_text())
    deep["model"]["decoder"] = deep["model"]["decoder"][-1:]  # 4-3-3-3-2-4: a narrower deep row, faster
    deep["model"]["decoder"][0]["weight"] = [row[:2] for row in deep["model"]["decoder"][0]["weight"]]
    deep["name"] = "deep"
    (cases / "deep.json").write_text(json.dumps(deep))
    out = tmp_path / "report"
    entries, code = build_report([cases], out, INTERVAL, jobs=1, progress=False)
    assert code == 0, [e["error"] for e in entries]
    rows = {e["slug"]: e for e in entries}
    mixed, deep, v1 = rows["layered-mixed-3-4-4-2-4-3"], rows["deep"], rows["tiny-tanh-2-1-2"]
    assert (mixed["dims"], mixed["activation"]) == ("3-4-4-2-4-3", "relu,leaky_relu(negative_slope=0.2),tanh,elu,"
                                                                  "sigmoid")
    assert (deep["dims"], deep["activation"]) == ("4-3-3-3-2-4", "tanh,tanh,tanh,tanh,identity")
    assert (v1["dims"], v1["activation"], v1["layered"]) == ("2-1-2", "tanh", False)
    for e in (mixed, deep):
        assert e["layered"] and e["status"] == "ok"
        assert list(e["plots"]) == ["outputs", "latent", "gradients", "error"]
        assert all((out / name).is_file() for name in e["plots"].values())
        summary = json.loads((out / e["summary"]).read_text())
        assert summary["format_version"] == 2 and summary["layer_sizes"] == [int(n) for n in e["dims"].split("-")]
        real = summary["enclosures"]["real"]
        assert [layer["name"] for layer in real["layers"]] == [a["name"] for a in summary["architecture"]]
        assert real["latent_width"]["count"] == summary["latent_dim"]
        assert real["layers"][0]["pre_activation_width"]["count"] == summary["layer_sizes"][1]
    assert list(v1["plots"]) == ["outputs", "gradients", "error"]
    markdown = (out / "index.md").read_text()
    assert "| 3-4-4-2-4-3 | relu,leaky_relu(negative_slope=0.2),tanh,elu,sigmoid | ok |" in markdown
    assert "![layered-mixed-3-4-4-2-4-3 latent](layered-mixed-3-4-4-2-4-3-latent.png)" in markdown
    page = (out / "index.html").read_text()
    assert "<td>4-3-3-3-2-4</td>" in page
    assert page.count("<figcaption>Latent enclosures (float32, float64 and real)") == 2
    assert page.count("<figcaption>Enclosure widths of the weight gradients, layer by layer") == 2
    assert page.count("<figcaption>Enclosure widths of the W_enc and W_dec gradients</figcaption>") == 1
    result = CliRunner().invoke(main, ["report", str(cases), "--out", str(out), "--jobs", "1", "--runs", "0",
                                       "--method", "interval"])
    assert result.exit_code == 0, result.output
    assert result.output.count("(cached)") == 3


def _layered_doc(name: str) -> dict:
    return json.loads(CliRunner().invoke(main, ["bound", str(CASES / name), "--format", "json", "--runs", "0",
                                                "--method", "interval"]).output)


def _figures(monkeypatch) -> list:
    """The figures the plot functions close, in order."""
    import matplotlib.pyplot as plt

    figures: list = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig) or real_close(fig))
    return figures


def test_the_latent_plot(tmp_path, monkeypatch):
    """Every latent coordinate in each semantics, within the axis; PNGs byte-identical
    from run to run (the layered gradient heatmaps too)."""
    from verifae.plots import LAYERED_PLOTS, plots_for

    doc = _layered_doc("layered-mixed-3-4-4-2-4-3.json")
    assert plots_for(doc) is LAYERED_PLOTS
    figures = _figures(monkeypatch)
    for suffix in ("latent", "gradients"):
        plot = LAYERED_PLOTS[suffix][0]
        plot(doc, tmp_path / "a.png")
        plot(doc, tmp_path / "b.png")
        data = (tmp_path / "a.png").read_bytes()
        assert data == (tmp_path / "b.png").read_bytes(), suffix
        assert b"matplotlib" not in data.lower(), suffix
    ax = figures[0].axes[0]
    assert ax.get_xlabel() == "latent coordinate" and "latent enclosures" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "float32 enclosure", "float64 enclosure", "real enclosure"]
    lo, hi = ax.get_ylim()
    for e in doc["enclosures"].values():
        for a, b in e["latent"]:
            assert lo <= a <= b <= hi
    assert len([p for p in ax.patches if p.get_height() > 0]) == 3 * doc["latent_dim"]
    titles = [a.get_title() for a in figures[2].axes if a.get_title()]
    assert titles == [f"width of d {a['name']}.weight ({a['out_features']}×{a['in_features']})"
                      for a in doc["architecture"]]


def test_the_gradient_heatmaps_of_a_deep_model(tmp_path, monkeypatch):
    """Eight layers: the first three and the last three weight gradients."""
    from verifae.plots import plot_gradient_widths

    doc = _layered_doc("layered-deep-tanh-4-3-3-3-2-3-3-3-4.json")
    figures = _figures(monkeypatch)
    plot_gradient_widths(doc, tmp_path / "g.png")
    titles = [a.get_title().split(" (")[0] for a in figures[0].axes if a.get_title()]
    names = [a["name"] for a in doc["architecture"]]
    assert len(names) == 8
    assert titles == [f"width of d {n}.weight" for n in names[:3] + names[-3:]]


# ---------------------------------------------------------------- the verification section (issue 16)

VERIFY = {"properties": ["error<=3", "output[0]>=0.5"], "semantics": ["real", "float32"], "max_parts": 6,
          "timeout": "30", "eps": ["0.05", "0.25"], "centers": [["0.25", "0.25"], ["0.05", "0"]], "clip": [0, 1]}


def _verify_case(folder: Path, verify: object) -> Path:
    """tiny-relu-2-1-2 (E = 4 at (1/2, 1/2), E about 1 near 0) over two boxes, with a "verify" object."""
    data = json.loads((CASES / "tiny-relu-2-1-2.json").read_text())
    data["input"] = [data["input"], {"center": ["0.05", 0], "radius": "0.05"}]
    data["verify"] = verify
    folder.mkdir(exist_ok=True)
    path = folder / "verified.json"
    path.write_text(json.dumps(data))
    return path


def test_the_verification_section(tmp_path, monkeypatch):
    """The section's counts, verdicts and tightest thresholds are those of `verify` run
    directly with the same budgets (over the case's boxes and over the eps boxes); the
    markdown and HTML show them, the plot draws them, and a cached report keeps them."""
    from verifae.cases import load_case
    from verifae.verify import verify
    from verifae.verify.runs import ModelRuns

    # float32 counterexamples confirmed by the numpy run alone, as without PyTorch: the
    # section does not depend on it, and starting PyTorch would double this test's time
    monkeypatch.setattr(ModelRuns, "torch_value", lambda *args: None)
    path = _verify_case(tmp_path / "cases", VERIFY)
    figures = _figures(monkeypatch)
    out = tmp_path / "report"
    entries, code = build_report([path], out, INTERVAL, jobs=1, progress=False)
    assert code == 0, entries[0]["error"]
    v = entries[0]["verification"]
    case = load_case(path, layered=True)
    budget = {"semantics": ("real", "float32"), "max_parts": 6, "timeout": 30.0}
    direct = verify(case.spec, case.boxes, VERIFY["properties"], tightest=True, **budget)
    statuses = [[{S: d.status for S, d in per_prop.items()} for per_prop in per_box] for per_box in direct.boxes]
    # error<=3 is violated on the big box (E = 4 at its corner) and proved near 0;
    # output[0] = x1 + 2 x2 + 1 >= 1 is proved on both
    assert [[s["real"] for s in per_box] for per_box in statuses] == [["violated", "proved"], ["proved", "proved"]]
    for p, section in enumerate(v["properties"]):
        assert section["property"] == VERIFY["properties"][p]
        for S in ("real", "float32"):
            column = [per_box[p][S] for per_box in statuses]
            assert section["counts"][S] == {s: column.count(s) for s in ("proved", "violated", "unknown")}
            assert [box[S]["status"] for box in section["boxes"]] == column
            assert [box[S]["tightest"] for box in section["boxes"]] == [t[p][S]["proved"] for t in direct.tightest]
            assert [box[S]["bound"] for box in section["boxes"]] == [
                [per_box[p][S].lower, per_box[p][S].upper] for per_box in direct.boxes]
        for row, eps in zip(section["eps"], case.verify.eps):
            swept = verify(case.spec, case.verify.boxes_at(eps), [VERIFY["properties"][p]], **budget)
            assert row["counts"] == {S: {s: sum(b[0][S].status == s for b in swept.boxes)
                                         for s in ("proved", "violated", "unknown")} for S in ("real", "float32")}
    # the box of radius 1/4 around (1/4, 1/4) is the case's first box, refuted; those of radius 0.05 are proved
    assert [row["counts"]["real"] for row in v["properties"][0]["eps"]] == [
        {"proved": 2, "violated": 0, "unknown": 0}, {"proved": 1, "violated": 1, "unknown": 0}]
    assert v["properties"][0]["boxes"][0]["real"]["tightest"] >= 4 >= v["properties"][0]["boxes"][0]["real"]["seen"]
    # the plot: certified fraction against eps (proved of 2 centers), and against τ
    eps_axis, tau_axis = figures[-1].axes
    proved = eps_axis.get_lines()[0]
    assert list(proved.get_xdata()) == [0.05, 0.25]
    assert list(proved.get_ydata()) == [row["counts"]["real"]["proved"] / 2 for row in v["properties"][0]["eps"]]
    assert tau_axis.get_xlabel() == "threshold τ" and tau_axis.get_lines()[0].get_ydata()[-1] == 1
    # rendered: the tables in markdown and HTML, the plot, and the per-case summary
    markdown = (out / "index.md").read_text()
    assert "### Verification" in markdown and "![tiny-relu-2-1-2 verify](verified-verify.png)" in markdown
    assert "| error<=3 | real | 1 | 1 | 0 |" in markdown
    assert "| 0 | error<=3 | real | violated | [0.9999, 4.001] | <= 4.001 | 4 |" in markdown
    assert "| 0.25 | error<=3 | real | 1 | 1 | 0 | 1/2 |" in markdown
    page = (out / "index.html").read_text()
    assert "<h3>Verification</h3>" in page and page.count('<table class="verify">') == 3
    assert "<figcaption>Certified fraction against eps" in page
    assert (out / "verified-verify.png").is_file()
    assert json.loads((out / "verified.summary.json").read_text())["verification"] == v
    cached, _ = build_report([path], out, INTERVAL, jobs=1, progress=False)
    assert cached[0]["cached"] and cached[0]["verification"] == v


def test_a_bad_verify_object_is_invalid_input(tmp_path):
    """Exit 2, with the file and the field path of the bad value."""
    path = _verify_case(tmp_path / "cases", {**VERIFY, "eps": ["0.05", "-1"]})
    result = CliRunner().invoke(main, ["report", str(path.parent), "--out", str(tmp_path / "r"), "--runs", "0",
                                       "--jobs", "1"])
    assert result.exit_code == 2
    assert f"{path}: verify.eps[1]: -1.0 is negative" in result.output
    result = CliRunner().invoke(main, ["bound", str(path), "--runs", "0"])  # every command reads it the same way
    assert result.exit_code == 2 and "verify.eps[1]: -1.0 is negative" in result.output
