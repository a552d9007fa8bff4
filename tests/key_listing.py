"""A transport to the real simulator whose `GET /api_keys` is refused: the tests of a key whose
subaccount restriction cannot be told (the order path reads unnamed, the trade loop does not
start) share it."""

from __future__ import annotations

import httpx


class RefusingKeyListing(httpx.BaseTransport):
    """The real simulator, except that `GET /api_keys` is refused (403), as an exchange may
    refuse a key it does not let list the keys."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/api_keys"):
            self.refused += 1
            body = {"error": {"code": "forbidden", "message": "not allowed", "details": ""}}
            return httpx.Response(403, json=body)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
