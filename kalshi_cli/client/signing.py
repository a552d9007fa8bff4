"""Kalshi request signing as an `httpx.Auth`: the three KALSHI-ACCESS headers on every request.

What is signed and how lives in `vocabulary.keys` (shared with the simulator's verifier). The path
signed is the request's as it goes out, percent-escapes and all, without the query (`URL.raw_path`),
as Kalshi's SDK signs and the server verifies (REFERENCE.md section 2). Each retry is signed afresh.
Signing does no I/O; the clock is injected.

The key may be given loaded or as a `KeyOnDemand`, read (and `cryptography` imported) by the first
request that is signed: which requests are is the client's one rule (`signs`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeAlias

import httpx

from kalshi_cli.vocabulary.clock import Clock, SystemClock

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.keys import KeyType, PrivateKey

# a key as the client takes it: loaded, or read on demand (a string: `cryptography` stays unloaded)
KeySource: TypeAlias = "PrivateKey | KeyOnDemand"


class KeyOnDemand:
    """A private key read on its first use, then kept: a command whose requests are all public
    reads never reads the key file, nor imports `cryptography` (docs/benchmarks.md, "Cold
    starts"). A key that cannot be read raises its `CredentialsError` at each use, nothing kept."""

    def __init__(self, load: Callable[[], PrivateKey]) -> None:
        self._load = load
        self._key: PrivateKey | None = None

    def __repr__(self) -> str:  # never show the key
        return f"KeyOnDemand(loaded={self.loaded})"

    @classmethod
    def of(cls, key: PrivateKey) -> KeyOnDemand:
        """A key already loaded."""
        made = cls(lambda: key)
        made._key = key
        return made

    @property
    def loaded(self) -> bool:
        return self._key is not None

    def key(self) -> PrivateKey:
        if self._key is None:
            self._key = self._load()
        return self._key


class KalshiAuth(httpx.Auth):
    """Adds the three KALSHI-ACCESS headers to each request (and to each retry, freshly)."""

    def __init__(self, key_id: str, private_key: KeySource, clock: Clock | None = None) -> None:
        self.key_id = key_id
        self._key = (
            private_key if isinstance(private_key, KeyOnDemand) else KeyOnDemand.of(private_key)
        )
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:  # never show the key
        return f"KalshiAuth(key_id={self.key_id!r})"

    @property
    def loaded(self) -> bool:
        """Whether the key is in memory (given loaded, or read by a request signed before)."""
        return self._key.loaded

    def private_key(self) -> PrivateKey:
        """The key, read now if it was not yet (its `CredentialsError` if it cannot be)."""
        return self._key.key()

    @property
    def key_type(self) -> KeyType:
        from kalshi_cli.vocabulary.keys import key_type

        return key_type(self.private_key())

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        from kalshi_cli.vocabulary.keys import signed_headers

        timestamp_ms = int(self._clock.wall() * 1000)
        return signed_headers(self.private_key(), self.key_id, method, path, timestamp_ms)

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


# public in the pinned spec, but marked on the wire as wanting a signature from 3.13 on
# (REFERENCE.md): signed whenever a key is configured, so a server that still wants one gets it
SIGNED_WITH_ANY_KEY = ("/orderbook", "/markets/orderbooks")


def signs(auth: KalshiAuth | None, *, private: bool, path: str = "") -> bool:
    """The client's one signing rule. A request to a private endpoint (`private`: one that
    openapi.yaml gives a `security` block; every write) is signed, the first one reading the
    key. A public read (no `security` block: market data, the exchange's status and schedule,
    the historical archive) is signed only once the key is in memory: a command that reads
    market data alone never reads the key file nor imports `cryptography`, and a process that
    has used its key signs every request, as before; the order book reads, at `path`, are
    signed as private ones (`SIGNED_WITH_ANY_KEY`). Without a key, nothing is signed."""
    if auth is None:
        return False
    return private or auth.loaded or path.endswith(SIGNED_WITH_ANY_KEY)
