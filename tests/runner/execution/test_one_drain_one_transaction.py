"""The answers of one drain are booked in one transaction of the state file
(runner/execution/dispatch.py): what must still hold around it, on the loop as built. A wait on
the exchange made while booking holds no write lock of the file (another process's `kalshi halt`
would wait behind it), and an order a failed drain never made is not taken by the stop for one
that may rest."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.execution.dispatch import CallAnswer
from kalshi_cli.store import Store
from kalshi_cli.store.errors import StateFileLocked
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import Rig, make_rig
from tests.waiting import poll_until

RISK = {"max_orders_per_minute": 1000}


def _a_market_with_an_ask(rig: Rig) -> str:
    rig.exchange.tick()  # the simulated makers quote
    return next(t for t in rig.exchange.reference.markets if rig.client.get_orderbook(t).yes_ask)


def _bought_by_hand(rig: Rig, ticker: str) -> None:
    """One YES bought at the ask in the loop's account, by no order of the loop's."""
    ask = rig.client.get_orderbook(ticker).yes_ask
    assert ask is not None
    rig.hand_buy_yes(ticker, ask[0], 1)


def _halt_from(other: Store) -> bool:
    """`kalshi halt` in another process, not waiting for the write lock: whether it wrote."""
    try:
        with other.busy_timeout(0):
            other.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
    except StateFileLocked:
        return False
    return True


def test_a_lookup_made_while_booking_a_fill_read_holds_no_write_lock(tmp_path: Path) -> None:
    """A fill read lists a fill in a market with an order of unknown outcome, and the read's
    own lookup did not find that order yet: before booking the fill, the deciding thread looks
    the order up once more (so the fill is its strategy's if it is that order's). The drain
    that books the read holds the state file's write lock for its bookings; the lookup waits
    on the exchange, which may be slow (it lost an answer already), so it must wait without
    the lock: a `kalshi halt` in another process then writes HALTED at once."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, send_workers=2)
    ticker = _a_market_with_an_ask(rig)
    rig.loop.executor.unknown_orders.lost("lost-order", ticker)
    _bought_by_hand(rig, ticker)
    find = rig.client.find_order_by_client_id
    halted: list[bool] = []
    dispatch = rig.loop.dispatch
    with Store.open(tmp_path / "s.db") as other:

        def looked_up(client_order_id: str, ticker: str) -> Order | None:
            if threading.current_thread() is threading.main_thread():
                halted.append(_halt_from(other))  # while the deciding thread waits
            return find(client_order_id, ticker)

        rig.client.find_order_by_client_id = looked_up  # type: ignore[method-assign]
        try:
            rig.loop.executor.fills.read_for()
            assert poll_until(lambda: dispatch.answered)
            assert dispatch.drain() == 1
        finally:
            dispatch.close()
            rig.loop.log.close()
    assert halted == [True], "the lookup on the deciding thread held the write lock"
    (fill,) = [f for f in rig.store.fills.read() if f.ticker == ticker]
    assert fill.count == 1, "the fill was booked after the lookup"


def _answers_back(rig: Rig, count: int) -> Callable[[], None]:
    back = threading.Semaphore(0)
    rig.loop.dispatch.wake = back.release

    def wait() -> None:
        for _ in range(count):
            assert back.acquire(timeout=30)

    return wait


@pytest.mark.parametrize("ended", ["its wait ran out", "interrupted again"])
def test_a_crash_stop_takes_no_order_a_failed_drain_never_made_for_one_that_may_rest(
    tmp_path: Path, ended: str
) -> None:
    """A booking sends an order (as a replacement goes after its cancels), and a later booking
    of the same drain raises (a bug: the loop crashes and stops). The order was never made.
    The stop ends its wait for the calls still out (its deadline's share ran out, or a second
    Ctrl-C): an order whose answer was not back may rest, but this one never left. It is
    neither marked unknown in the state file, nor looked up, nor named as not proven gone."""
    log = tmp_path / "loop.jsonl"
    # unless interrupted again, nothing of the stop's deadline is left for the wait
    settings = None if ended == "interrupted again" else {"stop_deadline_s": 0.0}
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, send_workers=2, log_path=log,
        settings=settings,
    )  # fmt: skip
    ticker = _a_market_with_an_ask(rig)
    ask = rig.client.get_orderbook(ticker).yes_ask
    assert ask is not None
    intent = Intent(
        ticker, Side.YES, Action.BUY, ask[0] - Decimal("0.05"), Decimal(1), Decimal("0.5"),
        "quote", strategy="market-maker",
    )  # fmt: skip
    executor, dispatch = rig.loop.executor, rig.loop.dispatch
    # both bookings in one drain however slow a busy machine makes the first: a drain that
    # has booked for `group_s` commits and leaves the rest to the next
    dispatch.group_s = math.inf
    in_network = threading.Event()
    made: list[str] = []

    def replacement(_: CallAnswer[Any]) -> None:
        executor.outbox.send(intent, batch=False, then=lambda filled: None)
        made.extend(executor.answers.in_flight.intents)

    def broken(_: CallAnswer[Any]) -> None:
        raise RuntimeError("a bug in a booking")

    try:
        wait = _answers_back(rig, 1)
        dispatch.send((ticker,), lambda: "cancelled", replacement)
        wait()  # booked first
        wait = _answers_back(rig, 1)
        dispatch.send(("OTHER",), lambda: "answered", broken)
        wait()
        dispatch.send(("HELD",), lambda: in_network.wait(30), lambda _: None)  # still out
        with pytest.raises(RuntimeError, match="a bug"):
            dispatch.drain()
        (coid,) = made
        assert executor.answers.in_flight.unsent == {coid}
        abandon = threading.Event()
        if ended == "interrupted again":
            abandon.set()
        summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    finally:
        in_network.set()
        dispatch.close()
        rig.loop.log.close()
    assert [r for r in rig.client.requests if r.client_order_id == coid] == [], "never made"
    assert coid not in rig.loop.executor.unknown_orders.unknown
    assert rig.store.orders.get_intent(coid).status != "unknown"
    assert coid not in summary.not_proven
    # and the log says what became of it, as of every intent that never left
    dropped = [json.loads(line) for line in log.read_text().splitlines()]
    dropped = [e for e in dropped if e["event"] == "intent_dropped" and e["ticker"] == ticker]
    assert [e["reason"] for e in dropped] == [
        "never sent: dropped before it left (the loop stopped, or its state file failed)"
    ]
