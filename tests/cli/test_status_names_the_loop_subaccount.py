"""`kalshi status --json` names the subaccount of the trade loop whose heartbeat is in the state
file, and none when no heartbeat names one.

`kalshi status` runs in process over a state file written by the test with a manual clock, so
every figure it shows is known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def kalshi(home: Path, *args: str) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home / "home")})
    return CliRunner().invoke(
        app, list(args), obj=context, env={"COLUMNS": "120", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def status_json(tmp_path: Path, source: str, detail: dict[str, Any]) -> dict[str, Any]:
    """`kalshi status --json` over a state file whose one heartbeat is `source`'s."""
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(START)) as store:
        store.entries.heartbeat(source=source, detail=detail)
    done = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert done.exit_code == 0, done.output
    document: dict[str, Any] = json.loads(done.stdout)
    return document


# ------------------------------------------------------------------------------ status


@pytest.mark.parametrize("number", [0, 1])
def test_status_json_names_the_subaccount_the_trade_loops_heartbeat_names(
    tmp_path: Path, number: int
) -> None:
    """`kalshi trade --subaccount N` beats with `subaccount: N` (runner/loop/trade_loop.py);
    `kalshi status --json` names it as `loop_subaccount`, subaccount 0 (the primary, a loop without
    `--subaccount`) too."""
    document = status_json(tmp_path, "trade", {"ticks": 3, "subaccount": number})
    assert document == {
        "state": "ACTIVE",
        "reason": document["reason"],
        "source": document["source"],
        "since": document["since"],
        "state_file": str(tmp_path / "state.db"),
        "open_orders": 0,
        "unknown_orders": 0,
        "last_heartbeat": "trade at 1767225600",
        "loop_subaccount": number,
        "loop_paused": False,
        "assignments": [],
        "history": document["history"],
    }


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("trade", {"ticks": 3}),  # a loop from before the heartbeat named its subaccount
        ("trade", {"subaccount": "1"}),  # not a subaccount number
        ("trade", {"subaccount": None}),
        ("dashboard", {"subaccount": 1}),  # not the trade loop's heartbeat
    ],
    ids=["unnamed", "text", "null", "other-source"],
)
def test_status_json_names_no_loop_subaccount_without_a_trade_heartbeat_naming_one(
    tmp_path: Path, source: str, detail: dict[str, Any]
) -> None:
    document = status_json(tmp_path, source, detail)
    assert document["last_heartbeat"] == f"{source} at 1767225600"
    assert "loop_subaccount" not in document
