"""A stop whose quotes rest in the session's order group of their market's shard (here shard 2,
not the exchange's default) triggers that group, which cancels them, and sends no batch cancel
for orders the triggered group already withdrew; its trigger's line says how many of the
loop's orders were resting as it was triggered. The simulator's exchange has one shard: its
answers are given a second one (every market on shard 2, with the balance there)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.vocabulary.models import Balance, Market, decode_answer
from tests.runner.fakes import FakeClient, group_trigger, make_rig
from tests.runner.lifecycle.test_shutdown_unknown import RISK

SHARD = 2


@pytest.fixture
def on_shard_two(monkeypatch: pytest.MonkeyPatch) -> None:
    market_of = FakeClient.get_market
    balance_of = FakeClient.get_balance

    def get_market(self: FakeClient, ticker: str) -> Market:
        return decode_answer(Market, {**market_of(self, ticker).raw, "exchange_index": SHARD})

    def get_balance(self: FakeClient) -> Balance:
        total = balance_of(self).balance
        breakdown = [{"exchange_index": SHARD, "balance": str(total)}]
        return decode_answer(
            Balance, {"balance_dollars": str(total), "balance_breakdown": breakdown}
        )

    monkeypatch.setattr(FakeClient, "get_market", get_market)
    monkeypatch.setattr(FakeClient, "get_balance", get_balance)


def _counted(call: Callable[..., Any], name: str, made: list[str]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(name)
        return call(*args, **kwargs)

    return counted


@pytest.mark.usefixtures("on_shard_two")
def test_a_stop_triggers_the_group_of_its_quotes_shard_and_batch_cancels_nothing(
    tmp_path: Path,
) -> None:
    log = tmp_path / "trade.log"
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, log_path=log)
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {SHARD: group}
    rig.loop.stop.trigger_group = group_trigger(rig.exchange, me)
    rig.step(0.1)
    quotes = {o.order_id for o in rig.loop.stop.own.resting()}
    assert quotes
    cancels: list[str] = []
    for name in ("batch_cancel", "cancel_order"):
        setattr(rig.client, name, _counted(getattr(rig.client, name), name, cancels))
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert summary.not_proven == ()
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"] == []
    assert cancels == [], "the triggered group had withdrawn them"
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    (triggered,) = [e for e in lines if e["event"] == "stop_group_triggered"]
    assert (triggered["order_group_id"], triggered["exchange_index"]) == (group, SHARD)
    assert triggered["orders"] == len(quotes)
