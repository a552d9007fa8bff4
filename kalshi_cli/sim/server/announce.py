"""What a serving simulator announces in its data directory, in a module light enough to join it:
`AccountInfo` (`account.json`) and `serving_account`, which reads it once the simulator named in
`server.json` answers. Standard library only (tests/test_cold_start.py pins it).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
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


def serving(data_dir: Path, timeout_s: float) -> AccountInfo | None:
    """The account of the simulator serving `data_dir`, once it answers (one look when
    `timeout_s` is 0)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            server = json.loads((data_dir / "server.json").read_text())
            account = json.loads((data_dir / "account.json").read_text())
            info = AccountInfo(**{k: account[k] for k in AccountInfo._fields if k in account})
            # a server.json left by a killed simulator names a dead pid: its port may serve
            # something else by now
            if info.api_base.startswith(server["base_url"]) and _alive(server["pid"]):
                host, port = server["base_url"].rsplit("//", 1)[1].rsplit(":", 1)
                with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
                    return info
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def serving_account(data_dir: Path) -> AccountInfo | None:
    """The account of the simulator serving `data_dir` now, or None; starts nothing."""
    data_dir = Path(data_dir).expanduser().resolve()
    return serving(data_dir, 0) if data_dir.is_dir() else None
