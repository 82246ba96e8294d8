"""`verifae report`: the batch report, its robustness, its cache, and a real browser."""

from __future__ import annotations

import json
import shutil
import tempfile
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
        assert {f"{slug}.json", f"{slug}-outputs.png", f"{slug}-gradients.png", f"{slug}-error.png"} <= names
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
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == sorted(p.name for p in (tmp_path / "local").iterdir())


def test_unreachable_scheduler_is_a_clear_error(folder, tmp_path):
    pytest.importorskip("distributed")
    result = CliRunner().invoke(main, ["report", str(folder / "tanh-4x2.json"), "--out", str(tmp_path / "r"),
                                       "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2", "--runs", "5"])
    assert result.exit_code == 2 and "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
