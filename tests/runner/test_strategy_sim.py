"""Each strategy as `kalshi trade` on the real simulator, on a book moved to trigger it.

The pairs built not to trigger (and arbitrage, whose crossed book a matching engine never holds)
run on the in-process fakes in test_strategy_scenarios.py; here one run per strategy shows the
whole path, WebSocket feed to order on the exchange, does what the fakes say. The book is a
second account's orders; the loop runs until its order is in the log, then gets SIGTERM.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from tests.waiting import pause, poll_until

TICKER = "KXSTRATSIM-SIM-A"


def _spike(book: Book) -> Callable[[], None]:
    moved: list[Any] = []

    def step() -> None:
        if not moved:
            moved.append(True)
            book.quote("0.59", "0.61")  # mid 0.50 -> 0.60
        pause()

    return step


def _mean_reversion(book: Book) -> Callable[[], None]:
    # the mid alternates 0.50 / 0.505 (each change a mid sample), then jumps to 0.56
    changes = [0]

    def step() -> None:
        i = changes[0]
        changes[0] += 1
        if i < 30:
            book.set("extra", BookSide.BID if i % 2 == 0 else None, "0.50")
        elif i == 30:
            book.set("extra", None)
            book.quote("0.55", "0.57")
        else:
            pause()

    return step


def _market_maker(book: Book) -> Callable[[], None]:
    return pause  # the two-sided book is enough


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "script"),
    [("spike", _spike), ("mean-reversion", _mean_reversion), ("market-maker", _market_maker)],
)
def test_strategy_places_its_order_on_the_simulator(
    sim: SimHarness, tmp_path: Path, strategy: str, script: Callable[[Book], Callable[[], None]]
) -> None:
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    book = Book(other, TICKER)
    book.quote("0.49", "0.51")
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    command = trade_command(strategy, TICKER, log, "--duration", "60")
    with trade_process(command, trade_env(trader, tmp_path / "home", state)) as proc, other:

        def logged(event: str) -> Callable[[], bool]:
            return lambda: (
                any(e["event"] == event for e in log_events(log)) or (proc.poll() is not None)
            )

        def decided() -> bool:
            return proc.poll() is not None or any(
                e["event"] == "heartbeat" and e["decisions"] for e in log_events(log)
            )

        assert poll_until(logged("feed_fresh")) and proc.poll() is None
        # the book moves only once the loop has decided on it as it stands: to a loop that
        # first looks after the move, the moved book is where the market started
        assert poll_until(decided) and proc.poll() is None
        assert poll_until(logged("order_placed"), between=script(book)) and proc.poll() is None
        err = stop(proc)
    assert proc.returncode == 0, err[-2000:]
    placed = [e for e in log_events(log) if e["event"] == "order_placed"]
    assert placed[0]["strategy"] == strategy
    assert str(placed[0]["reason"]).startswith(strategy)
    with Store.open(state) as store:
        intents = [i for i in store.orders.intents() if i.ticker == TICKER]
    assert intents and all(i.strategy == strategy for i in intents)
    assert all(i.order_id for i in intents if i.status != "rejected")
