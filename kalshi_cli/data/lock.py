"""One writer per data set: an advisory lock on `DIR/.lock`, held while a recorder or a download
writes there (the kernel drops it when the process dies, SIGKILL included). The lock, not the
manifest's `status`, says whether a writer is alive: a manifest saying `recording` or
`downloading` with the lock unheld was left by a writer that was killed, and the next run takes
the directory over."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kalshi_cli.vocabulary.errors import UsageError

LOCK = ".lock"


def hold_directory(root: Path) -> int | None:
    """The descriptor holding `root/.lock` (held until it is closed, the process's end at the
    latest), or None when a live writer holds it."""
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_directory(root: Path) -> int:
    """Hold `root/.lock` for the life of the process; refuse if another recorder holds it."""
    fd = hold_directory(root)
    if fd is None:
        raise UsageError(
            f"another recorder is writing to {root}", hint="stop it or choose another --out"
        )
    return fd


def is_locked(root: Path) -> bool:
    """Whether a live recorder or download holds the directory."""
    try:
        fd = os.open(root / LOCK, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
