"""The exchange core's subaccounts and API keys (sim/core/subaccounts.py): each subaccount is an
account of its own for cash, positions and orders; transfers are idempotent; the journal keeps
it all; self-trade prevention spans a user's subaccounts."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError, SimEvent, SimSeries, ledger_id, owner
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX
from tests.conftest import STANDARD_FEES
from tests.sim.test_core import ASK, BID, IOC, MAKER, Env, market

TRANSFER = "0b9f1c52-6c0e-4f4e-9d55-0d9f4c9a1e01"


def test_a_subaccount_is_numbered_in_order_and_starts_empty() -> None:
    env = Env()
    assert env.ex.subaccounts.create_subaccount(env.a) == 1
    assert env.ex.subaccounts.create_subaccount(env.a) == 2
    assert env.ex.subaccounts.subaccount_numbers(env.a) == [0, 1, 2]
    assert env.ex.subaccounts.subaccount_numbers(env.b) == [0]
    two = env.ex.subaccounts.subaccount_ledger(env.a, 2)
    assert owner(two) == (env.a, 2)
    assert env.ex.accounts.account(two).cash_cents == 0
    assert env.cash(env.a) == 100_00


def test_at_most_63_numbered_subaccounts() -> None:
    env = Env()
    for _ in range(SUBACCOUNT_MAX):
        env.ex.subaccounts.create_subaccount(env.a)
    with pytest.raises(ExchangeError) as info:
        env.ex.subaccounts.create_subaccount(env.a)
    assert (info.value.status, info.value.code) == (400, "invalid_parameters")
    assert env.ex.subaccounts.subaccount_numbers(env.a)[-1] == 63


def test_a_subaccount_not_created_is_refused() -> None:
    env = Env()
    with pytest.raises(ExchangeError) as info:
        env.ex.subaccounts.subaccount_ledger(env.a, 1)
    assert info.value.status == 400


def test_transfer_moves_cash_once_per_client_transfer_id() -> None:
    env = Env()
    env.ex.subaccounts.create_subaccount(env.a)
    sub = ledger_id(env.a, 1)
    first = env.ex.subaccounts.transfer(
        env.a, client_transfer_id=TRANSFER, from_subaccount=0, to_subaccount=1, amount_cents=2500
    )
    again = env.ex.subaccounts.transfer(
        env.a, client_transfer_id=TRANSFER, from_subaccount=0, to_subaccount=1, amount_cents=2500
    )
    assert again == first
    assert (env.cash(env.a), env.cash(sub)) == (75_00, 25_00)
    assert env.ex.subaccounts.transfers(env.a) == [first]
    with pytest.raises(ExchangeError) as info:
        env.ex.subaccounts.transfer(
            env.a, client_transfer_id=TRANSFER, from_subaccount=0, to_subaccount=1, amount_cents=1
        )
    assert info.value.status == 400
    assert (env.cash(env.a), env.cash(sub)) == (75_00, 25_00)


def test_transfer_of_more_than_is_available_is_refused() -> None:
    env = Env()
    env.ex.subaccounts.create_subaccount(env.a)
    env.place(env.a, BID, "0.50", 100)  # holds $50 of the $100
    with pytest.raises(ExchangeError) as info:
        env.ex.subaccounts.transfer(
            env.a,
            client_transfer_id=TRANSFER,
            from_subaccount=0,
            to_subaccount=1,
            amount_cents=50_01,
        )
    assert (info.value.status, info.value.code) == (400, "insufficient_balance")
    assert env.ex.subaccounts.transfers(env.a) == []


def test_cash_and_positions_are_per_subaccount() -> None:
    env = Env()
    env.ex.subaccounts.create_subaccount(env.a)
    sub = ledger_id(env.a, 1)
    env.ex.subaccounts.transfer(
        env.a, client_transfer_id=TRANSFER, from_subaccount=0, to_subaccount=1, amount_cents=10_00
    )
    env.place(env.b, ASK, "0.40", 5)
    result = env.place(sub, BID, "0.40", 5, IOC)
    assert result.order.fill_count == 5
    assert env.pos(sub) == 5 and env.pos(env.a) == 0
    # five at $0.40 and the taker fee 0.07 x 5 x 0.40 x 0.60 = $0.084
    assert env.ex.accounts.account(sub).balance == D("10") - 5 * D("0.40") - D("0.084")
    assert env.cash(env.a) == 90_00
    assert [f.account_id for f in env.ex.history.fills(sub)] == [sub]
    assert env.ex.history.fills(env.a) == []


def test_self_trade_prevention_spans_a_users_subaccounts() -> None:
    """The spec: taker_at_cross cancels the taker "when it would trade against another order
    from the same user"; subaccounts are one user."""
    env = Env()
    env.ex.subaccounts.create_subaccount(env.a)
    sub = ledger_id(env.a, 1)
    env.ex.subaccounts.transfer(
        env.a, client_transfer_id=TRANSFER, from_subaccount=0, to_subaccount=1, amount_cents=10_00
    )
    env.place(env.a, ASK, "0.40", 5)
    result = env.place(sub, BID, "0.40", 5, IOC)
    assert result.order.fill_count == 0
    assert env.ex.history.trades() == []
    maker = env.place(sub, BID, "0.40", 1, IOC, stp=MAKER)
    assert maker.order.fill_count == 0
    assert env.ex.accounts.resting_orders(env.a) == []  # the maker mode cancelled the resting one


