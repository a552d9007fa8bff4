"""Where the trade lock of a state file is kept, and which loop holds it: the one rule for
`kalshi trade`, which takes it (runner/lifecycle/lock.py), and for the commands that ask whether
a loop runs on a state file (services/paper_kill.py: `kalshi halt`, `cancel-all`, the paper kill
switch).

A state file is one file however it is named, so its loop is found by the file, not by the name:
the lock beside it is named from its real path (symlinks, `..` and a relative path followed),
and a second lock is keyed by the file's identity (device and inode, `file_identity`) in the
user's lock directories, which two hard links of one file share. The identity lock can be taken
only once the file exists (a file the loop makes is locked before it is linked at its name,
`Store.open`'s `claim`); an inode is reused only once no process has the file open, so a loop
holding the identity lock of its file keeps that number its own. The lock files are never
deleted: a deleted lock file splits the lock. docs/trade-loop.md "One loop per state file and
account".

So an identity lock file is left for every state file ever traded, dry runs and paper sessions
included (they write to their file too). That is kept, not thinned:
- Taken only while the file has more than one link (`st_nlink > 1`), it would miss the link
  made after the start: the first loop, on a file of one link, holds no identity lock, and a
  loop started on the new link takes it unopposed. Looking at the count again while trading
  finds the link only after the second loop has begun quoting: two loops, the very thing the
  lock refuses.
- Deleted on release, it has the unlink race: a loop that opened the file just before it was
  deleted locks a file no name leads to, while the next opens a new one under the name, and
  both run. Safe only if every taker locks, then checks the name still leads to what it locked,
  and tries again; a killed loop leaves its file anyway.
- What it costs: one file of a few hundred bytes per state file (per device and inode: a number
  used again takes the same file back), in the runtime directory (emptied at logout or reboot)
  and under the home.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import tempfile
from pathlib import Path
from typing import Any

from kalshi_cli.store.connection import file_identity
from kalshi_cli.vocabulary.errors import KalshiError


def state_lock_path(state_path: Path) -> Path:
    """The lock beside the state file, named from its real path: every name of one file
    (through a symlink, `..`, a relative path) finds the same lock."""
    # os.path.realpath: a symlink loop gives a path back (the open then fails), not an error
    real = Path(os.path.realpath(state_path))
    return real.with_name(real.name + ".trade.lock")


def identity_lock_name(identity: tuple[int, int]) -> str:
    """The lock of the file `identity` (`file_identity`) names, in a user lock directory."""
    device, inode = identity
    return f"state-{device}-{inode}.lock"


def user_lock_dir(*, create: bool = True) -> Path:
    """A directory only this user writes, shared by every `kalshi` process of the user on this
    machine whatever its KALSHI_HOME. `create=False`: only looked in, not made."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    path = (
        Path(runtime) / "kalshi"
        if runtime
        else Path(tempfile.gettempdir()) / f"kalshi-{os.getuid()}"
    )
    if create:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KalshiError(
                f"cannot keep the trade lock in {path}: {exc.strerror or exc}; not trading",
                hint="set XDG_RUNTIME_DIR to a directory of your own",
            ) from exc
    elif not path.exists():
        return path  # nothing there to be another user's
    if path.stat().st_uid != os.getuid():
        raise KalshiError(
            f"{path} belongs to another user; refusing to keep the trade lock there",
            hint="set XDG_RUNTIME_DIR to a directory of your own",
        )
    return path


def home_lock_dir(*, create: bool = True) -> Path:
    """The lock directory under the user's home from the password database (not `$HOME`),
    the same for every process of the user whatever its environment or /tmp. `create=False`:
    only named, not made."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    path = home / ".local" / "state" / "kalshi" / "locks"
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def user_lock_dirs(lock_dir: Path | None = None, *, create: bool = True) -> list[Path]:
    """Where a lock of the user's (an account's, a state file's identity) is kept: `lock_dir`
    alone when given; otherwise the runtime directory and the one under the home, so two
    processes of the user with different environments still meet.
    `create=False`: for a command that only looks (`loop_holder`), which makes no directory."""
    if lock_dir is not None:
        return [lock_dir]
    dirs = [user_lock_dir(create=create)]
    try:
        shared = home_lock_dir(create=create)
    except (OSError, KeyError):
        # a home that cannot be written, or a uid with no password-database entry (a
        # container's bare `--user 12345`): the first directory stands alone
        return dirs
    return [*dirs, shared]  # never the same: one ends in kalshi, the other in locks


def loop_holder(state_path: Path, lock_dir: Path | None = None) -> dict[str, Any] | None:
    """What the trade loop holding this state file's lock wrote of itself
    (runner/lifecycle/lock.py `TradeLock`), or None when no loop holds it: its lock beside the
    file, or, under another name of the file (a hard link), its identity's."""
    found = _held(state_lock_path(state_path))
    identity = file_identity(state_path)
    if found is not None or identity is None:
        return found
    with contextlib.suppress(OSError, KalshiError, KeyError):
        for directory in user_lock_dirs(lock_dir, create=False):
            found = _held(directory / identity_lock_name(identity))
            if found is not None:
                return found
    return None


def _held(path: Path) -> dict[str, Any] | None:
    """The holder a lock file names while a process holds it; None when none does (no file, or
    one a shared lock can be taken on)."""
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError:  # none there, or no directory to hold one: no loop holds it
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(ValueError):
                holder = json.loads(handle.read())
                return holder if isinstance(holder, dict) else {}
            return {}  # still starting: nothing written yet
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None
