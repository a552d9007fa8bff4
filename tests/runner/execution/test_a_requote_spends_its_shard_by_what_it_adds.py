"""A requote of the loop's own resting order spends its shard's balance by what it adds: its new
cost less what the order it replaces held (services/pretrade/loop.py `LoopAccount.sent`), from
the moment it goes until a balance read after it, whether it goes as an amend or as a cancel and
a new order (runner/execution/execution.py). Counted as nothing, a bigger requote left the
shard's tally short: the loop sent an order the exchange refused for collateral, and held the
whole shard short."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.risk.rules import Code
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.execution.shard_rig import on_shards
from tests.runner.fakes import (
    FakeClient,
    Rig,
    another_trader_places,
    quiet_market_maker,
    swap_decide,
)

# the quiet scenario's books stand still: HOLD's YES ask is 0.62, its best YES bid 0.60
HOLD = "KXFEDDECISION-SIM-DEC-H0"
CUT = "KXFEDDECISION-SIM-DEC-C25"
QUOTE = Intent(
    HOLD,
    Side.YES,
    Action.BUY,
    Decimal("0.40"),
    Decimal(5),
    Decimal("0.99"),
    "a quote",
    strategy="market-maker",
    post_only=True,
)


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """HOLD on shard 2, which holds $8; the loop quoting there by the test's hand."""
    on_shards(monkeypatch, (HOLD,), alone=False)
    made = quiet_market_maker(tmp_path, risk={"min_edge": "0", "stop_loss_share": "0"})
    yield made
    made.loop.log.close()


