"""A recorded market's lifecycle in a backtest: trading paused (`deactivated`) and resumed
(`activated`, kalshi_cli/backtest/engine.py), closed at its close time (no message marks it),
no fill while the market does not trade (kalshi_cli/venue/venue.py), and a result that comes
right after a fill booked after it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest.engine import BacktestSpec, Driver, ReplayFeed, execute
from kalshi_cli.backtest.replay_clock import ReplayClock
from kalshi_cli.backtest.report import build_report
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.data.importer import import_jsonl
from kalshi_cli.data.replay import Record
from kalshi_cli.feed.messages import convert_frame
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.errors import BadRequestError, ConflictError
from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce
from tests.fakes import ticks

D = Decimal
T = "KXTEST-26JAN01-A"
START = 1_700_000_000.0
FAIR_VALUE = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"


RECORDED_FROM_S = 1_767_225_600  # 2026-01-01T00:00:00Z
BOOK_MSG = {"market_ticker": T, "market_id": "m"}
YES_AT_045 = {  # a book whose YES is offered at 0.45
    **BOOK_MSG,
    "yes_dollars_fp": [["0.4000", "10.00"]],
    "no_dollars_fp": [["0.5500", "10.00"]],
}


def recorded(
    tmp_path: Path, frames: list[tuple[float, str, dict[str, Any]]], *markets: dict[str, Any]
) -> Path:
    """A data set of `frames` (ms from RECORDED_FROM_S, type, msg) as the recorder writes them,
    the book and the lifecycle each on its own subscription numbered from 1 (no gap), with
    `markets` as its reference data when any are given."""
    numbered: dict[int, int] = {}
    lines = []
    for at_ms, kind, msg in frames:
        sid = 2 if kind == "market_lifecycle_v2" else 1
        numbered[sid] = seq = numbered.get(sid, 0) + 1
        frame = {"type": kind, "sid": sid, "seq": seq, "msg": msg}
        recv_ns = RECORDED_FROM_S * 10**9 + round(at_ms * 1_000_000)
        lines.append(json.dumps({"recv_ns": recv_ns, "frame": frame}) + "\n")
    source = tmp_path / "capture.jsonl"
    source.write_text("".join(lines))
    data = tmp_path / "set"
    import_jsonl(source, data)
    if markets:
        (data / "reference.json").write_text(json.dumps({"markets": list(markets)}))
    return data


def buying_five_at_090(data: Path, **spec: Any) -> tuple[Any, dict[str, Any]]:
    """A backtest of `data` by the example fair-value strategy, which buys five YES at any ask
    under 0.90; `spec` is more of its `BacktestSpec`. The run and its report."""
    params = (("fair", "0.90"), ("order_count", "5"))
    run = execute(BacktestSpec(data=str(data), strategy=str(FAIR_VALUE), params=params, **spec))
    return run, build_report(run)


def bid(price: str, count: str) -> CreateOrder:
    return CreateOrder(T, BookSide.BID, D(price), D(count), time_in_force=TimeInForce.GTC)


def lifecycle(at: float, seq: int, event_type: str, **fields: Any) -> Record:
    msg = {"market_ticker": T, "event_type": event_type, **fields}
    frame = {"type": "market_lifecycle_v2", "sid": 1, "seq": seq, "msg": msg}
    return int(at * 1e9), convert_frame(frame), False


def test_a_market_paused_then_resumed_takes_orders_again() -> None:
    clock = ReplayClock(START)
    venue = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(100),
    )
    records = iter(
        [
            lifecycle(START + 1, 1, "deactivated", is_deactivated=True),
            lifecycle(START + 2, 2, "activated", is_deactivated=False),
        ]
    )
    driver = Driver(records, ReplayFeed([T], clock), venue, clock)
    venue.book_changed(T, ticks({}), ticks({D("0.50"): D(10)}))
    driver.advance_to(START + 1.5)
    with pytest.raises((BadRequestError, ConflictError)):  # paused: refused
        venue.client.orders.create_order(bid("0.40", "1"))
    driver.advance_to(START + 3)
    assert venue.client.orders.create_order(bid("0.40", "1")).remaining_count == 1


def test_a_resting_order_does_not_fill_while_its_market_does_not_trade() -> None:
    clock = ReplayClock(START)
    venue = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(100),
    )
    venue.book_changed(T, ticks({}), ticks({D("0.40"): D(10)}))
    rest = venue.client.orders.create_order(bid("0.50", "5"))
    venue.timetable.close(T)
    venue.trade(T, D("0.50"), D(3), Side.NO)  # recorded, but the market is not trading
    venue.book_changed(T, ticks({}), ticks({D("0.55"): D(10)}))  # a book that crosses our bid
    assert venue.client.orders.get_order(rest.order_id).fill_count == 0
    venue.timetable.reopen(T)
    venue.trade(T, D("0.50"), D(3), Side.NO)
    assert venue.client.orders.get_order(rest.order_id).fill_count == 3


@pytest.mark.parametrize("event_type", ["determined", "settled"])
def test_a_market_determined_with_no_result_known_trades_no_more(event_type: str) -> None:
    """A result neither the message nor the reference data states pays nothing yet, but the
    market trades no more: the exchange neither takes an order nor fills one once it is
    determined, whatever the recording goes on showing."""
    clock = ReplayClock(START)
    venue = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(100),
    )
    records = iter([lifecycle(START + 1, 1, event_type)])
    driver = Driver(records, ReplayFeed([T], clock), venue, clock)
    venue.book_changed(T, ticks({}), ticks({D("0.40"): D(10)}))
    rest = venue.client.orders.create_order(bid("0.50", "5"))
    driver.advance_to(START + 2)
    venue.trade(T, D("0.50"), D(3), Side.NO)  # recorded, but the market is determined
    venue.book_changed(T, ticks({}), ticks({D("0.55"): D(10)}))  # a book that crosses our bid
    assert venue.client.orders.get_order(rest.order_id).fill_count == 0
    with pytest.raises(ConflictError):
        venue.client.orders.create_order(bid("0.45", "1"))
    assert list(venue.client.portfolio.iter_settlements()) == []


@pytest.mark.parametrize("after_ms", [1.0, 1.5])
def test_a_result_in_the_millisecond_of_the_last_fill_settles_what_that_fill_bought(
    tmp_path: Path, after_ms: float
) -> None:
    """Fills and settlements are stamped to the millisecond, as the exchange writes times, and
    the P&L applies a settlement before the fills stamped at its time; a market fills nothing
    once settled, so the venue stamps a settlement after the fills it follows. Here the
    strategy buys YES one poll (1 ms) after the book arrives, and the result comes at that very
    moment or half a millisecond later: the report settles the five contracts bought, and its
    net is what the account's equity gained."""
    result = {"market_ticker": T, "event_type": "determined", "result": "yes"}
    data = recorded(
        tmp_path,
        [(0.0, "orderbook_snapshot", YES_AT_045), (after_ms, "market_lifecycle_v2", result)],
    )
    run, report = buying_five_at_090(data)
    (fill,) = run.venue.client.portfolio.iter_fills()
    market = report["markets"][T]
    assert (market["position"], market["settled"]) == ("0.00", "2.7500")  # 5 x (1 - 0.45)
    assert report["left_open"] == []
    assert report["exit_reasons"] == {"settlement": 1}
    totals = report["totals"]
    gained = D(totals["end_equity"]) - D(totals["start_balance"])
    assert D(totals["net"]) == gained == 5 - 5 * D("0.45") - fill.fee
    assert D(report["by_strategy"]["settlement"]["realized"]) == D("2.75")
    (settlement,) = run.venue.client.portfolio.iter_settlements()
    # the fill is in the millisecond the result arrived; the settlement is stamped after it
    assert (fill.created_time, fill.yes_price, fill.count) == (
        "2026-01-01T00:00:00.001Z",
        D("0.45"),
        D(5),
    )
    assert settlement.settled_time == "2026-01-01T00:00:00.002Z"
    assert settlement.revenue == 5  # the venue paid the five contracts $1 each
    # listed since the second it settled in (`min_ts`, as the exchange lists them), not after
    settled_s = 1767225600  # 2026-01-01T00:00:00Z
    listed_since = run.venue.client.portfolio.iter_settlements
    assert [s.ticker for s in listed_since(min_ts=settled_s)] == [settlement.ticker]
    assert list(listed_since(min_ts=settled_s + 1)) == []


