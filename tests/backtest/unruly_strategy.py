"""A strategy file whose runs misbehave on demand, for the executors' tests: it trades as the
example fair-value strategy does (`act: trade`), or, on its first decision, prints to stdout
(`print`), kills its own process (`die`), ends it with `os._exit(0)` (`exit`), writes the start
of an answer to its sweep worker's answer pipe and then ends it so (`exit-mid-answer`: a worker
killed while it writes a long report), or (`hang-once`) writes its process id to `marker` and
waits to be killed, unless `marker` is there already (the run again after the kill trades), or
(`ctrl-c-in-a-finalizer`) in every decision drops an object whose finalizer takes a Ctrl-C: the
KeyboardInterrupt is raised inside the finalizer, where Python discards it ("Exception ignored
in"), as it does to a Ctrl-C landing while the garbage collector runs a library's finalizer.
A set whose `fair` equals `broken_fair` raises in every decision, as a strategy with a bug does;
one with `broken_from` (unix seconds) in every decision from that time on, as a bug only later
data meets (a holdout's, not its training part's); one with `broken_until` in every decision
before that time, as a bug only earlier data meets (a training part's, not its holdout's).
"""

from __future__ import annotations

import os
import signal
import threading
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from kalshi_cli.strategy_api import (
    Decision,
    MarketSnapshot,
    Params,
    PositionView,
    Range,
    Side,
    Strategy,
    best_bid,
    buy_at_ask,
    close_at_bid,
)

NAME = "unruly"


class UnrulyParams(Params, frozen=True):
    fair: Annotated[Decimal, Range(gt=0, lt=1)] = Decimal("0.50")
    edge: Annotated[Decimal, Range(ge=0, lt=1)] = Decimal("0.03")
    take_profit: Annotated[Decimal, Range(gt=0, lt=1)] = Decimal("0.04")
    act: str = "trade"
    marker: str = ""
    broken_fair: Decimal = Decimal(0)  # 0: never broken
    broken_from: Decimal = Decimal(0)  # 0: never broken
    broken_until: Decimal = Decimal(0)  # 0: never broken


def misbehave(params: UnrulyParams) -> None:
    if params.act == "print":
        print("a strategy's own output, on stdout")
    elif params.act == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    elif params.act == "exit":
        os._exit(0)
    elif params.act == "exit-mid-answer":
        for fd in _answer_pipes():
            os.write(fd, b'{"report": {"totals": {"net": "1')
        os._exit(0)
    elif params.act == "hang-once" and not Path(params.marker).exists():
        tmp = Path(f"{params.marker}.{os.getpid()}")
        tmp.write_text(str(os.getpid()))
        tmp.rename(params.marker)  # whole, or not there: the test reads the id once it is
        threading.Event().wait(60)  # the test kills this process long before
        raise RuntimeError("hang-once: nobody killed this worker")
    elif params.act == "ctrl-c-in-a-finalizer":
        CtrlCInAFinalizer()  # collected at once, its finalizer run here
    if params.fair == params.broken_fair:
        raise KeyError(f"no row for fair {params.fair} in the model's table")


class CtrlCInAFinalizer:
    """An object whose finalizer takes a Ctrl-C (SIGINT raised in this process, its handler run
    at once): the KeyboardInterrupt goes no further than the finalizer."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


def _answer_pipes() -> list[int]:
    """The pipes this process may write to other than its stdout and stderr: a sweep worker's
    answer pipe (it keeps a copy of the stdout it was started with)."""
    import fcntl

    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
            is_pipe = os.readlink(f"/proc/self/fd/{name}").startswith("pipe:")
        except OSError:
            continue
        if fd > 2 and writable and is_pipe:
            found.append(fd)
    return found


def decide(
    snapshot: MarketSnapshot, position: PositionView, params: UnrulyParams
) -> list[Decision]:
    misbehave(params)
    if params.broken_from and snapshot.ts >= params.broken_from:
        raise RuntimeError(f"no model for the data after {params.broken_from}")
    if snapshot.ts < params.broken_until:
        raise RuntimeError(f"no model for the data before {params.broken_until}")
    own = position.own
    if own.held_side is not None:
        bid = best_bid(snapshot.book, own.held_side)
        if bid is None or bid.price < own.avg_entry_price + params.take_profit:
            return []
        exit_ = close_at_bid(snapshot, own, fair=bid.price, reason="take-profit", strategy=NAME)
        return [] if exit_ is None else [exit_]
    if position.resting:
        return []
    for side, fair in ((Side.YES, params.fair), (Side.NO, 1 - params.fair)):
        intent = buy_at_ask(
            snapshot,
            side,
            count=Decimal(5),
            fair=fair,
            reason=f"{side.value} below {fair} - {params.edge}",
            strategy=NAME,
            min_edge=params.edge,
        )
        if intent is not None:
            return [intent]
    return []


STRATEGY = Strategy(NAME, UnrulyParams, decide)
