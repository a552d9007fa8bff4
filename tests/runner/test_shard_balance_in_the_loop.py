"""The trade loop holds its orders to their market's shard's balance (`SHARD_BALANCE`, docs/risk.md
"A shard's balance"): the balance read once as the loop is built, never a request per order, and
an order past its shard's balance denied (`risk_denied`) with the `kalshi shard move` that would
cover it, nothing sent. The simulator's exchange has one shard: its answers are given a second
one here (every market on shard 2, holding $1.50 of the account's balance)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.models import Balance, Market, decode_answer
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import FakeClient, make_rig


@pytest.fixture
def on_shard_two(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every market on shard 2, which holds $1.50; the balance reads made, counted."""
    reads: list[int] = []
    market_of = FakeClient.get_market
    balance_of = FakeClient.get_balance

    def get_market(self: FakeClient, ticker: str) -> Market:
        return decode_answer(Market, {**market_of(self, ticker).raw, "exchange_index": 2})

    def get_balance(self: FakeClient) -> Balance:
        reads.append(1)
        total = balance_of(self).balance
        breakdown = [
            {"exchange_index": 0, "balance": str(total - D("1.50"))},
            {"exchange_index": 2, "balance": "1.50"},
        ]
        return decode_answer(
            Balance, {"balance_dollars": str(total), "balance_breakdown": breakdown}
        )

    monkeypatch.setattr(FakeClient, "get_market", get_market)
    monkeypatch.setattr(FakeClient, "get_balance", get_balance)
    return reads


def test_an_order_past_its_shards_balance_is_denied_with_the_move(
    tmp_path: Path, on_shard_two: list[int]
) -> None:
    log = tmp_path / "log.jsonl"
    rig = make_rig(tmp_path / "s.db", log_path=log, risk={"stop_loss_share": "0"})
    rig.step()
    assert len(on_shard_two) == 1  # read once, as the loop was built
    ticker = next(iter(rig.exchange.reference.markets))

    def execute(count: str) -> bool:
        intent = Intent(ticker, Side.YES, Action.BUY, D("0.05"), D(count), D("0.99"), "t", "spike")
        went: bool = rig.loop.executor.execute(intent, last_data_at=rig.clock.wall())
        rig.step(0.1)
        return went

    sent = len(rig.client.requests)
    assert not execute("40")  # $2.00 on a shard holding $1.50
    assert len(rig.client.requests) == sent
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    (denied,) = [e for e in lines if e.get("event") == "risk_denied"]
    assert denied["code"] == "SHARD_BALANCE"
    assert denied["detail"] == (
        f"{ticker} trades on shard 2: the order needs $2.00, shard 2 holds $1.50; "
        "`kalshi shard move 0.50 --from 0 --to 2` would cover it"
    )
    assert execute("20")  # $1.00: within it
    assert len(rig.client.requests) == sent + 1
    assert len(on_shard_two) == 1  # no balance read for an order
    rig.loop.log.close()


def test_an_order_past_its_shards_balance_is_denied_when_no_other_shard_holds_money(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account's $1.50 is all on shard 2, shard 0 holds nothing: the shard's balance is
    known, so an order of $2.00 there is denied before it is sent (the exchange would refuse
    it for collateral), told to fund the shard; it was sent, since no other shard held money."""
    market_of = FakeClient.get_market

    def get_market(self: FakeClient, ticker: str) -> Market:
        return decode_answer(Market, {**market_of(self, ticker).raw, "exchange_index": 2})

    def get_balance(self: FakeClient) -> Balance:
        breakdown = [
            {"exchange_index": 0, "balance": "0"},
            {"exchange_index": 2, "balance": "1.50"},
        ]
        return decode_answer(Balance, {"balance_dollars": "1.50", "balance_breakdown": breakdown})

    monkeypatch.setattr(FakeClient, "get_market", get_market)
    monkeypatch.setattr(FakeClient, "get_balance", get_balance)
    log = tmp_path / "log.jsonl"
    rig = make_rig(tmp_path / "s.db", log_path=log, risk={"stop_loss_share": "0"})
    rig.step()
    ticker = next(iter(rig.exchange.reference.markets))
    intent = Intent(ticker, Side.YES, Action.BUY, D("0.05"), D("40"), D("0.99"), "t", "spike")
    sent = len(rig.client.requests)
    assert not rig.loop.executor.execute(intent, last_data_at=rig.clock.wall())
    rig.step(0.1)
    assert len(rig.client.requests) == sent
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    (denied,) = [e for e in lines if e.get("event") == "risk_denied"]
    assert denied["detail"] == (
        f"{ticker} trades on shard 2: the order needs $2.00, shard 2 holds $1.50; "
        "no other shard holds $0.50: fund shard 2"
    )
    rig.loop.log.close()
