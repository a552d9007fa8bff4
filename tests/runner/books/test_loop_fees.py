"""The loop prices each market by its own fees: the series' fee type and multiplier, an event
override, the market's fee waiver; and refuses to start on fees it cannot price."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.books.fees import FeeChange
from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import StartupRefused
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.models import MAKER_FEE_RATE, TAKER_FEE_RATE, FeeModel, FeeType, Market
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.conftest import STANDARD_FEES
from tests.runner.fakes import START, FakeClient, make_rig, scenario_rig, swap_decide

SCENARIO = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXMAKER
    title: Maker fees at half rate
    fee_type: quadratic_with_maker_fees
    fee_multiplier: "0.5"
    events:
      - event_ticker: KXMAKER-1
        title: One
        markets:
          - {ticker: KXMAKER-1-A, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
  - ticker: KXPLAIN
    title: Standard fees, waived for an hour
    events:
      - event_ticker: KXPLAIN-1
        title: One
        markets:
          - {ticker: KXPLAIN-1-A, fee_waiver_seconds: 3600, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
liquidity_provider: {cash_cents: 10000000, refresh_seconds: 1.0}
"""


def test_each_market_is_priced_by_its_series_fees_and_waiver(tmp_path: Path) -> None:
    rig = scenario_rig(tmp_path, SCENARIO)
    portfolio = rig.loop.portfolio
    assert portfolio.fee_rates("KXMAKER-1-A", START) == (D("0.035"), D("0.00875"))
    assert portfolio.fee_rates("KXPLAIN-1-A", START) == (0, 0)
    assert portfolio.fee_rates("KXPLAIN-1-A", START + 3600) == (TAKER_FEE_RATE, 0)
    # no defaults in money: a market whose fees were not read is refused, not priced at the
    # standard rates
    with pytest.raises(KeyError, match="no fee model was read for KXOTHER"):
        portfolio.fee_rates("KXOTHER", START)


