"""The agent's audit table: added to a file of the previous version by migration 0008, written
and read back, and pruned by the retention policy after `agent_audit_s`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kalshi_cli.store import RetentionPolicy, Store
from kalshi_cli.store import migrations as m
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT

DAY = 86_400.0


def test_a_file_from_before_0008_gets_the_audit_and_records_in_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, [x for x in m.MIGRATIONS if x.name < "0008"])
    finally:
        conn.close()
    with Store.open(path, clock=ManualClock(1_000.0)) as store:
        assert "0008_agent_audit" in [n for n, _ in store.applied_migrations()]
        store.audit.record(
            session="s1",
            tool="execute",
            arguments={"count": "3"},
            outcome="ok",
            detail={"status": "resting"},
        )
        [entry] = store.audit.entries()
    assert entry.to_json() == {
        "at": 1_000.0,
        "session": "s1",
        "tool": "execute",
        "arguments": {"count": "3"},
        "outcome": "ok",
        "detail": {"status": "resting"},
    }


def test_retention_removes_audit_rows_older_than_their_age(tmp_path: Path) -> None:
    clock = ManualClock(0.0)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        store.audit.record(session="s", tool="halt", arguments={}, outcome="ok", detail={})
        clock.advance(10 * DAY)
        store.audit.record(session="s", tool="cancel_all", arguments={}, outcome="ok", detail={})
        report = store.retention.prune(
            RetentionPolicy(agent_audit_s=5 * DAY, pause_s=0), agent_strategy=AGENT
        )
        assert [e.tool for e in store.audit.entries()] == ["cancel_all"]
    assert report.removed["agent_audit"] == 1