def test_netting_setting_is_kept_per_subaccount() -> None:
    env = Env()
    env.ex.subaccounts.create_subaccount(env.a)
    assert env.ex.subaccounts.netting(env.a) == {0: False, 1: False}
    env.ex.subaccounts.set_netting(env.a, 1, True)
    assert env.ex.subaccounts.netting(env.a) == {0: False, 1: True}
    with pytest.raises(ExchangeError):
        env.ex.subaccounts.set_netting(env.a, 2, True)


def test_added_keys_authenticate_as_the_user_and_a_deleted_key_does_not() -> None:
    env = Env()
    key = env.ex.subaccounts.add_api_key(
        env.a, name="bot", public_key_pem="PEM", scopes=("read", "write::trade")
    )
    assert env.ex.subaccounts.account_by_key(key.api_key_id) is env.ex.accounts.account(env.a)
    assert env.ex.subaccounts.public_key_of(key.api_key_id) == "PEM"
    assert [k.name for k in env.ex.subaccounts.api_keys(env.a)] == ["default", "bot"]
    env.ex.subaccounts.delete_api_key(env.a, "a")  # the first key too
    assert env.ex.subaccounts.account_by_key("a") is None
    assert [k.api_key_id for k in env.ex.subaccounts.api_keys(env.a)] == [key.api_key_id]
    with pytest.raises(ExchangeError) as info:
        env.ex.subaccounts.delete_api_key(env.b, key.api_key_id)  # another user's key
    assert info.value.status == 404


def test_scopes_are_checked_when_a_key_is_added() -> None:
    env = Env()
    for scopes in (("write",), ("read", "admin")):
        with pytest.raises(ExchangeError) as info:
            env.ex.subaccounts.add_api_key(env.a, name="x", public_key_pem="PEM", scopes=scopes)
        assert info.value.status == 400
    assert len(env.ex.subaccounts.api_keys(env.a)) == 1


def test_the_journal_keeps_subaccounts_transfers_settings_and_keys(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    clock = ManualClock()

    def build() -> Exchange:
        return Exchange(clock, fees=STANDARD_FEES, journal=journal)

    ex = build()
    ex.reference.add_series(SimSeries("SER", "series"))
    ex.reference.add_event(SimEvent("EV", "SER", "event"))
    ex.add_market(market("M"))
    a = ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    ex.subaccounts.create_subaccount(a)
    ex.subaccounts.transfer(
        a, client_transfer_id=TRANSFER, from_subaccount=0, to_subaccount=1, amount_cents=7
    )
    ex.subaccounts.set_netting(a, 1, True)
    key = ex.subaccounts.add_api_key(a, name="bot", public_key_pem="PEM", subaccount=1)
    ex.subaccounts.delete_api_key(a, "a")
    ex.close()
    again = build()
    sub = ledger_id(a, 1)
    assert again.accounts.account(sub).balance == D("0.07")
    assert again.accounts.account(a).cash_cents == 100_00 - 7
    assert again.subaccounts.netting(a) == {0: False, 1: True}
    assert again.subaccounts.api_key(key.api_key_id) == key
    assert again.subaccounts.account_by_key("a") is None
    assert [t.client_transfer_id for t in again.subaccounts.transfers(a)] == [TRANSFER]
    again.compact()
    again.close()
    third = build()
    assert third.accounts.account(sub).balance == D("0.07")
    assert third.subaccounts.api_key(key.api_key_id) == key
    third.close()
