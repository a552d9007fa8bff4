"""The client's view of exchange shards (openapi.yaml 3.31.0): a balance's breakdown by shard,
each shard's status, a transfer's amount in centi-cents, and the target allocation, refused
before sending unless its shares total 100."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.client.portfolio import Reservation, transfer_amount
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.keys import generate_private_key
from kalshi_cli.vocabulary.models import Balance, ExchangeStatus, decode_answer
from tests.services.shard_exchange import ShardExchange, client_of

D = Decimal


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    made = generate_private_key()
    assert isinstance(made, rsa.RSAPrivateKey)
    return made


def test_the_balance_is_split_by_shard_and_a_missing_split_is_unknown() -> None:
    split = decode_answer(
        Balance,
        {
            "balance": 1000,
            "balance_dollars": "10.0000",
            "balance_breakdown": [
                {"exchange_index": 2, "balance": "4.0000"},
                {"exchange_index": 0, "balance": "6.0000"},
            ],
        },
    )
    assert split.breakdown is not None
    assert [b.exchange_index for b in split.breakdown] == [0, 2]
    assert (split.on_shard(2), split.on_shard(3)) == (D("4"), D("0"))
    whole = decode_answer(Balance, {"balance": 1000, "balance_dollars": "10.0000"})
    assert whole.breakdown is None and whole.on_shard(0) is None


def test_each_shards_status_and_shard_zeros_from_the_top_level_without_them() -> None:
    status = decode_answer(
        ExchangeStatus,
        {
            "exchange_active": True,
            "trading_active": True,
            "exchange_index_statuses": [
                {
                    "exchange_index": 2,
                    "description": "crypto",
                    "exchange_active": True,
                    "trading_active": False,
                    "intra_exchange_transfers_active": True,
                }
            ],
        },
    )
    shard = status.shard(2)
    assert shard is not None and not shard.trading_active and shard.description == "crypto"
    assert status.shard(0) is None
    older = decode_answer(ExchangeStatus, {"exchange_active": True, "trading_active": False})
    [zero] = older.per_shard()
    assert (zero.exchange_index, zero.trading_active) == (0, False)
    assert zero.intra_exchange_transfers_active is False  # not said: not taken as allowed


def test_a_transfer_amount_is_whole_centi_cents() -> None:
    assert transfer_amount(D("12.3456")) == 123_456
    for bad in (D("0"), D("-1"), D("0.00001"), D("NaN")):
        with pytest.raises(ValidationError):
            transfer_amount(bad)


def test_a_target_allocation_not_totalling_100_is_never_sent(key: rsa.RSAPrivateKey) -> None:
    exchange = ShardExchange({(0, 0): D("1"), (0, 2): D("1")})
    portfolio = client_of(exchange, key, ManualClock()).portfolio
    for shares in ({0: 40, 2: 50}, {}, {0: 120, 2: -20}):
        with pytest.raises(ValidationError):
            portfolio.set_target_allocation(shares)
    assert exchange.allocation_posts == []
    portfolio.set_target_allocation({2: 60, 0: 40}, Reservation.NONE)
    got = portfolio.get_target_allocation()
    assert [(s.exchange_index, s.percent) for s in got.allocations] == [(0, 40), (2, 60)]
    assert got.resting_margin_reservation is Reservation.NONE
    portfolio.clear_target_allocation()
    assert exchange.allocation_posts[-1] == {"allocations": []}
    assert portfolio.get_target_allocation().allocations == ()