def test_a_market_trades_nothing_from_its_close_time_on() -> None:
    """Kalshi closes a market at its `close_time` (the reference data's, moved by a
    `close_date_updated` message's `close_ts`); no lifecycle message says so (`deactivated` is
    a pause of an open market). From then on the venue refuses our orders, and neither a
    recorded trade nor a book crossing our resting bid fills it."""
    clock = ReplayClock(START)
    info = MarketInfo(
        T,
        "KXTEST-26JAN01",
        "KXTEST",
        close_time=START + 10,
        fee_type="quadratic",
        fee_multiplier="1",
    )
    venue = LocalVenue(clock, [info], balance=D(100))
    venue.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(10)}))
    rest = venue.client.orders.create_order(bid("0.42", "5"))
    assert rest.remaining_count == 5
    clock.set(START + 10)
    with pytest.raises(ConflictError, match="market_closed"):
        venue.client.orders.create_order(bid("0.45", "1"))  # would take the 0.45 offered
    venue.trade(T, D("0.40"), D(3), Side.NO)  # a trade through our bid, recorded after close
    venue.book_changed(
        T, ticks({D("0.40"): D(10)}), ticks({D("0.60"): D(10)})
    )  # YES offered at 0.40
    assert venue.client.orders.get_order(rest.order_id).fill_count == 0
    assert venue.client.markets.get_market(T).status == "closed"


