"""One trade loop per state file and per account: OS `flock` locks held for the life of the loop,
because two loops on one state file or one account both quote and each counts only its own
orders against the position limit. The OS drops the locks however the process ends, so there is
no stale lock to clean up, and the lock files are never deleted. A state file is locked by its
real path and, once it exists, by its identity (store/trade_lock.py: every name of one file
meets one lock). A subaccount shares its account's lock. See docs/trade-loop.md "One loop per
state file and account".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from kalshi_cli.runner.loop.state_fault import StateFileFailed
from kalshi_cli.store.connection import file_identity
from kalshi_cli.store.errors import StateFileUnwritable
from kalshi_cli.store.trade_lock import identity_lock_name, state_lock_path, user_lock_dirs
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode


class LoopAlreadyRunning(KalshiError):
    """Another trade loop holds this state file or this account."""

    exit_code = ExitCode.ALREADY_RUNNING


def account_lock_name(account: str) -> str:
    """The account's lock, in each of the user's lock directories (`user_lock_dirs`)."""
    return f"trade-{hashlib.sha256(account.encode()).hexdigest()[:32]}.lock"


class TradeLock:
    """The locks of one running loop; released by `release()`, `with`, or the process ending."""

    def __init__(self, holder: dict[str, Any], lock_dir: Path | None = None) -> None:
        """`holder`: what the loop writes of itself in each lock; `lock_dir`: where the user's
        locks are kept (None: `user_lock_dirs`)."""
        self._handles: list[TextIO] = []
        self._holder = holder
        self._lock_dir = lock_dir
        # the identity locks held, each in every lock directory that took it
        self._identities: dict[tuple[int, int], list[TextIO]] = {}

    def holds_state(self, identity: tuple[int, int] | None) -> None:
        """The state file the loop is about to write (`Store.open`'s `claim`: a file the open
        makes is claimed before it is linked at its name, so no other name reaches it
        unlocked), locked by its identity: LoopAlreadyRunning, before the loop writes to it,
        when a loop on another name of it (a hard link) got there first. Noted in every lock,
        best effort: `kalshi halt` at the path tells another file there by it
        (`unseen_by_its_loop`). The identity locks of any file claimed before (a new file that
        another process's beat to the name, a file replaced at the path since the start) are
        let go: the loop writes this one alone, and a number no longer in use is another
        file's to come. A new file is noted once it is at its name: until then the path holds
        none, and a command there would read the loop as having another file open."""
        if identity is None or identity == file_identity(Path(self._holder["state"])):
            self._holder["state_file"] = identity
        self._lock_identity(identity)
        if identity is not None:
            for other in [held for held in self._identities if held != identity]:
                for handle in self._identities.pop(other):
                    self._handles.remove(handle)
                    handle.close()
        for handle in self._handles:
            with contextlib.suppress(OSError):
                _write_holder(handle, self._holder)

    def release(self) -> None:
        for handle in self._handles:
            handle.close()  # closing the last descriptor drops the flock
        self._handles.clear()
        self._identities.clear()

    def __enter__(self) -> TradeLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _lock_identity(self, identity: tuple[int, int] | None) -> None:
        if identity is None or identity in self._identities:
            return
        self._identities[identity] = self._take_user_wide(
            identity_lock_name(identity), f"the state file {self._holder['state']}"
        )

    def _take_user_wide(self, name: str, what: str) -> list[TextIO]:
        """The lock `name` in each of the user's lock directories: the first must be taken; one
        under the home is best effort (one that cannot be written leaves the first alone)."""
        first, *others = user_lock_dirs(self._lock_dir)
        taken = [self._take(first / name, what)]
        for directory in others:
            with contextlib.suppress(OSError):
                taken.append(self._take(directory / name, what))
        return taken

    def _take(self, path: Path, what: str) -> TextIO:
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read()
            handle.close()
            raise LoopAlreadyRunning(
                f"another trade loop ({_describe(text)}) holds {what}; stop it first",
                hint="one loop per state file and account (every subaccount of an account "
                "counts as that account); `kalshi check heartbeat` shows it, SIGTERM stops it "
                "cleanly",
            ) from None
        except BaseException:
            handle.close()
            raise
        try:
            _write_holder(handle, self._holder)
        except OSError as exc:  # the state file's disk is full or failed: no loop can run
            with contextlib.suppress(OSError):  # the line it could not write: closed anyway
                handle.close()
            raise StateFileFailed(
                f"cannot write the trade lock {path}: {exc.strerror or exc}; not trading",
                hint="free space on the state file's disk (or make its directory writable), "
                "then start again",
            ) from exc
        self._handles.append(handle)
        return handle


def acquire(
    state_path: Path,
    *,
    account: str | None,
    now: float,
    lock_dir: Path | None = None,
    subaccount: int | None = None,
) -> TradeLock:
    """Lock the state file, then (when given) the account; LoopAlreadyRunning names the loop
    that holds either. `account` is "<key id>@<exchange endpoint>"; `subaccount` (the loop's
    `--subaccount`) is written for the refusal to name, and locks nothing of its own: the
    account's lock is one for all its subaccounts."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": iso_utc(now),
        "state": str(state_path),
        "account": account.split("@", 1)[0] if account else None,
        **({"subaccount": subaccount} if subaccount is not None else {}),
    }
    lock = TradeLock(holder, lock_dir)
    try:
        try:
            state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # as Store.open
            lock._take(state_lock_path(state_path), f"the state file {state_path}")
        except OSError as exc:
            # the lock lives beside the state file: a directory that takes neither is the
            # state file's fault of the machine, before anything is traded
            raise StateFileUnwritable(
                f"state file {state_path}: its directory cannot be written "
                f"({exc.strerror or exc}); nothing was traded",
                hint="make the directory writable by this user, or choose another --state",
            ) from exc
        lock._lock_identity(file_identity(state_path))  # none yet: `holds_state` locks it
        if account is not None:
            key_id, _, endpoint = account.partition("@")
            lock._take_user_wide(account_lock_name(account), f"the account {key_id} on {endpoint}")
    except BaseException:
        lock.release()
        raise
    return lock


def _write_holder(handle: TextIO, holder: dict[str, Any]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder) + "\n")
    handle.flush()


def _describe(text: str) -> str:
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict) and "pid" in data:
            where = f" on {data['host']}" if data.get("host") else ""
            state = f", state file {data['state']}" if data.get("state") else ""
            sub = f", subaccount {data['subaccount']}" if data.get("subaccount") is not None else ""
            return f"pid {data['pid']}{where}, started {data.get('started', '?')}{state}{sub}"
    return "pid unknown: it is still starting"
