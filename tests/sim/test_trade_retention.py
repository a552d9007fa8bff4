"""Trades and keyed accounts' fills past the historical cutoff leave the live lists for compact
archives, and every answer stays the same; the candle history holds each quote once.

A served simulator kept every public trade and fill as objects in its live lists for as long as
it ran. Kalshi serves a trade or fill older than `trades_created_ts` from `/historical/*` only
(sim/core/historical.py); the served exchange now moves such records, on each tick, into
`sim/core/trade_archive.py`'s column arrays, and reads them back from there.
"""

from __future__ import annotations

import dataclasses
import math
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.historical import DEFAULT_LAG_S, HistoryPolicy, attach_retention
from kalshi_cli.sim.core.records import (
    FillHappened,
    SimFill,
    SimNotice,
    SimTrade,
    TradeHappened,
)
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.sim.core.trade_archive import TradeArchive
from kalshi_cli.sim.server.history import MarketHistory
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import ONE, BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.fakes import place_on_desk
from tests.sim.test_historical import OTHER, A, B, listing, set_lag, trade_both_markets
from tests.waiting import wait_until

LAG_S = 60
MINUTES = 5


def _run() -> tuple[Exchange, list[SimTrade], list[tuple[int, int, int, int]]]:
    """The default scenario's participants trading for MINUTES simulated minutes, the cutoff a
    minute behind; every trade as made, and per minute (live held, archived, made within the
    lag, made in all)."""
    clock = ManualClock()
    exchange = build_exchange("default", clock=clock)
    policy = HistoryPolicy(lag_seconds=LAG_S)
    attach_retention(exchange, policy)
    made: list[SimTrade] = []

    def record(notice: SimNotice) -> None:
        if isinstance(notice, TradeHappened):
            t = notice.trade
            made.append(SimTrade(t.trade_id, t.ticker, t.price, t.count, t.taker_book_side, t.ts))

    exchange.reference.add_listener(record)
    by_minute = []
    for _ in range(MINUTES):
        for _ in range(600):
            clock.advance(0.1)
            exchange.tick()
        live, archived = exchange.history.trade_tiers()
        recent = sum(t.ts >= clock.wall() - LAG_S for t in made)
        by_minute.append((live, archived, recent, len(made)))
    return exchange, made, by_minute


def test_the_live_trades_are_only_those_within_the_lag() -> None:
    _, made, by_minute = _run()
    assert len(made) > 50  # the participants trade throughout
    for minute, (live, archived, recent, total) in enumerate(by_minute, start=1):
        # after each tick the live lists hold exactly the trades not older than the cutoff
        assert live == recent, (minute, live, recent)
        assert archived == total - recent
    live, archived, _, total = by_minute[-1]
    assert total == len(made) and archived > 0
    assert live < len(made) / 2  # four of five minutes are past the cutoff


def test_archived_trades_read_back_as_they_were_made() -> None:
    exchange, made, _ = _run()
    assert exchange.history.trades() == made[::-1]
    assert repr(exchange.history.trades()) == repr(made[::-1])  # the Decimals' exponents too
    for ticker in exchange.reference.markets:
        mine = [t for t in made if t.ticker == ticker][::-1]
        assert repr(exchange.history.trades(ticker)) == repr(mine)


