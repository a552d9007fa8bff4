"""The scope of an alert (what its breach covers) is a column of the alert state, `scope`, beside
the summary; migration 0005 only adds that column: every summary a released state file holds is
kept whole (` [breach: ` text included: no released version wrote such a marker, so it is the
alert's own words) and gets no scope."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.store import Store
from kalshi_cli.store import migrations as m
from kalshi_cli.vocabulary.clock import ManualClock

BEFORE = [m.INITIAL, m.FILL_INTEGER_UNITS, m.ORDER_FILL_SUBACCOUNT, m.SETTLEMENT_SUBACCOUNT]
MARK = " [breach: "


def test_scope_is_its_own_column_and_the_summary_is_kept_whole(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        summary = "2 markets over limit [breach: not a scope]"
        store.alerts.record_alert(
            "check:positions",
            status="firing",
            severity="critical",
            summary=summary,
            scope="KXA on subaccount 1",
            sent=True,
        )
        state = store.alerts.alert_state("check:positions")
        assert state is not None
        assert (state.summary, state.scope) == (summary, "KXA on subaccount 1")
        clock.advance(60)
        store.alerts.record_alert(
            "check:positions", status="resolved", severity="critical", summary="ok", sent=True
        )
        state = store.alerts.alert_state("check:positions")
        assert state is not None and (state.summary, state.scope) == ("ok", None)
        log = store.alerts.alert_log(fingerprint="check:positions")
        assert [(e.summary, e.scope) for e in log] == [
            (summary, "KXA on subaccount 1"),
            ("ok", None),
        ]


def before_0005(conn: sqlite3.Connection, alerts: list[tuple[str, str, str]]) -> None:
    """The schema as the code before 0005 left it: (fingerprint, status, summary) rows in
    `alerts`, and each as one attempt in `alert_log`."""
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


def file_before_0005(path: Path, alerts: list[tuple[str, str, str]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        before_0005(conn, alerts)
    finally:
        conn.close()


def migrated(path: Path) -> tuple[dict[str, tuple[str, str | None]], list[tuple[str, str | None]]]:
    with Store.open(path, clock=ManualClock(10.0)) as store:
        assert "0005_alert_scope" in [n for n, _ in store.applied_migrations()]
        rows = store._conn.execute("SELECT fingerprint, summary, scope FROM alerts").fetchall()
        log = [(e.summary, e.scope) for e in store.alerts.alert_log(limit=1000)]
    return {fp: (summary, scope) for fp, summary, scope in rows}, log


def test_the_migration_keeps_every_summary_whole_and_records_no_scope(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    rows = [
        ("marked", "firing", "1 market over limit [breach: KXA on subaccount 1]"),
        ("error", "firing", "HTTP 400 bad_request: field [breach: x]"),  # the exchange's words
        ("from-0.1.0", "firing", "1 market over limit: KXA 101/100"),
        ("resolved", "resolved", "cleared (was: x [breach: y])"),
        ("trade", "CRITICAL", "halted [breach: KXA]"),
    ]
    file_before_0005(path, [(fp, status, summary) for fp, status, summary in rows])
    alerts, log = migrated(path)
    assert alerts == {fp: (summary, None) for fp, _, summary in rows}
    assert log == [(summary, None) for _, _, summary in rows]


piece = st.sampled_from([MARK, "]", " ", "[", "breach:", "KXA", "x", "é", "%", "_"])
summaries = st.lists(piece, max_size=8).map("".join)


@settings(max_examples=100, deadline=None)
@given(st.lists(summaries, min_size=1, max_size=6))
def test_the_migration_leaves_any_summary_as_it_was(texts: list[str]) -> None:
    """Whatever a firing summary holds, markers included, 0005 and every migration after it keep
    it byte for byte (the migrations in memory; a state file opened by the Store is the example
    test's above)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        before_0005(conn, [(f"fp{i}", "firing", text) for i, text in enumerate(texts)])
        assert m.apply_pending(conn, 2.0)[0] == "0005_alert_scope"
        alerts = conn.execute("SELECT fingerprint, summary, scope FROM alerts").fetchall()
        log = conn.execute("SELECT summary, scope FROM alert_log ORDER BY id").fetchall()
    finally:
        conn.close()
    assert alerts == [(f"fp{i}", text, None) for i, text in enumerate(texts)]
    assert log == [(text, None) for text in texts]


def test_a_released_firing_rows_summary_is_kept_whole(tmp_path: Path) -> None:
    """No released version wrote a ` [breach: ` marker, so in a released file it is the alert's
    own text (here the exchange's error in an UNKNOWN summary): kept whole, no scope."""
    path = tmp_path / "state.db"
    summary = "HTTP 400 bad_request: field [breach: x]"
    file_before_0005(path, [("check:positions", "firing", summary)])
    with Store.open(path) as store:
        state = store.alerts.alert_state("check:positions")
    assert state is not None
    assert (state.summary, state.scope) == (summary, None)
