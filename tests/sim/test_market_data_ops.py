"""Market data operations, each built from the simulator's own books and trades:
candlesticks (one market, a batch, an event), batch order books, the exchange schedule with a
maintenance window during which trading pauses, and the user-data timestamp.

The simulator here runs on a manual clock (frozen unless a test moves it), so every candle's
period is known: the clock starts 5 s after a minute boundary `B`."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.clock import ManualClock, parse_iso
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.waiting import wait_until

T = "KXMD-26JAN01-A"
U = "KXMD-26JAN01-B"
EVENT = "KXMD-26JAN01"


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[SimHarness, ManualClock, int]]:
    # the start of the hour: the sessions below last minutes, and a test reading the hour's
    # candle as the whole session failed when they crossed the top of an hour
    boundary = math.floor(time.time() / 3600) * 3600
    clock = ManualClock(start=boundary + 5)
    running = start_simulator(
        tmp_path / "sim",
        scenario="empty",
        clock=clock,
        tier="prime",
        auth_window_s=10**9,  # requests are signed with the real time; the server's is manual
        response_hook=RECORDER.hook,
    )
    harness = SimHarness(running)
    yield harness, clock, boundary
    harness.close()


def order(
    ticker: str, side: str, price: str, count: str, tif: str = "good_till_canceled", **extra: Any
) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "side": side,
        "price": price,
        "count": count,
        "time_in_force": tif,
        "self_trade_prevention_type": "taker_at_cross",
        **extra,
    }


def place(sim: SimHarness, account: Any, body: dict[str, Any]) -> httpx.Response:
    return sim.place_order(account, body)


def public(sim: SimHarness, path: str, **params: Any) -> httpx.Response:
    return sim.http.get(sim.account.api_base + path, params=params)


def _ohlc(o: str, lo: str, hi: str, c: str) -> dict[str, str]:
    return {"open_dollars": o, "low_dollars": lo, "high_dollars": hi, "close_dollars": c}


def _session(sim: SimHarness, clock: ManualClock) -> tuple[Any, Any]:
    """In the first minute: an ask of 10 at 0.60, a bid of 3 at 0.40, 4 bought at 0.60; the
    next minute nothing; in the third an ask of 2 at 0.55."""
    sim.create_market(T, event_ticker=EVENT)
    sim.create_market(U, event_ticker=EVENT)
    me, other = sim.account, sim.new_account()
    clock.advance(1)
    assert place(sim, other, order(T, "ask", "0.60", "10")).status_code == 201
    clock.advance(1)
    assert place(sim, me, order(T, "bid", "0.40", "3")).status_code == 201
    clock.advance(1)
    taker = place(sim, me, order(T, "bid", "0.60", "4", "immediate_or_cancel"))
    assert taker.json()["fill_count"] == "4.00"
    clock.advance(120)
    assert place(sim, other, order(T, "ask", "0.55", "2")).status_code == 201
    return me, other


def test_candles_carry_each_period_s_book_trades_and_open_interest(
    clocked: tuple[SimHarness, ManualClock, int],
) -> None:
    sim, clock, b = clocked
    _session(sim, clock)
    path = f"/series/KXMD/markets/{T}/candlesticks"
    answer = public(sim, path, start_ts=b, end_ts=b + 600, period_interval=1)
    assert answer.status_code == 200, answer.text
    first, quiet, third = answer.json()["candlesticks"]  # none after the period in progress
    assert [c["end_period_ts"] for c in (first, quiet, third)] == [b + 60, b + 120, b + 180]
    # created empty, then the bid of 0.40 and the ask of 0.60 (4 of its 10 taken)
    assert first["yes_bid"] == _ohlc("0.0000", "0.0000", "0.4000", "0.4000")
    assert first["yes_ask"] == _ohlc("1.0000", "0.6000", "1.0000", "0.6000")
    assert first["price"]["close_dollars"] == "0.6000"
    assert first["price"]["mean_dollars"] == "0.6000"
    assert "previous_dollars" not in first["price"]
    assert (first["volume_fp"], first["open_interest_fp"]) == ("4.00", "4.00")
    # a quiet minute: the quote and the open interest stand, no price, the previous trade's
    assert quiet["yes_bid"] == _ohlc("0.4000", "0.4000", "0.4000", "0.4000")
    assert quiet["yes_ask"] == _ohlc("0.6000", "0.6000", "0.6000", "0.6000")
    assert quiet["price"] == {"previous_dollars": "0.6000"}
    assert (quiet["volume_fp"], quiet["open_interest_fp"]) == ("0.00", "4.00")
    assert third["yes_ask"] == _ohlc("0.6000", "0.5500", "0.6000", "0.5500")
    # the spec's synthetic first candle: the last real one, moved up, prices null
    later = public(
        sim,
        path,
        start_ts=b + 61,
        end_ts=b + 600,
        period_interval=1,
        include_latest_before_start="true",
    ).json()["candlesticks"]
    synthetic = later[0]
    assert synthetic["end_period_ts"] == b + 120
    assert synthetic["price"] == {"previous_dollars": "0.6000"}
    assert later[1:] == [quiet, third]
    # an hour: one candle holding the whole session
    [hour] = public(sim, path, start_ts=b, end_ts=b + 3600, period_interval=60).json()[
        "candlesticks"
    ]
    assert hour["yes_ask"] == _ohlc("1.0000", "0.5500", "1.0000", "0.5500")
    assert hour["volume_fp"] == "4.00"


def test_batch_and_event_candles_are_the_single_market_answers(
    clocked: tuple[SimHarness, ManualClock, int],
) -> None:
    sim, clock, b = clocked
    _session(sim, clock)
    window = {"start_ts": b, "end_ts": b + 600, "period_interval": 1}

    def single(ticker: str) -> list[dict[str, Any]]:
        path = f"/series/KXMD/markets/{ticker}/candlesticks"
        candles: list[dict[str, Any]] = public(sim, path, **window).json()["candlesticks"]
        return candles

    batch = public(sim, "/markets/candlesticks", market_tickers=f"{U},{T}", **window)
    assert batch.status_code == 200, batch.text
    assert batch.json()["markets"] == [
        {"market_ticker": U, "candlesticks": single(U)},
        {"market_ticker": T, "candlesticks": single(T)},
    ]
    event = public(sim, f"/series/KXMD/events/{EVENT}/candlesticks", **window).json()
    assert event["market_tickers"] == [T, U]
    assert event["market_candlesticks"] == [single(T), single(U)]
    assert event["adjusted_end_ts"] == b + 600
    unknown = public(sim, "/markets/candlesticks", market_tickers="NOPE", **window)
    assert unknown.status_code == 404
    wrong_series = public(sim, f"/series/OTHER/events/{EVENT}/candlesticks", **window)
    assert wrong_series.status_code == 404


def test_batch_orderbooks_are_each_market_s_book(
    clocked: tuple[SimHarness, ManualClock, int],
) -> None:
    sim, clock, _ = clocked
    _session(sim, clock)
    batch = sim.http.get(
        sim.account.api_base + "/markets/orderbooks", params=[("tickers", T), ("tickers", U)]
    )
    assert batch.status_code == 200, batch.text
    books = batch.json()["orderbooks"]
    assert [b["ticker"] for b in books] == [T, U]
    for book in books:
        alone = public(sim, f"/markets/{book['ticker']}/orderbook").json()
        assert book["orderbook_fp"] == alone["orderbook_fp"]
    assert books[0]["orderbook_fp"]["no_dollars"] == [["0.4000", "6.00"], ["0.4500", "2.00"]]
    assert public(sim, "/markets/orderbooks").status_code == 400
    assert public(sim, "/markets/orderbooks", tickers="NOPE").status_code == 404


def test_trading_pauses_during_a_maintenance_window(
    clocked: tuple[SimHarness, ManualClock, int],
) -> None:
    sim, clock, b = clocked
    sim.create_market(T, event_ticker=EVENT)
    me = sim.account
    flagged = place(sim, me, order(T, "bid", "0.30", "1", cancel_order_on_pause=True)).json()
    kept = place(sim, me, order(T, "bid", "0.31", "1")).json()
    start, end = b + 65, b + 65 + 1800
    admin = sim.http.post(
        sim.admin_url + "/exchange/maintenance", json={"start_ts": start, "end_ts": end}
    )
    assert admin.status_code == 201, admin.text
    schedule = public(sim, "/exchange/schedule").json()["schedule"]
    [window] = schedule["maintenance_windows"]
    assert parse_iso(window["start_datetime"]).timestamp() == start
    assert parse_iso(window["end_datetime"]).timestamp() == end
    assert public(sim, "/exchange/status").json()["trading_active"] is True

    clock.advance(60)  # into the window
    status = public(sim, "/exchange/status").json()
    assert (status["exchange_active"], status["trading_active"]) == (False, False)
    assert parse_iso(status["exchange_estimated_resume_time"]).timestamp() == end
    refused = place(sim, me, order(T, "bid", "0.32", "1"))
    assert refused.status_code == 503
    assert refused.json()["code"] == "exchange_unavailable"
    amend = sim.signed(
        me,
        "POST",
        f"/portfolio/events/orders/{kept['order_id']}/amend",
        json={"ticker": T, "side": "bid", "price": "0.33", "count": "1"},
    )
    assert amend.status_code == 503
    batch = sim.signed(
        me,
        "POST",
        "/portfolio/events/orders/batched",
        json={"orders": [order(T, "bid", "0.32", "1")]},
    )
    assert batch.status_code == 503

    def status_of(order_id: str) -> str:
        got = sim.signed(me, "GET", f"/portfolio/orders/{order_id}").json()["order"]
        return str(got["status"])

    wait_until(  # swept on the exchange's next tick
        lambda: status_of(flagged["order_id"]) == "canceled",
        "the cancel_order_on_pause order to be swept",
    )
    assert status_of(kept["order_id"]) == "resting"
    # risk comes off during a window
    cancel = sim.signed(me, "DELETE", f"/portfolio/events/orders/{kept['order_id']}")
    assert cancel.status_code == 200

    clock.advance(1800)  # the window is over
    assert public(sim, "/exchange/schedule").json()["schedule"]["maintenance_windows"] == []
    assert public(sim, "/exchange/status").json()["trading_active"] is True
    assert place(sim, me, order(T, "bid", "0.32", "1")).status_code == 201


def test_trading_around_the_clock_is_written_as_the_real_schedule_writes_it(
    clocked: tuple[SimHarness, ManualClock, int],
) -> None:
    """A day's session from midnight to midnight is `00:00`-`00:00` on the real schedule, not
    `24:00` (DailySchedule: "HH:MM", and no hour 24)."""
    sim, _, _ = clocked
    [weekly] = public(sim, "/exchange/schedule").json()["schedule"]["standard_hours"]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
        assert weekly[day] == [{"open_time": "00:00", "close_time": "00:00"}], day


def test_user_data_timestamp_is_when_the_portfolio_reads_were_true(
    clocked: tuple[SimHarness, ManualClock, int],
) -> None:
    sim, clock, _ = clocked
    as_of = public(sim, "/exchange/user_data_timestamp").json()["as_of_time"]
    assert parse_iso(as_of).timestamp() == clock.wall()
    sim.set_faults(read_lag_ms=500)
    as_of = public(sim, "/exchange/user_data_timestamp").json()["as_of_time"]
    assert parse_iso(as_of).timestamp() == clock.wall() - 0.5


def test_forecast_history_is_the_forecast_in_effect_at_each_period_end(
    clocked: tuple[SimHarness, ManualClock, int],
) -> None:
    sim, clock, b = clocked
    sim.create_market(T, event_ticker=EVENT)
    for ts, values in ((b + 10, {"5000": "97000.5", "9000": 99000}), (b + 70, {"5000": "98000"})):
        added = sim.http.post(
            f"{sim.admin_url}/events/{EVENT}/forecasts", json={"ts": ts, "percentiles": values}
        )
        assert added.status_code == 201, added.text
    clock.advance(130)
    path = f"/series/KXMD/events/{EVENT}/forecast_percentile_history"
    window = [("start_ts", b), ("end_ts", b + 600), ("period_interval", 1)]
    answer = sim.signed(
        sim.account, "GET", path, params=[("percentiles", 5000), ("percentiles", 9000), *window]
    )
    assert answer.status_code == 200, answer.text
    history = answer.json()["forecast_history"]
    assert [h["end_period_ts"] for h in history] == [b + 60, b + 120, b + 180]
    first, second, _ = history
    assert first["percentile_points"] == [
        {
            "percentile": 5000,
            "raw_numerical_forecast": 97000.5,
            "numerical_forecast": 97000.5,
            "formatted_forecast": "97000.5",
        },
        {
            "percentile": 9000,
            "raw_numerical_forecast": 99000.0,
            "numerical_forecast": 99000.0,
            "formatted_forecast": "99000",
        },
    ]
    assert [p["percentile"] for p in second["percentile_points"]] == [5000]
    assert second["percentile_points"][0]["formatted_forecast"] == "98000"
    assert (
        public(
            sim, path, percentiles=5000, start_ts=b, end_ts=b + 60, period_interval=1
        ).status_code
        == 401
    )
    bad = sim.signed(sim.account, "GET", path, params=[("percentiles", 10000), *window])
    assert bad.status_code == 400


_NUMBERISH = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet="0123456789-+e.,x ", max_size=12),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        [
            f"/series/KXMD/markets/{T}/candlesticks",
            "/markets/candlesticks",
            f"/series/KXMD/events/{EVENT}/candlesticks",
            f"/series/KXMD/events/{EVENT}/forecast_percentile_history",
            "/markets/orderbooks",
            "/events/fee_changes",
        ]
    ),
    start=_NUMBERISH,
    end=_NUMBERISH,
    period=_NUMBERISH,
    extra=st.sampled_from(["", "NOPE", T, f"{T},{T}", ",", "true", "maybe"]),
)
def test_market_data_queries_never_answer_500(
    clocked: tuple[SimHarness, ManualClock, int],
    *,
    path: str,
    start: str,
    end: str,
    period: str,
    extra: str,
) -> None:
    sim, _, _ = clocked
    if T not in sim.running.state.exchange.reference.markets:
        sim.create_market(T, event_ticker=EVENT)
    params = {
        "start_ts": start,
        "end_ts": end,
        "period_interval": period,
        "market_tickers": extra,
        "tickers": extra,
        "percentiles": period,
        "include_latest_before_start": extra,
        "limit": period,
        "cursor": extra,
    }
    response = sim.signed(sim.account, "GET", path, params=params)
    assert response.status_code < 500, response.text
