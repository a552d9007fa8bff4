"""Checks the three KALSHI-ACCESS headers of a request against the account's public key.

The signed message is `timestamp_ms + METHOD + path` (with `/trade-api/v2`, without the query,
exactly as received: `received_path`; REFERENCE.md section 2), verified as Kalshi does: RSA-PSS for
an RSA key (any salt length, to be lenient), Ed25519 for an Ed25519 key; a signature by a key of the
other type is invalid. The timestamp must lie within `window_s` of the server clock. Refusals carry
Kalshi's observed codes: `signature_is_missing_from_headers`, `header_timestamp_expired`, else
`authentication_error`. Public keys are cached per key id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kalshi_cli.sim.core.records import Account
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.keys import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PublicKey,
    load_public_key,
    verify_signature,
)

DEFAULT_WINDOW_S = 30.0


def received_path(scope: Mapping[str, Any]) -> str:
    """The request's path as it arrived, escapes undecoded and without the query: ASGI's
    `raw_path` (the bytes on the request line; a server may leave the query on it). A path
    byte that is not UTF-8 becomes U+FFFD, which no client signs. The decoded `path` is the
    fallback for a server that gives no `raw_path` (ASGI makes it optional; uvicorn gives it)."""
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes):
        return str(scope["path"])
    return raw.split(b"?", 1)[0].decode("utf-8", "replace")


class AuthFailure(Exception):
    """A refused request, answered 401 with Kalshi's nested error: `code` is what Kalshi was
    seen to answer (REFERENCE.md "Observed on the real wire"), `authentication_error` unless a
    more precise code was observed."""

    def __init__(
        self, message: str, *, code: str = "authentication_error", details: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


class Authenticator:
    def __init__(
        self,
        account_by_key: Callable[[str], Account | None],
        clock: Clock,
        window_s: float = DEFAULT_WINDOW_S,
        public_key_of: Callable[[str], str | None] | None = None,
    ) -> None:
        """`public_key_of(key_id)`: the PEM of a key an account holds beside the one it was
        created with (sim/core/subaccounts.py); without it, the account's own key."""
        self._account_by_key = account_by_key
        self._public_key_of = public_key_of
        self._clock = clock
        self.window_s = window_s
        self._keys: dict[str, PublicKey] = {}

    def has_credentials(self, headers: Mapping[str, str]) -> bool:
        return any(headers.get(h) for h in (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE))

    def authenticate(self, method: str, path: str, headers: Mapping[str, str]) -> Account:
        key_id = headers.get(HEADER_KEY)
        timestamp = headers.get(HEADER_TIMESTAMP)
        signature = headers.get(HEADER_SIGNATURE)
        missing = [
            name
            for name, value in (
                (HEADER_KEY, key_id),
                (HEADER_TIMESTAMP, timestamp),
                (HEADER_SIGNATURE, signature),
            )
            if not value
        ]
        if missing or key_id is None or timestamp is None or signature is None:
            text = f"missing authentication header(s): {', '.join(missing)}"
            if HEADER_SIGNATURE in missing:
                raise AuthFailure(
                    "signature is missing from headers",
                    code="signature_is_missing_from_headers",
                    details=text,
                )
            raise AuthFailure("authentication error", details=text)
        account = self._account_by_key(key_id)
        if account is None:
            raise AuthFailure("authentication error", details="unknown API key id")
        if not timestamp.isdigit():
            raise AuthFailure(
                "authentication error",
                details=f"{HEADER_TIMESTAMP} must be Unix time in milliseconds",
            )
        skew = abs(int(timestamp) / 1000.0 - self._clock.wall())
        # Kalshi refused a timestamp 30 s old: the window's edge is outside it
        if skew >= self.window_s:
            raise AuthFailure(
                "header timestamp expired",
                code="header_timestamp_expired",
                details=f"request timestamp is {skew:.0f}s away from the server clock "
                f"(allowed under {self.window_s:.0f}s); check the system clock",
            )
        public_key = self._keys.get(key_id)
        if public_key is None:
            pem = self._public_key_of(key_id) if self._public_key_of else None
            public_key = load_public_key(pem or account.public_key_pem)
            self._keys[key_id] = public_key
        if not verify_signature(public_key, f"{timestamp}{method.upper()}{path}", signature):
            raise AuthFailure("authentication error", details="INCORRECT_API_KEY_SIGNATURE")
        return account
