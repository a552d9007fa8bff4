"""Each strategy as `kalshi trade` on the real simulator, on a book moved to trigger it.

The pairs built not to trigger (and arbitrage, whose crossed book a matching engine never holds)
run on the in-process fakes in test_strategy_scenarios.py; here one run per strategy shows the
whole path, WebSocket feed to order on the exchange, does what the fakes say. The book is a
second account's orders; the loop runs until its order is in the log, then gets SIGTERM.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    stop,
    trade_command,
    trade_env,
    trade_process,
)
from tests.waiting import poll_until, wait_until

TICKER = "KXSTRATSIM-SIM-A"


# Each script moves the book to trigger its strategy, given the count of the loop's decisions on
# news so far (its heartbeats')


def _spike(book: Book, decisions: Callable[[], int]) -> None:
    book.quote("0.59", "0.61")  # mid 0.50 -> 0.60


# the mids mean-reversion needs before it trades (`min_samples`, 20 by default): each costs the
# test a heartbeat of the loop's (below), so the test's config asks for fewer. Even, so the last
# change leaves the mid at 0.50; with the start's mid and the jump's, 8 mids put the jump at
# z 2.63 (2.43 with one mid fewer), past `entry_z` (2.0), where each alternation is at most 1
MIN_SAMPLES = 6


def _mean_reversion(book: Book, decisions: Callable[[], int]) -> None:
    # The mid alternates 0.50 / 0.505 as many times as `min_samples`, then jumps to 0.56.
    # The loop samples the mid when it visits the market (docs/strategies.md): two changes
    # between its visits are one sample, and a loaded loop that saw fewer than `min_samples`
    # never traded. So each change waits until the loop has decided on news since it was made
    # (its heartbeat, once a second, counts its decisions).
    before = decisions()

    def decided_on(change: int) -> Callable[[], bool]:
        return lambda: decisions() >= before + change

    for i in range(1, MIN_SAMPLES + 1):
        book.set("extra", BookSide.BID if i % 2 else None, "0.50")
        wait_until(decided_on(i), f"the loop deciding on change {i}")
    book.set("extra", None)
    book.quote("0.55", "0.57")


def _market_maker(book: Book, decisions: Callable[[], int]) -> None:
    pass  # the two-sided book is enough


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "script"),
    [("spike", _spike), ("mean-reversion", _mean_reversion), ("market-maker", _market_maker)],
)
def test_strategy_places_its_order_on_the_simulator(
    sim: SimHarness,
    tmp_path: Path,
    strategy: str,
    script: Callable[[Book, Callable[[], int]], None],
) -> None:
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    book = Book(other, TICKER)
    book.quote("0.49", "0.51")
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"strategies:\n  mean-reversion:\n    min_samples: {MIN_SAMPLES}\n", encoding="utf-8"
    )
    # the test stops the loop once it placed: the duration only bounds one a failed test left
    command = trade_command(strategy, TICKER, log, "--duration", "900")
    with trade_process(command, trade_env(trader, home, state)) as proc, other:

        def logged(event: str) -> Callable[[], bool]:
            return lambda: (
                any(e["event"] == event for e in log_events(log)) or (proc.poll() is not None)
            )

        def decisions() -> int:
            """The loop's decisions on news so far, as its heartbeats count them; a process
            that exited makes no more, so then a count that ends every wait."""
            if proc.poll() is not None:
                return 1 << 30
            beats = [e["decisions"] for e in log_events(log) if e["event"] == "heartbeat"]
            return sum(n for n in beats if isinstance(n, int))

        assert poll_until(logged("feed_fresh")) and proc.poll() is None
        # the book moves only once the loop has decided on it as it stands: to a loop that
        # first looks after the move, the moved book is where the market started
        assert poll_until(decisions) and proc.poll() is None
        script(book, decisions)
        assert poll_until(logged("order_placed")) and proc.poll() is None
        err = stop(proc)
    assert proc.returncode == 0, err[-2000:]
    placed = [e for e in log_events(log) if e["event"] == "order_placed"]
    assert placed[0]["strategy"] == strategy
    assert str(placed[0]["reason"]).startswith(strategy)
    with Store.open(state) as store:
        intents = [i for i in store.orders.intents() if i.ticker == TICKER]
    assert intents and all(i.strategy == strategy for i in intents)
    assert all(i.order_id for i in intents if i.status != "rejected")
