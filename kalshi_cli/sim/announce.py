"""What a serving simulator announces in its data directory, in a module light enough to join it.

`AccountInfo` is the default account a simulator writes to `account.json` (its endpoint and key).
A process that only joins a simulator another process serves (`embed.ensure_simulator`) reads
that file and needs nothing of the server stack: this module imports only the standard library,
so joining costs no starlette, uvicorn or exchange core (tests/test_cold_start.py pins it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AccountInfo:
    """The default account of a serving simulator: its endpoints and key."""

    api_base: str
    ws_url: str
    key_id: str
    private_key_path: str
    key_type: str = "rsa"  # ApiKeyType: "rsa" or "ed25519"

    def to_json(self) -> dict[str, str]:
        return asdict(self)
