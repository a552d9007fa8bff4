"""One writer per data set: an advisory lock on `DIR/.lock`, held for the life of the process
(the kernel drops it when the process dies, SIGKILL included)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kalshi_cli.vocabulary.errors import UsageError


def lock_directory(root: Path) -> int:
    """Hold `root/.lock` for the life of the process; refuse if another recorder holds it."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(
            f"another recorder is writing to {root}", hint="stop it or choose another --out"
        ) from None
    return fd


def is_locked(root: Path) -> bool:
    """Whether a live recorder holds the directory (a manifest saying `recording` without one
    is a recorder that was killed)."""
    try:
        fd = os.open(root / ".lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