@pytest.mark.parametrize("amends", [True, False], ids=["amended", "cancelled-and-sent"])
def test_a_bigger_requote_spends_what_it_adds_on_its_shard(rig: Rig, amends: bool) -> None:
    """Quoted 5 at $0.40 ($2.00, the shard then holds $6 for the loop), requoted to 15 ($6.00):
    it adds $4.00, so $2 is left, and an order of $3.00 is denied before it is sent, never left
    for the exchange to refuse."""
    rig.loop.executor.amends.enabled = amends
    now = rig.clock.wall()
    assert rig.loop.executor.execute(QUOTE, last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    requote = replace(QUOTE, count=Decimal(15), replaces=(str(resting.order_id),))
    assert rig.loop.executor.execute(requote, last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    assert resting.remaining == 15
    more = replace(QUOTE, price=Decimal("0.30"), count=Decimal(10))
    denials = rig.loop.executor.denials(more, last_data_at=now)
    assert [v.code for v in denials] == [Code.SHARD_BALANCE]
    assert "shard 2 holds $2.00" in denials[0].detail
    # $2.00 of it still fits
    fits = replace(more, count=Decimal(6))
    assert rig.loop.executor.denials(fits, last_data_at=now) == []


@pytest.mark.parametrize("amends", [True, False], ids=["amended", "cancelled-and-sent"])
def test_a_requote_on_a_shard_its_quote_used_up_is_judged_with_what_that_quote_holds(
    rig: Rig, amends: bool
) -> None:
    """Quoted 20 at $0.40, all the $8 the shard holds: a requote a cent lower ($7.80) goes, as
    the exchange takes it (the order it replaces gives its $8.00 back), and the shard is not
    said short; a requote past the $8 is denied."""
    rig.loop.executor.amends.enabled = amends
    now = rig.clock.wall()
    assert rig.loop.executor.execute(replace(QUOTE, count=Decimal(20)), last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    lower = replace(QUOTE, price=Decimal("0.39"), count=Decimal(20), replaces=(resting.order_id,))
    past = replace(lower, price=Decimal("0.41"))
    denials = rig.loop.executor.denials(past, last_data_at=now)
    assert [v.code for v in denials] == [Code.SHARD_BALANCE]
    assert "the order needs $8.20, shard 2 holds $8.00" in denials[0].detail
    assert rig.loop.executor.execute(lower, last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    assert (resting.price, resting.remaining) == (Decimal("0.39"), 20)


def test_a_requote_whose_quote_filled_in_part_before_its_cancel_counts_what_the_cancel_freed(
    rig: Rig,
) -> None:
    """Quoted 13 at $0.61 ($7.93 of the $8 the shard holds), the best bid; 5 of it fill before
    the requote's cancel lands, unseen by the loop: that fill's $3.05 is spent, and the cancel
    gives back the 8 left ($4.88). The requote of those 8 ($4.88) goes, as the exchange takes
    it, and the shard's tally holds what the exchange holds: $0.07, not less."""
    rig.loop.executor.amends.enabled = False  # a cancel, then a new order
    now = rig.clock.wall()
    quote = replace(QUOTE, price=Decimal("0.61"), count=Decimal(13))
    assert rig.loop.executor.execute(quote, last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    sold = another_trader_places(rig.exchange, HOLD, BookSide.ASK, Decimal("0.61"), Decimal(5))
    assert sold.order.fill_count == 5, "the loop's quote is the best bid"
    requote = replace(quote, count=Decimal(8), replaces=(resting.order_id,))
    assert rig.loop.executor.execute(requote, last_data_at=now)
    assert rig.loop.executor.cancels.shortfalls == 1, "its cancel found 8 of the 13 resting"
    (resting,) = rig.loop.portfolio.resting(HOLD)
    assert (resting.price, resting.remaining) == (Decimal("0.61"), 8)
    assert rig.loop.log.counts.get("shard_balance_short") is None
    past = replace(QUOTE, price=Decimal("0.01"), count=Decimal(8))
    denials = rig.loop.executor.denials(past, last_data_at=now)
    assert [v.code for v in denials] == [Code.SHARD_BALANCE]
    assert "the order needs $0.08, shard 2 holds $0.07" in denials[0].detail


def test_a_balance_read_sent_while_a_requotes_cancel_was_out_is_not_given_it_back_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quoted 20 at $0.40, all the $8 the shard holds, then requoted a cent lower (20 at $0.39,
    $7.80) by a cancel and a new order; the cancel is answered a second after it went. A
    balance read sent half-way, which the exchange answered once the cancel had taken the quote
    off, shows the $8 back on the shard: the tally must not give it back a second time. $0.20
    is left, as on the exchange, and an order of $1.00 is denied."""
    rig.loop.executor.amends.enabled = False  # a cancel, then a new order
    now = rig.clock.wall()
    assert rig.loop.executor.execute(replace(QUOTE, count=Decimal(20)), last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    cancel, went = FakeClient.cancel_order, []

    def answered_a_second_later(client: FakeClient, order_id: str, **how: Any) -> Any:
        went.append(rig.clock.monotonic())
        done = cancel(client, order_id, **how)
        rig.clock.advance(1.0)
        return done

    monkeypatch.setattr(FakeClient, "cancel_order", answered_a_second_later)
    lower = replace(QUOTE, price=Decimal("0.39"), count=Decimal(20), replaces=(resting.order_id,))
    assert rig.loop.executor.execute(lower, last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    assert (resting.price, resting.remaining) == (Decimal("0.39"), 20)
    reads = rig.loop.executor._account.reads
    reads.balances_read({0: Decimal("92"), 2: Decimal("8")}, went[0] + 0.5)
    more = replace(QUOTE, price=Decimal("0.10"), count=Decimal(10))
    denials = rig.loop.executor.denials(more, last_data_at=rig.clock.wall())
    assert [v.code for v in denials] == [Code.SHARD_BALANCE]
    assert "the order needs $1.00, shard 2 holds $0.20" in denials[0].detail


def test_an_order_judged_while_a_bigger_requotes_cancel_is_out_counts_what_the_requote_adds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the calls on send workers, a quote of 10 at $0.40 ($4.00 of the $8 shard 2 holds)
    is requoted to 10 at $0.60 ($6.00), by a cancel and then a new order. While the cancel is
    out, an order in another market of the shard is judged: the requote adds $2.00 once its
    cancel is answered, so $2.00 is left, not $4.00, and an order of $3.50 is denied (the
    exchange would hold $9.50 of $8)."""
    on_shards(monkeypatch, (HOLD, CUT), alone=False)
    rig = quiet_market_maker(
        tmp_path, risk={"min_edge": "0", "stop_loss_share": "0"}, send_workers=2
    )
    rig.loop.executor.amends.enabled = False  # a cancel, then a new order
    swap_decide(rig.loop, lambda snap, pos, params: [])  # the test decides
    executor, now = rig.loop.executor, rig.clock.wall()
    release = threading.Event()
    try:
        rig.step(0.5)  # the loop under way: its market's data fresh, its state read
        assert executor.execute(replace(QUOTE, count=Decimal(10)), last_data_at=now)
        assert rig.loop.dispatch.settle(SystemClock(), 30)
        (resting,) = rig.loop.portfolio.resting(HOLD)
        cancel, held = FakeClient.cancel_order, threading.Event()

        def held_in_the_network(client: FakeClient, order_id: str, **how: Any) -> Any:
            held.set()
            release.wait(30)
            return cancel(client, order_id, **how)

        monkeypatch.setattr(FakeClient, "cancel_order", held_in_the_network)
        bigger = replace(
            QUOTE, price=Decimal("0.60"), count=Decimal(10), replaces=(resting.order_id,)
        )
        assert executor.execute(bigger, last_data_at=now)
        assert held.wait(30), "the requote's cancel is out"
        other = replace(QUOTE, ticker=CUT, price=Decimal("0.35"), count=Decimal(10))
        denials = executor.denials(other, last_data_at=now)
        assert [v.code for v in denials] == [Code.SHARD_BALANCE]
        assert "the order needs $3.50, shard 2 holds $2.00" in denials[0].detail
        release.set()
        while rig.loop.dispatch.in_flight:
            assert rig.loop.dispatch.settle(SystemClock(), 30)
        (resting,) = rig.loop.portfolio.resting(HOLD)
        assert (resting.price, resting.remaining) == (Decimal("0.60"), 10)
        # the requote's cost counted once: its $6.00 of the $8
        assert "shard 2 holds $2.00" in executor.denials(other, last_data_at=now)[0].detail
    finally:
        release.set()
        rig.loop.dispatch.close()
        rig.loop.log.close()


@pytest.mark.parametrize("amends", [True, False], ids=["amended", "cancelled-and-sent"])
def test_a_requote_of_an_order_that_closes_the_position_gives_back_nothing_it_did_not_hold(
    rig: Rig, amends: bool
) -> None:
    """Holding 10 YES it bought, the loop asks 10 at $0.70: selling what it holds, the order
    commits nothing on the shard (the exchange holds nothing for it). Requoted a cent lower,
    its cancel or amend gives nothing back either: the shard's $8 (as read after the buy) are
    still $8, and a bid of $8.50 is denied."""
    rig.loop.executor.amends.enabled = amends
    swap_decide(rig.loop, lambda snap, pos, params: [])  # the test decides
    now = rig.clock.wall()
    buy = replace(
        QUOTE, price=Decimal("0.62"), count=Decimal(10), post_only=False,
        time_in_force=TimeInForce.IOC,
    )  # fmt: skip
    assert rig.loop.executor.execute(buy, last_data_at=now)
    rig.step(0.1)
    assert rig.loop.portfolio.view(HOLD).position == 10
    reads = rig.loop.executor._account.reads
    reads.balances_read({0: Decimal("92"), 2: Decimal("8")}, rig.clock.monotonic())
    ask = replace(
        QUOTE,
        action=Action.SELL,
        price=Decimal("0.70"),
        count=Decimal(10),
        model_fair=Decimal("0.5"),
    )
    assert rig.loop.executor.execute(ask, last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    lower = replace(ask, price=Decimal("0.69"), replaces=(resting.order_id,))
    assert rig.loop.executor.execute(lower, last_data_at=now)
    (resting,) = rig.loop.portfolio.resting(HOLD)
    assert (resting.price, resting.remaining) == (Decimal("0.69"), 10)
    bid = replace(QUOTE, price=Decimal("0.50"), count=Decimal(17))
    denials = rig.loop.executor.denials(bid, last_data_at=now)
    assert [v.code for v in denials] == [Code.SHARD_BALANCE]
    assert "the order needs $8.50, shard 2 holds $8.00" in denials[0].detail
