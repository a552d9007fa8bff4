"""`kalshi order place --dry-run` (and `order batch --dry-run`) judges the order against the
state file as it is: no catch-up of the account's fills and settlements (read and written only
for an order that goes out), no breaker trip or lift written; a trip the state file holds today
still refuses it, and the breaker's REDUCING of a day that is over does not (docs/orders.md)."""

from __future__ import annotations

import time
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import CircuitBreaker
from kalshi_cli.services.reconcile import CATCH_UP_CURSOR
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import BookSide
from tests.breaker_days import breaker_tripped, tripped_today
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, another_accounts_order, connect, make_markets, state_path

DRY_RUN = (
    "order", "place", "KXT-EV-M00", "--side", "yes", "--action", "buy", "--count", "1",
    "--price", "0.10", "--dry-run", "--json",
)  # fmt: skip


def _a_fill_not_brought_in(prime: SimHarness) -> str:
    """The one market, where the account has a fill no command has brought into the state
    file (what a catch-up would copy)."""
    (ticker,) = make_markets(prime, 1)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.60", 1)
    with connect(prime.account) as client:
        client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(1)))
    return ticker


def _nothing_brought_in(tmp_path: Path) -> None:
    with Store.open(state_path(tmp_path)) as store:
        assert store.fills.read() == []
        assert store.entries.get_kv(CATCH_UP_CURSOR) is None


def test_a_dry_run_copies_no_fill_and_moves_no_cursor(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    _a_fill_not_brought_in(prime)
    result = kalshi(*DRY_RUN)
    assert result.exit_code == 0, result.output
    _nothing_brought_in(tmp_path)


def test_a_batch_dry_run_copies_no_fill_and_moves_no_cursor(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    ticker = _a_fill_not_brought_in(prime)
    path = tmp_path / "orders.csv"
    path.write_text(f"ticker,side,action,count,price\n{ticker},yes,buy,1,0.10\n")
    result = kalshi("order", "batch", "--file", str(path), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    _nothing_brought_in(tmp_path)


def test_a_dry_run_on_a_day_the_breaker_tripped_is_refused(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    with Store.open(state_path(tmp_path)) as store:
        tripped_today(store)
    refused = kalshi(*DRY_RUN)
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "daily circuit breaker tripped on" in refused.output


def test_a_dry_run_the_day_after_a_trip_goes_and_leaves_its_reducing_unwritten(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    with Store.open(state_path(tmp_path)) as store:
        breaker_tripped(store, utc_day(time.time() - 86_400))
    result = kalshi(*DRY_RUN)
    assert result.exit_code == 0, result.output
    with Store.open(state_path(tmp_path)) as store:
        row = store.trading.trading_state()
        assert (row.state, row.source) == ("REDUCING", CircuitBreaker.RULE)
