"""Kalshi request signing as an `httpx.Auth`: the three KALSHI-ACCESS headers on every request.

What is signed and how lives in `vocabulary.keys` (shared with the simulator's verifier). The path
signed is the request's as it goes out, percent-escapes and all, without the query (`URL.raw_path`),
as Kalshi's SDK signs and the server verifies (REFERENCE.md section 2). Each retry is signed afresh.
Signing does no I/O; the clock is injected.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from kalshi_cli.vocabulary.clock import Clock, SystemClock
from kalshi_cli.vocabulary.keys import KeyType, PrivateKey, key_type, signed_headers


class KalshiAuth(httpx.Auth):
    """Adds the three KALSHI-ACCESS headers to each request (and to each retry, freshly)."""

    def __init__(self, key_id: str, private_key: PrivateKey, clock: Clock | None = None) -> None:
        self.key_id = key_id
        self._private_key = private_key
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:  # never show the key
        return f"KalshiAuth(key_id={self.key_id!r})"

    @property
    def key_type(self) -> KeyType:
        return key_type(self._private_key)

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        timestamp_ms = int(self._clock.wall() * 1000)
        return signed_headers(self._private_key, self.key_id, method, path, timestamp_ms)

    def sign(self, request: httpx.Request) -> None:
        """Sets the three headers of `request`, signed now over its own method and its path as
        sent (escaped; the query left out).

        One header at a time: `Headers.update` re-parses the whole dict and probes each name
        by a lookup that raises, about 10 us more per request (docs/benchmarks.md)."""
        headers = request.headers
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        for name, value in self.headers_for(request.method, path).items():
            headers[name] = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request
