"""The trade loop's fake exchange (tests/runner/fakes.py) with its markets placed on exchange
shards and the balance broken down by shard: what the loop's tests of a shard's balance trade
on."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.vocabulary.models import Balance, ExchangeStatus, Market, decode_answer
from tests.runner.fakes import FakeClient


def on_shards(
    monkeypatch: pytest.MonkeyPatch, on_two: tuple[str, ...], *, alone: bool
) -> dict[str, Decimal]:
    """The fake exchange's markets `on_two` on shard 2 and the others on shard 0, the balance's
    breakdown putting `held["two"]` (the dict returned, $8 until changed) on shard 2 and the
    rest on shard 0; `alone`: an account of one shard, every market on shard 0, which holds
    `held["two"]`, the whole balance."""
    held = {"two": Decimal("8")}
    market_of, markets_of = FakeClient.get_market, FakeClient.iter_markets
    balance_of = FakeClient.get_balance
    listed = (0,) if alone else (0, 2)

    def placed(market: Market) -> Market:
        index = 2 if market.ticker in on_two and not alone else 0
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
