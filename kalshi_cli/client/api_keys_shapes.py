"""An API key as `client/api_keys.py` lists or generates it (`ApiKeyInfo`, `GeneratedKey`),
re-exported by that module and loaded on first use, so a client that never asks for them does
not generate their dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ApiKeyInfo:
    api_key_id: str
    name: str
    scopes: tuple[str, ...]
    subaccount: int | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ApiKeyInfo:
        sub = data.get("subaccount")
        return cls(
            str(data["api_key_id"]),
            str(data.get("name") or ""),
            tuple(str(s) for s in data.get("scopes") or ()),
            None if sub is None else int(sub),
        )


@dataclass(frozen=True)
class GeneratedKey:
    api_key_id: str
    key_type: str
    # never in a repr, so never in a log line or a traceback
    private_key_pem: str = field(repr=False)