def test_a_close_date_update_moves_the_close() -> None:
    """The message's `close_ts` is the market's close from then on: earlier (an early
    determination) or later."""
    clock = ReplayClock(START)
    info = MarketInfo(
        T,
        "KXTEST-26JAN01",
        "KXTEST",
        close_time=START + 10,
        fee_type="quadratic",
        fee_multiplier="1",
    )
    venue = LocalVenue(clock, [info], balance=D(100))
    venue.book_changed(T, ticks({}), ticks({D("0.50"): D(10)}))
    records = iter(
        [
            lifecycle(START + 1, 1, "close_date_updated", close_ts=int(START) + 20),
            lifecycle(START + 15, 2, "close_date_updated", close_ts=int(START) + 16),
        ]
    )
    driver = Driver(records, ReplayFeed([T], clock), venue, clock)
    driver.advance_to(START + 12)  # past the first close, before the new one
    assert venue.client.orders.create_order(bid("0.40", "1")).remaining_count == 1
    driver.advance_to(START + 16)
    with pytest.raises(ConflictError, match="market_closed"):
        venue.client.orders.create_order(bid("0.40", "1"))


def test_a_backtest_fills_nothing_after_the_recorded_close(tmp_path: Path) -> None:
    """A model that has an opinion only after the market closed (as the crypto model has once
    the settlement window is printed) must not buy the book the recording still shows: the
    exchange refused every order from the close on."""
    start_s = RECORDED_FROM_S
    later = {**BOOK_MSG, "price_dollars": "0.3000", "delta_fp": "5.00", "side": "yes"}
    market = {"ticker": T, "event_ticker": "KXTEST-26JAN01", "close_time": "2026-01-01T00:00:05Z"}
    data = recorded(
        tmp_path,
        [(0, "orderbook_snapshot", YES_AT_045), (8_000, "orderbook_delta", later)],
        market,
    )
    fair = tmp_path / "fair.csv"
    fair.write_text(f"ticker,fair,confidence,time\n{T},0.90,1,{start_s + 6}\n")
    spec = BacktestSpec(
        data=str(data),
        strategy="model",
        params=(("source", f"file:{fair}"), ("bankroll", "100"), ("max_count", "5")),
    )
    run = execute(spec)
    report = build_report(run)
    assert list(run.venue.client.portfolio.iter_fills()) == []
    assert report["totals"]["orders"] == report["totals"]["rejected"] > 0


