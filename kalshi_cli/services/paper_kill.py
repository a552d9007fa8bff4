"""The kill switch of a paper loop: halt it and cancel its paper orders, with nothing sent to the
exchange.

A paper loop's orders rest in its process's memory, so another process (the dashboard's `k`) asks
through the paper state file: `request` writes a kill request and HALTED; the loop `answer`s on its
next full pass by running `killswitch.KillSwitch` on its own venue client and writes the report
back; `kill_paper_loop` waits for it. With no process holding the file's trade lock under any of
its names (store/trade_lock.py `loop_holder`), no paper order can rest: proven without asking.
docs/dashboard.md "A paper loop".
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kalshi_cli.services.killswitch.switch import DEFAULT_DEADLINE_S, KillSwitch
from kalshi_cli.store.records import PENDING, RESTING, UNKNOWN
from kalshi_cli.store.trade_lock import loop_holder
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.units import ZERO, fmt_count

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.services.killswitch.pull import CancelsOrders
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock

_T = TypeVar("_T")

REQUEST_KEY = "paper_kill.request"
ANSWER_KEY = "paper_kill.answer"
POLL_S = 0.05


def unseen_by_its_loop(state_path: Path) -> str | None:
    """Why a halt written at `state_path` reaches no running loop, if so: the loop holding its
    lock has another file open, deleted, moved or replaced under it (`Store.left_its_path`)."""
    from kalshi_cli.store.connection import file_identity

    holder = loop_holder(state_path) or {}
    held = holder.get("state_file")
    if not isinstance(held, list) or tuple(held) == file_identity(state_path):
        return None
    return (
        f"the running trade loop (pid {holder.get('pid')}) has another file open than "
        f"{state_path} (deleted, moved or replaced under it): nothing written here reaches it"
    )


@dataclass
class PaperKillReport:
    """What the paper kill switch did, in the shape of `killswitch.KillReport` where it fits."""

    proven: bool = False
    halted: bool = False
    loop_running: bool = False
    answered: bool = False  # the running loop answered the request
    ended: bool = False  # the running loop ended before answering: its venue is gone
    cancelled: list[str] = field(default_factory=list)
    contracts_cancelled: Decimal = ZERO
    left: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    records_left_open: int = 0  # open order records of a gone session (no loop running)
    heartbeat_age: float | None = None

    def lines(self) -> list[str]:
        """The proof, as `kalshi cancel-all` words it, for a paper loop."""
        out: list[str] = []
        if self.proven:
            out.append(
                "PROVEN: no paper order left (the paper loop's venue; nothing sent to the exchange)"
            )
        else:
            out.append("NOT PROVEN: paper orders may still rest in the paper loop's venue")
        out.append(
            "halted: the paper loop's state file is HALTED"
            if self.halted
            else "halted: NOT recorded"
        )
        if self.loop_running and self.answered:
            out.append(
                f"cancelled: {len(self.cancelled)} paper order(s), "
                f"{fmt_count(self.contracts_cancelled)} contract(s), in the running paper loop's "
                "venue"
            )
        elif self.loop_running and self.ended:
            out.append(
                "the paper loop ended before answering (its trade lock is free): its orders "
                "lived only in its memory, so none rests anywhere"
            )
        elif self.loop_running:
            age = "never" if self.heartbeat_age is None else f"{self.heartbeat_age:.1f}s ago"
            out.append(f"the running paper loop did not answer in time (last heartbeat {age})")
        else:
            out.append(
                "no paper loop is running on this state file (its trade lock is free): its "
                "orders lived only in that loop's memory, so none rests anywhere"
            )
            if self.records_left_open:
                out.append(
                    f"{self.records_left_open} order record(s) of the gone session left open "
                    "in the state file"
                )
        if self.left:
            out.append(f"left: {', '.join(self.left)}")
        out.extend(f"error: {e}" for e in self.errors[-3:])
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "proven": self.proven,
            "cancelled": self.cancelled,
            "contracts_cancelled": str(self.contracts_cancelled),
            "left": self.left,
            "errors": self.errors,
        }


def request(store: Store, clock: Clock, *, source: str) -> str:
    """Ask the paper loop of `store` to cancel every order of its venue, then HALT it; returns
    the request's id."""
    from kalshi_cli.risk.state import halt

    request_id = uuid.uuid4().hex
    at = clock.wall()
    store.entries.set_kv(REQUEST_KEY, json.dumps({"id": request_id, "at": at, "source": source}))
    halt(store.trading, reason="paper kill switch", source=source)
    return request_id