CHANGING = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXCHG
    title: Maker fees from ten minutes in
    fee_changes:
      - {fee_type: quadratic_with_maker_fees, fee_multiplier: "2", after_seconds: 600}
    events:
      - event_ticker: KXCHG-1
        title: One
        markets:
          - {ticker: KXCHG-1-A, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
liquidity_provider: {cash_cents: 10000000, refresh_seconds: 1.0}
"""


def test_a_fee_change_takes_effect_at_its_time_while_the_loop_runs(tmp_path: Path) -> None:
    log = tmp_path / "loop.jsonl"
    rig = scenario_rig(tmp_path, CHANGING, log_path=log)
    clock = rig.clock
    portfolio = rig.loop.portfolio

    def fee_changes() -> list[dict[str, Any]]:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        return [e for e in map(json.loads, lines) if e["event"] == "fee_change"]

    rig.step(1)
    assert portfolio.fee_rates("KXCHG-1-A", clock.wall()) == (TAKER_FEE_RATE, 0)
    assert fee_changes() == []
    while clock.wall() < START + 599:
        rig.step(100 if clock.wall() < START + 500 else 1)
    assert portfolio.fee_rates("KXCHG-1-A", clock.wall()) == (TAKER_FEE_RATE, 0)
    rig.step(1)  # the loop's clock reaches the change
    assert portfolio.fee_rates("KXCHG-1-A", clock.wall()) == (
        2 * TAKER_FEE_RATE,
        2 * MAKER_FEE_RATE,
    )
    [logged] = fee_changes()
    assert logged["ticker"] == "KXCHG-1-A" and logged["series_ticker"] == "KXCHG"
    assert (logged["fee_type"], logged["fee_multiplier"]) == ("quadratic_with_maker_fees", "2")
    rig.step(1)
    assert len(fee_changes()) == 1  # applied once
    rig.loop.log.close()


def test_the_fee_changes_due_apply_together_in_order_and_the_later_ones_wait() -> None:
    """Changes are applied by time, as many as are due at once (a loop that stalled past two),
    the later of two on one market last; one not yet due is kept for its time."""
    tickers = ("KXCHG-1-A", "KXCHG-1-B")
    portfolio = Portfolio([Market(ticker=t) for t in tickers])
    portfolio.fees = dict.fromkeys(tickers, STANDARD_FEES)

    def change(ticker: str, at: float, multiplier: str) -> FeeChange:
        fees = FeeModel(FeeType.QUADRATIC, D(multiplier), None)
        return FeeChange(ticker, at, fees, "KXCHG", f"{ticker}@{at}")

    first, second, third = (
        change(tickers[0], START + 10, "2"),
        change(tickers[0], START + 20, "3"),
        change(tickers[1], START + 30, "4"),
    )
    portfolio.fee_changes = [first, second, third]
    assert portfolio.apply_fee_changes(START + 5) == []
    assert portfolio.apply_fee_changes(START + 25) == [first, second]
    assert portfolio.fee_rates(tickers[0], START + 25) == (3 * TAKER_FEE_RATE, 0)
    assert portfolio.fee_rates(tickers[1], START + 25) == (TAKER_FEE_RATE, 0)
    assert portfolio.fee_changes == [third]
    assert portfolio.apply_fee_changes(START + 30) == [third]
    assert portfolio.fee_rates(tickers[1], START + 30) == (4 * TAKER_FEE_RATE, 0)
    assert portfolio.fee_changes == []


class FlatSeries(FakeClient):
    """A series as Kalshi may list it with the `flat` fee type (the simulator refuses to
    create one: its rates are unknown)."""

    def get_series(self, series_ticker: str) -> dict[str, Any]:
        return {**super().get_series(series_ticker), "fee_type": "flat"}


def test_a_fee_type_that_cannot_be_priced_refuses_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.runner import fakes

    monkeypatch.setattr(fakes, "FakeClient", FlatSeries)
    with pytest.raises(StartupRefused, match="flat") as refused:
        make_rig(tmp_path / "s.db")
    assert "KXNBAGAME" in str(refused.value) or "KXBTCD" in str(refused.value)


EVENT_CHANGES = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXEVC
    title: Maker fees x2 from ten minutes in
    fee_changes:
      - {fee_type: quadratic_with_maker_fees, fee_multiplier: "2", after_seconds: 600}
    events:
      - event_ticker: KXEVC-1
        title: Overridden from five minutes in, cleared at fifteen
        fee_changes:
          - {fee_type_override: quadratic_with_maker_fees, fee_multiplier_override: "3",
             after_seconds: 300}
          - {fee_type_override: null, after_seconds: 900}
        markets:
          - {ticker: KXEVC-1-A, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
liquidity_provider: {cash_cents: 10000000, refresh_seconds: 1.0}
"""


def test_scheduled_event_fee_changes_take_effect_over_the_series_while_the_loop_runs(
    tmp_path: Path,
) -> None:
    rig = scenario_rig(tmp_path, EVENT_CHANGES)
    clock = rig.clock
    portfolio = rig.loop.portfolio
    exchange = rig.client.core
    expected = [
        (1, (TAKER_FEE_RATE, 0)),  # the series' own fees
        (300, (3 * TAKER_FEE_RATE, 3 * MAKER_FEE_RATE)),  # the event's override
        (600, (3 * TAKER_FEE_RATE, 3 * MAKER_FEE_RATE)),  # the series changed beneath it
        (900, (2 * TAKER_FEE_RATE, 2 * MAKER_FEE_RATE)),  # cleared: the series' new fees
    ]
    for at, rates in expected:
        while clock.wall() < START + at:
            rig.step(1 if START + at - clock.wall() <= 100 else 100)
        assert portfolio.fee_rates("KXEVC-1-A", clock.wall()) == rates, at
        # the loop prices exactly what the exchange charges at that moment
        charged = exchange.reference.fees.fee_model("KXEVC-1-A").rates(at=clock.wall())
        assert charged == rates, at
    rig.loop.log.close()


MULTIPLIER_ONLY = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXMUL
    title: Maker fees
    fee_type: quadratic_with_maker_fees
    fee_multiplier: "1"
    events:
      - event_ticker: KXMUL-1
        title: At half the multiplier, twice it from five minutes in, cleared at ten
        fee_multiplier_override: "0.5"
        fee_changes:
          - {fee_multiplier_override: "2", after_seconds: 300}
          - {fee_type_override: null, fee_multiplier_override: null, after_seconds: 600}
        markets:
          - {ticker: KXMUL-1-A, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
liquidity_provider: {cash_cents: 10000000, refresh_seconds: 1.0}
"""


def test_an_event_overriding_only_the_multiplier_is_priced_at_it_while_the_loop_runs(
    tmp_path: Path,
) -> None:
    """EventFeeChange: each half of an override is nullable on its own, a null one falling
    back to the series'. The loop prices an event that overrides only the multiplier, and
    its scheduled changes, at the series' type and that multiplier: what the exchange
    charges."""
    rig = scenario_rig(tmp_path, MULTIPLIER_ONLY)
    clock = rig.clock
    portfolio = rig.loop.portfolio
    exchange = rig.client.core
    expected = [
        (1, (TAKER_FEE_RATE / 2, D("0.00875"))),  # the series' type at half
        (300, (2 * TAKER_FEE_RATE, D("0.035"))),  # the series' type at twice
        (600, (TAKER_FEE_RATE, D("0.0175"))),  # cleared: the series' own
    ]
    for at, rates in expected:
        while clock.wall() < START + at:
            rig.step(1 if START + at - clock.wall() <= 100 else 100)
        assert portfolio.fee_rates("KXMUL-1-A", clock.wall()) == rates, at
        charged = exchange.reference.fees.fee_model("KXMUL-1-A").rates(at=clock.wall())
        assert charged == rates, at
    rig.loop.log.close()


DOUBLE = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXDBL
    title: Taker fees at twice the standard rate
    fee_type: quadratic
    fee_multiplier: "2"
    events:
      - event_ticker: KXDBL-1
        title: One
        markets:
          - {ticker: KXDBL-1-A, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
liquidity_provider: {cash_cents: 10000000, refresh_seconds: 1.0}
"""


def test_the_min_edge_floor_prices_an_order_by_its_markets_fee_not_the_intents_default(
    tmp_path: Path,
) -> None:
    """A strategy's order that leaves `fee_rate` unset is judged by its market's own fee: 10
    YES at 0.52 with a fair value of 0.56 clear the 0.02 floor by 0.0225 at the standard
    taker rate, and miss it at this series' double rate (0.0051). The floor was worked out
    from the intent's default rate, and the order went out."""
    rig = scenario_rig(tmp_path, DOUBLE, strategy="market-maker", risk={"min_edge": "0.02"})
    clock = rig.clock
    decided: list[Intent] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        if decided:
            return []
        ask = snap.book.yes_ask
        assert ask is not None and ask.price == D("0.52")
        intent = Intent(
            snap.ticker,
            Side.YES,
            Action.BUY,
            ask.price,
            D(10),
            D("0.56"),
            "a buy whose strategy left the fee rate unset",
            time_in_force=TimeInForce.IOC,
        )
        decided.append(intent)
        return [intent]

    swap_decide(rig.loop, decide)
    rig.step(1)
    assert decided, "the strategy was asked"
    assert rig.loop.portfolio.fee_rates("KXDBL-1-A", clock.wall())[0] == 2 * TAKER_FEE_RATE
    assert rig.client.requests == []
    assert rig.loop.log.counts.get("risk_denied") == 1


FEE_FREE = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXDBL
    title: Taker fees at twice the standard rate
    fee_type: quadratic
    fee_multiplier: "2"
    events:
      - event_ticker: KXDBL-1
        title: One
        markets:
          - {ticker: KXDBL-1-A, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
  - ticker: KXFREE
    title: No fees while the waiver runs
    events:
      - event_ticker: KXFREE-1
        title: One
        markets:
          - {ticker: KXFREE-1-A, fee_waiver_seconds: 3600, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
liquidity_provider: {cash_cents: 10000000, refresh_seconds: 1.0}
"""


def test_the_edge_logged_with_an_order_is_after_its_markets_fee_not_the_intents_default(
    tmp_path: Path,
) -> None:
    """The edge each order's log lines carry is the one the min-edge floor judges, at its
    market's own fee: 10 YES at 0.52 with a fair value of 0.60 have an edge of 0.0450 after
    twice the standard taker fee ($0.3495) and of 0.0800 where the fee is waived. A strategy
    that leaves `fee_rate` unset had both logged at the standard rate (0.0625), an edge
    neither order has."""
    log = tmp_path / "loop.jsonl"
    rig = scenario_rig(tmp_path, FEE_FREE, strategy="market-maker", log_path=log)
    decided: set[str] = set()

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        if snap.ticker in decided:
            return []
        decided.add(snap.ticker)
        ask = snap.book.yes_ask
        assert ask is not None and ask.price == D("0.52")
        return [
            Intent(
                snap.ticker,
                Side.YES,
                Action.BUY,
                ask.price,
                D(10),
                D("0.60"),
                "a buy whose strategy left the fee rate unset",
                time_in_force=TimeInForce.IOC,
            )
        ]

    swap_decide(rig.loop, decide)
    rig.step(1)
    rig.loop.log.close()
    assert decided == {"KXDBL-1-A", "KXFREE-1-A"}
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    edges: dict[str, set[tuple[str, str]]] = {}
    for event in events:
        if "edge" in event and "ticker" in event:
            edges.setdefault(event["ticker"], set()).add((event["event"], event["edge"]))
    expected = {"KXDBL-1-A": "0.0450", "KXFREE-1-A": "0.0800"}
    for ticker, edge in expected.items():
        logged = edges[ticker]
        assert {name for name, _ in logged} >= {"signal"}, logged
        assert {value for _, value in logged} == {edge}, (ticker, logged)
    # both went out: the exchange was asked for each
    assert len(rig.client.requests) == 2
