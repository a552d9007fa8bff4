"""A breach whose scope only narrows and comes back is one message, not one per cron run.

A WARNING on KXFLA-1 stays a WARNING throughout; KXFLA-2 moves between 75% and 85% of the
limit (a market maker's inventory near the warn line). Every move changes the scope
("KXFLA-1, KXFLA-2" <-> "KXFLA-1"), and every change, narrowing included, is posted at once,
bypassing `repeat_interval_s`: one message per cron run for a breach that never widened beyond
what the person was already told. Now a shrink waits for the repeat interval and a return to the
scope last delivered is not news; a breach that really moves is still posted at once."""

from __future__ import annotations

from pathlib import Path

from tests.alerts.receiver import Receiver
from tests.checks.test_check_alert_scope import (  # noqa: F401  (fixtures)
    configure,
    fired,
    sim,
    trade,
)
from tests.checks.test_check_cli import account_env, check
from tests.conftest import SimHarness

OK, WARNING = 0, 1


def test_a_scope_that_narrows_and_returns_is_not_a_message_per_run(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    sim.create_market("KXFLA-1")
    sim.create_market("KXFLA-2")
    trade(sim, "KXFLA-1", 85)
    trade(sim, "KXFLA-2", 85)
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    assert check(tmp_path, "positions", environ=env).exit_code == WARNING  # "KXFLA-1, KXFLA-2"
    for _ in range(3):
        trade(sim, "KXFLA-2", 10, sell=True)  # 75%: the scope narrows to KXFLA-1
        assert check(tmp_path, "positions", environ=env).exit_code == WARNING
        trade(sim, "KXFLA-2", 10)  # 85% again: back to what was first posted
        assert check(tmp_path, "positions", environ=env).exit_code == WARNING
    # one steady WARNING, never wider than its first message
    assert len(receiver.posts) <= 2, [
        (p["summary"], p["details"].get("previously")) for p in receiver.posts
    ]


def test_a_warning_that_moves_to_another_market_is_posted_at_once(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    sim.create_market("KXFLA-1")
    sim.create_market("KXFLA-2")
    trade(sim, "KXFLA-1", 85)
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    assert check(tmp_path, "positions", environ=env).exit_code == WARNING  # "KXFLA-1"
    trade(sim, "KXFLA-2", 85)
    trade(sim, "KXFLA-1", 10, sell=True)  # KXFLA-1 at 75%, KXFLA-2 at 85%: it moved
    assert check(tmp_path, "positions", environ=env).exit_code == WARNING
    assert fired(receiver) == [("firing", "check:positions")] * 2
    moved = receiver.posts[1]
    assert moved["summary"].startswith("1 market at 80% of the limit or more: KXFLA-2 85/100")
    assert moved["details"]["previously"] == "KXFLA-1"
    configure(tmp_path, receiver, limit=1000)
    assert check(tmp_path, "positions", environ=env).exit_code == OK
    assert fired(receiver)[2:] == [("resolved", "check:positions")]
