"""`risk.max_event_loss` on orders placed by hand: an order that would carry an event's worst case
at settlement past the limit, its resting orders counted as filled where they lose, is refused
before anything is sent, naming the event and the outcome that loses; a hedge that makes it no
worse goes out (docs/risk.md "The limit on an event's loss")."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, another_accounts_order, resting_count

FREE = {"fee_type": "quadratic", "fee_multiplier": "0"}  # no fees: the example's figures


@pytest.fixture
def event(prime: SimHarness) -> list[str]:
    """Three markets of a mutually exclusive event (MECNET), without fees."""
    tickers = [f"KXSOS-{name}" for name in ("A", "B", "C")]
    for n, ticker in enumerate(tickers):  # the series' fees, set by its first market
        extra = FREE if n == 0 else {}
        prime.create_market(ticker, event_ticker="KXSOS", collateral_return_type="MECNET", **extra)
    return tickers


def buy(service: OrderService, ticker: str, side: Side, price: str) -> None:
    service.place(service.prepare(OrderRequest(ticker, side, Action.BUY, D(1), D(price))))


def test_the_worked_example_refuses_the_order_past_the_limit_and_sends_the_hedge(
    prime: SimHarness, client: KalshiClient, store: Store, event: list[str]
) -> None:
    a, b, c = event
    service = OrderService(client, store, limits=RiskLimits(max_event_loss=D("0.65")))
    another_accounts_order(prime, a, BookSide.BID, "0.40", 1)  # NO on A fills at $0.60
    buy(service, a, Side.NO, "0.60")  # worst case -$0.60 (A yes)
    with pytest.raises(ValidationError) as refused:
        buy(service, b, Side.YES, "0.10")
    assert refused.value.code == "EVENT_LOSS"
    assert "event KXSOS" in str(refused.value)
    assert f"-$0.70 ({a} yes)" in str(refused.value)
    assert "risk.max_event_loss" in (refused.value.hint or "")
    assert resting_count(client, ticker=b) == 0  # nothing was sent
    # NO on C adds a position and its cost, and takes the worst case to -$0.30 once it fills
    # (-$0.60 while it rests): a hedge
    buy(service, c, Side.NO, "0.70")
    assert resting_count(client, event_ticker="KXSOS") == 1


def test_a_hedge_resting_beside_an_order_resting_is_no_hedge(
    client: KalshiClient, store: Store, event: list[str]
) -> None:
    """NO on A at $0.60 rests unfilled: NO on C at $0.70 alone may fill, and lose $0.70 where C
    settles yes, past the limit of $0.65."""
    a, _, c = event
    service = OrderService(client, store, limits=RiskLimits(max_event_loss=D("0.65")))
    buy(service, a, Side.NO, "0.60")
    with pytest.raises(ValidationError) as refused:
        buy(service, c, Side.NO, "0.70")
    assert refused.value.code == "EVENT_LOSS"
    assert f"-$0.70 ({c} yes)" in str(refused.value)


def test_without_the_limit_the_same_order_goes_out(
    client: KalshiClient, store: Store, event: list[str]
) -> None:
    service = OrderService(client, store)
    buy(service, event[0], Side.NO, "0.60")
    buy(service, event[1], Side.YES, "0.10")
    assert resting_count(client, event_ticker="KXSOS") == 2


def test_a_reduce_only_exit_by_hand_goes_out_even_where_it_unhedges_the_event(
    prime: SimHarness, client: KalshiClient, store: Store, event: list[str]
) -> None:
    """NO on A at $0.60 and on C at $0.70 lose at worst $0.30; selling C's back at $0.05 makes it
    -$1.25 (A yes), past a $0.65 limit, yet an order that only reduces a position goes out, as
    the loop's exits do (docs/risk.md)."""
    a, _, c = event
    service = OrderService(client, store, limits=RiskLimits(max_event_loss=D("0.65")))
    for ticker, price in ((a, "0.60"), (c, "0.70")):
        another_accounts_order(prime, ticker, BookSide.BID, str(1 - D(price)), 1)
        buy(service, ticker, Side.NO, price)
    another_accounts_order(prime, c, BookSide.ASK, "0.95", 1)  # a bid for NO at $0.05
    sell = OrderRequest(c, Side.NO, Action.SELL, D(1), D("0.05"), TimeInForce.IOC, reduce_only=True)
    with pytest.raises(ValidationError) as refused:
        service.prepare(replace(sell, reduce_only=False))
    assert refused.value.code == "EVENT_LOSS"
    assert f"-$1.25 ({a} yes)" in str(refused.value)
    service.place(service.prepare(sell))
    assert {p.ticker: p.position for p in client.portfolio.get_positions()}.get(c, D(0)) == 0


def test_a_batch_whose_legs_hedge_only_together_names_the_leg_and_outcome_past_the_limit(
    event: list[str], kalshi: Kalshi, tmp_path: Path
) -> None:
    """NO on A at $0.60 and NO on C at $0.70 lose $0.30 at worst together, but a batch's orders
    each go out on their own and may fill alone: C's leg can lose $0.70 (C yes), past $0.65.
    The refusal names that leg and that outcome and says why, not "fix the rows named" (the
    row is not wrong)."""
    _, _, c = event
    assert kalshi("config", "set", "risk.max_event_loss", "0.65").exit_code == 0
    rows = tmp_path / "legs.csv"
    rows.write_text(
        "ticker,side,action,count,price\nKXSOS-A,no,buy,1,0.60\nKXSOS-C,no,buy,1,0.70\n"
    )
    answer = kalshi("order", "batch", "--file", str(rows), "--yes")
    assert answer.exit_code != 0
    said = " ".join(answer.output.split())
    assert "fix the rows named" not in said, said
    assert (
        f"{rows}:3: the leg no buy 1 {c} @ 0.70 may fill alone: event KXSOS: its worst case at "
        f"settlement would be -$0.70 ({c} yes), past the limit of -$0.65" in said
    ), said
    assert "each order of a batch may fill without the others" in said, said