def _public(sim: SimHarness, path: str, **params: Any) -> Any:
    response = sim.http.get(sim.account.api_base + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _answers(sim: SimHarness, end_ts: int) -> dict[str, Any]:
    """What the public reads of trades answer: the live and historical listings (all, and per
    market) and each market's candlesticks up to `end_ts`, which read its trades. Reads compared
    with each other pass one `end_ts`: a window open to the future gains an empty period when
    the minute turns between them."""
    window = {"start_ts": 0, "end_ts": end_ts, "period_interval": 1}
    out: dict[str, Any] = {
        "live": _public(sim, "/markets/trades", limit=1000)["trades"],
        "historical": _public(sim, "/historical/trades", limit=1000)["trades"],
    }
    for t in (A, B, OTHER):
        out[t] = _public(sim, "/markets/trades", ticker=t)["trades"]
        out[f"{t} historical"] = _public(sim, "/historical/trades", ticker=t)["trades"]
        out[f"{t} candles"] = _public(sim, f"/series/KXHIST/markets/{t}/candlesticks", **window)
    out["fills"] = listing(sim, "/portfolio/fills", "fills")
    out["historical fills"] = listing(sim, "/historical/fills", "fills")
    return out


def _wait_archived(exchange: Exchange, count: int) -> None:
    wait_until(
        lambda: exchange.history.trade_tiers()[1] >= count,
        lambda: f"{count} archived trades (live, archived: {exchange.history.trade_tiers()})",
    )


def test_a_served_trade_moved_to_the_archive_is_served_as_before(sim: SimHarness) -> None:
    trade_both_markets(sim)
    end_ts = math.ceil(time.time() / 60) * 60  # the end of the minute the trades fell in
    before = _answers(sim, end_ts)
    assert len(before["live"]) == 3 and before["historical"] == []
    assert any(c["volume_fp"] != "0.00" for c in before[f"{A} candles"]["candlesticks"])
    exchange = sim.running.state.exchange
    account = exchange.subaccounts.account_by_key(sim.account.key_id)
    assert account is not None
    me = account.account_id
    assert exchange.history.trade_tiers() == (3, 0) and len(before["fills"]) == 3

    set_lag(sim, lag_seconds=0)
    _wait_archived(exchange, 3)  # the tick loop moved them out of the live lists
    assert exchange.history.trade_tiers() == (0, 3)
    assert exchange.history.fill_tiers(me) == (0, 3)  # the account's three fills
    archived = _answers(sim, end_ts)
    assert archived["live"] == [] and archived["historical"] == before["live"]
    assert archived["fills"] == [] and archived["historical fills"] == before["fills"]

    set_lag(sim, lag_seconds=DEFAULT_LAG_S)  # the cutoff moves back: the same trades are live
    assert exchange.history.trade_tiers() == (0, 3)
    assert exchange.history.fill_tiers(me) == (0, 3)
    assert _answers(sim, end_ts) == before


def test_ids_of_another_shape_and_decimal_exponents_read_back_exactly() -> None:
    archive = TradeArchive()
    made = [
        SimTrade("not-a-uuid", "M1", Decimal("0.50"), Decimal("3"), BookSide.BID, 1.25),
        SimTrade(
            "abcdefgh-0000-4000-8000-00000000000A",
            "M1",
            Decimal("0.5"),
            Decimal("3.00"),
            BookSide.ASK,
            2.5,
        ),
        SimTrade(
            "abcdefgh-0000-4000-8000-00000000002a",
            "M2",
            Decimal("0.5"),
            Decimal("0.01"),
            BookSide.ASK,
            1e9 + 0.123456,
        ),
    ]
    for t in made:
        archive.append(t)
    assert repr(list(archive.trades())) == repr(made)
    assert list(archive.trades("M2")) == made[2:] and list(archive.trades("M3")) == []


def test_a_restart_keeps_the_archived_trades_and_fills(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    exchange, me, _, _ = _trade_as_a_client(3, journal)
    trades, fills = repr(exchange.history.trades()), repr(exchange.history.fills(me))
    tiers = exchange.history.trade_tiers(), exchange.history.fill_tiers(me)
    assert tiers[0][1] > 0 and tiers[1][1] > 0
    exchange.compact()  # the snapshot holds the archives
    exchange.close()
    again = build_exchange("default", clock=ManualClock(), journal=journal)
    assert again.restored and (again.history.trade_tiers(), again.history.fill_tiers(me)) == tiers
    assert repr(again.history.trades()) == trades and repr(again.history.fills(me)) == fills
    again.close()


def test_the_candle_history_holds_each_distinct_quote_once() -> None:
    """A passed minute's quote samples (at most 5 a market-minute, sim/server/history.py) shared the
    time's float only: each was its own (bid, ask) tuple of two Decimals, ~170 bytes. Equal
    quotes are now one object (candles read them by value only: min, max, fmt_dollars)."""
    clock = ManualClock()
    exchange = build_exchange("default", clock=clock)
    history = MarketHistory()
    history.attach(exchange, clock)
    for _ in range(1200):
        clock.advance(0.1)
        exchange.tick()
    samples = [q for t in exchange.reference.markets for q in history.track(t).quotes]
    distinct = set(samples)
    assert len(samples) > len(distinct)  # quotes repeat: interning matters
    assert len({id(q) for q in samples}) == len(distinct)
    prices = {id(p) for q in samples for p in q}
    assert len(prices) == len({p for q in distinct for p in q})


def _trade_as_a_client(
    minutes: int, journal: Path | None = None, *, on_subaccount: bool = False
) -> tuple[Exchange, str, list[SimFill], list[tuple[int, int]]]:
    """A keyed account (or its subaccount 1) taking the default scenario's best YES ask every
    simulated second, the cutoff a minute behind; its fills as made, and per minute (live held,
    made within the lag)."""
    clock = ManualClock()
    exchange = build_exchange("default", clock=clock, journal=journal)
    attach_retention(exchange, HistoryPolicy(lag_seconds=LAG_S))
    user = exchange.accounts.create_account(
        key_id="k", public_key_pem="pem", cash_cents=10**10
    ).account_id
    trader = user
    if on_subaccount:
        number = exchange.subaccounts.create_subaccount(user)
        exchange.subaccounts.transfer(
            user,
            client_transfer_id="t1",
            from_subaccount=0,
            to_subaccount=number,
            amount_cents=10**9,
        )
        trader = exchange.subaccounts.subaccount_ledger(user, number)
    made: list[SimFill] = []

    def record(notice: SimNotice) -> None:
        if isinstance(notice, FillHappened) and notice.fill.account_id == trader:
            made.append(dataclasses.replace(notice.fill))

    exchange.reference.add_listener(record)
    tickers = sorted(exchange.reference.markets)
    by_minute = []
    for minute in range(minutes):
        for second in range(60):
            ticker = tickers[(minute * 60 + second) % len(tickers)]
            _, no_bid = exchange.engine.best_bids(ticker)
            if no_bid is not None:
                place_on_desk(
                    exchange,
                    trader,
                    ticker,
                    BookSide.BID,
                    ONE - no_bid,
                    1,
                    time_in_force=TimeInForce.IOC,
                )
            for _ in range(10):
                clock.advance(0.1)
                exchange.tick()
        live = exchange.history.fill_tiers(trader)[0]
        by_minute.append((live, sum(f.ts >= clock.wall() - LAG_S for f in made)))
    return exchange, trader, made, by_minute


@pytest.mark.parametrize("on_subaccount", [False, True])
def test_a_keyed_accounts_live_fills_are_only_those_within_the_lag(on_subaccount: bool) -> None:
    """A subaccount's ledger has no key of its own: its user's key reads its fills."""
    exchange, account_id, made, by_minute = _trade_as_a_client(4, on_subaccount=on_subaccount)
    assert len(made) > 100
    for minute, (live, recent) in enumerate(by_minute, start=1):
        assert live == recent, (minute, live, recent)
    assert exchange.history.fill_tiers(account_id) == (
        by_minute[-1][0],
        len(made) - by_minute[-1][0],
    )
    assert repr(exchange.history.fills(account_id)) == repr(made[::-1])  # ids, Decimals, fee parts


def test_a_read_from_a_time_on_leaves_out_only_archived_records_before_it() -> None:
    # a listing of the live tier asks from its cutoff on: older archived records are neither
    # served nor rebuilt; everything live, and every archived record from then on, is there
    exchange, _, _ = _run()
    live_count, archived_count = exchange.history.trade_tiers()
    every = exchange.history.trades()
    live, archived = every[:live_count], every[live_count:]
    middle = sorted(t.ts for t in archived)[archived_count // 2]
    assert exchange.history.trades(since=middle) == live + [t for t in archived if t.ts >= middle]
    assert exchange.history.trades(since=math.inf) == live
    ticker = archived[0].ticker
    assert exchange.history.trades(ticker, since=middle) == [
        t for t in exchange.history.trades(ticker) if t.ts >= middle or t in live
    ]

    exchange, account_id, _, _ = _trade_as_a_client(3)
    fills = exchange.history.fills(account_id)
    live_fills = fills[: exchange.history.fill_tiers(account_id)[0]]
    old = fills[len(live_fills) :]
    middle = sorted(f.ts for f in old)[len(old) // 2]
    assert exchange.history.fills(account_id, since=middle) == live_fills + [
        f for f in old if f.ts >= middle
    ]
    assert exchange.history.fills(account_id, since=math.inf) == live_fills
