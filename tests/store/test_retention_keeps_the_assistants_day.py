"""Retention keeps what the assistant's budget of the day reads (agent/ledger.py): its orders
placed or amended since the start of the UTC day, whatever their age says, so placing and
cancelling cannot bring the day's count of orders back down. Once the day is over they go as
any other order; another strategy's orders go as they always did."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.agent.ledger import day_orders, spent_today
from kalshi_cli.store import FillRecord, IntentRecord, RetentionPolicy, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.units import Action, BookSide, Side

MIDNIGHT = 1_700_006_400.0  # 2023-11-15 00:00 UTC
HOUR = 3_600.0
DAY = 86_400.0
ASSISTANT = "desk-assistant"  # the config's `agent.strategy`, not its default
# the defaults (a canceled order with nothing filled goes after 2 h), and filled ones after 1 h
POLICY = RetentionPolicy(pause_s=0, filled_orders_s=HOUR)


def resting(store: Store, coid: str, strategy: str | None) -> None:
    store.orders.record_intent(
        IntentRecord(
            coid, "KXTEST-1", BookSide.BID, D("0.40"), D(3), Side.YES, Action.BUY, strategy=strategy
        )
    )
    store.orders.mark_sent(
        coid, order_id=f"o-{coid}", status="resting", fill_count=D(0), remaining_count=D(3)
    )


def cancel(store: Store, coid: str, *, filled: int = 0) -> None:
    if filled:
        store.fills.record_fill(
            FillRecord(
                f"f-{coid}", f"o-{coid}", coid, "KXTEST-1", BookSide.BID, D("0.40"), D(filled),
                D("0.0168"), True, store.clock.wall(), strategy=ASSISTANT,
            )
        )  # fmt: skip
    store.orders.update_order(
        order_id=f"o-{coid}", status="canceled", fill_count=D(filled), remaining_count=D(0)
    )


def amend(store: Store, coid: str) -> None:
    with store.transaction():
        sent = store.orders.write_amend(f"o-{coid}", price=D("0.41"), rest=D(3), post_only=None)
    assert sent is not None
    store.orders.settle_amend(sent.id)


def prune(store: Store) -> set[str]:
    """The orders left after a prune by POLICY."""
    store.retention.prune(POLICY, agent_strategy=ASSISTANT)
    return {i.client_order_id for i in store.orders.intents()}


def test_the_assistants_orders_of_today_outlive_their_age_until_the_day_is_over(
    tmp_path: Path,
) -> None:
    clock = ManualClock(MIDNIGHT - HOUR)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        resting(store, "amended", ASSISTANT)  # placed yesterday, amended today
        resting(store, "yesterday", ASSISTANT)
        cancel(store, "yesterday")
        clock.advance(2 * HOUR)  # 01:00 UTC
        amend(store, "amended")
        cancel(store, "amended")
        # another strategy's, and one under the default name the config gave to none
        others = {"quote": "mm", "default-name": AGENT}
        for coid, strategy in {"placed": ASSISTANT, "filled": ASSISTANT, **others}.items():
            resting(store, coid, strategy)
            cancel(store, coid, filled=1 if coid == "filled" else 0)
        spent = spent_today(store, ASSISTANT, {})
        assert (spent.orders, spent.contracts) == (2, 1)

        clock.advance(2 * HOUR + 1)  # every order past its age
        kept = prune(store)
        assert spent_today(store, ASSISTANT, {}) == spent
        assert kept == {"amended", "placed", "filled"}
        assert [(i.client_order_id, placed) for i, placed in day_orders(store, ASSISTANT)] == [
            ("amended", False),
            ("placed", True),
            ("filled", True),
        ]

        clock.advance(DAY)  # the next UTC day: nothing of them is read any more
        assert prune(store) == set()


def test_the_day_kept_starts_at_midnight_utc_and_an_order_of_no_strategy_is_nobodys(
    tmp_path: Path,
) -> None:
    """The assistant's order placed at 00:00:00 UTC exactly is placed in the day (its budget
    counts it as one of the day's orders) and stays; one placed half a second before goes once
    past its age. An order placed by hand names no strategy: it is not the assistant's, and
    goes as any other."""
    clock = ManualClock(MIDNIGHT - 0.5)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        resting(store, "before", ASSISTANT)
        cancel(store, "before")
        clock.advance(0.5)
        for coid, strategy in (("midnight", ASSISTANT), ("by-hand", None)):
            resting(store, coid, strategy)
            cancel(store, coid)
        assert [(i.client_order_id, placed) for i, placed in day_orders(store, ASSISTANT)] == [
            ("midnight", True)  # placed in the day, so one of its orders
        ]

        clock.advance(2 * HOUR + 1)  # every order past its age
        assert prune(store) == {"midnight"}
