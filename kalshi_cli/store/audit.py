"""The agent's audit (table `agent_audit`): every write an assistant asked for through
`kalshi mcp`, with its arguments and outcome, appended one autocommitted row at a time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kalshi_cli.store.connection import Database
from kalshi_cli.store.values import json_text, where_given


@dataclass(frozen=True)
class AuditRecord:
    at: float  # unix seconds
    session: str  # one `kalshi mcp` process's id
    tool: str
    arguments: dict[str, Any]
    outcome: str  # ok, refused, unknown (the write may have been made), failed
    detail: dict[str, Any]  # what was sent and answered, or the refusal's code and line

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "session": self.session,
            "tool": self.tool,
            "arguments": self.arguments,
            "outcome": self.outcome,
            "detail": self.detail,
        }


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        *,
        session: str,
        tool: str,
        arguments: dict[str, Any],
        outcome: str,
        detail: dict[str, Any],
    ) -> None:
        self._db.write(
            "INSERT INTO agent_audit (at, session, tool, arguments, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                self._db.clock.wall(),
                session,
                tool,
                json_text(arguments),
                outcome,
                json_text(detail),
            ),
        )

    def entries(
        self,
        *,
        session: str | None = None,
        tools: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Oldest first (of one `session`, of the `tools` named); the last `limit` when given."""
        names = None if tools is None else list(tools)
        where, params = where_given(
            {"session = ?": session, f"tool IN ({', '.join('?' * len(names or ()))})": names}
        )
        rows = self._db.rows(
            "SELECT at, session, tool, arguments, outcome, detail FROM agent_audit"  # noqa: S608
            f"{where} ORDER BY id DESC LIMIT ?",
            (*params, -1 if limit is None else limit),
        )
        return [
            AuditRecord(at, s, tool, json.loads(args), outcome, json.loads(detail))
            for at, s, tool, args, outcome, detail in reversed(rows)
        ]
