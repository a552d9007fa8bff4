"""Each owner's part of the account's positions (`Owners`), and the positions booked with the parts
(`PositionBook`): the one rule of whose each contract is, and of what each strategy's part
realized on a day (its daily loss limit, risk/budget.py, reads it).

The loop's portfolio, a restart, the assistant, `kalshi status`, the dashboard, `kalshi pnl --by
strategy` and the metric all build parts through here (`realized_by_owner`), so the figure a
strategy's row shows is the one its limit reads. The rule runs over a number type and its `Units`
(services/pnl.py), as the account's arithmetic does: the loop books in Decimal, one fill at a time;
`kalshi pnl --by strategy` over a state file books in exact integers, in the summary's own pass
over the fills (`summarize_store`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

from kalshi_cli.services.pnl import (
    DECIMAL,
    MarketPnl,
    N,
    PnlEngine,
    Realization,
    Units,
    book_settlements,
    fill_move,
    merge_settlements,
    move,
    settle_holding,
    settle_record,
    yes_paid,
)
from kalshi_cli.strategy_api import FLAT, Holding, PositionView, RestingOrder
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.owners import NO_PART, STOP_LOSS
from kalshi_cli.vocabulary.units import ZERO, BookSide, Side

if TYPE_CHECKING:
    from kalshi_cli.store import FillRecord, SettlementRecord, Store


# a fill as the account books it: (ticker, book side, YES price, count, fee, unix seconds,
# strategy)
Fill = tuple[str, BookSide, Decimal, Decimal, Decimal, float, str | None]


# a fill as the parts book it, in the units of its `Owners`: (ticker, contracts bought, + YES /
# - NO, what one cost, fee, unix seconds, owner)
Move = tuple[str, N, N, N, float, str | None]
# the account's step of a fill, in the units of its `Owners`: (what the account paid for its
# position before the fill, what it paid after, the gross the fill realized for it)
Step = tuple[N, N, N]
# what an owner's part of one market realized: (the UTC day it counts, realized that day, realized
# since `Owners.since`)
_Day = tuple[str, N, N]


def fill_of(record: FillRecord) -> Fill:
    """A fill as the state file keeps it, as the account books it."""
    return (
        record.ticker,
        record.book_side,
        record.yes_price,
        record.count,
        record.fee,
        record.ts,
        record.strategy,
    )


@dataclass(slots=True)
class Part(Generic[N]):
    """An owner's part of one market: its position (+YES / -NO), what it paid for the contracts
    (`move`'s), and when it opened (None while it is flat)."""

    position: N
    basis: N
    opened_at: float | None = None
    # booked by day (`Owners`' `by_day`): what its owner's own fills here realized since the last
    # `Owners.day_done`, and when the last of them was; None while nothing waits
    unbooked: N | None = None
    unbooked_at: float = 0.0


# an owner's part of one market and what it realized there, as kept for `Owners.restore`; None
# where it has none
_Kept = tuple[Part[N] | None, _Day[N] | None]


@dataclass
class _Booked(Generic[N]):
    """A fill of a market whose parts may be replayed, as it was applied."""

    fill_id: str | None
    fill: Move[N]  # its owner is the one thing a replay may change (`Owners.give`)
    whole: N  # the account's position after it


@dataclass(frozen=True)
class _Settled(Generic[N]):
    ts: float  # unix seconds
    paid: N | None  # what a YES contract paid (None: the cost comes back)
    fee: N
    settled: N  # the account's contracts it settled


@dataclass
class _Replay(Generic[N]):
    """A market's parts as they were when an order there became of unknown outcome, and its
    fills and settlements since, in the order applied: what a restart replays from there."""

    parts: dict[str, _Kept[N]]  # by owner
    events: list[_Booked[N] | _Settled[N]] = field(default_factory=list)


class Owners(Generic[N]):
    """Each strategy's own part of the account's positions (`PositionView.own`): built by the
    fills of its own orders (the state file records each order's strategy, so a restart rebuilds the
    same parts), and never more, all parts together, than the account holds on that side. Every
    owner but a person and the stop-loss has a part (`NO_PART`), so every reader of the state file
    splits it alike: a fill that leaves the account holding less cuts the newest parts first, one
    that empties or flips the position ends every part there, and what the stop-loss cuts is the
    strategy's loss (`_cut`). A strategy never sells what it did not buy.

    A fill of an order whose answer was lost may be booked as nobody's before the lookup finds the
    order. So while a market has an order of unknown outcome, its parts as they were then are kept
    with every fill and settlement since (`keep_replay`), and a fill given to its owner replays
    them: the parts and the day's P&L come out as a restart's would."""

    def __init__(self, units: Units[N], since: float = -math.inf, *, by_day: bool = False) -> None:
        self.units: Units[N] = units
        self.since = since  # unix seconds: what `realized` counts from
        # by_day: a pass over a whole history, one UTC day's fills at a time, never across
        # `since` (the summary's stretches end there): what each owner's own fills realize in a
        # market waits on its part and is booked to its day once a day (`day_done`). Else each
        # fill's at once, for what reads the day next (the loop's budgets)
        self.by_day = by_day
        # owner -> market -> its part there, in the order the owners were first met
        self.held: dict[str, dict[str, Part[N]]] = {}
        # owner -> market -> (UTC day, the P&L its own fills and settlements there realized
        # that day, and since `since`): what its daily loss limit reads (risk/budget.py) and
        # `realized`, summed over the markets. Kept by market so that one market's parts can be
        # rebuilt alone (`give`), a fill given late counted once
        self._days: dict[str, dict[str, _Day[N]]] = {}
        # the markets with an order of unknown outcome: what a replay of each starts from.
        # Dropped once none is (`drop_replay`): what is kept is a market's fills while an
        # order there may still land, not the run's
        self._replays: dict[str, _Replay[N]] = {}
        # market -> how many times its parts changed other than by a fill booked in time order
        # (a settlement, a fill given, an assignment): a `Mark` taken before is then no place
        # to book it again from
        self._revisions: dict[str, int] = {}
        # how many times what the owners realized changed (`_realized`, `restore`), and each
        # owner's figure of a day at such a count: a budget asks it of every order of its
        # strategy, and fills are far rarer than orders (`realized_today`)
        self._moves = 0
        self._today: dict[str, tuple[int, str, Decimal]] = {}

    def parts(self, ticker: str) -> tuple[N, ...]:
        """Each owner's part of the position in `ticker` (+YES / -NO), in the owners' order:
        what tells a change of whose the contracts are from one of the orders alone."""
        zero = self.units.zero
        return tuple(
            zero if (m := held.get(ticker)) is None else m.position for held in self.held.values()
        )

    def own(self, owner: str) -> dict[str, Part[N]]:
        """`owner` has a part, empty until its fills build it: a strategy of this loop has one
        from the start (its budget reads it); any other owner of a fill from its first
        (`book`). Its parts, by market."""
        held = self.held.get(owner)
        if held is None:
            held = self.held[owner] = {}
        return held

    def keep_replay(self, ticker: str) -> None:
        """An order in `ticker` is of unknown outcome from now, and its fills may be booked as
        nobody's before it is found: the market's parts as they are, and every fill and
        settlement of it from now, are kept for `give` until `drop_replay`."""
        if ticker not in self._replays:
            self._replays[ticker] = _Replay(self.parts_of(ticker))

    def drop_replay(self, ticker: str) -> None:
        """No order in `ticker` is of unknown outcome any more: none of its fills is given."""
        self._replays.pop(ticker, None)

    def replaying(self, ticker: str) -> bool:
        return ticker in self._replays

    def revision(self, ticker: str) -> int:
        return self._revisions.get(ticker, 0)

    def _changed(self, ticker: str) -> None:
        self._revisions[ticker] = self.revision(ticker) + 1

    def parts_of(self, ticker: str) -> dict[str, _Kept[N]]:
        """Every owner's part of `ticker` as it is (copies), for `restore`."""
        return {owner: self._part(owner, ticker) for owner in self.held}

    def restore(self, ticker: str, parts: dict[str, _Kept[N]]) -> None:
        """Every owner's part of `ticker` as `parts_of` kept it; an owner it did not know, none.
        Each a copy: a replay may run again."""
        for owner in self.held:
            mine, day = parts.get(owner, (None, None))
            self._moves += 1
            _put(self.held[owner], ticker, None if mine is None else replace(mine))
            _put(self._days.setdefault(owner, {}), ticker, day)

    def apply(self, fill: Move[N], whole: N, fill_id: str | None = None) -> None:
        """A fill of the account, `whole` the account's position after it."""
        if self._replays:  # a summary's pass over the state file keeps none
            replay = self._replays.get(fill[0])
            if replay is not None:
                replay.events.append(_Booked(fill_id, fill, whole))
        self.book(*fill, whole)

    def book(  # noqa: PLR0917 (the hot path: positional, once a fill of a million-fill pass)
        self,
        ticker: str,
        count: N,
        cost: N,
        fee: N,
        ts: float,
        owner: str | None,
        whole: N,
        account: Step[N] | None = None,
    ) -> bool:
        """A fill (`Move`'s terms) booked to the parts, `whole` the account's position after
        it, kept for no replay (`apply` keeps it): what a pass over a whole history, which keeps
        none, calls once a fill. `account`: the account's own step of this fill, when the
        caller took it (`Step`).

        Whether it found `owner`'s part the account's whole position and left it so (every
        other part flat). Then the owner's next fills there, while each leaves the contracts on
        the side they were on and no other fill comes between, may be booked as one when they
        are of one UTC day and on one side of `since` (a pass over a history does so): their
        counts, fees and the account's steps added, the time the last one's; the part moves as
        the account did, and the cost is not read."""
        if owner is not None and owner not in NO_PART:
            # every owner's fills build its part, a strategy this loop does not run (one
            # removed from the lineup) and the assistant's included: the newest part first
            # gives up what a sale by hand takes, so a reader that left an owner out would
            # take that sale from the owner's contracts and leave the part it does know
            # holding them, for its strategy to sell
            units = self.units
            held = self.held.get(owner) or self.own(owner)
            mine = held.get(ticker)
            if mine is None:
                mine = held[ticker] = Part(units.zero, units.zero)
            before = mine.position
            if account is not None and before == whole - count and mine.basis == account[0]:
                # the part was the account's whole position, so `move` of the same holding by
                # the same fill gives what it gave the account: the part is the whole position
                # after it too, every other part flat, and nothing is cut. What a market traded
                # by one owner leaves every fill
                mine.position, mine.basis = whole, account[1]
                mine.opened_at = _opened(before, whole, ts, mine.opened_at)
                net = account[2] - fee
                whole_part = True
            else:
                net = _move(mine, count, cost, ts, units) - fee
                whole_part = False
            if self.by_day:
                waiting = mine.unbooked
                mine.unbooked = net if waiting is None else waiting + net
                mine.unbooked_at = ts
            else:
                self._realized(owner, ticker, ts, net)
            if whole_part:
                return True
        # a fill that opens the account's position or adds to it leaves every part within it:
        # each fill leaves the parts on the account's side and within its position (`_clip`),
        # and this one grows the position by as many contracts as it grows any part
        before = whole - count
        if before == 0 or (before > 0) == (count > 0):
            return False
        if _overfull(self.held.values(), ticker, whole):
            self._clip((ticker, count, cost, fee, ts, owner), whole)
        return False

    def give(self, owner: str, fill_ids: Collection[str]) -> None:
        """Fills applied as nobody's, now `owner`'s (`Portfolio.give_fills`): each market they are
        in is replayed from the parts kept when its order became of unknown outcome
        (`keep_replay`), with its fills and settlements since, these now `owner`'s. What they cut
        from another's part is that part's again, and each owner's day P&L is what the replay
        realizes: the parts a restart builds."""
        for ticker, replay in self._replays.items():
            given = [e for e in replay.events if isinstance(e, _Booked) and e.fill_id in fill_ids]
            if not given:
                continue
            for booked in given:
                market, bought, cost, fee, ts, _ = booked.fill
                booked.fill = (market, bought, cost, fee, ts, owner)
            self._changed(ticker)
            self.restore(ticker, replay.parts)
            for event in replay.events:
                if isinstance(event, _Booked):
                    self.book(*event.fill, event.whole)
                else:
                    self._settle(ticker, event)

    def forget(self, ticker: str) -> None:
        """Every part of `ticker` dropped, and what each realized there, to be booked again
        from its whole history; a replay kept for it (`keep_replay`) starts from nothing too,
        its events the history as booked again."""
        self.restore(ticker, {})
        if ticker in self._replays:
            self._replays[ticker] = _Replay({})

    def _part(self, owner: str, ticker: str) -> _Kept[N]:
        mine = self.held[owner].get(ticker)
        return (None if mine is None else replace(mine), self._days.get(owner, {}).get(ticker))

    def day_done(self) -> None:
        """The fills booked by day (`by_day`) since the last call were of one UTC day: what they
        realized counts now, as it would have fill by fill (a day's nets add up alike in any
        order). A settlement books what waits first."""
        if not self.by_day:
            return
        for owner, held in self.held.items():
            for ticker, mine in held.items():
                if mine.unbooked is not None:
                    self._realized(owner, ticker, mine.unbooked_at, mine.unbooked)
                    mine.unbooked = None

    def _realized(self, owner: str, ticker: str, ts: float, net: N) -> None:
        self._moves += 1
        day = utc_day(ts)
        days = self._days.get(owner)
        if days is None:
            days = self._days[owner] = {}
        kept_day = days.get(ticker)
        if kept_day is None:
            kept, today, total = day, self.units.zero, self.units.zero
        else:
            kept, today, total = kept_day
        if ts >= self.since:
            total += net
        if day < kept:
            # an earlier day's (a fill given to it late, `give`): what the limit reads is the
            # day kept, which that day's P&L is no part of
            days[ticker] = (kept, today, total)
            return
        days[ticker] = (day, net + today if kept == day else net, total)

    def realized_today(self, owner: str, day: str) -> Decimal:
        """The P&L `owner`'s own fills and settlements realized on the UTC `day`, fees counted:
        today's (a market's earlier day is dropped once it realizes on a later one)."""
        known = self._today.get(owner)
        if known is not None and known[0] == self._moves and known[1] == day:
            return known[2]
        kept = [net for seen, net, _ in self._days.get(owner, {}).values() if seen == day]
        total = self.units.dollars(sum(kept, self.units.zero))
        self._today[owner] = (self._moves, day, total)
        return total

    def realized(self) -> dict[str, Decimal]:
        """What each owner's own fills and settlements realized since `since`, fees counted, by
        owner: the figure of `realized_today` over any time range."""
        self.day_done()
        zero, dollars = self.units.zero, self.units.dollars
        return {
            owner: dollars(sum((total for _, _, total in days.values()), zero))
            for owner, days in sorted(self._days.items())
        }

    def _clip(self, fill: Move[N], whole: N) -> None:
        """Cut the parts of `fill`'s market to what the account holds after it, `whole`."""
        ticker = fill[0]
        cuts: list[tuple[str, N]] = []  # (owner, contracts cut), in the order cut
        parts: list[tuple[float, str, N]] = []
        owned = self.units.zero
        for owner, held in self.held.items():
            mine = held.get(ticker)
            if mine is None or mine.position == 0:
                continue
            if whole == 0 or (mine.position > 0) != (whole > 0):
                cuts.append((owner, abs(mine.position)))
            else:
                opened = mine.opened_at
                parts.append((0.0 if opened is None else opened, owner, mine.position))
                owned += abs(mine.position)
        excess = owned - abs(whole)
        if not cuts and excess <= 0:
            return  # what most fills leave: every part within the account's position
        for _, owner, position in sorted(parts, reverse=True):  # the newest part first
            if excess <= 0:
                break
            cut = min(excess, abs(position))
            cuts.append((owner, cut))
            excess -= cut
        # each cut's share of the fill's fee: the whole fee when every contract the fill closed
        # was a part's. Shared in the owners' order by name, not the order this reader met them
        # in, so that every reader of the state file rounds the same share to the same part
        cuts.sort()
        shares = fee_shares(fill[3], abs(fill[1]), [count for _, count in cuts], self.units)
        for (owner, count), share in zip(cuts, shares, strict=True):
            self._cut(owner, fill, count, share)

    def _cut(self, owner: str, fill: Move[N], count: N, share: N) -> None:
        """Take `count` contracts off `owner`'s part of `fill`'s market. The stop-loss closes
        them for the strategy (the account's floor under its position): the part is closed at
        the stop-loss fill's price with `share` of its fee, and the strategy's day counts the
        loss. Any other fill (a sale by hand, another program's, a strategy's buying the other
        side) takes them back at the part's own cost, realizing nothing for it."""
        ticker, bought, cost, _, ts, strategy = fill
        mine = self.held[owner][ticker]
        closing = -count if mine.position > 0 else count
        if strategy != STOP_LOSS or (closing > 0) != (bought > 0):
            # at its own average cost: the basis released is the whole cost of what is cut,
            # whatever the price (`move`), and the account's P&L is the account's
            _move(mine, closing, self.units.zero, ts, self.units)
            return
        self._realized(owner, ticker, ts, _move(mine, closing, cost, ts, self.units) - share)

    def settle(self, ticker: str, paid: N | None, *, ts: float, fee: N, settled: N) -> None:
        """Settle every part of `ticker` at `paid` a YES contract (`settle_holding`), each
        bearing its share of the settlement's `fee` by the contracts it held of the account's
        `settled` ones (`fee_shares`)."""
        self.day_done()
        event = _Settled(ts, paid, fee, settled)
        self._changed(ticker)
        replay = self._replays.get(ticker)
        if replay is not None:
            replay.events.append(event)
        self._settle(ticker, event)

    def _settle(self, ticker: str, settled: _Settled[N]) -> None:
        # the parts bear the fee in their owners' order by name, as `_clip` shares a fill's
        held = [
            (owner, mine)
            for owner, parts in sorted(self.held.items(), key=lambda kept: kept[0])
            if (mine := parts.get(ticker)) is not None and mine.position != 0
        ]
        counts = [abs(mine.position) for _, mine in held]
        shares = fee_shares(settled.fee, settled.settled, counts, self.units)
        for (owner, mine), share in zip(held, shares, strict=True):
            gross = settle_holding(mine, settled.paid, self.units)
            mine.opened_at = None
            self._realized(owner, ticker, settled.ts, gross - share)

    def assign(self, owner: str, ticker: str, whole: Holding, ts: float) -> Decimal:
        """Give `owner` the part of the account's position `whole` that no strategy owns, at
        the account's average cost (`kalshi trade --assign NAME:TICKER`): contracts bought by
        hand become that strategy's to exit. The contracts given (0: nothing unowned)."""
        held = whole.held_side
        if held is None:
            return ZERO
        units = self.units
        owned = units.zero
        yes = held is Side.YES
        for parts in self.held.values():
            mine = parts.get(ticker)
            if mine is not None and mine.position != 0 and (mine.position > 0) == yes:
                owned += abs(mine.position)
        free = units.count(whole.contracts) - owned
        if free <= 0:
            return ZERO
        self._changed(ticker)
        parts = self.own(owner)
        mine = parts.get(ticker)
        if mine is None:
            mine = parts[ticker] = Part(units.zero, units.zero)
        _move(mine, free if yes else -free, units.price(whole.avg_entry_price), ts, units)
        return units.contracts(free)

    def holding(self, owner: str, ticker: str, whole: Decimal) -> Holding:
        """`owner`'s part of a position: never more contracts than the account holds, never
        the other side (a person who sold what the strategy bought has taken it back)."""
        mine = self.held.get(owner, {}).get(ticker)
        if mine is None or mine.position == 0 or (mine.position > 0) != (whole > 0):
            return FLAT
        position = self.units.contracts(mine.position)
        held = min(abs(position), abs(whole))
        per = self.units.dollars(mine.basis) / abs(position)
        return Holding(
            position=held if whole > 0 else -held,
            avg_entry_price=per,
            entry_cost=per * held,
            opened_at=mine.opened_at,
        )


_V = TypeVar("_V")


def _overfull(held: Iterable[dict[str, Part[N]]], ticker: str, whole: N) -> bool:
    """Whether the parts of `ticker` (each owner's `held`) hold more than the account's position
    `whole`, or any of them its other side: what `Owners._clip` cuts. Most fills leave neither
    (checked before `_clip`, which sorts and shares, for every fill that lowers the account's
    position)."""
    room = whole if whole > 0 else -whole
    for parts in held:
        mine = parts.get(ticker)
        if mine is not None:
            position = mine.position
            if position > 0 and whole > 0:
                room -= position
            elif position < 0 and whole < 0:
                room += position
            elif position != 0:
                return True
    return room < 0


def fee_shares(fee: N, whole: N, counts: Sequence[N], units: Units[N]) -> list[N]:
    """Each count's share of `fee`, which `whole` contracts paid, in the fee's own unit (a
    third of $0.07 is $0.0233), rounded on the running total of the counts: the shares add up
    to the fee of all of them, the whole fee when they are every contract (three shares of
    $0.0349 rounded alone came to $0.0348)."""
    shares: list[N] = []
    so_far = charged = units.zero
    for count in counts:
        so_far += count
        upto = fee if so_far >= whole else units.fee_share(fee, so_far, whole)
        shares.append(upto - charged)
        charged = upto
    return shares


def _put(kept: MutableMapping[str, _V], key: str, value: _V | None) -> None:
    """`kept[key] = value`, or no `key` when `value` is None."""
    if value is None:
        kept.pop(key, None)
    else:
        kept[key] = value


def book_fill(pnl: PnlEngine, opened_at: dict[str, float], fill: Fill) -> Realization:
    ticker, book_side, yes_price, count, fee, ts, strategy = fill
    held = pnl.markets.get(ticker)
    before = ZERO if held is None else held.position
    event = pnl.apply_fill(ticker, book_side, yes_price, count, fee, ts=ts, strategy=strategy)
    after = pnl.markets[ticker].position
    _put(opened_at, ticker, _opened(before, after, ts, opened_at.get(ticker)))
    return event


def _move(mine: Part[N], count: N, cost: N, ts: float, units: Units[N]) -> N:
    """`move` on an owner's part, which opens as the account's position does (`_opened`)."""
    before = mine.position
    gross = move(mine, count, cost, units)
    mine.opened_at = _opened(before, mine.position, ts, mine.opened_at)
    return gross


def _opened(before: N, after: N, ts: float, opened_at: float | None) -> float | None:
    """When a position that went from `before` to `after` at `ts` opened: then, when it was
    flat or changed side; None once it is flat."""
    if after == 0:
        return None
    return ts if before == 0 or (before > 0) != (after > 0) else opened_at


@dataclass(frozen=True)
class Mark:
    """A market's booking as it stood before its fills at and after `ts`, every earlier fill and
    settlement of it booked: where `PositionBook.book_again` may start instead of from nothing,
    while `PositionBook.holds` it."""

    ticker: str
    ts: float  # unix seconds
    account: MarketPnl | None
    opened_at: float | None
    parts: dict[str, _Kept[Decimal]]
    revision: int


class PositionBook:
    """The account's position in each market (`pnl`, and when each opened: `opened_at`) and
    each owner's part of it (`owners`), booked together: a fill moves the account's position,
    then the parts are cut to what the account holds after it; a settlement closes the position
    and every part of it, each part bearing its share of the fee."""

    def __init__(self, since: float = -math.inf) -> None:
        self.pnl = PnlEngine()
        self.opened_at: dict[str, float] = {}
        self.owners = Owners(DECIMAL, since)

    def fill(self, fill: Fill, fill_id: str | None = None) -> Realization:
        """One fill of the account; `fill_id` names it for `Owners.give`."""
        ticker, book_side, yes_price, count, fee, ts, owner = fill
        event = book_fill(self.pnl, self.opened_at, fill)
        bought, cost = fill_move(book_side is BookSide.BID, yes_price, count, DECIMAL)
        whole = self.pnl.markets[ticker].position
        self.owners.apply((ticker, bought, cost, fee, ts, owner), whole, fill_id)
        return event

    def settle(
        self,
        ticker: str,
        result: str,
        *,
        ts: float,
        fee: Decimal,
        yes_value: Decimal | None = None,
    ) -> None:
        held = self.pnl.markets.get(ticker)
        settled = ZERO if held is None else abs(held.position)
        self.pnl.apply_settlement(ticker, result, ts=ts, fee=fee, yes_value=yes_value)
        if self.pnl.markets[ticker].position == 0:
            self.opened_at.pop(ticker, None)
        paid = yes_paid(result, yes_value)
        self.owners.settle(ticker, paid, ts=ts, fee=fee, settled=settled)

    def view(
        self,
        ticker: str,
        resting: tuple[RestingOrder, ...] = (),
        unbooked: tuple[RestingOrder, ...] = (),
    ) -> PositionView:
        """The account's view of one market as the risk rules count it (`own` flat): its
        position, what it cost and when it opened, with the orders `resting` there and those
        told filled and not read yet (`unbooked`)."""
        m = self.pnl.markets.get(ticker)
        if m is None or m.position == 0:
            return PositionView(ticker, resting=resting, unbooked=unbooked)
        contracts = abs(m.position)
        return PositionView(
            ticker,
            position=m.position,
            avg_entry_price=m.basis / contracts,
            entry_cost=m.basis,
            opened_at=self.opened_at.get(ticker),
            resting=resting,
            unbooked=unbooked,
        )

    def owner_view(self, view: PositionView, owner: str) -> PositionView:
        """What `owner` decides on in the account's `view` of a market: the part of the position
        its own fills built as the view's `position` (and `own`), the account's whole position
        as `account`; the view itself while the account holds nothing there (nobody's part,
        nothing of the account's to show)."""
        if view.position == 0:
            return view
        own = self.owners.holding(owner, view.ticker, view.position)
        return replace(
            view,
            position=own.position,
            avg_entry_price=own.avg_entry_price,
            entry_cost=own.entry_cost,
            opened_at=own.opened_at,
            own=own,
            account=view.whole,
        )

    def book(self, record: FillRecord | SettlementRecord) -> None:
        """A fill or a settlement as the state file keeps it."""
        from kalshi_cli.store import SettlementRecord

        if isinstance(record, SettlementRecord):
            self.book_settlement(record)
        else:
            self.book_fill(record)

    def book_fill(self, record: FillRecord) -> Realization:
        """A fill as the state file keeps it."""
        return self.fill(fill_of(record), record.fill_id)

    def book_settlement(self, record: SettlementRecord) -> None:
        """A settlement as the state file keeps it."""
        settle_record(self.settle, record)

    def mark(self, ticker: str, ts: float) -> Mark | None:
        """`ticker`'s booking as it stands, its next fill at `ts` (None while an order there is
        of unknown outcome: a replay of its parts is kept, `Owners.keep_replay`)."""
        if self.owners.replaying(ticker):
            return None
        held = self.pnl.markets.get(ticker)
        return Mark(
            ticker,
            ts,
            None if held is None else replace(held),
            self.opened_at.get(ticker),
            self.owners.parts_of(ticker),
            self.owners.revision(ticker),
        )

    def holds(self, mark: Mark) -> bool:
        """Whether `book_again` may start at `mark`: nothing but fills in time order has changed
        its market's parts since, and no replay of them is kept."""
        ticker = mark.ticker
        return not self.owners.replaying(ticker) and self.owners.revision(ticker) == mark.revision

    def book_again(
        self,
        ticker: str,
        history: Iterable[FillRecord | SettlementRecord],
        since: Mark | None = None,
    ) -> dict[str, Decimal]:
        """`ticker` booked again in time order, as a restart books it: from nothing over its whole
        `history`, or from `since` (which `holds`) over its history from `since.ts` on. What a
        fill applied after a later one of its market needs, average cost being path dependent.
        Each fill's realized P&L (net), by fill id."""
        if since is None:
            self.pnl.markets.pop(ticker, None)
            self.opened_at.pop(ticker, None)
            self.owners.forget(ticker)
        else:
            _put(
                self.pnl.markets, ticker, None if since.account is None else replace(since.account)
            )
            _put(self.opened_at, ticker, since.opened_at)
            self.owners.restore(ticker, since.parts)
        from kalshi_cli.store import SettlementRecord

        nets = {}
        for record in history:
            if isinstance(record, SettlementRecord):
                self.book(record)
            else:
                nets[record.fill_id] = self.book_fill(record).net
        return nets


def parts_since(store: Store, start: float, subaccount: int) -> Owners[Decimal]:
    """The parts of every market with a fill or settlement at or after `start` in `subaccount`'s
    book, booked from the state file as a restart books them, counting what they realized since
    `start`. Each market is booked from its last flat moment before `start`
    (`FillRepository.from_flat`), so a day's figures cost about a day's fills."""
    tickers = store.fills.fill_tickers(subaccount=subaccount, since=start)
    settled = book_settlements(store.settlements.read(since=start), subaccount)
    tickers.update(s.ticker for s in settled)
    book = PositionBook(start)
    for ticker in sorted(tickers):
        of_market = book_settlements(store.settlements.read(ticker=ticker), subaccount)
        # a settlement before `start` ended every part of its market: nothing before it counts
        ended = max((s.settled_at for s in of_market if s.settled_at < start), default=None)
        fills = store.fills.from_flat(ticker, start, since=ended, subaccount=subaccount)
        first = fills[0].ts if fills else start
        later = [s for s in of_market if s.settled_at >= first]
        for event in merge_settlements(fills, later):
            book.book(event)
    return book.owners


def realized_by_owner(
    store: Store, since: float | None = None, subaccount: int | None = None
) -> dict[str, Decimal]:
    """What each owner's own part realized at or after `since` (the whole history: None), fees
    and settlements counted: the figure its daily loss limit reads, over any time range. Of
    `subaccount`'s book; without, each subaccount's book on its own, the figures added."""
    start = -math.inf if since is None else since
    numbers = [subaccount] if subaccount is not None else store.fills.fill_subaccounts()
    totals: dict[str, Decimal] = {}
    for number in numbers or [0]:
        for owner, realized in parts_since(store, start, number).realized().items():
            totals[owner] = totals.get(owner, ZERO) + realized
    return dict(sorted(totals.items()))
