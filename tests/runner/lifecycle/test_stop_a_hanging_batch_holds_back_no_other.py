"""A stop without an order group withdraws the loop's quotes in batch cancels, each within its
share of the withdrawal (`STOP_SHARES.batch_cancels`), as the kill switch's batches. A batch the
exchange never answers is cut at the end of its share: the later batches still go out, and the
quotes it left are cancelled one by one within the time the batches left, so the stop withdraws
every quote and proves it. Before, the batch cancel ran under the whole withdrawal's deadline: one
request that hung took all of it, and every later cancel, refused once the deadline had passed
(as the real client refuses them), left the quotes resting, not proven."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import ApiError, CutShortByDeadline, NotSentPastDeadline
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import BATCH_CANCEL_SIZE, Rig, swap_decide
from tests.runner.test_strategies_share_a_loop import MM, Recorder, _order, _resting_of, _rig
from tests.runner.test_strategy_scenarios import Mover

QUOTES = BATCH_CANCEL_SIZE + 3  # a second batch


def _as_the_client_sends(call: Callable[..., Any], sent: list[Any]) -> Callable[..., Any]:
    """`call` as the real client makes it (client/connection.py): not sent once the deadline it
    runs under has passed; each one sent is kept in `sent`."""

    def send(*args: Any, **kwargs: Any) -> Any:
        deadline = Deadline.current()
        if deadline is not None and deadline.passed():
            raise NotSentPastDeadline("not sent: its deadline had passed")
        sent.append(args)
        return call(*args, **kwargs)

    return send


def _first_batch_hangs(rig: Rig, call: Callable[..., Any], hung: list[float]) -> Callable[..., Any]:
    """The first batch cancel is never answered: it waits until the deadline it runs under cuts
    it (`CutShortByDeadline`, as the real client's); the time it held is kept in `hung`."""

    def send(*args: Any, **kwargs: Any) -> Any:
        if not hung:
            deadline = Deadline.current()
            assert deadline is not None  # the stop's calls run under its deadline
            hung.append(max(deadline.remaining(), 0.0))
            rig.clock.advance(hung[0])
            raise CutShortByDeadline("no answer: cut short by its deadline")
        return call(*args, **kwargs)

    return send


def _quoting(tmp_path: Path) -> Rig:
    rig = _rig(tmp_path, MM, read_lag_s=0.0)
    Mover(rig.exchange).quote("0.40", "0.45")
    prices = [f"0.{n:02d}" for n in range(2, 2 + QUOTES)]
    swap_decide(rig.loop, Recorder(*(_order(Side.YES, Action.BUY, p, "1") for p in prices)), MM)
    rig.step(1.0)
    assert len(_resting_of(rig, MM)) == QUOTES
    assert not rig.loop.executor.answers.order_groups  # no group: the batch cancels withdraw
    return rig


def test_a_batch_cancel_never_answered_holds_back_no_other_cancel_of_the_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = _quoting(tmp_path)
    batches: list[Any] = []
    one_by_one: list[Any] = []
    hung: list[float] = []
    client = rig.client
    batch = _first_batch_hangs(rig, _as_the_client_sends(client.batch_cancel, batches), hung)
    monkeypatch.setattr(client, "batch_cancel", batch)
    monkeypatch.setattr(
        client, "cancel_order", _as_the_client_sends(client.cancel_order, one_by_one)
    )
    monkeypatch.setattr(client, "iter_orders", _as_the_client_sends(client.iter_orders, []))
    stop_s = rig.loop.settings.stop_deadline_s
    began = rig.clock.monotonic()
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    # the hanging batch was cut at its share of the withdrawal, not at the withdrawal's end
    assert hung and hung[0] < STOP_SHARES.withdrawal * stop_s / 2
    assert len(batches) == 1  # the later batch went out after it
    assert len(one_by_one) == BATCH_CANCEL_SIZE  # what the hanging batch left, one by one
    assert _resting_of(rig, MM) == []
    assert summary.not_proven == ()
    assert rig.loop.log.counts.get("stop_proven") == 1
    assert rig.loop.log.counts.get("stop_batch_cancel_failed") == 1
    assert rig.clock.monotonic() - began <= stop_s


def test_a_batch_cancel_refused_whole_is_sent_again_one_order_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the exchange refuses whole (a 400: an item it cannot take) says nothing of the
    other orders in it: each is sent again in a batch of its own, within the batch's share, and
    the later batch goes out; none is left to the cancels one by one."""
    rig = _quoting(tmp_path)
    client = rig.client
    batches: list[int] = []
    batch_cancel = client.batch_cancel

    def first_refused(orders: list[tuple[str, str | None]], **kwargs: Any) -> Any:
        batches.append(len(orders))
        if len(batches) == 1:
            raise ApiError.from_response(400, {"code": "bad_request", "message": "refused"})
        return batch_cancel(orders, **kwargs)

    one_by_one: list[Any] = []
    monkeypatch.setattr(client, "batch_cancel", first_refused)
    monkeypatch.setattr(
        client, "cancel_order", _as_the_client_sends(client.cancel_order, one_by_one)
    )
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert batches == [BATCH_CANCEL_SIZE, *[1] * BATCH_CANCEL_SIZE, QUOTES - BATCH_CANCEL_SIZE]
    assert one_by_one == []
    assert _resting_of(rig, MM) == []
    assert summary.not_proven == ()
