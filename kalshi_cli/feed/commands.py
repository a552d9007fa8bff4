"""The feed's commands and the refusals they meet, two components of a `FeedSession` (session.py).

`CommandDesk` numbers each command it writes and remembers what it was for until its reply
comes. `Refusals` keeps the subscriptions the exchange refused, to be asked for again after a
wait that doubles to `REFUSAL_RETRY_CAP_S`, and says a refusal that lasts once per that long
(docs/feed.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from kalshi_cli.feed.index import ID_PARAM
from kalshi_cli.vocabulary.clock import Backoff

# A refused subscription is asked again after `resnapshot_timeout`, each later wait twice the
# one before up to this; a refusal that lasts is said once, then at most once per this long.
REFUSAL_RETRY_CAP_S = 300.0

_MAX_PENDING = 256


class AwaitedCommand(NamedTuple):
    """A command awaiting its reply: what it was for, and the markets it named (those an
    `add_markets` adds, those a subscribe carries)."""

    purpose: str
    channel: str
    tickers: tuple[str, ...] = ()


_NO_COMMAND = AwaitedCommand("", "")


class CommandDesk:
    """The commands of one connection: each numbered, and what it was for kept until its
    reply comes (or `_MAX_PENDING` newer ones push it out: some replies never come)."""

    def __init__(self, send: Callable[[str], Any] | None) -> None:
        self._send = send
        self._next_id = 1
        self._pending: dict[int, AwaitedCommand] = {}  # command id -> what it was for

    def close(self) -> None:
        """The connection is gone: nothing more is written."""
        self._send = None

    def send(
        self,
        cmd: str,
        params: dict[str, Any],
        purpose: str,
        channel: str,
        tickers: tuple[str, ...] = (),
    ) -> int:
        """Write one command; its id, or 0 when there is no connection to write it on."""
        if self._send is None:
            return 0
        cid = self._next_id
        self._next_id += 1
        if len(self._pending) >= _MAX_PENDING:  # some replies never come (get_snapshot's)
            del self._pending[next(iter(self._pending))]
        self._pending[cid] = AwaitedCommand(purpose, channel, tickers)
        self._send(json.dumps({"id": cid, "cmd": cmd, "params": params}))
        return cid

    def update_ids(self, sid: int, channel: str, action: str, ids: list[str] | None) -> int:
        """An index channel's `update_subscription`: add ids to it, or (no ids) list them."""
        params: dict[str, Any] = {"sid": sid, "action": action}
        if ids is not None:
            params[ID_PARAM[channel]] = ids
        return self.send("update_subscription", params, action, channel)

    def answered(self, cid: int | None) -> AwaitedCommand:
        """The command a reply answers (`_NO_COMMAND` when none awaits it), no longer pending."""
        return self._pending.pop(cid or 0, _NO_COMMAND)

    def subscribing(self, channel: str) -> bool:
        """Whether a subscribe of the channel awaits its reply."""
        return any(
            p.purpose == "subscribe" and p.channel == channel for p in self._pending.values()
        )

    def adding(self, channel: str) -> set[str]:
        """The markets an `add_markets` of the channel that awaits its reply names."""
        return {
            t
            for p in self._pending.values()
            if p.purpose == "add_markets" and p.channel == channel
            for t in p.tickers
        }


class _Refusal(NamedTuple):
    """A subscription the exchange refused, to be asked for again: when (monotonic), and the
    markets whose `add_markets` it refused (none: the subscription itself)."""

    at: float
    tickers: tuple[str, ...] = ()


class _Streak:
    """A channel's refusals since it was last granted: how often it was asked again (each wait
    twice the one before), how many refusals, and the last one said as an `error` message."""

    __slots__ = ("asked", "code", "refusals", "said_at")

    def __init__(self) -> None:
        self.asked = 0
        self.refusals = 0
        self.code: int | None = None
        self.said_at = -math.inf


class Refusals:
    """The refused subscriptions of one connection, each to be asked for again, and each
    channel's refusals since it was last granted."""

    def __init__(self) -> None:
        self._refused: dict[str, _Refusal] = {}  # channel -> what to ask for again (`due`)
        self._streaks: dict[str, _Streak] = {}  # channel -> its refusals since last granted

    def refuse(self, channel: str, tickers: tuple[str, ...], code: int | None, now: float) -> int:
        """Remember a refused subscribe (no `tickers`) or `add_markets`, to be asked again
        (`due`) after `_retry_wait`. The channel's refusals in a row when this one is to be said
        as an `error` message, else 0: the first since the channel was granted, one of another
        code, then one per `REFUSAL_RETRY_CAP_S` with the count, so a refusal that lasts costs a
        line every few minutes, not one at every ask."""
        streak = self._streaks.setdefault(channel, _Streak())
        streak.refusals += 1
        say = streak.code != code or now - streak.said_at >= REFUSAL_RETRY_CAP_S
        if say:
            streak.code, streak.said_at = code, now
        earlier = self._refused.get(channel)
        if earlier is None:
            self._refused[channel] = _Refusal(now, tickers)
        else:
            merged = tuple(dict.fromkeys((*earlier.tickers, *tickers)))
            self._refused[channel] = _Refusal(earlier.at, merged)
        return streak.refusals if say else 0

    def due(self, now: float, first_wait_s: float) -> list[tuple[str, tuple[str, ...]]]:
        """The refusals whose wait is over (the first `first_wait_s`), each (channel, the
        markets refused; none: the subscription), taken off to be asked for again."""
        out = []
        for channel, refusal in list(self._refused.items()):
            streak = self._streaks.setdefault(channel, _Streak())
            if now - refusal.at >= _retry_wait(first_wait_s, streak.asked + 1):
                del self._refused[channel]
                streak.asked += 1
                out.append((channel, refusal.tickers))
        return out

    def owed_none(self, channel: str) -> None:
        """A new subscription of the channel carries every market: nothing refused is owed."""
        self._refused.pop(channel, None)

    def granted(self, channel: str) -> None:
        """The channel was granted: a later refusal is news, and asked again after the first
        wait."""
        self._streaks.pop(channel, None)

    def markets(self, channel: str) -> set[str]:
        """The markets of a refused `add_markets` of the channel, to be asked for again."""
        refusal = self._refused.get(channel)
        return set(refusal.tickers) if refusal is not None else set()


def _retry_wait(first_s: float, retry_number: int) -> float:
    """The wait before asking a refused channel again for the `retry_number`-th time in a
    row: `first_s` (the session's `resnapshot_timeout`), doubling to `REFUSAL_RETRY_CAP_S`. A
    refusal that passes (18 command timeout, 27 too many requests) is asked again soon; one
    that cannot (8 unknown channel, 9 authentication required, 26 market limit exceeded) costs
    a command every few minutes, not every few seconds, and is still asked (a limit may be
    lifted)."""
    return Backoff(first_s, max(REFUSAL_RETRY_CAP_S, first_s)).ceiling(retry_number)
