"""Resting-order listings that reach the client unreadable once the cancels went out (a body that
is no JSON, an item that does not decode, a page without the list or the cursor the spec
requires): a garbled answer from a proxy, or a body cut short. The kill switch and the trade
loop's stop read them alike and try them again within their deadlines, never as proof."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest

ORDERS = "/trade-api/v2/portfolio/orders"


def a_proxys_page() -> httpx.Response:
    return httpx.Response(200, text="<html>502 Bad Gateway</html>")


# each with the words the report or the log names it by
UNREADABLE = [
    pytest.param(a_proxys_page, "not JSON", id="a body no JSON"),
    pytest.param(
        lambda: httpx.Response(200, text='{"orders": [{"order_id": "o1", "tick'),
        "not JSON",
        id="a body cut short",
    ),
    pytest.param(
        lambda: httpx.Response(200, text='{"orders": [], "cursor": "", "depth": NaN}'),
        "not JSON",
        id="a body with a NaN, which JSON does not allow",
    ),
    pytest.param(
        lambda: httpx.Response(200, json={"orders": [{"order_id": 7}], "cursor": ""}),
        "unexpected",
        id="an item that does not decode",
    ),
    pytest.param(
        lambda: httpx.Response(200, json={"cursor": ""}),
        "no 'orders' list",
        id="a page without its list",
    ),
    pytest.param(
        lambda: httpx.Response(200, json={"orders": []}),
        "no 'cursor'",
        id="a page without its cursor",
    ),
]
# one unreadable answer of each reason named: the three bodies that are no JSON are read and
# named alike
EACH_REASON = [UNREADABLE[0], *UNREADABLE[3:]]


class ListingsGarbledAfterTheCancels(httpx.HTTPTransport):
    """The real simulator, except that the resting-order listings asked after a cancel was
    answered (`is_cancel`) reach the client as `garbled()`, the first `times` of them (None:
    every one). The simulator answered each in full: only what reaches the client is
    unreadable. `abandon`, when given, is set as the first garbled answer goes back (a second
    interrupt while the stop lists again)."""

    def __init__(
        self,
        garbled: Callable[[], httpx.Response],
        times: int | None,
        abandon: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self._garbled = garbled
        self._left = times
        self._abandon = abandon
        self.cancelled = threading.Event()
        self.listings_garbled = 0

    def is_cancel(self, request: httpx.Request) -> bool:
        return request.method == "DELETE"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.is_cancel(request):
            self.cancelled.set()
            return response
        listing = (
            request.method == "GET"
            and request.url.path == ORDERS
            and request.url.params.get("status") == "resting"
        )
        if not (listing and self.cancelled.is_set()) or self._left == 0:
            return response
        response.read()
        if self._left is not None:
            self._left -= 1
        self.listings_garbled += 1
        if self._abandon is not None:
            self._abandon.set()
        return self._garbled()
