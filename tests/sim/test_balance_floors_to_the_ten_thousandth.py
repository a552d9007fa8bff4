"""An account's balance (`balance_dollars`) is what is available, floored to $0.0001, on each shard
and summed (its cents floored too), and its stamp moves only when that floored amount changes:
cash can carry more places (a subpenny price times a fractional count), which never round the
balance up. A shard that never changed answers the account's opening as its last update, not
the exchange's."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.sim.core.account_state import AccountState
from kalshi_cli.sim.core.records import Account


def _opened(cash: str, at: float) -> AccountState:
    state = AccountState(Account("a", "", "", 0, Decimal(0)), Decimal(0), at)
    state.cash = {0: Decimal(cash), 2: Decimal(0)}
    state.sync(at)
    return state


def test_the_balance_floors_each_shards_fraction_of_a_ten_thousandth() -> None:
    state = _opened("10.00009", 100.0)
    assert state.account.balance == Decimal("10.0000")
    assert state.account.cash_cents == 1000
    state.move(0, Decimal("0.00002"), 200.0)  # 10.00011: 10.0001 floored, a change
    assert state.account.balance == Decimal("10.0001")
    assert state.updated(0) == 200.0
    state.move(0, Decimal("0.00003"), 300.0)  # 10.00014: floored, unchanged
    assert (state.account.balance, state.updated(0)) == (Decimal("10.0001"), 200.0)


def test_a_shard_that_never_changed_answers_the_accounts_opening() -> None:
    state = _opened("5", 100.0)
    assert state.updated(2) == 100.0
    assert state.updated(0) == 100.0
    state.move(0, Decimal("-1"), 150.0)
    assert (state.updated(0), state.updated(2), state.updated(None)) == (150.0, 100.0, 150.0)


def test_a_balance_below_zero_floors_its_cents() -> None:
    """Cents are floored, never rounded toward zero: a fraction of a cent below zero is a cent
    below; a whole number of cents below zero stays what it is."""
    state = _opened("-0.005", 100.0)
    assert state.account.cash_cents == -1
    state.move(0, Decimal("-0.995"), 200.0)  # -1.00
    assert state.account.cash_cents == -100
