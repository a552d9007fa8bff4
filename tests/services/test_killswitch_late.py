"""The kill switch's proof against an order still in the network: an order whose answer was
lost (`unknown` in the state file) can land until LANDING_WINDOW_S after its failure, so an
empty listing before then proves nothing about it. `kalshi cancel-all` must not say "nothing
left" and exit 0 while such an order can still come to rest.

The order is held in the network by the simulator's `hold_request_s` fault while the
`kalshi order place` that sent it waits half the hold and exits 10 (outcome unknown)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.records import IN_FLIGHT_S
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, resting_count, state_path
from tests.services.killswitch_fakes import resting_order
from tests.services.test_killswitch_cancels_and_wiring import TICKER, Cancels, Listings
from tests.services.test_killswitch_locked import lock_held
from tests.waiting import wait_until


def _place_held(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, ticker: str, hold_s: float
) -> str:
    """`kalshi order place` whose request is held `hold_s` in the network: exit 10, and the
    intent is `unknown`; returns its client order id. The client's deadline, half the hold, runs
    from its start and the hold from the request's arrival, so the answer is lost whenever the
    request arrived; and the client has that long to send it whole (a 0.3 s deadline could run
    out first on a loaded machine, and the order then never reached the exchange)."""
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
        KALSHI_TIMEOUT=str(hold_s / 2),
    )
    assert placed.exit_code == ExitCode.OUTCOME_UNKNOWN, placed.output
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.orders.intents(status=["unknown"], ticker=ticker)
    return intent.client_order_id


def _wait_landed(client: KalshiClient, ticker: str, coid: str) -> None:
    wait_until(
        lambda: client.orders.find_order_by_client_id(coid, ticker) is not None,
        f"order {coid} to reach the exchange",
    )


def test_cancel_all_does_not_prove_while_an_unknown_order_can_still_land(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """On the old code the proof took the empty listing at once (only a `pending` intent held
    it back), exit 0 `proven`, and the order landed 4 s later and rested."""
    (ticker,) = make_markets(prime, 1, event="KXLATE")
    coid = _place_held(prime, kalshi, tmp_path, ticker, 4.0)
    with Store.open(state_path(tmp_path)) as store:
        intent = store.orders.get_intent(coid)
        assert intent is not None and intent.status == "unknown"

    result = kalshi("cancel-all", "--yes", "--json")

    report = json.loads(result.stdout)
    _wait_landed(client, ticker, coid)
    still = resting_count(client, ticker=ticker)
    # a proof is a promise that nothing rests: it must hold once the order has landed
    assert not (report["proven"] and still), f"proven, yet {still} order(s) rest: {report}"
    assert result.exit_code == 0 and report["proven"] is True, result.output
    assert still == 0


# ------------------------------------------------------------------ on the kill switch alone
# `Proof._may_still_land`, on a ManualClock with a fake exchange: what holds the proof back

WAITING = "order(s) whose answer was lost may still land"


def _lost(store: Store, coid: str, ticker: str = TICKER) -> None:
    store.orders.record_intent(
        IntentRecord(coid, ticker, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES, Action.BUY)
    )
    store.orders.mark_unknown(coid, reason="no answer within 10s")


def _lands(coid: str) -> Order:
    return resting_order("late-1", TICKER, client_order_id=coid)


class LandsOnListing(Cancels):
    """Lists nothing until listing `n`, from which the order `order` rests until cancelled."""

    def __init__(self, order: Order, n: int) -> None:
        super().__init__()
        self.order, self.n, self.listings = order, n, 0

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        if self.listings == self.n:
            self.listed.append(self.order)
        yield from list(self.listed)


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
        assert exchange.listed == []
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
        store.orders.record_intent(
            IntentRecord(
                "killed-1", TICKER, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES, Action.BUY
            )
        )
        clock.advance(LANDING_WINDOW_S - 5)
        report = KillSwitch(Listings(), store, clock, deadline_s=3, read_lag_s=0).run(ticker=TICKER)
        assert not report.proven, "its request may still land"
        assert IN_FLIGHT_S == LANDING_WINDOW_S, "the proof waits as long as a request can land"


# ------------------------------------------------------------- when the intents cannot be read
# The state file opens and HALTED can be written, but its order intents cannot be read (here the
# `orders` table is gone, renamed by another connection once the store is open: a read of it
# raises StoreError, as a damaged page of it would). No row can say whether an order of this
# state file is still in the network, so no listing is proof until every order signed before
# HALTED was recorded is past the time it can land, and none without HALTED recorded.

UNREADABLE = "the state file's order intents cannot be read"


def _intents_unreadable(path: Path) -> None:
    with closing(sqlite3.connect(path)) as other:
        other.execute("ALTER TABLE orders RENAME TO orders_gone")
        other.commit()


def test_unreadable_intents_hold_the_proof_until_no_order_signed_before_halted_can_land(
    tmp_path: Path,
) -> None:
    """On the old code the unreadable intents counted as none: PROVEN at the first empty
    listing, though an order whose answer was lost moments before could still land."""
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        _intents_unreadable(tmp_path / "state.db")
        report = KillSwitch(Listings(), store, clock, deadline_s=10, read_lag_s=0).run(
            ticker=TICKER
        )
        assert report.halted, "HALTED is written: only the intents are unreadable"
        assert not report.proven, "an order of the state file may still land"
        assert report.errors[-1].startswith(UNREADABLE), report.errors
        assert f"until {IN_FLIGHT_S:g}s after HALTED" in report.errors[-1], report.errors

        asked: list[float] = []
        listings = Listings(lambda n: asked.append(clock.monotonic()))
        switch = KillSwitch(listings, store, clock, deadline_s=IN_FLIGHT_S + 20, read_lag_s=5)
        halted = clock.monotonic()  # the switch records HALTED as it starts
        report = switch.run(ticker=TICKER)
        assert report.proven, report.errors
        _proved_at_the_first_listing_past(asked, halted + IN_FLIGHT_S + 5)


def _proved_at_the_first_listing_past(asked: list[float], moment: float) -> None:
    """The listing that proved (the last) was requested once `moment` had come (its read lag
    past the window after HALTED), and the one before it was not: no sooner, no later (the
    listings are at most 2 s of backoff apart, less than the read lag of these tests)."""
    assert len(asked) > 2, "it kept listing through the window"
    assert asked[-1] >= moment > asked[-2], (asked[-3:], moment)


def test_unreadable_intents_an_order_that_lands_is_cancelled_and_the_window_still_holds(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        _intents_unreadable(tmp_path / "state.db")
        exchange = LandsOnListing(_lands("lost-1"), 3)
        switch = KillSwitch(exchange, store, clock, deadline_s=IN_FLIGHT_S + 20, read_lag_s=0)

        report = switch.run(ticker=TICKER)

        assert report.proven and report.cancelled == ["late-1"]
        assert exchange.listed == []
        # another order of the state file could still be in the network: no row says not
        assert clock.monotonic() >= IN_FLIGHT_S


@pytest.mark.parametrize("first", ["nothing-rests", "an-order-rests"])
def test_unreadable_intents_without_halted_recorded_are_never_proven(
    tmp_path: Path, first: str
) -> None:
    """HALTED cannot be written either (another writer holds the lock for the whole run): a
    running trade loop has not seen it and may still place, and no row of its can be read, so
    no listing is proof however long the switch waits, nor after a round of cancels (which
    tries HALTED again). On the old code: PROVEN at once."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    exchange: Listings | RestsThenNothing = Listings()
    if first == "an-order-rests":
        exchange = RestsThenNothing(_lands("lost-1"), clock, lambda n: None)
    with Store.open(path, clock=clock) as store:
        _intents_unreadable(path)
        with lock_held(path):
            switch = KillSwitch(
                exchange,
                store,
                clock,
                deadline_s=IN_FLIGHT_S + 30,
                read_lag_s=0,
                halt_wait_s=0,
                record_wait_s=0,
            )
            report = switch.run(ticker=TICKER)
        assert not report.halted
        assert not report.proven
        assert clock.monotonic() >= IN_FLIGHT_S + 20, "it kept trying until its deadline"
        assert report.errors[-1] == (
            f"{UNREADABLE} (state file {path}: no such table: orders) and HALTED is not "
            "recorded: a running trade loop may still place orders"
        ), report.errors


