"""What the state file saw done to an order group (`kalshi order-group show`'s "last action"):
kept per group, and a value the file holds that is no such record (written by hand, damaged) is
read as nothing, never a traceback, and is replaced by the next action noted."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.services.killswitch.order_groups import (
    ORDER_GROUP_ACTIONS_KEY,
    note_order_group_action,
    order_group_action,
)
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock


def test_each_group_keeps_its_last_action(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        assert order_group_action(store, "g1") is None
        note_order_group_action(store, "g1", "triggered", "kalshi order-group trigger")
        clock.advance(5)
        note_order_group_action(store, "g2", "reset", "kalshi order-group reset")
        note_order_group_action(store, "g1", "reset", "kalshi order-group reset")
        assert order_group_action(store, "g1") == {
            "action": "reset",
            "at": 1_700_000_005.0,
            "by": "kalshi order-group reset",
        }
        assert order_group_action(store, "g2") is not None


@pytest.mark.parametrize("held", ["[]", '["g1"]', "7", '"g1"', "not json"])
def test_a_value_that_is_no_record_of_actions_reads_as_none(tmp_path: Path, held: str) -> None:
    with Store.open(tmp_path / "s.db", clock=ManualClock()) as store:
        store.entries.set_kv(ORDER_GROUP_ACTIONS_KEY, held)
        assert order_group_action(store, "g1") is None
        note_order_group_action(store, "g1", "triggered", "kalshi order-group trigger")
        action = order_group_action(store, "g1")
        assert action is not None and action["action"] == "triggered"
