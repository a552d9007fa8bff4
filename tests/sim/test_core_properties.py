"""Property tests of the exchange core: random sequences of orders, amends, decreases, cancels
and settlements, with the invariants checked after every step.

Conservation, precisely: the sum over accounts of exact cash (available + held for resting
orders) + fees collected + $1.00 per outstanding YES/NO pair (open interest) equals the cash
deposited. Fees: every fill's trade fee is the fee model's (rounded up to $0.0001) and its net
fee adds the rounding and rebate of Kalshi's fee-rounding page, so every account's cash stays a
whole number of $0.0001 even on a fractional sub-penny market (FRA). Also: no account's
available cash is negative, no book is crossed, no fill is at a price worse than its order's
limit, and every trade has exactly two fills (taker and maker, different accounts, opposite
book sides, same count and price). A refused call changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError, SimOrder
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import (
    FEE_QUANTUM,
    FeeModel,
    FeeType,
    trading_fee,
)
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce
from tests.conftest import NO_FEES, STANDARD_FEES
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market

TICKERS = {"FRA": "deci_cent", "LIN": "linear_cent", "TAP": "tapered_deci_cent"}
PRICES = {
    "LIN": [D("0.01") * i for i in range(40, 61)] + [D("0.01"), D("0.99")],
    "TAP": [D("0.001") * i for i in range(1, 12)] + [D("0.10"), D("0.11"), D("0.12")],
    "FRA": [D("0.001") * i for i in range(545, 566)] + [D("0.001"), D("0.999")],
}
FRACTIONAL = {"FRA"}


def units(ticker: str, n: int) -> D:
    """`n` tradable units: contracts, or hundredths of one on a fractional market."""
    return D(n) / 100 if ticker in FRACTIONAL else D(n)


# one step: (kind, account, a, b, c, d); kinds 0-5 place, 6 cancel, 7 amend, 8 decrease,
# 9 cancel-all; the other numbers pick the market, side, price, count and flags
op = st.tuples(
    st.integers(0, 9),
    st.integers(0, 2),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(1, 30),
    st.integers(0, 63),
)

settle = st.tuples(st.just("settle"), st.sampled_from(sorted(TICKERS)), st.booleans())


def build(fees: FeeModel) -> tuple[Exchange, list[str]]:
    ex = Exchange(ManualClock(), fees=fees)
    for ticker, structure in TICKERS.items():
        ex.add_market(
            market(
                ticker,
                structure,
                yes_sub_title="y",
                no_sub_title="n",
                fractional_trading_enabled=ticker in FRACTIONAL,
            )
        )
    cash = [500_00, 100_00, 3_00]
    accounts = [
        ex.accounts.create_account(key_id=f"k{i}", public_key_pem="", cash_cents=c).account_id
        for i, c in enumerate(cash)
    ]
    # a starting book, so that random orders have something to trade against
    books = (("LIN", (45, 49), (51, 55)), ("TAP", (3, 5), (8, 10)), ("FRA", (550, 554), (556, 560)))
    for ticker, bids, asks in books:
        unit = D("0.01") if ticker == "LIN" else D("0.001")
        for i, (lo, hi) in enumerate((bids, asks)):
            for tick in range(lo, hi + 1):
                place_on_desk(
                    ex,
                    accounts[i],
                    ticker,
                    BookSide.BID if i == 0 else BookSide.ASK,
                    unit * tick,
                    10,
                    self_trade_prevention=SelfTradePrevention.MAKER,
                )
    return ex, accounts


def snapshot(ex: Exchange, accounts: list[str]) -> str:
    lines = [repr(ex.engine.book(t)) for t in TICKERS]
    for a in accounts:
        lines += [
            repr(ex.accounts.cash_dollars(a)),
            repr(ex.accounts.held_dollars(a)),
            repr(ex.history.orders(a)),
            repr(ex.accounts.positions(a)),
            repr(ex.history.fills(a)),
        ]
    lines += [repr(ex.engine.fees_collected), repr(list(ex.reference.markets.values()))]
    return "\n".join(lines)


def run(ex: Exchange, accounts: list[str], step: tuple) -> None:  # type: ignore[type-arg]
    if step[0] == "settle":
        ex.settlement.settle(step[1], "yes" if step[2] else "no")
        return
    kind, a, x, y, count, flags = step
    account = accounts[a]
    if kind <= 5:
        ticker = sorted(TICKERS)[x % 3]
        prices = PRICES[ticker]
        tif = [TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK][flags % 4]
        place_on_desk(
            ex,
            account,
            ticker,
            BookSide.BID if x % 4 < 2 else BookSide.ASK,
            prices[y % len(prices)],
            units(ticker, count),
            time_in_force=tif,
            self_trade_prevention=list(SelfTradePrevention)[flags // 4 % 2],
            post_only=flags // 8 % 4 == 0 and tif is TimeInForce.GTC,
            reduce_only=flags // 32 == 1 and flags % 3 == 0,
        )
        return
    if kind == 9:
        ex.desk.cancel_all(account)
        return
    orders = ex.history.orders(account)
    if not orders:
        return
    order = orders[x % len(orders)]
    if kind == 6:
        ex.desk.cancel_order(account, order.order_id)
    elif kind == 7:
        prices = PRICES[order.ticker]
        ex.desk.amend_order(
            account,
            order.order_id,
            ticker=order.ticker,
            book_side=order.book_side,
            price=prices[y % len(prices)],
            count=order.fill_count + units(order.ticker, count),
        )
    else:
        reduce_to = min(units(order.ticker, count % 10), order.remaining_count)
        ex.desk.decrease_order(account, order.order_id, reduce_by=None, reduce_to=reduce_to)


def reference_hold(position: D, orders: list[SimOrder], maker_rate: D, fractional: bool) -> D:
    """Collateral for resting orders: per direction, the contracts that would close the
    opposite position are free (counted against the cheapest orders), the rest cost their own
    price; plus the maker fee reserve of each order: per tradable unit, one unit's fee, plus
    $0.0001 where a unit's revenue has digits below $0.0001."""

    def side(entries: list[tuple[D, D]], free: D) -> D:
        hold = D(0)
        for price, count in sorted(entries):
            covered = min(free, count)
            free -= covered
            hold += price * (count - covered)
        return hold

    bids = [(o.price, o.remaining_count) for o in orders if o.book_side is BookSide.BID]
    asks = [(1 - o.price, o.remaining_count) for o in orders if o.book_side is BookSide.ASK]
    unit = D("0.01") if fractional else D(1)

    def per_unit(price: D) -> D:
        fee = trading_fee(unit, price, maker_rate)
        if unit * price != (unit * price).quantize(FEE_QUANTUM):
            fee += FEE_QUANTUM
        return fee

    reserve = sum((o.remaining_count / unit * per_unit(o.price) for o in orders), D(0))
    return side(bids, max(-position, D(0))) + side(asks, max(position, D(0))) + reserve


