"""A stop whose own call fails with what no answer should be (a bug below the client, an
exception the client does not map) still withdraws the loop's quotes and proves it before the
run ends as the crash it is. On the old code a trigger of the session's order group raising
so ended the stop at once: no cancel, no proof, and the quotes rested with nobody to manage
them."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import Held, Rig, make_rig, swap_decide
from tests.runner.lifecycle.test_shutdown_unknown import RISK, _lose_next_create
from tests.runner.test_strategies_share_a_loop import MM, Recorder, _order, _resting_of, _rig
from tests.runner.test_strategy_scenarios import Mover


def _a_bug(group: str = "", *, exchange_index: int | None = None) -> None:
    raise RuntimeError("a bug below the client")


def quoting_in_a_group(tmp_path: Path) -> Rig:
    """A loop whose quote rests, in the session's order group."""
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41")), MM)
    rig.step(1.0)
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.41")]
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {0: group}
    return rig


def test_a_trigger_that_raises_leaves_no_quote_resting(tmp_path: Path) -> None:
    rig = quoting_in_a_group(tmp_path)
    rig.loop.stop.trigger_group = _a_bug
    with pytest.raises(RuntimeError, match="a bug below the client"):
        rig.loop.stop.shutdown(cancel_resting=True)
    assert _resting_of(rig, MM) == []
    assert rig.loop.log.counts.get("stop_withdrawal_failed") == 1
    assert rig.loop.log.counts.get("stop_proven") == 1


def test_a_trigger_that_raises_proves_nothing_of_an_order_still_in_the_network(
    tmp_path: Path,
) -> None:
    """The session's group was never triggered when its trigger raised, so nothing refuses an
    order of the loop's that lands after the stop: one still in the network, which the proving
    listing does not show, is named as not proven gone (the group would have refused it)."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {0: group}
    rig.loop.stop.trigger_group = _a_bug
    coid = _lose_next_create(rig, Held(10_000.0))
    with pytest.raises(RuntimeError, match="a bug below the client"):
        rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.loop.stop.not_proven == (coid,)
    assert rig.loop.log.counts.get("stop_not_proven") == 1
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"] == []


def test_a_stop_given_up_after_its_trigger_raised_still_ends_as_the_crash(
    tmp_path: Path,
) -> None:
    """The person presses Ctrl-C again just as the trigger raises: the stop is given up (its
    quote named, not proven gone), and the run still ends as the crash it is, never as a stop
    that only left orders behind."""
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41")), MM)
    rig.step(1.0)
    (quote,) = _resting_of(rig, MM)
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {0: group}
    abandon = threading.Event()

    def interrupted_then_a_bug(group: str, *, exchange_index: int | None = None) -> None:
        abandon.set()
        _a_bug()

    rig.loop.stop.trigger_group = interrupted_then_a_bug
    with pytest.raises(RuntimeError, match="a bug below the client"):
        rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert rig.loop.log.counts.get("stop_withdrawal_failed") == 1
    assert rig.loop.log.counts.get("shutdown_abandoned") == 1
    assert rig.loop.stop.not_proven == (quote.order_id,)
