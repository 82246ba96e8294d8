"""The documentation runs as written: README.md and docs/*.md.

In each file, every ```python block is executed, in order, in one namespace, with a
fresh temporary folder as the working directory; every `verifae ...` line of a
```sh block is run there through click's CliRunner (in the same document order, so a
python block can write a file a later command reads) and must exit 0, or the code a
trailing `# exit N` comment states. Arguments naming files of the repository
(`cases/...`, globs included) are resolved against the repository root; outputs
(`-o`, `--out`) land in the temporary folder.

Lines that are not run are still checked: `time verifae ...` (benchmarks that take
minutes) must parse as a valid command line; `python <script> --options` must name
an existing script that defines those options; `pip install '.[extras]'` must name
extras of pyproject.toml. Any other line in a ```sh block fails the test, so a new
kind of command cannot slip in unchecked.

Also: relative links (and their #anchors) point to existing files and headings, no
page mentions the design notes outside the repository, and the README's quick start
is exactly its two commands.
"""

from __future__ import annotations

import glob
import re
import shlex
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from verifae.cli import main

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
QUICK_START = [
    "pip install . && verifae report cases --out reports",
    "pip install '.[test,torch,dask,onnx,safetensors]' && python -m pytest",
]

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
EXIT = re.compile(r"#\s*exit (\d+)\s*$")


def blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, body, line number) of every fenced block, in order."""
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2) for m in FENCE.finditer(text)]


def _repo_path(arg: str) -> list[str]:
    """An argument naming repository files (relative to the root, globs expanded), or itself."""
    first = arg.split("/", 1)[0]
    if arg.startswith("-") or "/" not in arg or not first or not (REPO / first).is_dir() or Path(arg).exists():
        return [arg]
    found = sorted(glob.glob(str(REPO / arg)))
    assert found, f"{arg}: no such file in the repository"
    return found


def _args(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    return [a for w in words for a in _repo_path(w)]


def run_verifae(line: str, where: str) -> None:
    expected = int(m.group(1)) if (m := EXIT.search(line)) else 0
    args = _args(line)[1:]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == expected, (
        f"{where}: `{line}` exited {result.exit_code}, the docs say {expected}\n{result.output}\n{result.exception!r}"
    )


def parse_verifae(line: str, where: str) -> None:
    """Validate a command line without running it: options exist and their values parse."""
    args = _args(line)[1:]
    try:
        with main.make_context("verifae", list(args)) as ctx:
            pending = [*getattr(ctx, "_protected_args", []), *ctx.args]  # click >= 8.2 keeps the command here
            name, command, rest = main.resolve_command(ctx, pending)
            command.make_context(name, rest, parent=ctx).close()
    except click.ClickException as exc:
        raise AssertionError(f"{where}: `{line}` is not a valid command line: {exc.format_message()}") from None


def _extras() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def check_not_run(part: str, where: str) -> None:
    """A command the docs show but the test does not run: pip, pytest, scripts."""
    words = shlex.split(part, comments=True)
    if words[:2] == ["pip", "install"]:
        for spec in words[2:]:
            m = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", spec)
            assert m, f"{where}: pip installs {spec!r}, not this repository"
            unknown = set(filter(None, (m.group(1) or "").split(","))) - _extras()
            assert not unknown, f"{where}: no extra {sorted(unknown)} in pyproject.toml"
    elif words[:3] == ["python", "-m", "pytest"]:
        for path in words[3:]:
            assert path.startswith("-") or (REPO / path).exists(), f"{where}: no test file {path}"
    elif words[0] == "python" and len(words) > 1 and words[1].endswith(".py"):
        script = REPO / words[1]
        assert script.is_file(), f"{where}: no script {words[1]}"
        source = script.read_text()
        for option in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
            assert f'"{option}"' in source, f"{where}: {words[1]} has no option {option}"
    else:
        raise AssertionError(f"{where}: unknown command in a sh block: `{part}` (teach tests/test_docs.py about it)")


def run_sh(body: str, where: str) -> int:
    """Run or check every line of a sh block; return how many verifae commands ran."""
    ran = 0
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for part in (p.strip() for p in line.split("&&")):
            if part.startswith("verifae "):
                if line in QUICK_START:  # the quick start installs first: checked as text only
                    parse_verifae(part, where)
                    continue
                run_verifae(part, where)
                ran += 1
            elif part.startswith("time verifae "):
                parse_verifae(part[len("time "):], where)
            else:
                check_not_run(part, where)
    return ran


def run_document(path: Path, text: str | None = None) -> int:
    """Run every example of one document in the current directory; return the commands run."""
    text = path.read_text() if text is None else text
    namespace: dict = {"__name__": f"docs:{path.name}"}
    ran = 0
    for language, body, line in blocks(text):
        where = f"{path.name}:{line}"
        if language == "python":
            exec(compile(body, where, "exec"), namespace)  # noqa: S102 - our own documentation
            ran += 1
        elif language in ("sh", "bash", "shell"):
            ran += run_sh(body, where)
    return ran


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = run_document(path)
    if path.name not in ("index.md", "dependencies.md", "methods.md", "benchmarks.md", "design.md"):
        assert ran, f"{path.name} has no example that runs"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    without_code = FENCE.sub("", text)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", without_code, re.M)}


def check_links(path: Path, text: str) -> list[str]:
    """Problems with the relative links of one document (empty if none)."""
    problems = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            problems.append(f"{path.name}: link to {target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved.read_text()):
            problems.append(f"{path.name}: link to {target}: no such heading")
        elif REPO not in resolved.parents and resolved != REPO:
            problems.append(f"{path.name}: link to {target}: outside the repository")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_links_resolve(path):
    text = path.read_text()
    assert check_links(path, text) == []
    assert "../shared" not in text and "shared/design" not in text, f"{path.name} points outside the repository"


def test_docs_exist_and_are_linked():
    names = {p.name for p in DOCS[1:]}
    assert {"index.md", "design.md", "methods.md", "float-semantics.md", "cli.md", "api.md", "benchmarks.md",
            "dependencies.md"} <= names
    index = (REPO / "docs" / "index.md").read_text()
    readme = README.read_text()
    for name in names - {"index.md"}:
        assert f"({name})" in index, f"docs/index.md does not link {name}"
        assert f"(docs/{name})" in readme, f"README.md does not link docs/{name}"


def test_readme_quick_start_and_size():
    text = README.read_text()
    assert len(text.encode()) <= 8000, "the README is an introduction: at most 8,000 characters"
    sh = [body.splitlines() for language, body, _ in blocks(text) if language == "sh"]
    assert QUICK_START in sh, "the README's quick start must be exactly its two commands"
    for line in QUICK_START:
        assert text.count(line) == 1
    assert QUICK_START[1] in (REPO / ".ci" / "run").read_text(), ".ci/run runs the README's test command"
    assert ["verifae bound cases/tanh-4x2.json"] in sh


def test_a_broken_example_fails(tmp_path, monkeypatch):
    """The harness is not a no-op: each kind of breakage is caught."""
    monkeypatch.chdir(tmp_path)
    fake = tmp_path / "fake.md"
    with pytest.raises(NameError):
        run_document(fake, "```python\nx = 1\n```\n\n```python\nprint(x + y)\n```\n")
    with pytest.raises(AssertionError, match="exited 2"):
        run_document(fake, "```sh\nverifae bound cases/tanh-4x2.json --runs 0 --method nonsense\n```\n")
    with pytest.raises(AssertionError, match="exited 0, the docs say 2"):
        run_document(fake,
                     "```sh\nverifae bound cases/tiny-relu-2-1-2.json --runs 0 --method interval  # exit 2\n```\n")
    with pytest.raises(AssertionError, match="no such file in the repository"):
        run_document(fake, "```sh\nverifae bound cases/no-such-case.json\n```\n")
    with pytest.raises(AssertionError, match="not a valid command line"):
        run_document(fake, "```sh\ntime verifae report cases --out r --jobz 2\n```\n")
    with pytest.raises(AssertionError, match="has no option"):
        run_document(fake, "```sh\npython benchmarks/tightness.py --no-such-option\n```\n")
    with pytest.raises(AssertionError, match="unknown command"):
        run_document(fake, "```sh\nrm -rf build\n```\n")
    assert run_document(fake, "```sh\nverifae bound cases/tiny-relu-2-1-2.json --runs 0 --method interval\n```\n") == 1
    assert check_links(REPO / "docs" / "fake.md", "[a](nowhere.md) [b](design.md#no-such-heading) [c](api.md)") == [
        "fake.md: link to nowhere.md: no such file",
        "fake.md: link to design.md#no-such-heading: no such heading",
    ]