def test_unreadable_intents_the_window_counts_from_when_halted_was_recorded(
    tmp_path: Path,
) -> None:
    """HALTED is recorded late (the lock is released at the second listing): an order signed
    before then can land until the window after it, not after the switch's start."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    released: list[float] = []
    asked: list[float] = []
    with Store.open(path, clock=clock) as store:
        _intents_unreadable(path)
        with lock_held(path) as holder:

            def release(n: int) -> None:
                asked.append(clock.monotonic())
                if n == 2:
                    holder.execute("COMMIT")
                    released.append(clock.monotonic())

            listings = Listings(release)
            switch = KillSwitch(
                listings,
                store,
                clock,
                deadline_s=IN_FLIGHT_S + 30,
                read_lag_s=5,
                halt_wait_s=0,
                record_wait_s=0,
            )
            started = clock.monotonic()
            report = switch.run(ticker=TICKER)
        assert report.halted and report.proven, report.errors
        assert released and released[0] > started, "HALTED was recorded after the start"
        _proved_at_the_first_listing_past(asked, released[0] + IN_FLIGHT_S + 5)


class RestsThenNothing(Cancels):
    """Lists `order` resting until it is cancelled, calling `on_listing(n)` as listing n is
    taken and recording when each was requested."""

    def __init__(self, order: Order, clock: ManualClock, on_listing: Callable[[int], None]):
        super().__init__(order)
        self.clock, self.on_listing, self.asked = clock, on_listing, list[float]()

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.asked.append(self.clock.monotonic())
        self.on_listing(len(self.asked))
        yield from list(self.listed)


def test_unreadable_intents_halted_recorded_in_a_round_of_cancels_starts_the_window(
    tmp_path: Path,
) -> None:
    """HALTED is recorded in the round that cancels a resting order (the lock is released as
    it is listed): the window counts from then, not from the first empty listing after it."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store:
        _intents_unreadable(path)
        with lock_held(path) as holder:
            released: list[float] = []

            def release(n: int) -> None:
                if n == 1:
                    holder.execute("COMMIT")
                    released.append(clock.monotonic())

            exchange = RestsThenNothing(_lands("lost-1"), clock, release)
            switch = KillSwitch(
                exchange,
                store,
                clock,
                deadline_s=IN_FLIGHT_S + 30,
                read_lag_s=5,
                halt_wait_s=0,
                record_wait_s=0,
            )
            report = switch.run(ticker=TICKER)
        assert report.halted and report.proven and report.cancelled == ["late-1"], report.errors
        _proved_at_the_first_listing_past(exchange.asked, released[0] + IN_FLIGHT_S + 5)


class WholeSeconds:
    """Backoff jitter of whole seconds: none while the cap is under 1 s, then 1 s, so every
    listing of a run on a ManualClock (monotonic from 0.0) falls on a whole second, exactly."""

    def uniform(self, a: float, b: float) -> float:
        return 1.0 if b >= 1.0 else 0.0


def test_unreadable_intents_prove_at_a_listing_exactly_the_window_and_read_lag_after_halted(
    tmp_path: Path,
) -> None:
    """A listing requested exactly IN_FLIGHT_S and the read lag after HALTED reflects every
    moment an order recorded before HALTED could land in: it is the proof, not the next one."""
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        _intents_unreadable(tmp_path / "state.db")
        asked: list[float] = []
        listings = Listings(lambda n: asked.append(clock.monotonic()))
        switch = KillSwitch(
            listings,
            store,
            clock,
            deadline_s=IN_FLIGHT_S + 20,
            read_lag_s=5,
            rng=WholeSeconds(),  # type: ignore[arg-type]
        )
        halted = clock.monotonic()
        report = switch.run(ticker=TICKER)
        assert report.proven, report.errors
        assert asked[-1] == halted + IN_FLIGHT_S + 5, asked[-3:]
        assert asked[-2] == asked[-1] - 1
