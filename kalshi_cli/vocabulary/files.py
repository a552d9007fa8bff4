"""The one rule for a directory that is not there yet (docs/exit-codes.md, "Missing
directories"): a file or directory a command is told to write (`--out`, `--html`, `--log-file`,
`--textfile`, `--dir`, the config file, a key file) gets its missing directories made, the one
holding a private file mode 0700 so nobody else may list it. The one refusal, a state file in a
directory that does not exist, is not made here: a typo there would start an empty state file
that forgets HALTED and the day's risk trips. Every file is written whole or not at all
(`whole`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def make_dir(directory: Path, *, private: bool = False) -> None:
    """`directory` and its missing parents; OSError when the machine will not make them (the
    command's exit 18)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)


@contextmanager
def whole(
    path: Path,
    *,
    mode: int = 0o644,
    replace: bool = True,
    check: Callable[[Path], None] | None = None,
) -> Iterator[BinaryIO]:
    """The one way a file is written (a report, an export, the config, the metrics textfile, a
    key): whole or not at all. The writer gets a hidden draft beside `path` (mode `mode` from
    the start, its missing directories made by `make_dir`, private when `mode` is); once it is
    done the draft is synced, `check`ed (which may raise) and renamed over `path`
    (`replace=False`: linked, so an existing file is never replaced, FileExistsError) and the
    directory synced. A full disk, an error
    or a crash before that leaves the old file, or none, never a short one that would read as
    valid. OSError when it cannot."""
    make_dir(path.parent, private=not mode & 0o077)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    draft = Path(name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if check is not None:
            check(draft)
        if replace:
            os.replace(draft, path)
        else:
            os.link(draft, path)
        fsync_path(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()


def write_whole(
    path: Path,
    data: str | bytes,
    *,
    mode: int = 0o644,
    check: Callable[[Path], None] | None = None,
) -> None:
    """`path` replaced by `data` (text as UTF-8) with `whole`."""
    with whole(path, mode=mode, check=check) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def fsync_path(path: Path) -> None:
    """What is written to the file at `path`, or a directory's entries (a new name in it), made
    to outlive a power cut. OSError when it cannot."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
