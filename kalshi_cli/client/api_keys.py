"""API keys (openapi.yaml 3.31.0): list, create from a public key, generate, delete.
`generate_api_key` returns the private key the exchange made, in that one answer only: the caller
writes it somewhere safe at once and never logs it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kalshi_cli.client.connection import Area, Id, path_segment
from kalshi_cli.client.retry import Resend, UnknownOutcome


class ApiKeyInfo(msgspec.Struct, frozen=True):
    api_key_id: str
    name: str = ""
    scopes: tuple[str, ...] = ()
    subaccount: int | None = None  # the one subaccount the key is restricted to, if any


class GeneratedKey(msgspec.Struct, frozen=True):
    api_key_id: str
    key_type: str
    private_key_pem: str

    def __repr__(self) -> str:
        # never the private key, so never in a log line or a traceback
        return f"GeneratedKey(api_key_id={self.api_key_id!r}, key_type={self.key_type!r})"


class _GeneratedAnswer(msgspec.Struct, frozen=True):
    api_key_id: str
    private_key: str
    key_type: str = ""


def _key_body(name: str, scopes: tuple[str, ...] | None, subaccount: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if scopes is not None:
        body["scopes"] = list(scopes)
    if subaccount is not None:
        body["subaccount"] = subaccount
    return body


class ApiKeysApi(Area):
    """The account's API keys (see the module docstring)."""

    def list_api_keys(self) -> list[ApiKeyInfo]:
        return self._conn.items(
            ApiKeyInfo, self._conn.get_fields("/api_keys", auth=True), "api_keys", "API key"
        )

    def create_api_key(
        self,
        name: str,
        public_key_pem: str,
        *,
        scopes: tuple[str, ...] | None = None,
        subaccount: int | None = None,
    ) -> str:
        """Register a public key (RSA or Ed25519 PEM); returns the new key's id. Sent again
        only while it certainly never left (`Connection.write`): an answer lost after sending
        is `OrderOutcomeUnknown`, and `kalshi key list` tells whether it was registered."""
        body = _key_body(name, scopes, subaccount) | {"public_key": public_key_pem}
        unknown = UnknownOutcome.read_by(
            f"a new API key named {name}", "the key may or may not be registered", "kalshi key list"
        )
        response = self._conn.write(
            "POST", "/api_keys", unknown, json=body, resend=Resend.IF_UNSENT
        )
        key_id: str = self._written_field(
            response, unknown, "api_key_id", Id, "answer to a new API key"
        )
        return key_id

    def generate_api_key(
        self,
        name: str,
        *,
        key_type: str = "rsa",
        scopes: tuple[str, ...] | None = None,
        subaccount: int | None = None,
    ) -> GeneratedKey:
        """A key pair made by the exchange; the answer is the only copy of its private key.
        Sent again only while it certainly never left (`Connection.write`): an answer lost
        after sending is `OrderOutcomeUnknown`, a key that may exist whose private half nobody
        has (delete it: the hint says how)."""
        body = _key_body(name, scopes, subaccount) | {"key_type": key_type}
        unknown = UnknownOutcome.read_by(
            f"a new API key named {name}",
            "the key may or may not exist, and nobody holds its private key",
            "kalshi key list",
            hint=f"`kalshi key list` shows whether a key named {name} was made; its private key "
            "is lost, so delete it with `kalshi key delete KEY_ID`",
        )
        response = self._conn.write(
            "POST", "/api_keys/generate", unknown, json=body, resend=Resend.IF_UNSENT
        )
        sent = self._conn.written(
            response,
            unknown,
            lambda r: self._conn.decode(
                r,
                lambda content: msgspec.json.decode(content, type=_GeneratedAnswer),
                "generated API key",
            ),
        )
        return GeneratedKey(sent.api_key_id, sent.key_type or key_type, sent.private_key)

    def delete_api_key(self, api_key_id: str) -> None:
        self._conn.request("DELETE", f"/api_keys/{path_segment(api_key_id)}", auth=True)
