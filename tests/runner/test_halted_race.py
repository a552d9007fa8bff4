"""The trade loop's half of "0 orders while HALTED": an intent the risk engine let through just
before the kill switch wrote HALTED is refused in the transaction that would record it, so it is
neither recorded nor sent, and the loop goes on."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kalshi_cli.store import Store
from kalshi_cli.strategies import Intent
from kalshi_cli.vocabulary.models import Action, Side, TimeInForce
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
