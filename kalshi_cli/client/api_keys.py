"""API keys (openapi.yaml 3.31.0): list, create from a public key, generate, delete.

`generate_api_key` returns the private key the exchange generated: it is in that one answer
only, so the caller writes it somewhere safe at once (the CLI: a file of mode 0600) and never
logs or prints it. Listing never carries a private key.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kalshi_cli.client.connection import Area, Id, path_segment

__all__ = [
    "ApiKeyInfo",
    "ApiKeysApi",
    "GeneratedKey",
]


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
        """Register a public key (RSA or Ed25519 PEM); returns the new key's id."""
        body = _key_body(name, scopes, subaccount) | {"public_key": public_key_pem}
        what = "POST /api_keys"
        self._conn.require_key(what)
        response = self._conn.send_once("POST", "/api_keys", json=body, what=what)
        key_id: str = self._conn.field(
            self._conn.fields(response), "api_key_id", Id, "answer to a new API key"
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
        Sent once: a lost answer is a key whose private half nobody has (delete it)."""
        body = _key_body(name, scopes, subaccount) | {"key_type": key_type}
        self._conn.require_key("generating an API key")
        response = self._conn.send_once(
            "POST", "/api_keys/generate", json=body, what="a new API key"
        )
        sent = self._conn.decode(
            response,
            lambda content: msgspec.json.decode(content, type=_GeneratedAnswer),
            "generated API key",
        )
        return GeneratedKey(sent.api_key_id, sent.key_type or key_type, sent.private_key)

    def delete_api_key(self, api_key_id: str) -> None:
        self._conn.request("DELETE", f"/api_keys/{path_segment(api_key_id)}", auth=True)