def check(ex: Exchange, accounts: list[str]) -> None:
    total = sum((ex.accounts.cash_dollars(a) for a in accounts), D(0))
    assert total + ex.engine.fees_collected + ex.accounts.open_interest() == ex.accounts.deposited
    for a in accounts:
        assert ex.accounts.cash_dollars(a) - ex.accounts.held_dollars(a) >= 0
        assert ex.accounts.account(a).cash_cents >= 0
        # the fee-rounding page's promise: the balance stays at its precision
        assert ex.accounts.cash_dollars(a) == ex.accounts.cash_dollars(a).quantize(FEE_QUANTUM)
        balance = ex.accounts.account(a).balance
        assert balance == (ex.accounts.cash_dollars(a) - ex.accounts.held_dollars(a)).quantize(
            FEE_QUANTUM, "ROUND_FLOOR"
        )
        assert ex.accounts.account(a).cash_cents == int(balance * 100)
        # the incrementally kept hold equals the rule worked out from scratch
        positions = {p.ticker: p.position for p in ex.accounts.positions(a)}
        for ticker in TICKERS:
            expected = reference_hold(
                positions.get(ticker, D(0)),
                ex.accounts.resting_orders(a, ticker),
                ex.reference.fees.series_fees("SER").rates(at=0.0)[1],
                ticker in FRACTIONAL,
            )
            assert ex.accounts.states[a].held.get(ticker, D(0)) == expected
    for ticker in TICKERS:
        yes, no = ex.engine.book(ticker)
        if yes and no:
            assert yes[-1][0] + no[-1][0] < 1, f"{ticker} crossed"
        longs = sum(
            (
                max(p.position, D(0))
                for a in accounts
                for p in ex.accounts.positions(a)
                if p.ticker == ticker
            ),
            D(0),
        )
        shorts = sum(
            (
                max(-p.position, D(0))
                for a in accounts
                for p in ex.accounts.positions(a)
                if p.ticker == ticker
            ),
            D(0),
        )
        assert longs == shorts == ex.reference.markets[ticker].open_interest
    by_trade = defaultdict(list)
    for a in accounts:
        for fill in ex.history.fills(a):
            by_trade[fill.trade_id].append(fill)
    trades = {t.trade_id: t for t in ex.history.trades()}
    assert set(by_trade) == set(trades)
    for trade_id, pair in by_trade.items():
        assert len(pair) == 2
        taker, maker = sorted(pair, key=lambda f: not f.is_taker)
        assert taker.is_taker and not maker.is_taker
        assert taker.account_id != maker.account_id
        assert taker.book_side is not maker.book_side
        assert taker.count == maker.count == trades[trade_id].count
        assert taker.price == maker.price == trades[trade_id].price
        assert trades[trade_id].taker_book_side is taker.book_side


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(op, min_size=10, max_size=80),
    st.lists(settle, max_size=2),
    st.sampled_from(["standard", "zero", "maker"]),
)
def test_invariants_hold_through_any_sequence(
    steps: list[tuple],  # type: ignore[type-arg]
    settlements: list[tuple],  # type: ignore[type-arg]
    fee_kind: str,
) -> None:
    fees = {
        "standard": STANDARD_FEES,
        "zero": NO_FEES,
        "maker": FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, D(1), None),
    }[fee_kind]
    ex, accounts = build(fees)
    for step in steps + settlements:
        before = snapshot(ex, accounts)
        fills_before = {a: len(ex.history.fills(a)) for a in accounts}
        limits = {
            o.order_id: (o.book_side, o.price) for a in accounts for o in ex.history.orders(a)
        }
        try:
            run(ex, accounts, step)
        except ExchangeError:
            assert snapshot(ex, accounts) == before
            continue
        # no fill worse than the limit the order had when it filled
        for a in accounts:
            new = ex.history.fills(a)[: len(ex.history.fills(a)) - fills_before[a]]
            for fill in new:
                order = ex.history.order(a, fill.order_id)
                side, limit = limits.get(fill.order_id, (order.book_side, order.price))
                assert fill.charge is not None
                assert fill.fee == fill.charge.net
                assert fill.charge.trade_fee == fees.fee(
                    fill.count, fill.price, taker=fill.is_taker, at=0.0
                )
                if fill.is_taker:
                    side, limit = order.book_side, order.price
                if side is BookSide.BID:
                    assert fill.price <= limit
                else:
                    assert fill.price >= limit
        check(ex, accounts)