def answer(
    store: Store,
    client: CancelsOrders,
    clock: Clock,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> PaperKillReport | None:
    """The paper loop's side: run a request not yet answered (None when there is none)."""
    raw = store.entries.get_kv(REQUEST_KEY)
    if raw is None:
        return None
    request_id = _id(raw)
    done = store.entries.get_kv(ANSWER_KEY)
    if request_id is None or (done is not None and _id(done) == request_id):
        return None
    kill = KillSwitch(client, store, clock, deadline_s=deadline_s, read_lag_s=0.0)
    report = kill.run(source="paper kill switch")
    result = PaperKillReport(
        proven=report.proven,
        halted=report.halted,
        loop_running=True,
        answered=True,
        cancelled=list(report.cancelled),
        contracts_cancelled=report.contracts_cancelled,
        left=list(report.left),
        errors=list(report.errors),
    )
    store.entries.set_kv(ANSWER_KEY, json.dumps({"id": request_id, **result.to_json()}))
    return result


def kill_paper_loop(
    state_path: Path,
    clock: Clock,
    *,
    source: str,
    deadline_s: float = DEFAULT_DEADLINE_S,
    on_progress: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> PaperKillReport:
    """The requester's side: HALT the paper loop of `state_path` and have it cancel its paper
    orders (module docstring). Waits for the loop in real time: it is another process."""
    from kalshi_cli.store import Store

    say = on_progress or (lambda _line: None)
    report = PaperKillReport()
    report.loop_running = loop_holder(state_path) is not None
    try:
        with Store.open(state_path, clock=clock) as store:
            request_id = request(store, clock, source=source)
            report.halted = store.trading.trading_state().state == "HALTED"
            if not report.loop_running:
                report.records_left_open = len(
                    store.orders.intents(status=[PENDING, RESTING, UNKNOWN])
                )
    except KalshiError as exc:
        # the state file is the only way to the loop: a running one cannot be asked (NOT
        # PROVEN); with none running, no venue exists and nothing can rest all the same
        report.errors.append(f"the paper state file: {exc.one_line()}")
        report.proven = not report.loop_running
        return report
    if not report.loop_running:
        report.proven = True
        return report
    say("paper loop HALTED; waiting for it to cancel its paper orders...")
    deadline = time.monotonic() + deadline_s
    waiting = stop or threading.Event()
    while True:
        answer_json = _read_answer(state_path, clock)
        if answer_json is not None and answer_json.get("id") == request_id:
            report.answered = True
            report.proven = bool(answer_json.get("proven"))
            report.cancelled = list(answer_json.get("cancelled", []))
            report.contracts_cancelled = Decimal(str(answer_json.get("contracts_cancelled", "0")))
            report.left = list(answer_json.get("left", []))
            report.errors = list(answer_json.get("errors", []))
            return report
        if loop_holder(state_path) is None:
            # ended, and it may have answered just before: one last look decides
            last = _read_answer(state_path, clock)
            if last is None or last.get("id") != request_id:
                report.ended = report.proven = True
                return report
            continue
        if time.monotonic() >= deadline or waiting.wait(POLL_S):
            report.heartbeat_age = _heartbeat_age(state_path, clock)
            return report


def _id(raw: str) -> str | None:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        value = json.loads(raw).get("id")
        return str(value) if value else None
    return None


def _read_answer(state_path: Path, clock: Clock) -> dict[str, Any] | None:
    from kalshi_cli.store import Store

    raw = Store.read(state_path, lambda store: store.entries.get_kv(ANSWER_KEY), clock=clock)
    if raw is None:
        return None
    with contextlib.suppress(ValueError):
        value = json.loads(raw)
        return value if isinstance(value, dict) else None
    return None


def _heartbeat_age(state_path: Path, clock: Clock) -> float | None:
    from kalshi_cli.store import Store

    beat = Store.read(state_path, lambda store: store.entries.loop_heartbeat(), clock=clock)
    return None if beat is None else max(0.0, clock.wall() - beat.at)
