"""The scope of an alert (what its breach covers) is a column of the alert ledger, `scope`, beside
the summary; migration 0005 moves the scope that unreleased code kept at the end of a firing
row's summary, after ` [breach: `, into it."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.clock import ManualClock
from kalshi_cli.store import Store
from kalshi_cli.store import migrations as m

BEFORE = [m.INITIAL, m.FILL_INTEGER_UNITS, m.ORDER_FILL_SUBACCOUNT, m.SETTLEMENT_SUBACCOUNT]
MARK = " [breach: "


def marker_reading(stored: str) -> tuple[str, str | None]:
    """How the code before 0005 read a firing row's summary: the text after the last marker,
    when it ends in `]`, was the scope last delivered."""
    text, mark, scope = stored.rpartition(MARK)
    if not mark or not scope.endswith("]"):
        return stored, None
    return text, scope[:-1]


def test_scope_is_its_own_column_and_the_summary_is_kept_whole(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        summary = "2 markets over limit [breach: not a scope]"
        store.record_alert(
            "check:positions",
            status="firing",
            severity="critical",
            summary=summary,
            scope="KXA on subaccount 1",
            sent=True,
        )
        state = store.alert_state("check:positions")
        assert state is not None
        assert (state.summary, state.scope) == (summary, "KXA on subaccount 1")
        clock.advance(60)
        store.record_alert(
            "check:positions", status="resolved", severity="critical", summary="ok", sent=True
        )
        state = store.alert_state("check:positions")
        assert state is not None and (state.summary, state.scope) == ("ok", None)
        log = store.alert_log(fingerprint="check:positions")
        assert [(e.summary, e.scope) for e in log] == [
            (summary, "KXA on subaccount 1"),
            ("ok", None),
        ]


def file_before_0005(path: Path, alerts: list[tuple[str, str, str]]) -> None:
    """A state file as the code before 0005 left it: (fingerprint, status, summary) rows in
    `alerts`, and each as one attempt in `alert_log`."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, BEFORE)
        for fingerprint, status, summary in alerts:
            conn.execute(
                "INSERT INTO alerts (fingerprint, status, severity, summary, last_sent_at, "
                "first_seen_at, updated_at) VALUES (?, ?, 'critical', ?, 5.0, 5.0, 5.0)",
                (fingerprint, status, summary),
            )
            conn.execute(
                "INSERT INTO alert_log (fingerprint, status, severity, summary, sent, at) "
                "VALUES (?, ?, 'critical', ?, 1, 5.0)",
                (fingerprint, status, summary),
            )
    finally:
        conn.close()


def migrated(path: Path) -> tuple[dict[str, tuple[str, str | None]], list[tuple[str, str | None]]]:
    with Store.open(path, clock=ManualClock(10.0)) as store:
        assert "0005_alert_scope" in [n for n, _ in store.applied_migrations()]
        rows = store._conn.execute("SELECT fingerprint, summary, scope FROM alerts").fetchall()
        log = [(e.summary, e.scope) for e in store.alert_log(limit=1000)]
    return {fp: (summary, scope) for fp, summary, scope in rows}, log


def test_the_migration_moves_the_marker_of_firing_rows_into_the_column(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    rows = [
        ("scoped", "firing", "1 market over limit [breach: KXA on subaccount 1]"),
        ("twice", "firing", "text [breach: mine] [breach: KXA]"),  # the last marker is the scope
        ("from-0.1.0", "firing", "1 market over limit: KXA 101/100"),
        ("no-bracket", "firing", "cut [breach: KXA"),  # not a scope: the old reading left it
        ("empty", "firing", "empty [breach: ]"),
        ("resolved", "resolved", "cleared (was: x [breach: y])"),  # never carried one
        ("trade", "CRITICAL", "halted [breach: KXA]"),  # not a router row of a check
    ]
    file_before_0005(path, [(fp, status, summary) for fp, status, summary in rows])
    alerts, log = migrated(path)
    assert alerts == {
        "scoped": ("1 market over limit", "KXA on subaccount 1"),
        "twice": ("text [breach: mine]", "KXA"),
        "from-0.1.0": ("1 market over limit: KXA 101/100", None),
        "no-bracket": ("cut [breach: KXA", None),
        "empty": ("empty", ""),
        "resolved": ("cleared (was: x [breach: y])", None),
        "trade": ("halted [breach: KXA]", None),
    }
    assert log == [alerts[fp] for fp, _, _ in rows]


piece = st.sampled_from([MARK, "]", " ", "[", "breach:", "KXA", "x", "é", "%", "_"])
summaries = st.lists(piece, max_size=8).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(summaries, min_size=1, max_size=6))
def test_the_migration_reads_every_summary_as_the_code_before_it_did(texts: list[str]) -> None:
    """The SQL of 0005 splits each firing summary exactly where the old reader did (the last
    marker, overlapping ones included), whatever else the summary holds."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        file_before_0005(path, [(f"fp{i}", "firing", text) for i, text in enumerate(texts)])
        alerts, log = migrated(path)
    expected = {f"fp{i}": marker_reading(text) for i, text in enumerate(texts)}
    assert alerts == expected
    assert log == [expected[f"fp{i}"] for i in range(len(texts))]
