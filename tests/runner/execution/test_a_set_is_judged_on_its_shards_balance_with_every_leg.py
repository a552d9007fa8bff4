"""A set's legs on one exchange shard pass its balance together or none is sent
(runner/execution/leg_sets.py): each leg is judged with the legs before it counted as resting, and
what they would commit on their shard counts against its balance (`SHARD_BALANCE`) as an order
on its way does. Judged alone, each leg fitted what the shard held; the first was bought, the
second denied for the shard's balance once the first had spent it, and the first sold back: a
spread and two fees lost on a set that could never be whole."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.runner.execution.shard_rig import on_shards
from tests.runner.execution.test_group_legs_keep_their_room import _leg
from tests.runner.fakes import Rig, quiet_market_maker

# the quiet scenario's books stand still: HOLD's YES ask is 0.62, CUT's 0.35 (one event's)
HOLD = "KXFEDDECISION-SIM-DEC-H0"
CUT = "KXFEDDECISION-SIM-DEC-C25"
ON_TWO = (HOLD, CUT)


@pytest.fixture
def shard_two(monkeypatch: pytest.MonkeyPatch) -> dict[str, Decimal]:
    """HOLD and CUT on shard 2, every other market on shard 0; the balance's breakdown puts
    `held["two"]` on shard 2 and the rest on shard 0."""
    return on_shards(monkeypatch, ON_TWO, alone=False)


@pytest.fixture
def one_shard(monkeypatch: pytest.MonkeyPatch) -> dict[str, Decimal]:
    """An account of one shard: every market on shard 0, the balance's breakdown lists shard 0
    alone, holding `held["two"]`, the whole balance."""
    return on_shards(monkeypatch, ON_TWO, alone=True)


def _events(log: Path, kind: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    return [e for e in lines if e.get("event") == kind]


def _pair(tmp_path: Path) -> tuple[Rig, Path]:
    log = tmp_path / "log.jsonl"
    rig = quiet_market_maker(tmp_path, risk={"min_edge": "0"}, log_path=log)
    # the loop's calls are made on its deciding thread: each leg is answered as it goes
    rig.loop.legs.execute([_leg(HOLD, "0.62"), _leg(CUT, "0.35")], last_data_at=rig.clock.wall())
    return rig, log


def test_a_set_whose_legs_together_cost_more_than_their_shard_holds_sends_none(
    tmp_path: Path, shard_two: dict[str, Decimal]
) -> None:
    """Shard 2 holds $8: HOLD's leg ($6.20 and its taker fee) and CUT's ($3.50 and its fee)
    each fit alone, not together. Nothing is sent, and the set is said dropped for it."""
    rig, log = _pair(tmp_path)
    assert rig.client.requests == []
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 0
    (dropped,) = _events(log, "group_dropped")
    assert (dropped["ticker"], dropped["reason"]) == (CUT, "a leg was denied by the risk engine")
    (denied,) = _events(log, "risk_denied")
    assert denied["code"] == "SHARD_BALANCE"
    assert denied["detail"].startswith(f"{CUT} trades on shard 2: the order needs $3.6"), denied
    assert _events(log, "group_broken") == []
    # the legs let go give back what they held apart: HOLD's alone fits the shard again
    assert rig.loop.executor.denials(_leg(HOLD, "0.62"), last_data_at=rig.clock.wall()) == []
    rig.loop.log.close()


def test_a_set_whose_legs_together_fit_their_shard_goes_whole(
    tmp_path: Path, shard_two: dict[str, Decimal]
) -> None:
    """Shard 2 holds $11: the pair fits, both legs go and the set ends whole."""
    shard_two["two"] = Decimal("11")
    rig, log = _pair(tmp_path)
    assert [r.ticker for r in rig.client.requests] == [HOLD, CUT]
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 10
    (done,) = _events(log, "group_done")
    assert done["status"] == "whole"
    rig.loop.log.close()


def test_a_set_whose_legs_together_cost_more_than_an_accounts_one_shard_holds_sends_none(
    tmp_path: Path, one_shard: dict[str, Decimal]
) -> None:
    """The balance lists one shard, holding $8: one shard is still a shard with a balance, and
    the loop has no balance check but its shard's. The pair, each leg fitting alone, is not
    started for the exchange to break it; the denial says no other shard holds the rest."""
    rig, log = _pair(tmp_path)
    assert rig.client.requests == []
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 0
    (dropped,) = _events(log, "group_dropped")
    assert (dropped["ticker"], dropped["reason"]) == (CUT, "a leg was denied by the risk engine")
    (denied,) = _events(log, "risk_denied")
    assert denied["code"] == "SHARD_BALANCE"
    assert denied["detail"].startswith(f"{CUT} trades on shard 0: the order needs $3.6"), denied
    assert "no other shard holds" in denied["detail"] and "fund shard 0" in denied["detail"]
    assert _events(log, "group_broken") == []
    rig.loop.log.close()
