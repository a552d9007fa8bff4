"""Profit and loss from fills and settlements, by average cost, exact in Decimal.

Positions are netted as Kalshi nets them: positive = YES contracts, negative = NO contracts. A
fill that buys YES (`bid`) while NO is held first closes NO contracts (selling NO at 1 - p), then
opens YES with the rest, and the reverse for `ask`.

Method: **average cost**. A position's cost basis is what was paid for its open contracts; closing
`k` of `n` contracts releases `basis x k / n` (rounded to 1e-6 dollars, and the basis keeps the
exact remainder, so no rounding drift accumulates). Realized P&L of a close is the proceeds minus
the released basis. Settlement closes the whole position at $1.00 (winning side) or $0.00.

Fees are expensed when paid: `realized_net = realized_gross - fees`. Both are reported, so the
gross figure can be compared with the exchange's per-market `realized_pnl` and our fees with its
`fees_paid`.

Unrealized P&L marks the open contracts at the best bid of the held side (what they could be
sold for now) and, for reference, at the mid.

The engine streams: memory grows with the number of markets, not of fills.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.errors import KalshiError
from kalshi_cli.models import ONE, ZERO, BookSide, Fill, Orderbook, Settlement

if TYPE_CHECKING:
    from kalshi_cli.store import FillRecord, SettlementRecord

_MICRO = Decimal("0.000001")


def fill_record_from_api(
    fill: Fill, *, client_order_id: str | None = None, strategy: str | None = None
) -> FillRecord:
    from kalshi_cli.store import FillRecord

    # created_time first: it has milliseconds, and fills within one second must keep their
    # order (average cost is path dependent); `ts` is whole seconds
    if fill.created_time:
        ts = datetime.fromisoformat(fill.created_time.replace("Z", "+00:00")).timestamp()
    elif fill.ts is not None:
        ts = float(fill.ts)  # float-ok: unix seconds, not money
    else:
        ts = 0.0
    return FillRecord(
        fill_id=fill.fill_id,
        order_id=fill.order_id,
        client_order_id=client_order_id,
        ticker=fill.ticker,
        book_side=fill.book_side,
        yes_price=fill.yes_price,
        count=fill.count,
        fee=fill.fee,
        is_taker=fill.is_taker,
        ts=ts,
        strategy=strategy,
        realized_pnl=None,
    )


def settlement_record_from_api(s: Settlement) -> SettlementRecord:
    from kalshi_cli.store import SettlementRecord

    settled_at = (
        datetime.fromisoformat(s.settled_time.replace("Z", "+00:00")).timestamp()
        if s.settled_time
        else 0.0
    )
    return SettlementRecord(
        ticker=s.ticker,
        event_ticker=s.event_ticker,
        result=s.market_result,
        yes_count=s.yes_count,
        no_count=s.no_count,
        yes_total_cost=s.yes_total_cost,
        no_total_cost=s.no_total_cost,
        revenue=s.revenue,
        fee=s.fee,
        settled_at=settled_at,
    )


@dataclass
class MarketPnl:
    ticker: str
    position: Decimal = ZERO  # + YES, - NO
    basis: Decimal = ZERO  # dollars paid for the open contracts
    realized_gross: Decimal = ZERO
    fees: Decimal = ZERO
    traded: Decimal = ZERO  # contracts
    fills: int = 0
    settled: bool = False

    @property
    def realized(self) -> Decimal:
        return self.realized_gross - self.fees

    @property
    def average_entry(self) -> Decimal | None:
        if self.position == 0:
            return None
        return (self.basis / abs(self.position)).quantize(_MICRO, rounding=ROUND_HALF_EVEN)

    def mark(self, book: Orderbook | None) -> tuple[Decimal | None, Decimal | None]:
        """(best bid of the held side, mid in that side's terms), or None where unknown."""
        if self.position == 0 or book is None:
            return None, None
        if self.position > 0:
            bid = book.best_yes_bid[0] if book.best_yes_bid else None
            mid = book.mid
        else:
            bid = book.best_no_bid[0] if book.best_no_bid else None
            mid = ONE - book.mid if book.mid is not None else None
        return bid, mid

    def unrealized(self, mark_price: Decimal | None) -> Decimal | None:
        if self.position == 0:
            return ZERO
        if mark_price is None:
            return None
        return abs(self.position) * mark_price - self.basis


@dataclass(frozen=True)
class RealizedEvent:
    ts: float
    ticker: str
    gross: Decimal
    fee: Decimal
    strategy: str | None
    is_settlement: bool = False

    @property
    def net(self) -> Decimal:
        return self.gross - self.fee


@dataclass
class PnlEngine:
    """Feed fills and settlements in time order; read positions and realized P&L."""

    markets: dict[str, MarketPnl] = field(default_factory=dict)

    def market(self, ticker: str) -> MarketPnl:
        m = self.markets.get(ticker)
        if m is None:
            m = self.markets[ticker] = MarketPnl(ticker)
        return m

    def apply_fill(
        self,
        ticker: str,
        book_side: BookSide,
        yes_price: Decimal,
        count: Decimal,
        fee: Decimal,
        *,
        ts: float = 0.0,
        strategy: str | None = None,
    ) -> RealizedEvent:
        m = self.market(ticker)
        m.fills += 1
        m.traded += count
        m.fees += fee
        buying_yes = book_side is BookSide.BID
        signed = count if buying_yes else -count
        gross = ZERO
        # close the opposite side first
        if m.position != 0 and (m.position > 0) != buying_yes:
            closed = min(count, abs(m.position))
            # selling YES at p, or selling NO at 1 - p (= buying YES at p)
            proceeds_price = yes_price if m.position > 0 else ONE - yes_price
            released = self._release(m, closed)
            gross = closed * proceeds_price - released
            m.realized_gross += gross
            m.position += closed if m.position < 0 else -closed
            signed -= closed if buying_yes else -closed
        if signed != 0:
            open_price = yes_price if buying_yes else ONE - yes_price
            m.basis += abs(signed) * open_price
            m.position += signed
        return RealizedEvent(ts, ticker, gross, fee, strategy)

    def apply_settlement(
        self,
        ticker: str,
        result: str,
        *,
        ts: float = 0.0,
        fee: Decimal = ZERO,
        yes_value: Decimal | None = None,
    ) -> RealizedEvent:
        """Close the whole position at what each contract paid: `yes_value` a YES contract
        and 1 - `yes_value` a NO one (a floored market pays YES at least its floor); without
        it, $1 to the winning side and $0 to the other. `scalar`/`void` keep cost."""
        m = self.market(ticker)
        gross = ZERO
        if m.position != 0:
            payout = m.basis  # scalar or void: the cost comes back, no gain or loss
            if result in ("yes", "no"):
                if yes_value is None:
                    yes_value = ONE if result == "yes" else ZERO
                payout = abs(m.position) * (yes_value if m.position > 0 else ONE - yes_value)
            gross = payout - m.basis
            m.realized_gross += gross
            m.position = ZERO
            m.basis = ZERO
        m.fees += fee
        m.settled = True
        return RealizedEvent(ts, ticker, gross, fee, None, is_settlement=True)

    @staticmethod
    def _release(m: MarketPnl, closed: Decimal) -> Decimal:
        if closed == abs(m.position):
            released = m.basis
        else:
            released = (m.basis * closed / abs(m.position)).quantize(
                _MICRO, rounding=ROUND_HALF_EVEN
            )
        m.basis -= released
        return released

    # ------------------------------------------------------------------ totals

    @property
    def realized_gross(self) -> Decimal:
        return sum((m.realized_gross for m in self.markets.values()), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((m.fees for m in self.markets.values()), ZERO)

    @property
    def realized(self) -> Decimal:
        return self.realized_gross - self.fees


def replay_into(
    engine: PnlEngine, fills: Iterable[FillRecord], settlements: Iterable[SettlementRecord]
) -> Iterator[RealizedEvent]:
    pending = sorted(settlements, key=lambda s: s.settled_at)
    i = 0
    for f in fills:
        while i < len(pending) and pending[i].settled_at <= f.ts:
            s = pending[i]
            yield engine.apply_settlement(
                s.ticker, s.result, ts=s.settled_at, fee=s.fee, yes_value=s.yes_value
            )
            i += 1
        yield engine.apply_fill(
            f.ticker, f.book_side, f.yes_price, f.count, f.fee, ts=f.ts, strategy=f.strategy
        )
    for s in pending[i:]:
        yield engine.apply_settlement(
            s.ticker, s.result, ts=s.settled_at, fee=s.fee, yes_value=s.yes_value
        )


def realized_per_fill(
    fills: Iterable[FillRecord], settlements: Iterable[SettlementRecord]
) -> Iterator[tuple[FillRecord, RealizedEvent]]:
    """Each fill with the realized event it caused, settlements merged in by time (their own
    events are not yielded). `fills` in time order, as the store streams them."""
    engine = PnlEngine()
    pending = sorted(settlements, key=lambda s: s.settled_at)
    i = 0
    for f in fills:
        while i < len(pending) and pending[i].settled_at <= f.ts:
            s = pending[i]
            engine.apply_settlement(
                s.ticker, s.result, ts=s.settled_at, fee=s.fee, yes_value=s.yes_value
            )
            i += 1
        event = engine.apply_fill(
            f.ticker, f.book_side, f.yes_price, f.count, f.fee, ts=f.ts, strategy=f.strategy
        )
        yield f, event


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


GROUPINGS = ("market", "day", "strategy")


@dataclass
class Bucket:
    """Realized P&L of one group (a market, a UTC day or a strategy)."""

    gross: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    settlements: int = 0

    @property
    def net(self) -> Decimal:
        return self.gross - self.fees

    def to_json(self) -> dict[str, Any]:
        return {
            "realized_gross": str(self.gross),
            "fees": str(self.fees),
            "realized": str(self.net),
            "fills": self.fills,
            "settlements": self.settlements,
        }


@dataclass
class PnlSummary:
    """Realized P&L totals and per-group buckets (`groups["market" | "day" | "strategy"]`).

    `engine` holds the positions after the whole history; `realized`, `realized_gross` and
    `fees` count only the events at or after `since`.
    """

    engine: PnlEngine
    groups: dict[str, dict[str, Bucket]]
    since: float | None = None

    def _total(self) -> Bucket:
        total = Bucket()
        for bucket in self.groups["market"].values():
            total.gross += bucket.gross
            total.fees += bucket.fees
            total.fills += bucket.fills
            total.settlements += bucket.settlements
        return total

    @property
    def realized_gross(self) -> Decimal:
        return self._total().gross

    @property
    def fees(self) -> Decimal:
        return self._total().fees

    @property
    def realized(self) -> Decimal:
        return self._total().net

    def to_json(self) -> dict[str, Any]:
        total = self._total()
        return {
            "method": "average_cost",
            "realized_gross": str(total.gross),
            "fees": str(total.fees),
            "realized": str(total.net),
            **{
                f"by_{name}": {k: v.to_json() for k, v in sorted(self.groups[name].items())}
                for name in GROUPINGS
            },
        }


FillRow = tuple[str, str, str, str, str, float, "str | None"]
"""(ticker, book_side, yes_price, count, fee, ts, strategy), money and counts as text: what
`Store.iter_fill_rows` streams."""

# The summary runs in integers: prices and fees in micro-dollars, counts in hundredths of a
# contract, amounts (price x count) in 1e-8 dollars. That is exact for every value Kalshi sends
# (4-decimal prices, 2-decimal counts, 6-decimal fees) and about five times faster than Decimal
# over a million fills. `PnlEngine` stays the per-event reference; a property test holds the two
# to the same figures, rounding of released basis included (1e-6 dollars, half even).
_PRICE_SCALE = 6
_COUNT_SCALE = 2
_AMOUNT_SCALE = _PRICE_SCALE + _COUNT_SCALE
_DOLLAR_MICROS = 10**_PRICE_SCALE
_RELEASE_UNIT = 10 ** (_AMOUNT_SCALE - 6)  # released basis is rounded to 1e-6 dollars
_FEE_TO_AMOUNT = 10**_COUNT_SCALE


def _scaled(text: str, scale: int) -> int:
    value = Decimal(text).scaleb(scale)
    if value != value.to_integral_value():
        raise KalshiError(
            f"the state file holds {text}, finer than any price, count or fee Kalshi sends",
            hint="check the state file with `kalshi health-check`",
        )
    return int(value)


def _from_units(units: int, scale: int = _AMOUNT_SCALE) -> Decimal:
    value = Decimal(units).scaleb(-scale).normalize()
    return value.quantize(ONE) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def _round_half_even(numerator: int, denominator: int) -> int:
    q, r = divmod(numerator, denominator)
    if 2 * r > denominator or (2 * r == denominator and q % 2 == 1):
        q += 1
    return q


def summarize(
    fills: Iterable[FillRecord],
    settlements: Iterable[SettlementRecord],
    *,
    since: float | None = None,
) -> PnlSummary:
    """`summarize_rows` over FillRecords."""
    rows = (
        (
            f.ticker,
            f.book_side.value,
            str(f.yes_price),
            str(f.count),
            str(f.fee),
            f.ts,
            f.strategy,
        )
        for f in fills
    )
    return summarize_rows(rows, settlements, since=since)


def summarize_rows(
    rows: Iterable[FillRow],
    settlements: Iterable[SettlementRecord],
    *,
    since: float | None = None,
) -> PnlSummary:
    """One streaming pass: realized P&L (gross, fees, net) per day, strategy and market, and
    every market's position at the end, by average cost (see the module docstring).

    Positions are always built from the full history; `since` only limits which realized events
    are counted. Memory grows with the number of markets and days, not of fills. `rows` must be
    in time order (the store streams them so); settlements are few and are merged in.
    """
    pending = sorted(settlements, key=lambda s: s.settled_at)
    # per market: [position (1e-2 contracts, + YES), basis, realized gross, fees (1e-8 dollars),
    #              traded (1e-2 contracts), fills, settled]
    markets: dict[str, list[int]] = {}
    # realized events counted, keyed (UTC day number, strategy, ticker): one dict update per
    # fill, rolled up into the three groupings at the end
    cells: dict[tuple[int, str, str], list[int]] = {}
    prices: dict[str, int] = {}
    counts: dict[str, int] = {}
    fees: dict[str, int] = {}
    cutoff = -math.inf if since is None else since
    dollar = _DOLLAR_MICROS
    unit = _RELEASE_UNIT
    i = 0
    next_settlement = pending[0].settled_at if pending else math.inf

    def count_event(key: tuple[int, str, str], gross: int, fee: int, settlement: int) -> None:
        cell = cells.get(key)
        if cell is None:
            cells[key] = [gross, fee, 1 - settlement, settlement]
        else:
            cell[0] += gross
            cell[1] += fee
            cell[2] += 1 - settlement
            cell[3] += settlement

    def settle(s: SettlementRecord) -> None:
        m = markets.get(s.ticker)
        if m is None:
            m = markets[s.ticker] = [0, 0, 0, 0, 0, 0, 0]
        position, basis = m[0], m[1]
        gross = 0
        if position != 0:
            payout = basis  # scalar or void: the cost comes back
            if s.result in ("yes", "no"):
                value = s.yes_value
                if value is None:
                    value = ONE if s.result == "yes" else ZERO
                yes = int(value.scaleb(_PRICE_SCALE).to_integral_value(ROUND_HALF_EVEN))
                payout = abs(position) * (yes if position > 0 else dollar - yes)
            gross = payout - basis
            m[0] = m[1] = 0
            m[2] += gross
        fee = _scaled(str(s.fee), _AMOUNT_SCALE)
        m[3] += fee
        m[6] = 1
        if s.settled_at >= cutoff:
            count_event((int(s.settled_at // 86_400), "settlement", s.ticker), gross, fee, 1)

    for ticker, side, price_text, count_text, fee_text, ts, strategy in rows:
        if ts >= next_settlement:
            while i < len(pending) and pending[i].settled_at <= ts:
                settle(pending[i])
                i += 1
            next_settlement = pending[i].settled_at if i < len(pending) else math.inf
        price = prices.get(price_text)
        if price is None:
            price = prices[price_text] = _scaled(price_text, _PRICE_SCALE)
        count = counts.get(count_text)
        if count is None:
            count = counts[count_text] = _scaled(count_text, _COUNT_SCALE)
        fee = fees.get(fee_text)
        if fee is None:
            fee = fees[fee_text] = _scaled(fee_text, _PRICE_SCALE) * _FEE_TO_AMOUNT
        m = markets.get(ticker)
        if m is None:
            m = markets[ticker] = [0, 0, 0, 0, 0, 0, 0]
        m[3] += fee
        m[4] += count
        m[5] += 1
        position = m[0]
        buying_yes = side == "bid"
        gross = 0
        if position != 0 and (position > 0) != buying_yes:
            held = position if position > 0 else -position
            closed = count if count < held else held
            if closed == held:
                released = m[1]
            else:
                released = _round_half_even(m[1] * closed, held * unit) * unit
            m[1] -= released
            gross = closed * (price if position > 0 else dollar - price) - released
            m[2] += gross
            if position > 0:
                position -= closed
            else:
                position += closed
            count -= closed
        if count:
            if buying_yes:
                m[1] += count * price
                position += count
            else:
                m[1] += count * (dollar - price)
                position -= count
        m[0] = position
        if ts >= cutoff:
            key = (int(ts // 86_400), strategy or "manual", ticker)
            cell = cells.get(key)
            if cell is None:
                cells[key] = [gross, fee, 1, 0]
            else:
                cell[0] += gross
                cell[1] += fee
                cell[2] += 1
    for s in pending[i:]:
        settle(s)

    engine = PnlEngine()
    for ticker, (position, basis, gross, fee, traded, n, settled) in markets.items():
        engine.markets[ticker] = MarketPnl(
            ticker,
            position=_from_units(position, _COUNT_SCALE),
            basis=_from_units(basis),
            realized_gross=_from_units(gross),
            fees=_from_units(fee),
            traded=_from_units(traded, _COUNT_SCALE),
            fills=n,
            settled=bool(settled),
        )
    rollup: dict[str, dict[Any, list[int]]] = {"day": {}, "strategy": {}, "market": {}}
    for (day, strategy, ticker), cell in cells.items():
        for name, group in (("day", day), ("strategy", strategy), ("market", ticker)):
            total = rollup[name].setdefault(group, [0, 0, 0, 0])
            for k in range(4):
                total[k] += cell[k]

    def bucket(cell: list[int]) -> Bucket:
        return Bucket(_from_units(cell[0]), _from_units(cell[1]), cell[2], cell[3])

    groups = {
        "day": {day_of(d * 86_400): bucket(c) for d, c in rollup["day"].items()},
        "strategy": {k: bucket(c) for k, c in rollup["strategy"].items()},
        "market": {k: bucket(c) for k, c in rollup["market"].items()},
    }
    return PnlSummary(engine, groups, since)
