"""The kill switch's proof against an order still in the network: an order whose answer was
lost (`unknown` in the state file) can land until LANDING_WINDOW_S after its failure, so an
empty listing before then proves nothing about it. `kalshi cancel-all` must not say "nothing
left" and exit 0 while such an order can still come to rest.

The order is held in the network by the simulator's `hold_request_s` fault while the
`kalshi order place` that sent it waits 0.3 s and exits 10 (outcome unknown)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.clock import ManualClock
from kalshi_cli.exit_codes import ExitCode
from kalshi_cli.killswitch import IN_FLIGHT_S, KillSwitch
from kalshi_cli.models import Action, BookSide, Order, Side
from kalshi_cli.store import IntentRecord, Store
from tests.conftest import SimHarness
from tests.orders.test_killswitch_details import TICKER, Cancels, Listings

from .conftest import Kalshi, make_markets, resting_count, state_path


def _place_held(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, ticker: str, hold_s: float
) -> str:
    """`kalshi order place` whose request is held `hold_s` in the network: exit 10, and the
    intent is `unknown`; returns its client order id."""
    prime.set_faults(hold_request_s=hold_s)
    placed = kalshi(
        "order",
        "place",
        ticker,
        "--side",
        "yes",
        "--action",
        "buy",
        "--count",
        "3",
        "--price",
        "0.40",
        KALSHI_TIMEOUT="0.3",
    )
    assert placed.exit_code == ExitCode.OUTCOME_UNKNOWN, placed.output
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.intents(status=["unknown"], ticker=ticker)
    return intent.client_order_id


def _wait_landed(client: KalshiClient, ticker: str, coid: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.find_order_by_client_id(coid, ticker) is None:
        assert time.monotonic() < deadline, f"order {coid} never reached the exchange"
        time.sleep(0.05)


def test_cancel_all_does_not_prove_while_an_unknown_order_can_still_land(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """On the old code the proof took the empty listing at once (only a `pending` intent held
    it back), exit 0 `proven`, and the order landed 4 s later and rested."""
    (ticker,) = make_markets(prime, 1, event="KXLATE")
    coid = _place_held(prime, kalshi, tmp_path, ticker, 4.0)
    with Store.open(state_path(tmp_path)) as store:
        intent = store.get_intent(coid)
        assert intent is not None and intent.status == "unknown"

    result = kalshi("cancel-all", "--yes", "--json")

    report = json.loads(result.stdout)
    _wait_landed(client, ticker, coid, 30)
    still = resting_count(client, ticker=ticker)
    # a proof is a promise that nothing rests: it must hold once the order has landed
    assert not (report["proven"] and still), f"proven, yet {still} order(s) rest: {report}"
    assert result.exit_code == 0 and report["proven"] is True, result.output
    assert still == 0


# ------------------------------------------------------------------ on the kill switch alone
# `KillSwitch._may_still_land`, on a ManualClock with a fake exchange: what holds the proof back

WAITING = "order(s) whose answer was lost may still land"


def _lost(store: Store, coid: str, ticker: str = TICKER) -> None:
    store.record_intent(
        IntentRecord(coid, ticker, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES, Action.BUY)
    )
    store.mark_unknown(coid, reason="no answer within 10s")


def _lands(coid: str) -> Order:
    return Order.from_api(
        {
            "order_id": "late-1",
            "client_order_id": coid,
            "ticker": TICKER,
            "book_side": "bid",
            "status": "resting",
            "yes_price_dollars": "0.2000",
            "remaining_count_fp": "2.00",
            "created_time": "2026-11-22T10:00:00Z",
        }
    )


class LandsOnListing(Cancels):
    """Lists nothing until listing `n`, from which the order `order` rests until cancelled."""

    def __init__(self, order: Order, n: int) -> None:
        super().__init__()
        self.order, self.n, self.listings = order, n, 0

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        if self.listings == self.n:
            self.orders.append(self.order)
        yield from list(self.orders)


def test_an_unknown_order_holds_the_proof_until_it_can_no_longer_land(tmp_path: Path) -> None:
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        _lost(store, "lost-1")
        marked = clock.wall()
        clock.advance(LANDING_WINDOW_S - 15)
        report = KillSwitch(Listings(), store, clock, deadline_s=10).run(ticker=TICKER)
        assert not report.proven, "it could still land within this run"
        assert any(e.startswith(f"1 {WAITING}") for e in report.errors), report.errors
        clock.advance(marked + LANDING_WINDOW_S - clock.wall())
        # exactly the window after it was marked: an empty listing is the proof again, at the
        # first listing (a crash's leftover unknown row does not hold every later kill switch
        # back)
        later = KillSwitch(Listings(), store, clock, deadline_s=10, read_lag_s=0)
        started = clock.monotonic()
        assert later.run(ticker=TICKER).proven
        assert clock.monotonic() == started, "proven without a pause"


def test_an_unknown_order_a_listing_showed_is_cancelled_and_no_longer_holds_it(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        _lost(store, "lost-1")
        exchange = LandsOnListing(_lands("lost-1"), 3)

        report = KillSwitch(exchange, store, clock, deadline_s=30, read_lag_s=0).run(ticker=TICKER)

        assert report.proven and report.cancelled == ["late-1"]
        assert exchange.orders == []
        assert clock.monotonic() < LANDING_WINDOW_S, "done once it was seen, not at the window"


def test_an_unknown_order_of_another_market_does_not_hold_a_scoped_proof(tmp_path: Path) -> None:
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        _lost(store, "elsewhere-1", ticker="KXOTHER-M00")
        report = KillSwitch(Listings(), store, clock, deadline_s=10, read_lag_s=0).run(
            ticker=TICKER
        )
        assert report.proven


def test_a_pending_row_of_a_process_killed_mid_request_holds_the_proof_until_it_cannot_land(
    tmp_path: Path,
) -> None:
    """A `pending` row whose process was killed while its request was in the network: the
    request was signed after the row was written (the rate limiter may have made it wait), so
    it can land until LANDING_WINDOW_S after the row, not only the 30 s the old code gave it."""
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        store.record_intent(
            IntentRecord(
                "killed-1", TICKER, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES, Action.BUY
            )
        )
        clock.advance(LANDING_WINDOW_S - 5)
        report = KillSwitch(Listings(), store, clock, deadline_s=3, read_lag_s=0).run(ticker=TICKER)
        assert not report.proven, "its request may still land"
        assert IN_FLIGHT_S >= LANDING_WINDOW_S
