"""An emptied state file is never silently rebuilt: HALTED and the day's breaker trip must not be
forgotten by the next command, so every command that opens it refuses with one line that names
the file and says what to do, exit 17, and nothing is sent to the exchange."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path

PLACE = ("order", "place", "KXT-EV-M00", "--side", "yes", "--action", "buy")
PLACE_FLAGS = ("--count", "2", "--price", "0.40")

COMMANDS = [
    (*PLACE, *PLACE_FLAGS),
    ("halt",),
    ("resume",),
    ("status",),
    ("reconcile",),
    ("order", "list"),
    ("positions",),
    ("state", "migrate"),
    ("trade", "--strategy", "spike", "--once"),
]


def halted_with_a_breaker_trip_then_emptied(path: Path) -> None:
    with Store.open(path) as store:
        store.trading.set_trading_state(
            "HALTED", reason="kill switch (all markets)", source="cancel-all"
        )
        store.trading.record_risk_trip(
            rule="daily_loss", code="daily_loss_limit", detail="-$250.00"
        )
    path.write_bytes(b"")  # a lost write, an editor, a bad copy: the file is there, empty


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_an_emptied_state_file_is_refused_not_rebuilt(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, args: tuple[str, ...]
) -> None:
    make_markets(prime, 1)
    path = state_path(tmp_path)
    halted_with_a_breaker_trip_then_emptied(path)

    result = kalshi(*args)

    assert result.exit_code == ExitCode.BAD_STATE_FILE, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1
    assert str(path) in errors[0] and "is empty" in errors[0]
    assert "move this file aside" in errors[0]
    assert prime.stats()["order_create_requests"] == 0
    assert path.read_bytes() == b""
    # nothing of the state file's own is made beside it (no -wal, -shm or half-built copy);
    # `kalshi trade` takes its one-loop lock (docs/trade-loop.md) before it opens anything
    beside = {p.name for p in path.parent.iterdir()} - {"state.db.trade.lock"}
    assert beside == {"state.db"}


def test_a_foreign_database_where_the_state_file_should_be_is_refused(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    import sqlite3

    make_markets(prime, 1)
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()

    result = kalshi(*PLACE, *PLACE_FLAGS)

    assert result.exit_code == ExitCode.BAD_STATE_FILE, result.output
    assert str(path) in result.stderr and "another program" in result.stderr
    assert prime.stats()["order_create_requests"] == 0
    assert path.read_bytes() == before
