"""What the trade loop remembers of its own orders and fills stays within `MAX_REMEMBERED`
however many it places (a loop runs for weeks), and forgetting costs nothing but memory: a
fill of an order the loop no longer remembers is still its strategy's, read from the state
file. The bound is made small here so a short run passes it many times over."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.runner.execution import fills
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Cancel
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.execution.test_requote_amends import LAL, _quoted, _rig, _sell_into_the_quote
from tests.runner.fakes import START, make_rig, new_exchange

BOUND = 8


def test_the_loops_memory_of_its_orders_and_fills_stays_within_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fills, "MAX_REMEMBERED", BOUND)
    clock = ManualClock(START)
    rig = make_rig(
        tmp_path / "state.db",
        strategy="market-maker",
        exchange=new_exchange(clock=clock),
        clock=clock,
        risk={"max_orders_per_minute": 1_000_000, "max_total_exposure": "100000"},
    )
    executor = rig.loop.executor
    sent = executor.fills.sent
    remembered: set[str] = set()  # every order id the loop was told to remember
    forgotten_asked: set[str] = set()  # of those, the ones asked for after being forgotten
    remember, get = sent.remember, sent.get

    def spied_remember(order_id: str, what: fills.Sent) -> None:
        remembered.add(order_id)
        remember(order_id, what)

    def spied_get(order_id: str) -> fills.Sent | None:
        found: fills.Sent | None = get(order_id)
        if found is None and order_id in remembered:
            forgotten_asked.add(order_id)
        return found

    monkeypatch.setattr(sent, "remember", spied_remember)
    monkeypatch.setattr(sent, "get", spied_get)
    most_sent = most_applied = 0
    for _ in range(600):
        rig.step(1.0)
        most_sent = max(most_sent, len(executor.fills.sent))
        applied = (executor.fills.applied._trades, executor.fills.applied._counts)
        most_applied = max(most_applied, *map(len, applied))
        if executor.counters.orders > 5 * BOUND and len(forgotten_asked) >= 3:
            break
    assert executor.counters.orders > 5 * BOUND, executor.counters
    assert len(forgotten_asked) >= 3, executor.counters  # fills of orders it forgot
    assert most_sent == BOUND
    assert most_applied == BOUND
    recorded = list(rig.store.fills.iter_fills())
    assert len(recorded) == executor.counters.fills
    # each still its strategy's, from the state file
    assert {f.strategy for f in recorded} == {"market-maker"}
    assert forgotten_asked <= {f.order_id for f in recorded}
    # a restart replays more fills than the loop remembers, and books none of them again
    rig.store.close()
    again = make_rig(
        tmp_path / "state.db",
        strategy="market-maker",
        exchange=rig.exchange,
        clock=clock,
        account_id=rig.client.account_id,
    )
    assert len(recorded) > BOUND
    assert again.loop.executor.fills.sync() == 0
    assert len(list(again.store.fills.iter_fills())) == len(recorded)


def test_the_orders_sent_longest_ago_are_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fills, "MAX_REMEMBERED", BOUND)
    sent = fills.SentOrders()
    for n in range(BOUND + 3):
        sent.remember(
            f"order-{n}",
            fills.Sent(f"c-{n}", Side.YES, Action.BUY, Decimal("0.40"), Decimal("0.50"), "mm", n),
        )
    assert len(sent) == BOUND
    assert [f"order-{n}" in sent for n in range(BOUND + 3)] == [False] * 3 + [True] * BOUND


def test_an_order_amended_again_and_again_is_remembered_one_amend_back() -> None:
    """A quote the loop amends at every requote, for weeks: what it remembers of the order is
    its terms now and as they were before the last amend (for the fills made before it
    landed), never the chain of every earlier amend."""
    sent = fills.SentOrders()
    prices = [Decimal("0.40") + Decimal("0.01") * n for n in range(5)]
    terms = [
        fills.Sent("c", Side.YES, Action.BUY, p, Decimal("0.50"), "market-maker", float(n))
        for n, p in enumerate(prices)
    ]
    sent.remember("order", terms[0])
    for n, now in enumerate(terms[1:], start=1):
        sent.amend("order", now, landed=START + n)
    last = sent.get("order")
    assert last is not None and last.price == prices[-1]
    assert last.before is not None and last.before.price == prices[-2]
    assert last.before.before is None
    assert last.at(START + 4).price == prices[-1], "a fill made as the amend landed: its terms"
    assert last.at(START + 3.999).price == prices[-2]


def _held(part: object) -> int:
    """The entries of every dict, list and set `part` holds itself."""
    return sum(len(v) for v in vars(part).values() if isinstance(v, dict | list | set))


def test_orders_cancelled_before_their_fills_are_read_leave_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote that fills while its cancel is on the way is booked cancelled, then its fill is
    read: its row counts the fill, and the loop's fill bookkeeping holds no more over the last
    ten of thirty such orders than over the first ten (it kept a count for each of them, for
    the rest of the run)."""
    monkeypatch.setattr(fills, "MAX_REMEMBERED", BOUND)
    rig = _rig(tmp_path, max_position_per_market=1000)
    fill_sync = rig.loop.executor.fills
    held = []
    for n in range(30):
        order_id = _quoted(rig)
        _sell_into_the_quote(rig, Decimal(4))
        rig.loop.executor.cancels.cancel(Cancel(LAL, order_id, "a requote"))
        rig.step(61.0)  # past the window of fill ids kept against a read's margin
        row = rig.store.orders.intent_by_order_id(order_id)
        assert row is not None and (row.status, row.filled) == ("canceled", 4), n
        held.append(_held(fill_sync))
    assert rig.loop.portfolio.position(LAL) == 120
    assert max(held[-10:]) <= max(held[:10]), held
