"""An order the exchange accepted is placed, and a state file that cannot record the answer
does not unmake it: `kalshi order place` says it WAS PLACED, that the state file did not record
it and what to do, and exits 21 (STATE_WRITE_FAILED), as every command whose state file cannot
take a write does; never 1 (a bug)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_order_cli import place_args
from tests.conftest import SimHarness
from tests.fakes import StateFailsAfterWrite, Swapped
from tests.prime_tier import Kalshi, connect_as, make_markets, state_path


class LockAfterTheAnswer:
    """The state file's write lock taken by another connection (another process writing it)
    once the exchange has answered, and held until the test releases it; the command's wait
    for it (the busy timeout) is cut short so the test does not sit through ten seconds."""

    def __init__(self, prime: SimHarness, path: Path) -> None:
        self.prime, self.path = prime, path
        self.holders: list[sqlite3.Connection] = []

    def take(self) -> None:
        holder = sqlite3.connect(self.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        self.holders.append(holder)

    def client(self) -> Swapped[StateFailsAfterWrite]:
        failing = connect_as(StateFailsAfterWrite, self.prime.account)
        failing.area.fail = self.take
        return failing

    def release(self) -> None:
        for holder in self.holders:
            holder.rollback()
            holder.close()
        self.holders.clear()


@pytest.fixture
def locked(
    prime: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LockAfterTheAnswer]:
    monkeypatch.setattr("kalshi_cli.store.connection.BUSY_TIMEOUT_SECONDS", 0.2)
    lock = LockAfterTheAnswer(prime, state_path(tmp_path))
    yield lock
    lock.release()


def test_an_order_placed_that_the_state_file_cannot_record_exits_21_not_1(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, locked: LockAfterTheAnswer
) -> None:
    """Before: exit 1, which names a bug, for the machine's trouble that every other write
    of the state file exits 21 for."""
    make_markets(prime, 1)
    placed = kalshi(*place_args(client_order_id="c-1"), client=locked.client)
    assert placed.exit_code == ExitCode.STATE_WRITE_FAILED, placed.output
    (order,) = client.orders.iter_orders()
    assert placed.stderr.startswith(
        f"Error: order c-1 WAS PLACED (order id {order.order_id}, resting), but the state file "
        "could not record it: "
    ), placed.stderr
