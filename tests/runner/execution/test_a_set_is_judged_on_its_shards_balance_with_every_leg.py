"""A set's legs on one exchange shard pass its balance together or none is sent
(runner/execution/leg_sets.py): each leg is judged with the legs before it counted as resting, and
what they would commit on their shard counts against its balance (`SHARD_BALANCE`) as an order
on its way does. Judged alone, each leg fitted what the shard held; the first was bought, the
second denied for the shard's balance once the first had spent it, and the first sold back: a
spread and two fees lost on a set that could never be whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.models import Balance, ExchangeStatus, Market, decode_answer
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.runner.fakes import FakeClient, Rig, quiet_market_maker

# the quiet scenario's books stand still: HOLD's YES ask is 0.62, CUT's 0.35 (one event's)
HOLD = "KXFEDDECISION-SIM-DEC-H0"
CUT = "KXFEDDECISION-SIM-DEC-C25"
ON_TWO = (HOLD, CUT)


@pytest.fixture
def shard_two(monkeypatch: pytest.MonkeyPatch) -> dict[str, Decimal]:
    """HOLD and CUT on shard 2, every other market on shard 0; the balance's breakdown puts
    `held["two"]` on shard 2 and the rest on shard 0."""
    return _on_shards(monkeypatch, alone=False)


@pytest.fixture
def one_shard(monkeypatch: pytest.MonkeyPatch) -> dict[str, Decimal]:
    """An account of one shard: every market on shard 0, the balance's breakdown lists shard 0
    alone, holding `held["two"]`, the whole balance."""
    return _on_shards(monkeypatch, alone=True)


def _on_shards(monkeypatch: pytest.MonkeyPatch, *, alone: bool) -> dict[str, Decimal]:
    held = {"two": Decimal("8")}
    market_of, markets_of = FakeClient.get_market, FakeClient.iter_markets
    balance_of = FakeClient.get_balance
    listed = (0,) if alone else (0, 2)

    def placed(market: Market) -> Market:
        index = 2 if market.ticker in ON_TWO and not alone else 0
        return decode_answer(Market, {**market.raw, "exchange_index": index})

    def get_market(self: FakeClient, ticker: str) -> Market:
        return placed(market_of(self, ticker))

    def iter_markets(self: FakeClient, **filters: Any) -> Iterator[Market]:
        return (placed(m) for m in markets_of(self, **filters))

    def get_balance(self: FakeClient) -> Balance:
        total = held["two"] if alone else balance_of(self).balance
        breakdown = [{"exchange_index": 0, "balance": str(total - held["two"])}]
        if alone:
            breakdown = [{"exchange_index": 0, "balance": str(total)}]
        else:
            breakdown.append({"exchange_index": 2, "balance": str(held["two"])})
        return decode_answer(
            Balance, {"balance_dollars": str(total), "balance_breakdown": breakdown}
        )

    def get_shard_statuses(self: FakeClient) -> tuple[Any, ...]:
        shards = [
            {
                "exchange_index": n,
                "exchange_active": True,
                "trading_active": True,
                "intra_exchange_transfers_active": True,
            }
            for n in listed
        ]
        status = {"exchange_active": True, "trading_active": True}
        return decode_answer(
            ExchangeStatus, {**status, "exchange_index_statuses": shards}
        ).per_shard()

    monkeypatch.setattr(FakeClient, "get_market", get_market)
    monkeypatch.setattr(FakeClient, "iter_markets", iter_markets)
    monkeypatch.setattr(FakeClient, "get_balance", get_balance)
    monkeypatch.setattr(FakeClient, "get_shard_statuses", get_shard_statuses, raising=False)
    return held


def _leg(ticker: str, price: str) -> Intent:
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal(price),
        Decimal(10),
        Decimal("0.99"),
        "a pair",
        strategy="market-maker",
        time_in_force=TimeInForce.FOK,
    )


def _events(log: Path, kind: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    return [e for e in lines if e.get("event") == kind]


def _pair(tmp_path: Path) -> tuple[Rig, Path]:
    log = tmp_path / "log.jsonl"
    rig = quiet_market_maker(tmp_path, risk={"min_edge": "0"}, log_path=log)
    # the loop's calls are made on its deciding thread: each leg is answered as it goes
    rig.loop.legs.execute([_leg(HOLD, "0.62"), _leg(CUT, "0.35")], last_data_at=rig.clock.wall())
    return rig, log


def test_a_set_whose_legs_together_cost_more_than_their_shard_holds_sends_none(
    tmp_path: Path, shard_two: dict[str, Decimal]
) -> None:
    """Shard 2 holds $8: HOLD's leg ($6.20 and its taker fee) and CUT's ($3.50 and its fee)
    each fit alone, not together. Nothing is sent, and the set is said dropped for it."""
    rig, log = _pair(tmp_path)
    assert rig.client.requests == []
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 0
    (dropped,) = _events(log, "group_dropped")
    assert (dropped["ticker"], dropped["reason"]) == (CUT, "a leg was denied by the risk engine")
    (denied,) = _events(log, "risk_denied")
    assert denied["code"] == "SHARD_BALANCE"
    assert denied["detail"].startswith(f"{CUT} trades on shard 2: the order needs $3.6"), denied
    assert _events(log, "group_broken") == []
    # the legs let go give back what they held apart: HOLD's alone fits the shard again
    assert rig.loop.executor.denials(_leg(HOLD, "0.62"), last_data_at=rig.clock.wall()) == []
    rig.loop.log.close()


def test_a_set_whose_legs_together_fit_their_shard_goes_whole(
    tmp_path: Path, shard_two: dict[str, Decimal]
) -> None:
    """Shard 2 holds $11: the pair fits, both legs go and the set ends whole."""
    shard_two["two"] = Decimal("11")
    rig, log = _pair(tmp_path)
    assert [r.ticker for r in rig.client.requests] == [HOLD, CUT]
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 10
    (done,) = _events(log, "group_done")
    assert done["status"] == "whole"
    rig.loop.log.close()


def test_a_set_whose_legs_together_cost_more_than_an_accounts_one_shard_holds_sends_none(
    tmp_path: Path, one_shard: dict[str, Decimal]
) -> None:
    """The balance lists one shard, holding $8: one shard is still a shard with a balance, and
    the loop has no balance check but its shard's. The pair, each leg fitting alone, is not
    started for the exchange to break it; the denial says no other shard holds the rest."""
    rig, log = _pair(tmp_path)
    assert rig.client.requests == []
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 0
    (dropped,) = _events(log, "group_dropped")
    assert (dropped["ticker"], dropped["reason"]) == (CUT, "a leg was denied by the risk engine")
    (denied,) = _events(log, "risk_denied")
    assert denied["code"] == "SHARD_BALANCE"
    assert denied["detail"].startswith(f"{CUT} trades on shard 0: the order needs $3.6"), denied
    assert "no other shard holds" in denied["detail"] and "fund shard 0" in denied["detail"]
    assert _events(log, "group_broken") == []
    rig.loop.log.close()
