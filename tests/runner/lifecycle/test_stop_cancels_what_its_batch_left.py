"""A stop without an order group withdraws the loop's quotes with one batch cancel. When that
batch is refused (the exchange failing, 503), the quotes it left resting are cancelled one by
one, side by side, within the stop's deadline: the stop still ends with none of them resting
and proves it, never with the quotes left resting for want of a second try."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import swap_decide
from tests.runner.test_strategies_share_a_loop import MM, Recorder, _order, _resting_of, _rig
from tests.runner.test_strategy_scenarios import Mover


# a read lag of none (a listing at once shows every order) and the loop's own (a listing asked
# within it is not trusted: every order is taken as still resting)
@pytest.mark.parametrize("read_lag_s", [0.0, None])
def test_quotes_a_refused_batch_cancel_left_resting_are_cancelled_one_by_one(
    tmp_path: Path, read_lag_s: float | None
) -> None:
    rig = _rig(tmp_path, MM, read_lag_s=read_lag_s)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41")), MM)
    rig.step(1.0)
    (quote,) = _resting_of(rig, MM)
    assert quote.yes_price == Decimal("0.41")
    assert not rig.loop.executor.answers.order_groups  # no group: the batch cancel withdraws
    rig.client.cancel_errors = [ServerError("batch refused", status=503)]
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.client.cancel_errors == []  # the batch was refused
    assert rig.loop.log.counts.get("stop_batch_cancel_failed") == 1
    assert _resting_of(rig, MM) == []
    assert summary.not_proven == ()
    assert rig.loop.log.counts.get("stop_proven") == 1
