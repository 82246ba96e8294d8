"""Writing results: atomic files and folders with the usual permissions, errors that name
the user's path.

`tempfile.mkstemp`/`mkdtemp` create 0600 files and 0700 folders, which a rename then
makes the result's permissions: a report nobody else on the machine (or the web server)
can read. Here temporary names are created with `os.open(..., 0o666)` and
`os.mkdir(..., 0o777)`, so the kernel applies the umask as for any other file.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from .errors import OutputError

__all__ = ["write_atomically", "make_temp_dir", "install_dir"]


def _folder_problem(path: Path) -> str | None:
    """Why files cannot be created beside `path`, in words, or None."""
    folder = path.parent
    if not folder.exists():
        return f"folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    return None


def write_atomically(path: str | Path, data: str | bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename,
    so an interrupted run never leaves half a file. OutputError names `path`.

    A path that exists but is not a regular file (/dev/null, /dev/stdout, a pipe)
    is written directly: renaming over it would replace the device with a file.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if path.exists() and not path.is_file():
            with open(path, "wb") as f:
                f.write(raw)
            return
        problem = _folder_problem(path)
        if problem:
            raise OutputError(f"cannot write {path}: {problem}")
        tmp, fd = _create_temp_file(path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def _create_temp_file(path: Path) -> tuple[Path, int]:
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def make_temp_dir(beside: Path) -> Path:
    """A new empty folder `.<name>.<random>.tmp` beside `beside`, mode 0777 & ~umask."""
    problem = _folder_problem(beside)
    if problem:
        raise OutputError(f"cannot write {beside}: {problem}")
    for _ in range(100):
        tmp = beside.with_name(f".{beside.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write {beside}: {exc.strerror or exc}") from None
    raise OutputError(f"cannot write {beside}: no free temporary name beside it")


def install_dir(tmp: Path, target: Path) -> bool:
    """Rename the finished folder `tmp` to `target` unless `target` already exists.

    True if `tmp` was installed; else `tmp` is removed and False returned (another
    writer installed the same content first, which is fine for content-addressed
    folders such as cache entries).
    """
    try:
        os.rename(tmp, target)  # atomic; fails on an existing non-empty folder
        return True
    except OSError:
        if target.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        raise
