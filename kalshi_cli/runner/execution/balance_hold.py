"""The loop's hold on the exchange shards it trades on: a shard short of money, a shard paused.

Kalshi checks an order's collateral inside its market's shard (docs/shards.md): money on shard 0
does not buy a market on shard 2. An order refused for `insufficient_balance` is that shard's
shortfall, not the exchange's trouble: it is not an API error (the executor does not count it),
the loop logs `shard_balance_short` once, with what the shard holds and the `kalshi shard move`
that would cover it, posts one alert (its runbook: Runbook.COLLATERAL_ON_SHARD,
runbooks/20-orders-refused-for-collateral-on-a-shard.md),
and holds every adding order of that shard's markets, trading the others, until a balance read
(`balances_read`, the watch's, every `trade.shard_poll_s`) shows the shard holding one
order's cost (`risk.shard_floor`). A market whose shard the loop does not know is held as the
account was before shards: until a fill or a cancel changes the account, or `BALANCE_RETRY_S`.
Reducing orders are never held for balance. An order the loop's own risk check denies for its
shard's balance (`SHARD_BALANCE`: `denied`) on a shard whose last read holds less than one order's
cost is that shard's shortfall found before the exchange could refuse it: it is said, alerted and
covered as a refusal is, and `kalshi status` and the heartbeat check name it (`short_now`), but
nothing more is held: the risk check judges each order against what the shard holds, so one that
fits still goes (a shard holding one order's cost, denied one larger order, is not said short).

A shard that does not trade (`ShardStatus.trades`: `trading_active` false, or under maintenance,
`exchange_active` false; `statuses_read`) holds every order of its markets, an exit too: the
exchange would refuse each; the watch withdraws the loop's quotes there. An order
or amend the exchange answers `exchange_unavailable` (the simulator's answer on a paused shard,
a 503: openapi.yaml 3.31.0 `ServiceUnavailableError`) pauses its market's shard at once, as the
next status read would (`unavailable`): it is no API error; the order's outcome stays unknown and
is looked up, never sent again. The next status read says whether the shard trades: one sent
after that answer that says it does makes the answer the exchange's fault, a 5xx like any other,
which the API error guard counts (`statuses_read` names the shard).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.risk.rules import shard_move
from kalshi_cli.vocabulary.units import ZERO, fmt_money

Alert = Callable[[str, str, str, dict[str, str]], None]  # post an operator alert
Resolve = Callable[[str, str, str], None]  # resolve it

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.call_guard import Counters
    from kalshi_cli.services.pretrade.loop import LoopReads
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import ShardStatus

BALANCE_RETRY_S = 30.0
INSUFFICIENT_BALANCE = "insufficient_balance"  # the exchange's error code (REFERENCE.md)
EXCHANGE_UNAVAILABLE = "exchange_unavailable"  # a write to a paused shard (or exchange): a 503
SHARD_SHORT = "shard_balance_short"  # the log entry and the alert kind
ACCOUNT = -1  # the key of a market whose shard is not known: the account as a whole
REFUSED, DENIED = "refused for collateral", "denied before sending for lack of balance"
# what the loop does on a short shard, by how it was found short
AFTER = {
    REFUSED: "no new order there",
    DENIED: "an order there costing more than it holds is denied",
}


def move_line(
    shard: int, need: Decimal, balances: Mapping[int, Decimal], subaccount: int | None = None
) -> str:
    """The `kalshi shard move` of `subaccount`'s money (`shard_move`) that would give `shard`
    what it lacks of `need` (all of `need` when it seems to hold it), or what to do when no
    other shard holds that."""
    held = balances.get(shard, ZERO)
    # refused while the last read showed enough (its money held by resting orders, or moved
    # since): one order's cost more
    short = need - held if need > held else need
    line = shard_move(shard, short, balances, subaccount)
    return line or f"fund shard {shard}: no other shard holds {fmt_money(short)}"


def _quoted(move: str) -> str:
    """A `move_line` as a person reads it: the command in backquotes, what to do as it is."""
    return f"`{move}`" if move.startswith("kalshi ") else move


def shard_lines(
    shard_of: Mapping[str, int],
    balances: Mapping[int, Decimal] | None,
    traded: Mapping[str, Sequence[str]],
    order_cost: Decimal,
    subaccount: int | None = None,
) -> list[str]:
    """What the loop says of the exchange shards of its markets (at its start, and of a market
    taken on while it runs: `BalanceHold.lines`): the markets by shard, with each shard's
    balance, one line a shard; and, for each strategy (`traded`: its name -> the tickers it
    trades), one line a shard of its own markets that holds less than one order's cost
    (`RiskLimits.shard_floor`), with the `kalshi shard move` that would cover it
    (docs/shards.md "The trade loop"). Nothing when the exchange names no shard."""
    if not shard_of:
        return []
    by_shard: dict[int, list[str]] = {}
    for ticker, shard in shard_of.items():
        by_shard.setdefault(shard, []).append(ticker)
    known = balances or {}
    lines = []
    for shard in sorted(by_shard):
        held = (
            "balance not told"
            if balances is None
            else f"balance {fmt_money(known.get(shard, ZERO))}"
        )
        lines.append(f"shard {shard}: {len(by_shard[shard])} market(s), {held}")
    if balances is None:
        return lines
    floor = order_cost
    short = [s for s in sorted(by_shard) if known.get(s, ZERO) < floor]
    for name, tickers in traded.items():
        mine = Counter(shard_of[t] for t in tickers if t in shard_of)
        for shard in (s for s in short if mine[s]):
            move = move_line(shard, floor, known, subaccount)
            lines.append(
                f"{name}: {mine[shard]} of its market(s) are on shard {shard}, which "
                f"holds {fmt_money(known.get(shard, ZERO))}, less than one order's cost "
                f"({fmt_money(floor)}): an order there costing more than it holds is refused "
                f"until it is funded: {_quoted(move)}"
            )
    return lines


class BalanceHold:
    def __init__(
        self,
        *,
        clock: Clock,
        counters: Counters,
        log: EntryLog,
        alert: Alert | None = None,
        resolve: Resolve | None = None,
        account: LoopReads | None = None,
        limits: RiskLimits | None = None,
    ) -> None:
        """`account`: what the loop's pre-trade account read at the start, whose markets' shards
        and balances the hold reads and each balance read keeps current (None: no shard known);
        `limits`: what one order may cost (`RiskLimits.shard_floor`)."""
        self._clock = clock
        self._counters = counters
        self._log = log
        self._alert = alert or (lambda kind, key, summary, details: None)
        self._resolve = resolve or (lambda kind, key, summary: None)
        # each market's shard and each shard's balance: the pre-trade account's, one record
        self._account = account
        self.shard_of: Mapping[str, int] = {} if account is None else account.shard_of
        # what a shard must hold to be entered again: one order's cost
        self._order_cost = Decimal("0.01") if limits is None else limits.shard_floor
        self._until: float | None = None  # the account-wide wait (monotonic); None: none
        self._seen = (0, 0)  # the fills and cancels counted when that refusal came
        self.short: set[int] = set()  # shards refused for collateral, until covered
        self.denied_on: set[int] = set()  # shards whose orders were denied for it, until covered
        self.paused: set[int] = set()  # shards that do not trade (`ShardStatus.trades`)
        self._newly: set[int] = set()  # paused since the watch last asked (`take_newly_paused`)
        # the shards paused by an `exchange_unavailable` answer, and when it came (monotonic)
        self._unavailable_at: dict[int, float] = {}

    @property
    def balances(self) -> Mapping[int, Decimal] | None:
        """Each shard's balance as last read (None: the exchange did not say)."""
        return None if self._account is None else self._account.balances

    @property
    def _subaccount(self) -> int | None:
        """Whose money the balances are: the loop's subaccount (None: the primary account)."""
        return None if self._account is None else self._account.subaccount

    def lines(
        self, traded: Mapping[str, Sequence[str]], tickers: Iterable[str] | None = None
    ) -> list[str]:
        """What the loop says of its shards (`shard_lines`; `traded`: each strategy's markets):
        of all its markets at the start; of the shards of `tickers` alone, and of their
        strategies there, for markets taken on while it runs."""
        shard_of = self.shard_of
        if tickers is not None:
            new = set(tickers)
            on = {shard_of[t] for t in new if t in shard_of}
            shard_of = {t: s for t, s in shard_of.items() if s in on}
            traded = {name: [t for t in mine if t in new] for name, mine in traded.items()}
        return shard_lines(shard_of, self.balances, traded, self._order_cost, self._subaccount)

    # ---------------------------------------------------------------- refusals

    def refused(self, code: str | None, ticker: str | None = None) -> bool:
        """An order of `ticker` was refused with `code`; True when that is an insufficient
        balance (the shard's shortfall, held here; the caller counts it as no API error)."""
        if code != INSUFFICIENT_BALANCE:
            return False
        shard = self.shard_of.get(ticker or "", ACCOUNT)
        if shard == ACCOUNT or self.balances is None:
            self._hold_account()
            return True
        self._hold_shard(shard)
        return True

    def refused_whole(self, code: str | None, asked: Mapping[str, Decimal]) -> bool:
        """A batch refused as a whole with `code`; `asked`: what its orders would commit, by
        market. True when that is an insufficient balance: the shards concerned are held, each
        whose last read holds less than the batch asked of it (all of the batch's when none
        does: which one lacked cannot be told), the others trading on; a market of no known
        shard holds the account, as a single order's refusal does."""
        if code != INSUFFICIENT_BALANCE:
            return False
        by_shard: dict[int, Decimal] = {}
        for ticker, cost in asked.items():
            shard = self.shard_of.get(ticker, ACCOUNT)
            by_shard[shard] = by_shard.get(shard, ZERO) + cost
        balances = self.balances
        if not by_shard or ACCOUNT in by_shard or balances is None:
            self._hold_account()
            return True
        short = {n for n, cost in by_shard.items() if balances.get(n, ZERO) < cost}
        for shard in sorted(short or by_shard):
            self._hold_shard(shard)
        return True

    def denied(self, ticker: str) -> None:
        """An adding order of `ticker` was denied for its shard's balance (`SHARD_BALANCE`):
        its shard is held short when its last read holds less than one order's cost."""
        shard = self.shard_of.get(ticker)
        balances = self.balances
        if shard is None or balances is None:
            return
        if balances.get(shard, ZERO) < self._order_cost and shard not in self.short_now():
            self.denied_on.add(shard)
            self._tell_short(shard, DENIED)

    def short_now(self) -> set[int]:
        """The shards short of money now: refused for collateral (held) or denied for it."""
        return self.short | self.denied_on

    def _hold_shard(self, shard: int) -> None:
        if shard not in self.short:
            told = shard in self.denied_on
            self.short.add(shard)
            if not told:
                self._tell_short(shard, REFUSED)

    def _hold_account(self) -> None:
        if self._until is None:
            self._log.emit("balance_short", {"retry_in_s": BALANCE_RETRY_S})
        self._until = self._clock.monotonic() + BALANCE_RETRY_S
        self._seen = (self._counters.fills, self._counters.cancels)

    def _tell_short(self, shard: int, why: str) -> None:
        balances = self.balances or {}
        holds = balances.get(shard, ZERO)
        move = move_line(shard, self._order_cost, balances, self._subaccount)
        markets = sorted(t for t, n in self.shard_of.items() if n == shard)
        self._log.emit(
            SHARD_SHORT,
            {"shard": shard, "holds": holds, "move": move, "markets": markets, "why": why},
        )
        self._alert(
            SHARD_SHORT,
            str(shard),
            f"orders {why} on shard {shard}: it holds {fmt_money(holds)}; "
            f"{AFTER[why]} until it is funded: {_quoted(move)}",
            {"shard": str(shard), "holds": str(holds), "move": move},
        )

    # ---------------------------------------------------------------- reads

    def balances_read(self, balances: Mapping[int, Decimal] | None, sent_at: float) -> None:
        """Each shard's balance, read again by a read sent at `sent_at` (the loop's monotonic
        clock): a short shard holding one order's cost is entered again
        (`shard_balance_covered`)."""
        if balances is None:
            return
        if self._account is None:  # no shard known: none to hold
            return
        # its orders are judged against the new read, less the loop's orders sent since
        self._account.balances_read(dict(balances), sent_at)
        floor = self._order_cost
        for shard in sorted(self.short_now()):
            held = balances.get(shard, ZERO)
            if held >= floor:
                self.short.discard(shard)
                self.denied_on.discard(shard)
                self._log.emit("shard_balance_covered", {"shard": shard, "holds": held})
                self._resolve(SHARD_SHORT, str(shard), f"shard {shard} holds {fmt_money(held)}")

    def statuses_read(self, statuses: Iterable[ShardStatus], sent_at: float) -> list[int]:
        """Each shard's status, read again by a read sent at `sent_at` (monotonic): the shards
        that answered `exchange_unavailable` before it was sent though it says they trade (the
        module docstring), once each."""
        statuses = tuple(statuses)
        paused = {s.exchange_index for s in statuses if not s.trades}
        read = {s.exchange_index for s in statuses}
        unexplained = [
            shard
            for shard, at in sorted(self._unavailable_at.items())
            if at <= sent_at and shard in read and shard not in paused
        ]
        for shard in [n for n, at in self._unavailable_at.items() if at <= sent_at]:
            del self._unavailable_at[shard]
        newly = paused - self.paused
        for shard in sorted(newly):
            self._log.emit("shard_paused", {"shard": shard})
        for shard in sorted(self.paused - paused):
            self._log.emit("shard_resumed", {"shard": shard})
        self.paused = paused
        self._newly |= newly
        return unexplained

    def unavailable(self, code: str | None, ticker: str) -> bool:
        """A write of `ticker` answered with the error `code` (`answered_code`): True when that
        is `exchange_unavailable` on a market of a known shard, which is then paused at once
        (the module docstring); the caller counts it as no API error."""
        shard = self.shard_of.get(ticker)
        if shard is None or code != EXCHANGE_UNAVAILABLE:
            return False
        if shard not in self.paused:
            self.paused.add(shard)
            self._newly.add(shard)
            self._log.emit("shard_paused", {"shard": shard, "seen": "order refused"})
        self._unavailable_at[shard] = self._clock.monotonic()
        return True

    def take_newly_paused(self) -> set[int]:
        """The shards paused since last asked, once."""
        newly, self._newly = self._newly, set()
        return newly

    # ---------------------------------------------------------------- holds

    def shard_paused(self, ticker: str) -> int | None:
        """The market's shard when its trading is paused (None: it trades)."""
        shard = self.shard_of.get(ticker)
        return shard if shard is not None and shard in self.paused else None

    def why(self, ticker: str) -> str | None:
        """Why an order that adds to a position in `ticker` waits now (None: it does not)."""
        shard = self.shard_of.get(ticker)
        if shard is not None and shard in self.short:
            return f"shard {shard} was refused for collateral: fund it (`kalshi shard move`)"
        if self.holds():
            return "the exchange refused a buy for balance"
        return None

    def holds(self) -> bool:
        """Whether the account-wide wait holds an adding order now."""
        if self._until is None:
            return False
        changed = (self._counters.fills, self._counters.cancels) != self._seen
        if changed or self._clock.monotonic() >= self._until:
            self._until = None
            return False
        return True
