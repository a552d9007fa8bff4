"""The trade loop's half of "0 orders while HALTED": an intent the risk engine let through just
before the kill switch wrote HALTED is refused in the transaction that would record it, so it is
neither recorded nor sent, and the loop goes on."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.runner.fakes import make_rig


def test_an_intent_passed_by_risk_before_halted_is_not_sent_after_it(tmp_path: Path) -> None:
    log = tmp_path / "loop.jsonl"
    rig = make_rig(tmp_path / "s.db", log_path=log)
    rig.step(0.1)
    ticker = next(iter(rig.exchange.reference.markets))
    before = len(rig.client.requests)
    intent = Intent(
        ticker=ticker,
        side=Side.YES,
        action=Action.BUY,
        price=Decimal("0.01"),
        count=Decimal(1),
        model_fair=Decimal("0.50"),
        reason="decided just before the kill switch",
        strategy="spike",
        time_in_force=TimeInForce.GTC,
    )
    # the risk engine has passed it (ACTIVE); the kill switch writes HALTED before it is sent
    with Store.open(tmp_path / "s.db") as kill_switch:
        kill_switch.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")

    answers: list[Decimal | None] = []
    assert rig.loop.executor.outbox.send(intent, batch=False, then=answers.append) is False
    assert answers == [None]  # it did not go out
    rig.loop.log.close()

    assert len(rig.client.requests) == before
    assert [i for i in rig.store.orders.intents() if i.reason == intent.reason] == []
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["event"] == "intent_dropped" and "HALTED" in e["reason"] for e in events), events[
        -3:
    ]


@pytest.mark.parametrize("markets", ["flat", "settled"])
def test_a_loop_with_nothing_to_decide_sees_a_halt_within_its_one_second_pass(
    tmp_path: Path, markets: str
) -> None:
    """No book moving (or every market settled), no order resting, nothing to decide: the loop
    still reads the trading state on its full pass, every `tick_interval_s` (1 s), so a halt
    another process writes is seen within that second of the loop's clock."""
    rig = make_rig(tmp_path / "s.db")
    began = rig.clock.monotonic()
    rig.step(0.1)
    if markets == "settled":
        for ticker in list(rig.exchange.reference.markets):
            rig.exchange.settlement.settle(ticker, "no")
        rig.step(0.1)
    assert rig.loop.gate.state == "ACTIVE"
    with Store.open(tmp_path / "s.db") as kill_switch:
        kill_switch.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
    halted_at = rig.clock.monotonic()
    rig.loop.run(stop=threading.Event(), duration_s=halted_at - began + 1.0)
    assert rig.clock.monotonic() - halted_at <= 1.0 + rig.loop.settings.poll_s
    assert rig.loop.gate.state == "HALTED"