def test_a_market_paused_when_the_recording_ends_settles_at_the_reference_result(
    tmp_path: Path,
) -> None:
    """A pause (`deactivated`) is not a settlement: a market paused when the recording ends,
    whose result the reference data read at the recording's end knows, settles at that result
    as any market whose result frame never came, rather than being left open at its bid."""
    paused = {"market_ticker": T, "event_type": "deactivated", "is_deactivated": True}
    market = {"ticker": T, "event_ticker": "KXTEST-26JAN01", "result": "yes"}
    data = recorded(
        tmp_path,
        [(0, "orderbook_snapshot", YES_AT_045), (500, "market_lifecycle_v2", paused)],
        market,
    )
    run, report = buying_five_at_090(data)
    (fill,) = run.venue.client.portfolio.iter_fills()
    (settlement,) = run.venue.client.portfolio.iter_settlements()
    assert (fill.yes_price, fill.count, settlement.market_result) == (D("0.45"), D(5), "yes")
    assert report["markets"][T]["settled"] == "2.7500"  # 5 x (1 - 0.45)
    assert report["left_open"] == []
    assert D(report["totals"]["net"]) == 5 - 5 * D("0.45") - fill.fee


@pytest.mark.parametrize("stated_by", ["frame", "reference"])
def test_a_scalar_result_pays_yes_its_settlement_value(tmp_path: Path, stated_by: str) -> None:
    """A `scalar` result pays each YES contract its settlement value and NO the rest, whether
    the recording's `determined` frame states it or only the reference data read at the end:
    five YES bought at 0.45 on a market that settles at 0.30 lose 5 x 0.15 and the fee."""
    outcome = {"result": "scalar", "settlement_value": "0.3000"}
    determined = {"market_ticker": T, "event_type": "determined"}
    market = {"ticker": T, "event_ticker": "KXTEST-26JAN01"}
    if stated_by == "frame":
        determined |= outcome
    else:
        market |= {"result": "scalar", "settlement_value_dollars": "0.3000"}
    data = recorded(
        tmp_path,
        [(0, "orderbook_snapshot", YES_AT_045), (500, "market_lifecycle_v2", determined)],
        market,
    )
    run, report = buying_five_at_090(data)
    (fill,) = run.venue.client.portfolio.iter_fills()
    (settlement,) = run.venue.client.portfolio.iter_settlements()
    assert (fill.yes_price, fill.count) == (D("0.45"), D(5))
    assert (settlement.market_result, settlement.revenue) == ("scalar", D("1.50"))
    assert report["markets"][T]["settled"] == "-0.7500"  # 5 x (0.30 - 0.45)
    assert report["left_open"] == []
    totals = report["totals"]
    gained = D(totals["end_equity"]) - D(totals["start_balance"])
    assert D(totals["net"]) == gained == 5 * D("0.30") - 5 * D("0.45") - fill.fee


def test_a_market_settled_before_from_is_not_traded_from_then_on(tmp_path: Path) -> None:
    """The records before `--from` build the run's state: a result among them closes the
    market for the loop as for the venue, as a loop started then would read it, so the run
    sends it no order the exchange would refuse."""
    start_s = RECORDED_FROM_S
    result = {"market_ticker": T, "event_type": "determined", "result": "yes"}
    later = {**BOOK_MSG, "price_dollars": "0.3000", "delta_fp": "5.00", "side": "yes"}
    data = recorded(
        tmp_path,
        [
            (0, "orderbook_snapshot", YES_AT_045),
            (1_000, "market_lifecycle_v2", result),
            (6_000, "orderbook_delta", later),
        ],
    )
    _, report = buying_five_at_090(data, start_ns=(start_s + 5) * 10**9)
    assert (report["totals"]["orders"], report["totals"]["rejected"]) == (0, 0)


def test_a_run_from_a_later_time_draws_down_from_its_starting_balance(tmp_path: Path) -> None:
    """A run from `--from` (a holdout's part, a walk-forward window's test) has its books at its
    first decision and may trade there: its equity curve starts from the balance before that
    decision, so what the entry cost (bought at the ask, marked at the bid, and the fee) is in
    its drawdown."""
    start_s = RECORDED_FROM_S
    later = {**BOOK_MSG, "price_dollars": "0.3000", "delta_fp": "5.00", "side": "yes"}
    data = recorded(
        tmp_path, [(0, "orderbook_snapshot", YES_AT_045), (20_000, "orderbook_delta", later)]
    )
    run, report = buying_five_at_090(
        data, start_ns=(start_s + 1) * 10**9, end_ns=(start_s + 30) * 10**9
    )
    (fill,) = run.venue.client.portfolio.iter_fills()
    lost = 5 * (D("0.45") - D("0.40")) + fill.fee
    assert report["equity"][0][1] == "1000.0000"
    assert D(report["totals"]["max_drawdown"]) == lost
