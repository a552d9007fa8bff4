"""What a serving simulator announces in its data directory, in a module light enough to join it.

`AccountInfo` is the default account a simulator writes to `account.json` (its endpoint and key).
A process that only joins a simulator another process serves (`embed.ensure_simulator`) reads
that file and needs nothing of the server stack: this module imports only the standard library,
so joining costs no starlette, uvicorn or exchange core (tests/test_cold_start.py pins it).
"""

from __future__ import annotations

from typing import NamedTuple


class AccountInfo(NamedTuple):
    """The default account of a serving simulator: its endpoints and key."""

    api_base: str
    ws_url: str
    key_id: str
    private_key_path: str
    key_type: str = "rsa"  # ApiKeyType: "rsa" or "ed25519"

    def to_json(self) -> dict[str, str]:
        return self._asdict()

    def exports(self) -> str:
        """The shell lines that point `kalshi` in another shell at this account, for `eval`."""
        import shlex

        pairs = (
            ("KALSHI_ENV", "sim"),
            ("KALSHI_API_BASE", self.api_base),
            ("KALSHI_WS_URL", self.ws_url),
            ("KALSHI_API_KEY_ID", self.key_id),
            ("KALSHI_PRIVATE_KEY_PATH", self.private_key_path),
        )
        return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in pairs)
