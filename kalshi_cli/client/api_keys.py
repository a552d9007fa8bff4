"""API keys (openapi.yaml 3.31.0): list, create from a public key, generate, delete.

`generate_api_key` returns the private key the exchange generated: it is in that one answer
only, so the caller writes it somewhere safe at once (the CLI: a file of mode 0600) and never
logs or prints it. Listing never carries a private key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kalshi_cli.client._lazy import load_on_first_use
from kalshi_cli.client.base import ClientBase, path_segment

if TYPE_CHECKING:
    from kalshi_cli.client.api_keys_shapes import (
        ApiKeyInfo,
        GeneratedKey,
    )

__all__ = [
    "ApiKeyInfo",
    "ApiKeysApi",
    "GeneratedKey",
]

_SHAPES = frozenset({"ApiKeyInfo", "GeneratedKey"})


# the response shapes above load from `api_keys_shapes` on first use
__getattr__ = load_on_first_use(__name__, "kalshi_cli.client.api_keys_shapes", _SHAPES)


def _key_body(name: str, scopes: tuple[str, ...] | None, subaccount: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if scopes is not None:
        body["scopes"] = list(scopes)
    if subaccount is not None:
        body["subaccount"] = subaccount
    return body


class ApiKeysApi(ClientBase):
    """The account's API keys (see the module docstring)."""

    def list_api_keys(self) -> list[ApiKeyInfo]:
        from kalshi_cli.client.api_keys_shapes import ApiKeyInfo

        body = self._get("/api_keys", auth=True)
        return [self._parse(ApiKeyInfo.from_api, k, "API key") for k in body.get("api_keys") or []]

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
        self._require_key(what)
        response = self._send_once("POST", "/api_keys", json=body, what=what)
        return self._parse(lambda b: str(b["api_key_id"]), self._body(response), "API key")

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
        from kalshi_cli.client.api_keys_shapes import GeneratedKey

        body = _key_body(name, scopes, subaccount) | {"key_type": key_type}
        self._require_key("generating an API key")
        response = self._send_once("POST", "/api_keys/generate", json=body, what="a new API key")
        answer = self._body(response)
        return self._parse(
            lambda b: GeneratedKey(
                str(b["api_key_id"]), str(b.get("key_type") or key_type), str(b["private_key"])
            ),
            answer,
            "generated API key",
        )

    def delete_api_key(self, api_key_id: str) -> None:
        self._request("DELETE", f"/api_keys/{path_segment(api_key_id)}", auth=True)
