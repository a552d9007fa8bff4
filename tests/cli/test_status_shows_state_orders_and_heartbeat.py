"""What `kalshi status` shows: the trading state, its reason, source and last five changes, the
orders that may rest on the exchange and those of unknown outcome, and the trade loop's
heartbeat; without a state file, the default and nothing created.

`kalshi status` runs in process over a state file written by the test with a manual clock, so
every figure it shows is known exactly.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side

T = "KXPINS6-26JAN01-A"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def kalshi(home: Path, *args: str) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home / "home")})
    return CliRunner().invoke(
        app, list(args), obj=context, env={"COLUMNS": "120", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def intent(client_order_id: str) -> IntentRecord:
    return IntentRecord(
        client_order_id=client_order_id,
        ticker=T,
        book_side=BookSide.BID,
        price=Decimal("0.40"),
        count=Decimal("2"),
        side=Side.YES,
        action=Action.BUY,
    )


def busy_state_file(path: Path) -> None:
    """Seven trading-state changes (one a second), orders in every open status and two
    finished, and the trade loop's heartbeat 90.4 s after the start."""
    clock = ManualClock(START)
    with Store.open(path, clock=clock) as store:
        for n, state in enumerate(["HALTED", "ACTIVE"] * 3 + ["REDUCING"]):
            store.trading.set_trading_state(state, reason=f"change {n}", source=f"source {n}")
            clock.advance(1)
        for cid in ("pending-1", "unknown-1", "unknown-2", "resting-1", "done-1", "refused-1"):
            store.orders.record_intent(intent(cid))
        store.orders.mark_unknown("unknown-1", reason="timeout")
        store.orders.mark_unknown("unknown-2", reason="timeout")
        store.orders.mark_sent(
            "resting-1",
            order_id="o-r",
            status="resting",
            fill_count=Decimal(0),
            remaining_count=Decimal(2),
        )
        store.orders.mark_sent(
            "done-1",
            order_id="o-d",
            status="executed",
            fill_count=Decimal(2),
            remaining_count=Decimal(0),
        )
        store.orders.mark_rejected("refused-1", reason="no")
        clock.advance(83.4)
        store.entries.heartbeat(source="trade")


def test_status_json_counts_open_and_unknown_orders_and_shows_the_last_five_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    busy_state_file(path)
    done = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "state": "REDUCING",
        "reason": "change 6",
        "source": "source 6",
        "since": "2026-01-01T00:00:06Z",
        "state_file": str(path),
        # pending, unknown and resting may rest on the exchange; executed and rejected do not
        "open_orders": 4,
        # those awaiting an answer: pending and unknown
        "unknown_orders": 3,
        "last_heartbeat": "trade at 1767225690",  # 90.4 s after the start, whole seconds
        "loop_paused": False,
        "assignments": [],
        "history": [
            {"state": s, "reason": f"change {n}", "source": f"source {n}", "at": START + n}
            for n, s in enumerate(["HALTED", "ACTIVE", "HALTED", "ACTIVE", "REDUCING"], start=2)
        ],
    }


def test_status_for_people_names_the_orders_to_reconcile_and_the_heartbeat_as_a_date(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    busy_state_file(path)
    done = kalshi(tmp_path, "--state", str(path), "status")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[:3] == ["trading state: REDUCING", "reason: change 6", lines[2]]
    assert lines[2].startswith("set by: source 6 at 2026-01-01 ") or lines[2].startswith(
        "set by: source 6 at 2025-12-31 "
    )
    assert f"state file: {path}" in lines
    assert "open orders: 4" in lines and "unknown orders: 3" in lines
    assert "loop paused: no" in lines  # as a person reads it, not Python's False
    [beat] = [line for line in lines if line.startswith("last heartbeat: ")]
    assert beat.startswith("last heartbeat: trade at 202") and "1767225690" not in beat
    assert len([line for line in lines if line.startswith("  ")]) == 5  # the history, newest 5
    assert "3 order(s) of unknown outcome: run `kalshi reconcile`" in done.stderr


def test_status_counts_an_order_whose_amend_awaits_an_answer_as_of_unknown_outcome(
    tmp_path: Path,
) -> None:
    """A resting order whose amend was written and never answered (a loop or `kalshi order
    amend` killed with it in the network) may rest on the exchange at the amend's terms: its
    outcome is unknown until `kalshi reconcile` reads it, as that command's exit 10 says."""
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(START)) as store:
        store.orders.record_intent(intent("resting-1"))
        store.orders.mark_sent(
            "resting-1",
            order_id="o-r",
            status="resting",
            fill_count=Decimal(0),
            remaining_count=Decimal(2),
        )
        with store.transaction():
            assert store.orders.write_amend(
                "o-r", price=Decimal("0.42"), rest=Decimal(5), post_only=None
            )
    done = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["unknown_orders"] == 1
    done = kalshi(tmp_path, "--state", str(path), "status")
    assert "1 order(s) of unknown outcome: run `kalshi reconcile`" in done.stderr


def test_status_of_a_state_file_never_beaten_shows_no_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(START)):
        pass
    document = json.loads(kalshi(tmp_path, "--state", str(path), "status", "--json").stdout)
    assert document["last_heartbeat"] is None and document["history"] == []
    assert (document["open_orders"], document["unknown_orders"]) == (0, 0)
    people = kalshi(tmp_path, "--state", str(path), "status")
    assert "last heartbeat: none" in people.stdout.splitlines()
    assert "unknown outcome" not in people.stderr


def test_status_without_a_state_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    done = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "state": "ACTIVE",
        "reason": "no state file yet",
        "source": "default",
        "since": None,
        "state_file": str(path),
        "open_orders": 0,
        "unknown_orders": 0,
    }
    assert not path.exists()


def test_status_shows_the_positions_assigned_to_a_strategy(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(START)) as store:
        store.trading.set_assignments({T: "spike", "KXOTHER-26JAN01-B": "market-maker"})
        store.trading.set_assignments({"KXOTHER-26JAN01-B": None})  # cleared
    document = json.loads(kalshi(tmp_path, "--state", str(path), "status", "--json").stdout)
    assert document["assignments"] == [{"ticker": T, "strategy": "spike"}]
    people = kalshi(tmp_path, "--state", str(path), "status").stdout.splitlines()
    assert f"  assigned {T} to spike (the contracts no strategy bought there)" in people


def test_status_names_the_shards_the_loop_holds_short_or_paused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(time.time())) as store:
        held = {"short": [2], "paused": [3]}
        store.entries.heartbeat(source="trade", detail={"shards_held": held})
    as_json = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["loop_shards"] == {"short": [2], "paused": [3]}
    for_people = kalshi(tmp_path, "--state", str(path), "status")
    [line] = [x for x in for_people.stdout.splitlines() if x.startswith("loop shards: ")]
    assert line.startswith("loop shards: short 2 (") and "; paused 3 (" in line


def test_status_names_no_shards_held_by_a_loop_that_no_longer_beats(tmp_path: Path) -> None:
    """A loop's last heartbeat older than 60 s is a dead loop's: what it held says nothing of
    now, as its pause does not (`loop_paused`)."""
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(time.time() - 120)) as store:
        held = {"short": [2], "paused": [3]}
        store.entries.heartbeat(source="trade", detail={"shards_held": held, "paused": True})
    as_json = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert "loop_shards" not in document and document["loop_paused"] is False
    for_people = kalshi(tmp_path, "--state", str(path), "status")
    assert not [x for x in for_people.stdout.splitlines() if x.startswith("loop shards")]
