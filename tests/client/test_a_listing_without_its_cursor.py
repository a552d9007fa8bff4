"""A page whose `cursor` the spec requires, left out, is an answer that cannot be read (a
KalshiError), never the last page: read as the end, it cut a listing short, and the kill switch's
proof read the first page of the resting orders and called the book clear while the orders of
the next page rested. A cursor of "" or null is the last page, and so is a missing one where the
spec lets the answer leave it out (the positions', the settlements', the RFQs'...).

Every paged listing the client reads is answered with its list and no cursor here, and whether
it must fail is read from the pinned spec, as for the list itself
(test_a_listing_without_its_list.py), so a listing added or a spec moved on is held to it.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.units import BookSide
from tests.client.test_a_listing_without_its_list import (
    LISTINGS,
    Read,
    _client,
    _resolved,
)
from tests.conftest import SimHarness
from tests.openapi_check import raw_spec
from tests.prime_tier import Kalshi, connect, make_markets


def _schema(path: str) -> dict[str, Any]:
    answer = _resolved(raw_spec()["paths"][path]["get"]["responses"]["200"])
    return _resolved(answer["content"]["application/json"]["schema"])


# the listings read page by page: those whose answer has a cursor
PAGED = [(p, k, r) for p, k, r in LISTINGS if "cursor" in _schema(p).get("properties", {})]


def _spec_requires_cursor(path: str) -> bool:
    return "cursor" in _schema(path).get("required", [])


def test_the_paged_listings_include_both_kinds() -> None:
    """The table covers the listings the kill switch and reconciliation read (cursor required)
    and ones whose cursor the spec lets the answer leave out."""
    paths = {p for p, _, _ in PAGED}
    assert {"/portfolio/orders", "/portfolio/fills", "/markets", "/events"} <= paths
    assert any(not _spec_requires_cursor(p) for p in paths)


@pytest.mark.parametrize(("path", "key", "read"), PAGED, ids=[f"{p} {k}" for p, k, _ in PAGED])
def test_a_page_without_its_cursor_fails_exactly_where_the_spec_requires_the_cursor(
    path: str, key: str, read: Read
) -> None:
    asked: list[str] = []
    with _client(lambda _request: {key: []}, asked) as client:
        if _spec_requires_cursor(path):
            with pytest.raises(KalshiError, match="cursor"):
                read(client)
        else:
            listed = read(client)
            assert not (listed[0] if isinstance(listed, tuple) else listed)
    assert len(asked) == 1  # the last page: no second page asked for


@pytest.mark.parametrize(("path", "key", "read"), PAGED, ids=[f"{p} {k}" for p, k, _ in PAGED])
@pytest.mark.parametrize("cursor", ["", None])
def test_an_empty_or_null_cursor_is_the_last_page(
    path: str, key: str, read: Read, cursor: str | None
) -> None:
    asked: list[str] = []
    with _client(lambda _request: {key: [], "cursor": cursor}, asked) as client:
        listed = read(client)
    assert not (listed[0] if isinstance(listed, tuple) else listed)
    assert len(asked) == 1


class LastOrderOnAPageWithoutItsCursor(httpx.BaseTransport):
    """The real simulator, except that the first page of the resting orders holds all but the
    last of them and leaves out the cursor to the page that holds it, as an exchange or a proxy
    answering half a page would."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        resting = (
            request.method == "GET"
            and request.url.path.endswith("/portfolio/orders")
            and request.url.params.get("status") == "resting"
        )
        if not resting or request.url.params.get("cursor"):
            return response
        body = json.loads(response.read())
        body["orders"] = (body.get("orders") or [])[:-1]
        body.pop("cursor", None)
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


def test_cancel_all_is_not_proven_by_a_first_page_without_its_cursor(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """Two orders rest; every listing of them shows all but the last, without the cursor to
    the rest. Read as the last page, the kill switch cancelled what it saw, listed none and
    said PROVEN while the other order rested."""
    (ticker,) = make_markets(prime, 1)
    with connect(prime.account) as client:
        for price in ("0.40", "0.41"):
            client.orders.create_order(CreateOrder(ticker, BookSide.BID, D(price), D(1)))
    done = kalshi(
        "cancel-all",
        "--ticker",
        ticker,
        # every listing is unreadable: NOT PROVEN comes at the deadline, listed again till then
        "--deadline",
        "5",
        client=lambda: connect(prime.account, transport=LastOrderOnAPageWithoutItsCursor()),
    )
    with connect(prime.account) as client:
        left = list(client.orders.iter_orders(status="resting"))
    assert left, "nothing rests: the answer hid nothing, so nothing was proven"
    assert "PROVEN: no resting order left" not in done.output, done.output
    assert "NOT PROVEN" in done.output and "cursor" in done.output, done.output
    assert done.exit_code == 11, done.output
