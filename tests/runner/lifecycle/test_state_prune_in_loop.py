"""`kalshi trade` prunes its state file in the background by the `retention:` policy: an aged
finished order goes while the loop quotes on, the loop's own resting quotes stay, the assistant's
orders of the day (`agent.strategy`'s) stay whatever their age, and a dry run or a `--once` run
leaves the file as it found it."""

from __future__ import annotations

import threading
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.runner.config import StrategyChoice, TradeOptions
from kalshi_cli.runner.lifecycle.running import run
from kalshi_cli.runner.lifecycle.state_prune import BackgroundPrune
from kalshi_cli.store import IntentRecord, RetentionPolicy, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import START, Rig, make_rig
from tests.waiting import poll_until

POLICY = RetentionPolicy(interval_s=0.05, pause_s=0)
HOUR = 3_600.0


def old_canceled_order(
    path: Path, at: float = START - 3 * HOUR, coid: str = "old", strategy: str | None = None
) -> str:
    """A canceled order written at `at` (by default three hours before the loop's clock starts)."""
    with Store.open(path, clock=ManualClock(at)) as store:
        store.orders.record_intent(
            IntentRecord(
                coid, "X", BookSide.BID, D("0.40"), D(1), Side.YES, Action.BUY, strategy=strategy
            )
        )
        store.orders.mark_sent(
            coid, order_id=f"o-{coid}", status="canceled", fill_count=D(0), remaining_count=D(0)
        )
    return coid


def pruned_events(path: Path) -> int:
    store = Store.open_readonly(path)
    assert store is not None
    with store:
        return store.entries.count("state_pruned")


def run_until_pruned(rig: Rig, path: Path, agent_strategy: str = AGENT) -> None:
    """Run the market maker's loop until its background prune has run."""
    stop = threading.Event()

    def stop_once_pruned() -> None:
        # on this thread a failure would go unseen: the assertions after `run` tell
        poll_until(lambda: pruned_events(path))
        stop.set()

    watcher = threading.Thread(target=stop_once_pruned)
    watcher.start()
    options = TradeOptions(strategies=(StrategyChoice("market-maker"),), duration_s=None)
    run(rig.loop, options, stop=stop, retention=POLICY, agent_strategy=agent_strategy)
    watcher.join()
    assert pruned_events(path) >= 1


def test_the_loop_prunes_an_aged_order_in_the_background_and_quotes_on(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    old = old_canceled_order(path)
    rig = make_rig(path, strategy="market-maker")
    rig.step(0.1)
    quotes = {i.client_order_id for i in rig.store.orders.open_orders()}
    assert quotes, "the market maker rests quotes"
    run_until_pruned(rig, path)
    assert rig.store.orders.get_intent(old) is None
    # its quotes, canceled as it stopped, are in their window: still in the file
    assert quotes <= {i.client_order_id for i in rig.store.orders.intents()}


def test_the_loops_prune_keeps_the_assistants_orders_of_the_day(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    # 01:00 UTC, three hours before the loop's clock: past `unfilled_orders_s`, but today
    placed = old_canceled_order(path, START + HOUR, "assistant", "desk-assistant")
    other = old_canceled_order(path, START + HOUR, "default-name", AGENT)
    rig = make_rig(path, strategy="market-maker", clock=ManualClock(START + 4 * HOUR))
    run_until_pruned(rig, path, agent_strategy="desk-assistant")
    assert rig.store.orders.get_intent(placed) is not None
    assert rig.store.orders.get_intent(other) is None


def test_a_dry_run_or_a_single_pass_prunes_nothing(tmp_path: Path) -> None:
    for options in (
        TradeOptions(strategies=(StrategyChoice("market-maker"),), once=True),
        TradeOptions(strategies=(StrategyChoice("market-maker"),), dry_run=True, max_ticks=200),
    ):
        path = tmp_path / f"{options.once}.db"
        old = old_canceled_order(path)
        rig = make_rig(path, strategy="market-maker", dry_run=options.dry_run)
        run(rig.loop, options, retention=POLICY, fresh_timeout_s=1)
        assert rig.store.orders.get_intent(old) is not None
        assert pruned_events(path) == 0


def test_a_failed_prune_is_kept_and_tried_again(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    pruner = BackgroundPrune(missing, POLICY, ManualClock(START), agent_strategy=AGENT)
    pruner.prune_once()
    assert pruner.problem is not None and "gone.db" in pruner.problem
    assert pruner.runs == 0
    old_canceled_order(missing)
    pruner.prune_once()
    assert pruner.problem is None and pruner.runs == 1
    assert pruner.last is not None and pruner.last.removed["orders"] == 1
