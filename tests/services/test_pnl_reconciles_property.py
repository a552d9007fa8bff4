"""Random trading on the exchange core, then our P&L against the exchange's own account, to
the cent: takes and makes on both sides, IOC and resting orders, cancels and amends, maker and
taker fees, sub-penny and fractional markets, a mutually exclusive event with netting on or off
and a floored market in it, settlements (a floor's paying a settlement fee), fills either side of
a UTC midnight. What the state file replays (average cost) must be the exchange's own position,
cost, realized P&L and fees in every market; the cash must be what was realized less what the
open contracts cost (plus the collateral netting returned); and the day's realized P&L the
circuit breaker reads must be the replay's, day by day."""

from __future__ import annotations

import tempfile
from decimal import Decimal as D
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshi_cli.services.pnl import summarize_store
from kalshi_cli.services.reconcile import catch_up
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError, PlaceRequest, SimEvent, SimSeries
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.models import FeeModel, FeeType
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.runner.fakes import FakeClient
from tests.sim.test_core import TAC, market

BID, ASK = BookSide.BID, BookSide.ASK
GTC, IOC = TimeInForce.GTC, TimeInForce.IOC
FEES = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, D(1), None)
TICKERS = ("A", "B", "C", "M", "SUB", "FR")
START = 1_700_006_400.0 - 300  # five minutes before a UTC midnight


def build(netting: bool) -> tuple[Exchange, ManualClock, str, str]:
    clock = ManualClock(START)
    ex = Exchange(clock, fees=FEES)
    ex.reference.add_series(SimSeries("SER", "series"))
    ex.reference.add_event(SimEvent("X", "SER", "x", collateral_return_type="MECNET"))
    ex.reference.add_event(SimEvent("P", "SER", "p"))
    ex.add_market(market("A", event_ticker="X"))
    ex.add_market(market("B", event_ticker="X", settlement_floor=D("0.2525")))
    ex.add_market(market("C", event_ticker="X"))
    ex.add_market(market("M", event_ticker="P"))
    ex.add_market(market("SUB", "tapered_deci_cent", event_ticker="P"))
    ex.add_market(market("FR", event_ticker="P", fractional_trading_enabled=True))
    create = ex.accounts.create_account
    t = create(key_id="t", public_key_pem="", cash_cents=1_000_00).account_id
    m = create(key_id="m", public_key_pem="", cash_cents=10_000_00).account_id
    if netting:
        ex.subaccounts.set_netting(t, 0, True)
    return ex, clock, t, m


def price_of(ticker: str, cents: int, tenths: int) -> D:
    if ticker == "SUB" and (cents < 10 or cents > 90):
        return D(cents * 10 + tenths) / 1000
    return D(cents) / 100


def count_of(ticker: str, units: int, hundredths: int) -> D:
    return D(units) + (D(hundredths) / 100 if ticker == "FR" else 0)


Op = tuple[str, str, BookSide, int, int, int, int, bool]
op = st.tuples(
    st.sampled_from(["take", "make", "t", "m", "cancel", "amend", "wait"]),
    st.sampled_from(TICKERS),
    st.sampled_from([BID, ASK]),
    st.one_of(st.integers(35, 65), st.integers(1, 99)),
    st.integers(0, 9),
    st.integers(1, 12),
    st.integers(0, 99),
    st.booleans(),
)


def run(ex: Exchange, clock: ManualClock, t: str, m: str, ops: list[Op]) -> None:
    for kind, ticker, side, cents, tenths, units, hundredths, ioc in ops:
        price, count = price_of(ticker, cents, tenths), count_of(ticker, units, hundredths)
        try:
            if kind in ("take", "make"):
                # one rests, the other takes it at its price: t the taker, or t the maker
                first, then = (m, t) if kind == "take" else (t, m)
                other = ASK if side is BID else BID
                ex.desk.place_order(first, PlaceRequest(ticker, other, price, count, GTC, TAC))
                ex.desk.place_order(then, PlaceRequest(ticker, side, price, count, IOC, TAC))
            elif kind in ("t", "m"):
                ex.desk.place_order(
                    t if kind == "t" else m,
                    PlaceRequest(ticker, side, price, count, IOC if ioc else GTC, TAC),
                )
            elif kind in ("cancel", "amend"):
                resting = ex.accounts.resting_orders(t)
                if not resting:
                    continue
                order = resting[cents % len(resting)]
                if kind == "cancel":
                    ex.desk.cancel_order(t, order.order_id)
                else:
                    ex.desk.amend_order(
                        t, order.order_id, ticker=order.ticker, book_side=order.book_side,
                        price=price_of(order.ticker, cents, tenths),
                        count=order.fill_count + count_of(order.ticker, units, hundredths),
                    )  # fmt: skip
            else:
                clock.advance(units * 20)
        except ExchangeError:
            pass


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    ops=st.lists(op, min_size=5, max_size=40),
    settle=st.lists(st.sampled_from(TICKERS), unique=True, max_size=4),
    winner=st.sampled_from(["A", "B", "C", ""]),
    results=st.lists(st.booleans(), min_size=6, max_size=6),
    netting=st.booleans(),
)
def test_pnl_reconciles_with_the_exchange_to_the_cent(
    ops: list[Op], settle: list[str], winner: str, results: list[bool], netting: bool
) -> None:
    ex, clock, t, m = build(netting)
    run(ex, clock, t, m, ops)
    for ticker in settle:
        yes = ticker == winner if ticker in "ABC" else results[TICKERS.index(ticker)]
        clock.advance(7)
        ex.settlement.settle(ticker, "yes" if yes else "no")
    client = FakeClient(ex, t, clock=clock)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "state.db", clock=clock)
        try:
            catch_up(client, store, now=clock.wall())
            summary = summarize_store(store)
            theirs = {p.ticker: p for p in ex.accounts.positions(t)}
            ours = summary.engine.markets
            assert set(ours) == set(theirs)
            for ticker, p in theirs.items():
                mine = ours[ticker]
                assert (mine.position, mine.basis, mine.realized_gross, mine.fees) == (
                    p.position, p.cost_basis, p.realized_pnl, p.fees_paid,
                ), ticker  # fmt: skip
            # cash: what was realized, less what the open contracts cost, plus what netting
            # returned early
            returned = sum(ex.accounts.collateral.returned.get(t, {}).values(), D(0))
            open_cost = sum((mk.basis for mk in ours.values()), D(0))
            cash = ex.accounts.cash_dollars(t)
            assert cash - D("1000") == summary.realized - open_cost + returned
            # the daily figure the circuit breaker reads, day by day, sums to the same
            for day, bucket in summary.groups["day"].items():
                assert store.trading.daily_realized_pnl(day) == bucket.net, day
            days = {utc_day(f.ts) for f in store.fills.iter_fills()} | {
                utc_day(s.settled_at) for s in store.settlements.read()
            }
            assert sum((store.trading.daily_realized_pnl(d) for d in days), D(0)) == (
                summary.realized
            )
        finally:
            store.close()
