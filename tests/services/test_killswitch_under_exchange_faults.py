"""The kill switch under faults: a thousand resting orders, injected 5xx and 429, an exchange
that cannot be reached, and a trade loop stand-in that must stop placing once HALTED."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import TradingHaltedError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import (
    Kalshi,
    another_accounts_order,
    connect,
    make_markets,
    resting_count,
    seed_resting,
    state_path,
)
from tests.services.test_killswitch_cancels_and_wiring import OneOrderStuck
from tests.waiting import wait_until


def test_a_thousand_orders_under_5xx_and_429_all_cancelled_exit_0(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 20)
    assert seed_resting(prime, tickers, 50) == 1000
    prime.set_faults(http_5xx_rate=0.2, http_429_rate=0.2, seed=7)

    result = kalshi("cancel-all", "--yes", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["proven"] is True
    assert report["left_count"] == 0
    assert report["cancelled_count"] == 1000
    prime.clear_faults()
    assert resting_count(client) == 0
    with Store.open(state_path(tmp_path)) as store:
        assert store.trading.trading_state().state == "HALTED"


def test_event_scope_cancels_in_batches_under_faults_and_leaves_other_events(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    target = make_markets(prime, 10, event="KXT-A")
    other = make_markets(prime, 2, event="KXT-B")
    seed_resting(prime, target, 50)
    seed_resting(prime, other, 5)
    prime.set_faults(http_5xx_rate=0.2, http_429_rate=0.2, seed=11)

    result = kalshi("cancel-all", "--event", "KXT-A", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["proven"] and report["cancelled_count"] == 500
    prime.clear_faults()
    assert resting_count(client, event_ticker="KXT-A") == 0
    assert resting_count(client, event_ticker="KXT-B") == 10
    # the same for one market
    alias = kalshi("cancel-all", "--ticker", other[0])
    assert alias.exit_code == 0, alias.output
    assert "PROVEN: no resting order left" in alias.stdout
    assert "minute after" not in alias.stdout  # batched cancels: no exchange cancel-all
    assert resting_count(client) == 5
    # every market: the exchange's cancel-all, and the warning of its minute-long sweep
    everything = kalshi("cancel-all")
    assert everything.exit_code == 0, everything.output
    assert (
        "note: the exchange's cancel-all may also cancel orders placed in the minute after it; "
        "trading stays HALTED until `kalshi resume`"
    ) in everything.stdout


def test_exchange_unreachable_exits_not_proven_and_says_so(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    result = kalshi(
        "cancel-all",
        "--deadline",
        "1",
        KALSHI_API_BASE="http://127.0.0.1:9/trade-api/v2",
        KALSHI_TIMEOUT="0.5",
    )
    assert result.exit_code == ExitCode.NOT_PROVEN
    assert "NOT PROVEN: the exchange could not be reached" in result.stdout
    # HALTED was still written first, on a machine that had no state file
    unreachable = state_path(tmp_path, KALSHI_API_BASE="http://127.0.0.1:9/trade-api/v2")
    with Store.open(unreachable) as store:
        assert store.trading.trading_state().state == "HALTED"


def test_a_running_trade_loop_sees_halted_and_places_nothing_more(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    db = tmp_path / "loop.db"
    Store.open(db).close()
    placed: list[str] = []
    refused = threading.Event()
    failures: list[BaseException] = []

    def trade_loop() -> None:
        # its own client and its own connection to the state file, as another process would
        try:
            with connect(prime.account) as own, Store.open(db) as own_store:
                service = OrderService(own, own_store)
                for i in range(10_000):
                    request = OrderRequest(
                        ticker,
                        Side.YES,
                        Action.BUY,
                        Decimal(1),
                        Decimal("0.20") + Decimal(i % 5) / 100,
                    )
                    try:
                        outcome = service.place(service.prepare(request))
                    except TradingHaltedError:
                        refused.set()
                        return
                    placed.append(outcome.client_order_id)
        except BaseException as exc:
            failures.append(exc)

    loop = threading.Thread(target=trade_loop)
    loop.start()
    wait_until(
        lambda: len(placed) >= 20 or not loop.is_alive(),
        lambda: f"the trade loop to place 20 orders (placed {len(placed)}, {failures})",
        between=lambda: loop.join(0.01),
    )
    assert len(placed) >= 20, failures

    with Store.open(db) as store:
        report = KillSwitch(client, store, SystemClock(), deadline_s=20).run()
    loop.join(10)

    assert not failures
    assert refused.is_set() and not loop.is_alive()
    assert report.proven
    count_at_proof = len(placed)
    assert resting_count(client) == 0
    assert len(placed) == count_at_proof
    with Store.open(db) as store:
        assert store.trading.trading_state().state == "HALTED"


def test_reconcile_corrects_rows_the_kill_switch_marked_after_fills_it_did_not_see(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    mine = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, Decimal(10), Decimal("0.30")))
    )
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 4)

    report = KillSwitch(client, store, SystemClock(), deadline_s=20).run()
    assert report.proven and report.cancelled == [mine.order_id]
    row = store.orders.get_intent(mine.client_order_id)
    assert row is not None
    assert (row.status, row.filled) == ("canceled", 0)  # the fills are not known here yet

    first = service.reconcile()
    assert first.orders_updated == [mine.order_id] and first.fills_added == 1
    row = store.orders.get_intent(mine.client_order_id)
    assert row is not None
    assert (row.status, row.filled, row.remaining) == ("canceled", 4, 0)
    assert not service.reconcile().changed


class CountedOneOrderStuck(OneOrderStuck):
    """`OneOrderStuck`, failing the test once it has been listed 500 times."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        assert self.listings < 500, "the proof loop does not back off"
        yield from super().iter_orders(**filters)


def test_an_order_that_cannot_be_cancelled_is_retried_with_backoff_until_the_deadline(
    store: Store,
) -> None:
    exchange = CountedOneOrderStuck()
    clock = ManualClock()
    switch = KillSwitch(exchange, store, clock, deadline_s=30, rng=random.Random(1))
    report = switch.run(ticker="KXT-EV-M00")
    assert not report.proven and report.left == ["stuck-1"]
    assert clock.monotonic() >= 29
    assert exchange.listings < 100


def test_reconcile_adds_up_every_fill_of_a_row_the_kill_switch_marked_short(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    """4 filled and read, then 3 more just before the cancel-all: the row says 4 filled. The
    exchange's fills of the order add up to 7, though neither of them is more than 4."""
    mine = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, Decimal(10), Decimal("0.30")))
    )
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 4)
    service.reconcile()
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 3)

    assert KillSwitch(client, store, SystemClock(), deadline_s=20).run().proven
    row = store.orders.get_intent(mine.client_order_id)
    assert row is not None and (row.status, row.filled) == ("canceled", 4)

    assert service.reconcile().orders_updated == [mine.order_id]
    row = store.orders.get_intent(mine.client_order_id)
    assert row is not None and (row.status, row.filled, row.remaining) == ("canceled", 7, 0)
