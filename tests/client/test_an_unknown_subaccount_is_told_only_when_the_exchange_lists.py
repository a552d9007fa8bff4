"""`require_subaccount` refuses a subaccount only on the exchange's listing of them: a listing
that fails refuses nothing, so a command's own request says what the exchange says and
`cancel-all --subaccount N` still halts with the exchange out of reach."""

from __future__ import annotations

from typing import Any

import pytest

from kalshi_cli.client.subaccounts import SubaccountsApi
from kalshi_cli.vocabulary.errors import NotFoundError, ServerError


class Listing:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get_fields(self, path: str, *, auth: bool) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def items(self, shape: Any, fields: Any, key: str, what: str) -> list[Any]:
        return [shape(subaccount=n, balance=0, updated_ts=0) for n in fields]


def test_a_subaccount_the_listing_lacks_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no subaccount 5"):
        SubaccountsApi(Listing([0, 1])).require_subaccount(5)  # type: ignore[arg-type]
    SubaccountsApi(Listing([0, 1])).require_subaccount(1)  # type: ignore[arg-type]


def test_a_listing_that_fails_refuses_nothing() -> None:
    down = ServerError("GET /portfolio/subaccounts/balances failed: HTTP 503", status=503)
    SubaccountsApi(Listing(down)).require_subaccount(5)  # type: ignore[arg-type]
