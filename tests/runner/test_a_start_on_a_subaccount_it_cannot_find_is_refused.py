"""`kalshi trade --subaccount N` starts only on a subaccount the account lists (0, the primary,
without asking); one it does not list, or a listing that fails, refuses the start before anything
is read or sent, the failure keeping its own exit code. The end-to-end refusal is in
tests/runner/lifecycle/test_trade_subaccount.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest

from kalshi_cli.client.subaccounts import SubaccountBalance
from kalshi_cli.runner.preflight import StartupRefused, check_subaccount
from kalshi_cli.vocabulary.errors import TransportError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.fakes import EveryAreaItself


class _Listing(EveryAreaItself):
    """An exchange that lists subaccounts 0 and 1, or fails to list them (`failure`)."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.listed = 0

    def subaccount_balances(self) -> list[SubaccountBalance]:
        self.listed += 1
        if self.failure is not None:
            raise self.failure
        return [SubaccountBalance(n, Decimal(0), 0) for n in (0, 1)]


def _check(exchange: _Listing, number: int) -> None:
    check_subaccount(cast(Any, exchange), number)


def test_a_listed_subaccount_starts_and_the_primary_needs_no_listing():
    listing = _Listing()
    _check(listing, 1)
    assert listing.listed == 1
    failing = _Listing(TransportError("connection refused"))
    _check(failing, 0)
    assert failing.listed == 0


def test_a_subaccount_the_account_does_not_list_refuses_the_start():
    with pytest.raises(StartupRefused) as refused:
        _check(_Listing(), 5)
    assert refused.value.message == "the account has no subaccount 5; not trading"
    assert refused.value.hint is not None and "kalshi subaccount create" in refused.value.hint
    assert refused.value.exit_code is ExitCode.REJECTED


def test_a_listing_that_fails_refuses_the_start_with_the_failures_code():
    with pytest.raises(StartupRefused) as refused:
        _check(_Listing(TransportError("connection refused")), 5)
    assert refused.value.message == (
        "could not list the account's subaccounts: connection refused; not trading"
    )
    assert refused.value.exit_code is ExitCode.UNREACHABLE
