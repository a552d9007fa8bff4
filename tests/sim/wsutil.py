"""A small websocket-client wrapper for the simulator's WebSocket tests."""

from __future__ import annotations

import json
import time
from typing import Any

import websocket

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.keys import load_private_key, signed_headers


class Ws:
    def __init__(
        self, account: AccountInfo, timeout: float = 3.0, *, now_ms: int | None = None
    ) -> None:
        """`now_ms`: sign at this time (a simulator on a test's clock), else the system's."""
        key, _ = load_private_key(path=account.private_key_path)
        stamp = int(time.time() * 1000) if now_ms is None else now_ms
        headers = signed_headers(key, account.key_id, "GET", "/trade-api/ws/v2", stamp)
        self.conn = websocket.create_connection(
            account.ws_url, header=[f"{k}: {v}" for k, v in headers.items()], timeout=timeout
        )
        self._next_id = 1

    def send(self, cmd: str, **params: Any) -> int:
        cmd_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"id": cmd_id, "cmd": cmd}
        if params:
            message["params"] = params
        self.conn.send(json.dumps(message))
        return cmd_id

    def recv(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.conn.recv())
        return data

    def recv_until(self, predicate: Any, limit: int = 50) -> dict[str, Any]:
        for _ in range(limit):
            message = self.recv()
            if predicate(message):
                return message
        raise AssertionError("expected message never came")

    def subscribe(self, channels: list[str], **params: Any) -> list[int]:
        self.send("subscribe", channels=channels, **params)
        sids = []
        for _ in channels:
            reply = self.recv_until(lambda m: m["type"] in ("subscribed", "error"))
            assert reply["type"] == "subscribed", reply
            sids.append(reply["msg"]["sid"])
        return sids

    def close(self) -> None:
        self.conn.close()
