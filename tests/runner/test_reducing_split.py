"""A reducing order larger than `risk.max_order_count` goes out split to that size, whoever sent
it: a strategy's take-profit or time stop as well as the stop-loss. One whole order would be
refused by MAX_ORDER_SIZE on every tick, and the position would never close."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import standard_rates
from tests.runner.fakes import (
    START,
    Rig,
    another_trader_places,
    make_rig,
    new_exchange,
    swap_decide,
    trader,
)

TICKER = "KXSPLIT-SIM-A-X"
D = Decimal


_open: list[Rig] = []


@pytest.fixture(autouse=True)
def _close_logs() -> Iterator[None]:
    yield
    while _open:
        _open.pop().loop.log.close()


SCENARIO = """
description: One market with a static book and nobody else trading.
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXSPLIT
    title: Split
    category: Economics
    frequency: custom
    events:
      - event_ticker: KXSPLIT-SIM-A
        title: Split?
        markets:
          - ticker: %s
            title: Split?
            yes_sub_title: "Yes"
            no_sub_title: "Yes"
            book: {yes_bids: [["0.30", "%s"]], no_bids: [["0.40", "%s"]]}
"""


def _bought(
    tmp_path: Path,
    count: Decimal,
    *,
    bid_depth: Decimal = D(500),
    better_bid: str | None = None,
    **params: object,
) -> Rig:
    """A spike loop (max order 4 contracts) holding `count` YES contracts its own orders bought
    at 0.60 (a strategy exits only what it bought), in a market whose only YES bid is
    `bid_depth` contracts at 0.30 (and, with `better_bid`, 500 more at that price from another
    trader)."""
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO % (TICKER, bid_depth, count))
    exchange = new_exchange(scenario, clock=clock)
    me = trader(exchange)
    rig = make_rig(
        tmp_path / "s.db",
        exchange=exchange,
        clock=clock,
        account_id=me,
        params={"spike_share": 5, "window_s": 1, **params},
        risk={"max_order_count": "4", "max_position_per_market": "100", "stop_loss_share": "0"},
        log_path=tmp_path / "log.jsonl",
    )
    _open.append(rig)
    spike = rig.loop.reloads.lineup.members[0].strategy.decide_fn
    bought: list[bool] = []

    def buy_first(snap: Any, pos: Any, p: Any) -> Any:
        """Spike's own entry, in orders of the size limit, then spike itself."""
        if pos.position >= count:
            bought.append(True)
        if bought:
            return spike(snap, pos, p)
        chunk = min(D(4), count - pos.position)
        return [
            Intent(TICKER, Side.YES, Action.BUY, D("0.60"), chunk, D("0.90"), "entry", "spike",
                   time_in_force=TimeInForce.IOC)
        ]  # fmt: skip

    swap_decide(rig.loop, buy_first)
    for _ in range(5):
        rig.step(0.1)
        if rig.loop.portfolio.position(TICKER) == count:
            break
    if better_bid is not None:
        another_trader_places(
            exchange, TICKER, BookSide.BID, D(better_bid), D(500), time_in_force=TimeInForce.GTC
        )
    rig.step(0.1)
    return rig


def _events(path: Path, kind: str) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [e for e in lines if e.get("event") == kind]


def test_a_time_stop_larger_than_the_order_size_limit_closes_in_chunks(tmp_path: Path) -> None:
    rig = _bought(tmp_path, D("10"), max_hold_s=1)
    held = rig.loop.portfolio.position(TICKER)
    assert held == D("10"), held
    sent = len(rig.client.requests)
    for _ in range(10):
        rig.step(0.5)
        if rig.loop.portfolio.position(TICKER) == 0:
            break
    closes = [r for r in rig.client.requests[sent:] if r.reduce_only]
    assert [c.count for c in closes] == [D(4), D(4), D(2)]
    assert all(c.book_side is BookSide.ASK for c in closes)
    assert rig.loop.portfolio.position(TICKER) == 0
    denied = [e for e in _events(tmp_path / "log.jsonl", "risk_denied")]
    assert not [e for e in denied if e.get("code") == "MAX_ORDER_SIZE"], denied


def test_a_take_profit_larger_than_the_order_size_limit_closes_in_chunks(tmp_path: Path) -> None:
    # another trader bids 0.70 for what we bought at 0.60: a profit over take_profit 0.03
    rig = _bought(tmp_path, D("9"), better_bid="0.70")
    rig.step(0.5)
    closes = [r for r in rig.client.requests if r.reduce_only]
    assert [c.count for c in closes] == [D(4), D(4), D(1)]
    assert rig.loop.portfolio.position(TICKER) == 0


def test_a_chunk_that_does_not_fill_in_full_ends_the_split(tmp_path: Path) -> None:
    """The bid ran out: the chunks after it would only be killed, each a slot of the rate cap."""
    rig = _bought(tmp_path, D("10"), bid_depth=D(5), max_hold_s=1)
    sent = len(rig.client.requests)
    rig.step(2)
    closes = [r for r in rig.client.requests[sent:] if r.reduce_only]
    # 4 filled, then 1 of the next 4: the last 2 are not sent into an empty bid
    assert [c.count for c in closes] == [D(4), D(4)]
    assert rig.loop.portfolio.position(TICKER) == D(5)


def test_the_stop_loss_and_strategies_split_by_the_same_rule() -> None:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.vocabulary.clock import ManualClock as Clock
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.units import Action, Side

    class NoRecords:
        pass

    engine = RiskEngine(
        NoRecords(),  # type: ignore[arg-type]
        RiskLimits(max_order_count=D(4)),
        clock=Clock(START),
        fee_rates=standard_rates,
    )
    whole = Intent(
        ticker=TICKER,
        side=Side.YES,
        action=Action.SELL,
        price=D("0.40"),
        count=D("10.5"),
        model_fair=D("0.40"),
        reason="exit",
        reduce_only=True,
        time_in_force=TimeInForce.IOC,
        replaces=("a",),
    )
    chunks = engine.split(whole)
    assert [c.count for c in chunks] == [D(4), D(4), D("2.5")]
    assert [c.replaces for c in chunks] == [("a",), (), ()]
    adding = Intent(
        ticker=TICKER,
        side=Side.YES,
        action=Action.BUY,
        price=D("0.40"),
        count=D("10"),
        model_fair=D("0.50"),
        reason="entry",
    )
    # an order that adds is never split: the size limit refuses it
    assert engine.split(adding) == [adding]
