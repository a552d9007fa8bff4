"""The kill switch's details that mutation testing found unpinned (docs/mutation.md): which
subaccount each cancel names, what a refused cancel says, the retry of a batch cancel, and how
`run_kill_switch` wires the state file's failure, the source and the read lag into the switch.
Every exchange here is a fake that states the calls it expects (`UnexpectedCalls`)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import httpx
import msgspec
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CancelResult, CreateOrder
from kalshi_cli.client.subaccounts import SubaccountBalance
from kalshi_cli.services.killswitch.cancel import LIST_FIRST_SHARE
from kalshi_cli.services.killswitch.order_groups import (
    ORDER_GROUPS_KEY,
    remember_order_group,
    session_order_groups,
)
from kalshi_cli.services.killswitch.pull import UNREACHABLE_GIVE_UP_S
from kalshi_cli.services.killswitch.report import LOCK_HELD
from kalshi_cli.services.killswitch.switch import KillSwitch, run_kill_switch
from kalshi_cli.store import IntentRecord, Store, StoreError
from kalshi_cli.store.records import IN_FLIGHT_S
from kalshi_cli.vocabulary.clock import Deadline, ManualClock, parse_iso
from kalshi_cli.vocabulary.errors import ApiError, KalshiError, TransportError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Fill, Order, decode_answer
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, another_accounts_order, make_markets, resting_count
from tests.services.killswitch_fakes import UnexpectedCalls, resting_order

TICKER = "KXT-EV-M00"
OTHER = "KXT-EV-M01"  # another market of the same event


class Cancels(UnexpectedCalls):
    """Lists `orders` until each is cancelled; answers each batch cancel with `answers` (one
    list of results per call, or an error to raise), then cancels whatever it is asked."""

    def __init__(self, *orders: Order, answers: list[object] | None = None) -> None:
        self.listed = list(orders)
        self.answers = list(answers or [])
        self.calls: list[tuple[list[tuple[str, str | None]], dict[str, int] | None]] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield from list(self.listed)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.calls.append((orders, subaccounts))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            assert isinstance(answer, list)
            return answer
        by_id = {o.order_id: o for o in self.listed}
        self.listed = [o for o in self.listed if o.order_id not in dict(orders)]
        return [CancelResult(oid, by_id[oid].remaining_count) for oid, _ in orders]


def test_each_cancel_names_the_subaccount_of_an_order_listed_on_another(store: Store) -> None:
    exchange = Cancels(resting_order("main-1"), resting_order("sub-1", subaccount=2))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.proven
    ((pairs, subaccounts),) = exchange.calls
    assert pairs == [("main-1", TICKER), ("sub-1", TICKER)]
    # subaccount 0's order needs no name; the other one is cancelled where it rests
    assert subaccounts == {"sub-1": 2}


def test_orders_that_name_their_subaccount_cost_no_look_up_of_the_subaccounts(
    store: Store,
) -> None:
    """Each order says where it rests: no round spends the deadline and the rate budget on
    the account's subaccounts and a listing on each."""

    class NamingEach(Cancels):
        def subaccount_balances(self) -> list[SubaccountBalance]:
            raise AssertionError("every order named its subaccount: nothing to look up")

    exchange = NamingEach(
        resting_order("main-1", subaccount=0), resting_order("sub-1", subaccount=2)
    )

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.proven and sorted(report.cancelled) == ["main-1", "sub-1"]


def test_the_subaccounts_are_looked_up_once_for_an_order_listed_round_after_round(
    store: Store,
) -> None:
    """An order naming none, whose cancel is refused once: the next round lists it again and
    knows already where it rests (an account of one subaccount: the primary)."""

    class CountsLookUps(Cancels):
        look_ups = 0

        def subaccount_balances(self) -> list[SubaccountBalance]:
            self.look_ups += 1
            return super().subaccount_balances()

    refused = [CancelResult("main-1", Decimal(0), error="order is not cancellable")]
    exchange = CountsLookUps(resting_order("main-1"), answers=[refused])

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.proven and len(exchange.calls) == 2
    assert exchange.look_ups == 1


def test_orders_all_on_the_primary_account_are_cancelled_without_subaccounts(
    store: Store,
) -> None:
    exchange = Cancels(resting_order("main-1"), resting_order("main-2"))

    KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    ((_, subaccounts),) = exchange.calls
    assert subaccounts is None


def test_a_refused_cancel_names_the_order_and_the_reason(store: Store) -> None:
    refused = [CancelResult("main-1", Decimal(0), error="order is not cancellable")]
    exchange = Cancels(resting_order("main-1"), answers=[refused])

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.proven  # the next round cancelled it
    assert report.errors[0] == "main-1: order is not cancellable"
    assert report.cancelled == ["main-1"] and report.contracts_cancelled == Decimal(2)


def test_a_batch_cancel_answered_503_is_retried_after_a_pause(store: Store) -> None:
    clock = RecordingClock()
    busy = ApiError.from_response(503, {})
    exchange = Cancels(resting_order("main-1"), answers=[busy])

    report = KillSwitch(exchange, store, clock, deadline_s=30, rng=MaxJitter(), read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven and report.cancelled == ["main-1"]
    assert len(exchange.calls) == 2  # the same batch, again
    assert report.errors == [busy.one_line()]
    assert clock.sleeps == pytest.approx([0.1])  # the first retry's backoff ceiling


def test_a_state_file_that_cannot_be_opened_is_named_and_the_cancels_go_out() -> None:
    exchange = Cancels(resting_order("main-1"))

    def cannot_open() -> Store:
        raise StoreError("cannot open state file: unable to open database file")

    report = run_kill_switch(exchange, cannot_open, ManualClock(), ticker=TICKER)

    # no loop can record an intent in it either (a locked one: test_killswitch_locked.py)
    assert report.proven and report.cancelled == ["main-1"]
    assert report.state_error == "cannot open state file: unable to open database file"
    assert not report.halted and not report.result_recorded


def test_the_command_records_its_source_and_closes_the_state_file(tmp_path: Path) -> None:
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(Store.open(tmp_path / "state.db"))
        return opened[-1]

    report = run_kill_switch(Cancels(), open_store, ManualClock(), ticker=TICKER)

    assert report.proven and report.halted and report.state_error is None
    with Store.open(tmp_path / "state.db") as store:
        state = store.trading.trading_state()
        assert (state.state, state.source) == ("HALTED", "cancel-all")
        assert state.reason == f"kill switch ({TICKER})"
    with pytest.raises(StoreError):
        opened[0].trading.trading_state()  # closed by run_kill_switch


def test_the_read_lag_given_is_the_one_the_proof_waits(tmp_path: Path) -> None:
    clock = RecordingClock()

    report = run_kill_switch(
        Cancels(),
        lambda: Store.open(tmp_path / "state.db", clock=clock),
        clock,
        ticker=TICKER,
        read_lag_s=2.5,
        source="dashboard",
    )

    assert report.proven
    # an empty first listing requested within the read lag of HALTED is taken again after it
    assert clock.sleeps == pytest.approx([2.5])
    with Store.open(tmp_path / "state.db") as store:
        assert store.trading.trading_state().source == "dashboard"


class RecordingJitter(random.Random):
    """Full jitter that remembers each range it drew from, and draws its lower bound."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return a


def test_each_pause_is_drawn_from_zero_to_its_ceiling(store: Store) -> None:
    """Full jitter: a pause may be anything from nothing to the ceiling, so many switches
    retrying at once spread out instead of hammering together."""
    jitter = RecordingJitter()
    clock = RecordingClock()
    refused = [CancelResult("main-1", Decimal(0), error="not cancellable")]
    exchange = Cancels(resting_order("main-1"), answers=[refused, refused, refused])

    report = KillSwitch(exchange, store, clock, deadline_s=30, rng=jitter, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven
    # no pause after the first round; then one after each round that cancelled
    assert [low for low, _ in jitter.ranges] == [0, 0, 0]
    assert [high for _, high in jitter.ranges] == pytest.approx([0.1, 0.2, 0.4])
    assert clock.sleeps == [0, 0, 0]


def test_a_locked_state_file_keeps_the_first_reason_and_the_cancels_go_out(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    with Store.open(db) as store, Store.open(db) as holder, ExitStack() as lock:
        lock.enter_context(holder.transaction())  # another writer, for the whole run
        exchange = Cancels(resting_order("main-1"), resting_order("main-2"))
        switch = KillSwitch(
            exchange, store, ManualClock(), deadline_s=30, halt_wait_s=0, record_wait_s=0
        )

        report = switch.run(ticker=TICKER)

        # the cancels went out; with HALTED held back by a writer, the listing is no proof
        assert sorted(report.cancelled) == ["main-1", "main-2"]
        assert not report.proven and report.errors[-1] == LOCK_HELD
        assert report.to_json()["proven"] is False  # `--json` says false, never null
        assert not report.halted and not report.result_recorded
        assert report.state_error is not None and "locked" in report.state_error
        first = report.state_error
        lock.close()
        # the state file says nothing of the run: no HALTED, no rows marked
        assert store.trading.trading_state().state == "ACTIVE"
        assert store.entries.read(kind="kill_switch") == []
        assert report.state_error == first


class SweptByCancelAll(UnexpectedCalls):
    """Lists `orders` once, then nothing after the exchange's cancel-all; answers the fills
    listing with `fills` (or raises the errors in `fill_errors` first), recording each
    `min_ts` asked."""

    def __init__(self, orders: list[Order], fills: list[Fill], *fill_errors: Exception) -> None:
        self.listed = orders
        self.fills = fills
        self.fill_errors = list(fill_errors)
        self.swept = False
        self.min_ts: list[int | None] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        if not self.swept:
            yield from self.listed

    def cancel_all_orders(self) -> None:
        self.swept = True

    def iter_fills(self, *, min_ts: int | None = None) -> Iterator[Fill]:
        self.min_ts.append(min_ts)
        if self.fill_errors:
            raise self.fill_errors.pop(0)
        yield from self.fills


def order_created(order_id: str, created: str, count: str) -> Order:
    return resting_order(order_id, TICKER, count=count, created=created)


def fill_of(order_id: str, count: str) -> Fill:
    return decode_answer(
        Fill,
        {
            "fill_id": f"f-{order_id}-{count}",
            "trade_id": f"t-{order_id}-{count}",
            "order_id": order_id,
            "ticker": TICKER,
            "side": "yes",
            "action": "buy",
            "count_fp": count,
            "yes_price_dollars": "0.2000",
            "no_price_dollars": "0.8000",
            "is_taker": False,
            "fee_cost": "0.000000",
            "created_time": "2026-11-22T10:00:05Z",
        },
    )


def test_after_a_cancel_all_fills_decide_what_each_order_had_left(store: Store) -> None:
    """Two fills of one order both come off what it had resting, and an order that had one
    contract left counts as cancelled with one."""
    a = order_created("a", "2026-11-22T10:00:10Z", "5.00")
    b = order_created("b", "2026-11-22T10:00:00Z", "1.00")
    exchange = SweptByCancelAll([a, b], [fill_of("a", "1.00"), fill_of("a", "1.00")])

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run()

    assert report.proven and report.exchange_cancel_all
    assert sorted(report.cancelled) == ["a", "b"]
    assert report.contracts_cancelled == Decimal(4)  # a: 5 - 2 filled, b: 1
    assert report.uncounted is False  # listed before the cancel-all: each one counted
    # fills are read from a second before the oldest order's creation (10:00:00 UTC)
    assert exchange.min_ts == [int(parse_iso("2026-11-22T10:00:00Z").timestamp()) - 1]


def test_an_order_whose_fills_took_all_it_had_is_not_counted_cancelled(store: Store) -> None:
    """Gone after the cancel-all with fills for all it had resting: it filled, nothing of it
    was cancelled."""
    a = order_created("a", "2026-11-22T10:00:00Z", "2.00")
    b = order_created("b", "2026-11-22T10:00:00Z", "3.00")
    exchange = SweptByCancelAll([a, b], [fill_of("a", "2.00"), fill_of("b", "1.00")])

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run()

    assert report.proven and report.cancelled == ["b"]
    assert report.contracts_cancelled == Decimal(2)


def test_a_creation_time_that_does_not_parse_reads_every_fill(store: Store) -> None:
    exchange = SweptByCancelAll([order_created("a", "yesterday", "2.00")], [])

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run()

    assert report.cancelled == ["a"] and exchange.min_ts == [None]


def test_a_fills_listing_answered_503_is_retried(store: Store) -> None:
    a = order_created("a", "2026-11-22T10:00:00Z", "3.00")
    exchange = SweptByCancelAll([a], [fill_of("a", "1.00")], ApiError.from_response(503, {}))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, rng=MaxJitter()).run()

    assert report.cancelled == ["a"] and report.contracts_cancelled == Decimal(2)
    assert len(exchange.min_ts) == 2


def test_fills_that_cannot_be_read_leave_the_swept_orders_uncounted_and_say_so(
    store: Store,
) -> None:
    a = order_created("a", "2026-11-22T10:00:00Z", "3.00")
    refused = ApiError.from_response(403, {"code": "forbidden", "message": "no"})
    exchange = SweptByCancelAll([a], [], refused)

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run()

    assert report.proven  # the listing is the proof; the count is the report's
    assert report.cancelled == [] and report.contracts_cancelled == 0
    assert report.errors[-1] == (
        "1 order(s) gone after the cancel-all, not counted: their fills could not be read "
        "(`kalshi reconcile` settles them)"
    )


def test_a_pause_that_would_reach_the_deadline_is_not_taken(store: Store) -> None:
    clock = RecordingClock()
    busy = ApiError.from_response(503, {})

    class Busy(SweptByCancelAll):
        calls = 0

        def cancel_all_orders(self) -> None:
            self.calls += 1
            raise busy

    exchange = Busy([], [])
    # the first backoff's ceiling is 0.1 s: it would end exactly at the deadline
    report = KillSwitch(exchange, store, clock, deadline_s=0.1, rng=MaxJitter()).run()

    assert not report.proven and exchange.calls == 1 and clock.sleeps == []


def test_a_read_lag_wait_that_would_reach_the_deadline_is_not_taken(store: Store) -> None:
    clock = RecordingClock()
    exchange = Listings()

    report = KillSwitch(exchange, store, clock, deadline_s=1, read_lag_s=1).run(ticker=TICKER)

    # the first listing is within the read lag of HALTED; waiting it out ends at the deadline
    assert not report.proven and exchange.listings == 1 and clock.sleeps == []


class Filtered(Cancels):
    """`Cancels`, remembering the filters of each listing."""

    def __init__(self, *orders: Order) -> None:
        super().__init__(*orders)
        self.filters: list[dict[str, object]] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.filters.append(filters)
        yield from list(self.listed)


def test_the_command_passes_its_scope_deadline_and_progress_to_the_switch(
    tmp_path: Path,
) -> None:
    stuck = [CancelResult("main-1", Decimal(0), error="not cancellable")]
    exchange = Filtered(resting_order("main-1"))
    exchange.answers = [stuck] * 100
    said: list[str] = []
    clock = ManualClock()
    started = clock.monotonic()

    report = run_kill_switch(
        exchange,
        lambda: Store.open(tmp_path / "state.db", clock=clock),
        clock,
        event_ticker="KXT-EV",
        deadline_s=5,
        on_progress=said.append,
    )

    assert not report.proven and report.left == ["main-1"]
    assert clock.monotonic() - started <= 5  # its own deadline, not the default 60 s
    assert exchange.filters[0] == {"ticker": None, "event_ticker": "KXT-EV", "status": "resting"}
    assert said[0] == "round 1: 1 resting, cancelling"


# ---------------------------------------------------------------------------- in flight
# An empty listing proves nothing while an order of the state file may still land
# (`Proof._in_flight`): what holds the proof back, and what does not.

WAITING = "an order of this state file is still awaiting its answer"


class Listings(UnexpectedCalls):
    """Lists nothing, calling `on_listing(n)` as listing n is taken; allows a cancel-all."""

    def __init__(self, on_listing: Callable[[int], None] = lambda n: None) -> None:
        self.on_listing = on_listing
        self.listings = 0

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        self.on_listing(self.listings)
        yield from ()

    def cancel_all_orders(self) -> None:
        pass


def intent(store: Store, coid: str, ticker: str = TICKER) -> str:
    store.orders.record_intent(
        IntentRecord(coid, ticker, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES, Action.BUY)
    )
    return coid


def test_a_pending_intent_holds_the_proof_until_its_request_has_timed_out(
    clock: ManualClock,
    clocked_store: Store,
) -> None:
    intent(clocked_store, "loop-1")
    exchange = Listings()

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=10).run(ticker=TICKER)

    assert not report.proven  # 10 s is within the 30 s an answer may take
    assert WAITING in report.errors and report.left == []


def test_a_pending_intent_exactly_as_old_as_a_request_can_take_no_longer_holds_it(
    clock: ManualClock,
    clocked_store: Store,
) -> None:
    intent(clocked_store, "loop-1")
    clock.advance(IN_FLIGHT_S)
    exchange = Listings()

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=10, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven and exchange.listings == 1


def test_a_pending_intent_of_another_market_does_not_hold_a_scoped_proof(
    clock: ManualClock,
    clocked_store: Store,
) -> None:
    intent(clocked_store, "elsewhere-1", ticker="KXOTHER-M00")
    exchange = Listings()

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=10, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven and exchange.listings == 1


def test_an_order_acknowledged_within_the_read_lag_holds_the_proof_until_it_can_be_listed(
    clock: ManualClock,
    clocked_store: Store,
) -> None:
    coid = intent(clocked_store, "loop-1")

    def acknowledged_as_listing_two_is_asked(n: int) -> None:
        if n == 2:
            clocked_store.orders.mark_sent(
                coid,
                order_id="o-1",
                status="resting",
                fill_count=Decimal(0),
                remaining_count=Decimal(2),
            )

    exchange = Listings(acknowledged_as_listing_two_is_asked)
    switch = KillSwitch(exchange, clocked_store, clock, deadline_s=30, rng=MaxJitter())

    report = switch.run(ticker=TICKER)

    # listing 2 may predate the order (acknowledged as it was asked): it proves nothing
    assert report.proven and exchange.listings > 2
    assert WAITING in report.errors


def test_an_intent_answered_within_the_read_lag_but_not_resting_does_not_hold_it(
    clock: ManualClock,
    clocked_store: Store,
) -> None:
    coid = intent(clocked_store, "loop-1")

    def rejected_as_listing_two_is_asked(n: int) -> None:
        if n == 2:
            clocked_store.orders.mark_rejected(coid, reason="insufficient balance")

    exchange = Listings(rejected_as_listing_two_is_asked)

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=30).run(ticker=TICKER)

    # listing 1 is within the read lag of HALTED, so it is taken again; listing 2 counts:
    # the order was refused, nothing of it can rest
    assert report.proven and exchange.listings == 2


def test_an_unreadable_state_file_sends_the_cancels_but_proves_nothing(tmp_path: Path) -> None:
    """Its pending intent cannot be read and HALTED cannot be written: the cancels go out, but
    an empty listing is no proof (the old code proved on it: the pending order could land
    after). tests/services/test_killswitch_late.py has the rule for unreadable intents."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    intent(store, "loop-1")  # pending: would hold the proof if it could be read
    store.close()
    exchange = Listings()

    report = KillSwitch(exchange, store, clock, deadline_s=10, read_lag_s=0).run()

    assert not report.proven and exchange.listings > 2  # before and after the cancel-all
    assert not report.halted and report.state_error is not None
    assert report.errors[0].startswith("order groups not read: ")
    assert report.errors[-1].endswith(
        "and HALTED is not recorded: a running trade loop may still place orders"
    )


# ---------------------------------------------------------------------------- order groups


class Groups(Listings):
    """`Listings`, whose group triggers answer from `answers[group]` in turn (an error to
    raise, or None for done), recording every trigger asked."""

    def __init__(self, answers: dict[str, list[Exception | None]]) -> None:
        super().__init__()
        self.answers = answers
        self.triggers: list[str] = []

    def trigger_order_group(
        self,
        order_group_id: str,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        self.triggers.append(order_group_id)
        queue = self.answers.get(order_group_id) or [None]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer is not None:
            raise answer


def test_a_group_that_cannot_be_triggered_is_named_and_the_next_one_still_is(
    store: Store,
) -> None:
    remember_order_group(store, "g-2")
    remember_order_group(store, "g-1")  # the newest: triggered first
    refused = ApiError.from_response(403, {"code": "forbidden", "message": "not yours"})
    busy = ApiError.from_response(503, {})
    exchange = Groups({"g-1": [refused], "g-2": [busy, None]})
    said: list[str] = []

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, rng=MaxJitter()).run(
        on_progress=said.append
    )

    assert report.proven
    assert exchange.triggers == ["g-1", "g-2", "g-2"]  # g-2 retried after its 503
    assert report.order_groups_triggered == ["g-2"]
    assert said[:2] == ["order group g-1 not triggered", "order group g-2 triggered"]
    assert session_order_groups(store) == ["g-2", "g-1"]  # neither is forgotten


@pytest.mark.parametrize(
    ("stored", "groups"),
    [
        ('{"g-1": 1}', []),  # not a list: none
        ('[5, "", "g-1", null]', ["g-1"]),  # only non-empty ids
        ("not json", []),
    ],
)
def test_the_state_files_group_list_is_read_strictly(
    store: Store, stored: str, groups: list[str]
) -> None:
    store.entries.set_kv(ORDER_GROUPS_KEY, stored)

    assert session_order_groups(store) == groups


# ---------------------------------------------------------------------------- the report


def test_batches_of_twenty_and_the_rows_recorded_with_nothing_remaining(
    clock: ManualClock, clocked_store: Store
) -> None:
    orders = [resting_order(f"o-{i:02d}") for i in range(25)]
    for order in orders:
        coid = intent(clocked_store, f"c-{order.order_id}")
        clocked_store.orders.mark_sent(
            coid,
            order_id=order.order_id,
            status="resting",
            fill_count=Decimal(0),
            remaining_count=Decimal(2),
        )
    clock.advance(5)  # acknowledged long before the switch: listed by now
    exchange = Cancels(*orders)

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=30).run(ticker=TICKER)

    assert report.proven and report.result_recorded
    assert [len(pairs) for pairs, _ in exchange.calls] == [20, 5]
    assert report.contracts_cancelled == Decimal(50)
    for order in orders:
        row = clocked_store.orders.intent_by_order_id(order.order_id)
        assert row is not None and (row.status, row.remaining) == ("canceled", Decimal(0))


def test_the_reports_json_document_has_the_documented_keys(store: Store) -> None:
    report = KillSwitch(Cancels(resting_order("main-1")), store, ManualClock(), deadline_s=30).run(
        ticker=TICKER
    )

    assert report.to_json() == {
        "proven": True,
        "cancelled": ["main-1"],
        "cancelled_count": 1,
        "contracts_cancelled": "2.00",
        "left": [],
        "left_count": 0,
        "filled": [],
        "filled_count": 0,
        "gone": [],
        "gone_count": 0,
        "rounds": 2,
        "errors": [],
        "unreachable": False,
        "exchange_cancel_all": False,
        "order_groups_triggered": [],
        "rfqs_closed": [],
        "quotes_cancelled": [],
        "communications_left": [],
        "orders": [{"order_id": "main-1", "client_order_id": None, "strategy": None}],
        "broken_sets": [],
        "sets_held_to_settlement": [],
    }


@pytest.mark.parametrize("status", [400, 403])
def test_a_cancel_all_the_exchange_refuses_still_cancels_order_by_order(
    store: Store, status: int
) -> None:
    """The exchange's cancel-all refused for this call (a 400; a 403, as for a key that may
    cancel only its own subaccount's orders) is one way less, not the end of the run: the rounds
    list what rests and cancel it order by order, and prove it. It ended the run, NOT PROVEN
    with the orders still resting. (A 401, a refused key, still ends it: every call would be.)"""

    class Refused(Cancels):
        def cancel_all_orders(self) -> None:
            raise ApiError.from_response(status, {"code": "refused", "message": "not this call"})

    exchange = Refused(resting_order("main-1"), resting_order("main-2"))

    said: list[str] = []
    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(on_progress=said.append)

    assert exchange.listed == [] and sorted(report.cancelled) == ["main-1", "main-2"]
    assert report.proven and not report.exchange_cancel_all
    # the operator is told why the orders go one by one
    assert "the exchange refused its cancel-all: cancelling order by order" in said
    assert any(str(status) in error for error in report.errors)


# -------------------------------------------------------------------- exactly what it sends
# What the kill switch sends, counts, records and waits, exactly: the single exchange cancel-all,
# the contracts cancelled, the events it logs, the growth of its backoff, and the stop on a 4xx
# with what it says about reachability.


CANCEL_ALL = "DELETE /portfolio/events/orders"
BATCH_CANCEL = "DELETE /portfolio/events/orders/batched"


class RecordingClock(ManualClock):
    """A manual clock that remembers every sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


class MaxJitter(random.Random):
    """Full jitter that always draws its upper bound: the backoff's ceiling, made visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


def requests_of(prime: SimHarness, key_id: str) -> dict[str, int]:
    account: dict[str, dict[str, int]] = prime.stats()["accounts"].get(key_id, {})
    return account.get("requests", {})


def two_orders_one_partly_filled(prime: SimHarness, client: KalshiClient) -> tuple[str, str]:
    """A bid of 10 of which 4 filled (6 rest) and a bid of 3: 9 contracts resting."""
    first, second = make_markets(prime, 2)
    a = client.orders.create_order(CreateOrder(first, BookSide.BID, Decimal("0.30"), Decimal(10)))
    another_accounts_order(prime, first, BookSide.ASK, "0.30", 4)
    b = client.orders.create_order(CreateOrder(second, BookSide.BID, Decimal("0.20"), Decimal(3)))
    return a.order_id, b.order_id


def test_every_market_is_one_exchange_cancel_all_with_exact_contracts_and_recorded_result(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    a, b = two_orders_one_partly_filled(prime, client)

    report = KillSwitch(client, store, ManualClock(), deadline_s=20).run()

    assert report.proven and report.rounds == 1
    assert sorted(report.cancelled) == sorted([a, b])
    assert report.contracts_cancelled == Decimal(9)  # what rested, not what was ordered
    assert report.exchange_cancel_all  # so the output warns of Kalshi's minute-long sweep
    sent = requests_of(prime, prime.account.key_id)
    assert sent.get(CANCEL_ALL) == 1
    assert BATCH_CANCEL not in sent
    assert resting_count(client) == 0
    (started,) = store.entries.read(kind="kill_switch")
    assert started.data == {"ticker": None, "event_ticker": None}
    (result,) = store.entries.read(kind="kill_switch_result")
    assert result.data == report.to_json()
    assert result.data["contracts_cancelled"] == "9.00"
    assert result.data["cancelled_count"] == 2 and result.data["proven"] is True
    assert store.trading.trading_state().state == "HALTED"


def test_one_market_is_batched_cancels_counting_what_each_reduced(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    a, _ = two_orders_one_partly_filled(prime, client)
    ticker = client.orders.get_order(a).ticker

    report = KillSwitch(client, store, ManualClock(), deadline_s=20).run(ticker=ticker)

    assert report.proven and report.cancelled == [a]
    assert report.contracts_cancelled == Decimal(6)
    assert not report.exchange_cancel_all
    sent = requests_of(prime, prime.account.key_id)
    assert sent.get(BATCH_CANCEL) == 1
    assert CANCEL_ALL not in sent
    assert resting_count(client) == 1  # the other market's order is left alone
    (started,) = store.entries.read(kind="kill_switch")
    assert started.data == {"ticker": ticker, "event_ticker": None}
    (result,) = store.entries.read(kind="kill_switch_result")
    assert result.data == report.to_json()


class OneOrderStuck(UnexpectedCalls):
    """An exchange that lists one resting order and refuses every cancel of it."""

    def __init__(self) -> None:
        self.order = resting_order("stuck-1", count="1.00", created=None)

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield self.order

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        return [CancelResult(oid, Decimal(0), error="not cancellable") for oid, _ in orders]


def test_the_pause_between_proof_rounds_doubles_up_to_two_seconds(store: Store) -> None:
    clock = RecordingClock()
    # read_lag_s=0: the pauses alone (a read-lag wait overlaps them: it waits only what is left)
    switch = KillSwitch(OneOrderStuck(), store, clock, deadline_s=30, rng=MaxJitter(), read_lag_s=0)

    report = switch.run(ticker="KXT-EV-M00")

    assert not report.proven and report.left == ["stuck-1"]
    # no pause after the first round; then 0.05 s x 2^(round - 1), capped at 2 s
    assert clock.sleeps[:7] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert all(s >= 2.0 for s in clock.sleeps[5:])


class FlakyExchange(UnexpectedCalls):
    """Fails the exchange cancel-all with the given errors, in order, then lists nothing."""

    def __init__(self, *failures: KalshiError) -> None:
        self.failures = list(failures)
        self.cancel_alls = 0
        self.listings = 0
        self.batches = 0

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        yield from ()

    def cancel_all_orders(self) -> None:
        self.cancel_alls += 1
        if self.failures:
            raise self.failures.pop(0)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.batches += 1
        return []


def test_retries_back_off_exponentially_through_5xx_and_transport_errors(store: Store) -> None:
    failures = [ApiError.from_response(503, {}) for _ in range(3)]
    exchange = FlakyExchange(*failures, TransportError("no answer"))
    clock = RecordingClock()

    report = KillSwitch(exchange, store, clock, deadline_s=30, rng=MaxJitter()).run()

    assert report.proven
    assert report.unreachable is False  # the last error was a transport one, then it answered
    assert exchange.cancel_alls == 5
    # then the proof listing waits the read lag (1 s by default) after the cancel-all's answer
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])
    assert len(report.errors) == 4


def test_a_4xx_stops_at_once_and_the_exchange_counts_as_reached(store: Store) -> None:
    refused = ApiError.from_response(401, {"code": "unauthorized", "message": "bad key"})
    exchange = FlakyExchange(TransportError("no answer"), refused)
    clock = RecordingClock()

    report = KillSwitch(exchange, store, clock, deadline_s=30, rng=MaxJitter()).run()

    assert not report.proven
    assert report.unreachable is False  # it answered: wrong key, not no exchange
    assert report.errors == ["no answer", refused.one_line()]
    assert exchange.cancel_alls == 2
    assert exchange.listings == 1 and exchange.batches == 0  # nothing after the 4xx
    assert report.rounds == 0
    assert clock.sleeps == pytest.approx([0.1])
    (result,) = store.entries.read(kind="kill_switch_result")
    assert result.data["unreachable"] is False and result.data["proven"] is False


def test_transport_errors_to_the_deadline_mean_unreachable(store: Store) -> None:
    class NoAnswer(FlakyExchange):
        """Answers no request at all, its listings included."""

        def iter_orders(self, **filters: object) -> Iterator[Order]:
            self.listings += 1
            raise TransportError("no answer")

    exchange = NoAnswer(*(TransportError("no answer") for _ in range(1000)))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=5).run()

    assert not report.proven and report.unreachable is True


def test_a_refused_key_exits_11_and_sends_nothing_after_the_refusal(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    result = kalshi("cancel-all", "--json", KALSHI_API_KEY_ID="no-such-key")

    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    document = json.loads(result.stdout)
    assert document["proven"] is False
    assert document["unreachable"] is False
    assert len(document["errors"]) == 2  # the first listing, then the cancel-all
    assert all("HTTP 401" in e for e in document["errors"])
    assert requests_of(prime, "no-such-key") == {"GET /portfolio/orders": 1, CANCEL_ALL: 1}
    text = kalshi("cancel-all", KALSHI_API_KEY_ID="no-such-key")
    assert text.exit_code == ExitCode.NOT_PROVEN
    assert text.stdout.splitlines()[-1].startswith("NOT PROVEN: ")
    assert "HTTP 401" in text.stdout.splitlines()[-1]


class LandsLate(UnexpectedCalls):
    """An exchange on which an order sent before HALTED lands only after the first listing."""

    def __init__(self, store: Store, client_order_id: str) -> None:
        self.store = store
        self.client_order_id = client_order_id
        self.listings = 0
        self.cancelled: list[str] = []
        self.order = resting_order("late-1", created=None, client_order_id=client_order_id)

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        if self.listings == 2:  # the answer comes back to the loop, which records it
            self.store.orders.mark_sent(
                self.client_order_id,
                order_id="late-1",
                status="resting",
                fill_count=Decimal(0),
                remaining_count=Decimal(2),
            )
        if self.listings >= 2 and not self.cancelled:
            yield self.order

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.cancelled += [oid for oid, _ in orders]
        return [CancelResult(oid, Decimal(2)) for oid, _ in orders]


def test_an_empty_listing_proves_nothing_while_an_intent_is_in_flight(
    clock: ManualClock, clocked_store: Store
) -> None:
    exchange = LandsLate(clocked_store, intent(clocked_store, "loop-1"))

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=30).run(ticker="KXT-EV-M00")

    assert report.proven
    assert exchange.listings == 3  # empty but in flight; the order; empty
    assert report.cancelled == ["late-1"] and report.contracts_cancelled == Decimal(2)


def test_a_pending_row_left_by_a_crash_long_ago_does_not_hold_the_proof(
    clock: ManualClock, clocked_store: Store
) -> None:
    intent(clocked_store, "loop-1")
    clock.advance(IN_FLIGHT_S + 1)  # past the time its request could still land (40 s)
    exchange = FlakyExchange()

    # read_lag_s=0: one listing (with a read lag an empty first listing is taken again)
    report = KillSwitch(exchange, clocked_store, clock, deadline_s=30, read_lag_s=0).run(
        ticker="KXT-EV-M00"
    )

    assert report.proven and exchange.listings == 1


def test_one_deadline_default_of_60_seconds_for_the_switch_the_command_and_the_dashboard(
    store: Store,
) -> None:
    """docs/kill-switch.md: the deadline defaults to 60 s, wherever the switch is pulled from."""
    import inspect

    from kalshi_cli.cli.app import COMMANDS, load_command
    from kalshi_cli.dashboard import actions
    from kalshi_cli.services.killswitch.switch import DEFAULT_DEADLINE_S

    clock = ManualClock()
    started = clock.monotonic()

    report = KillSwitch(OneOrderStuck(), store, clock, read_lag_s=0).run(ticker="KXT-EV-M00")

    assert not report.proven
    # it gives up when the next pause (at most 2 s) would pass 60 s
    assert 58 <= clock.monotonic() - started <= 60
    assert DEFAULT_DEADLINE_S == 60
    cancel_all = load_command(next(e for e in COMMANDS if e.name == "cancel-all"))
    (option,) = (p for p in cancel_all.params if p.name == "deadline")
    assert option.default == DEFAULT_DEADLINE_S
    assert inspect.signature(actions.kill).parameters["deadline_s"].default == DEFAULT_DEADLINE_S


def test_one_market_cancels_an_order_of_another_subaccount_that_names_none(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    """A listing on no subaccount covers every one, and a batch cancel item the exchange reads
    as the primary's unless it names another; an order names its subaccount to direct members
    only. Subaccount 1's bid, listed naming none, was cancelled as the primary's: refused
    round after round, it still rested when the kill switch gave up, NOT PROVEN."""
    from tests.prime_tier import connect, funded_subaccount
    from tests.services.test_restricted_key_imports import _NamingNoSubaccount

    (ticker,) = make_markets(prime, 1)
    assert funded_subaccount(client) == 1
    on_1 = client.on_subaccount(1).orders.create_order(
        CreateOrder(ticker, BookSide.BID, Decimal("0.20"), Decimal(3))
    )
    on_0 = client.orders.create_order(
        CreateOrder(ticker, BookSide.BID, Decimal("0.10"), Decimal(2))
    )
    with connect(prime.account, transport=_NamingNoSubaccount()) as unnamed:
        assert {o.subaccount for o in unnamed.orders.iter_orders(status="resting")} == {None}
        report = KillSwitch(unnamed, store, ManualClock(), deadline_s=10).run(ticker=ticker)
    assert report.proven, report.errors
    assert sorted(report.cancelled) == sorted([on_0.order_id, on_1.order_id])
    assert resting_count(client) == 0


def test_a_refused_subaccount_listing_never_keeps_the_kill_switch_from_cancelling(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    """Looking for the subaccount of an order listed naming none asks the account's
    subaccounts; an exchange that refuses that read (a key that may not read them) must cost
    that order alone, never the listing: the primary's bid is cancelled all the same."""
    import httpx

    from tests.prime_tier import connect, funded_subaccount
    from tests.services.test_restricted_key_imports import _NamingNoSubaccount

    class _NoSubaccountList(_NamingNoSubaccount):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/portfolio/subaccounts/balances"):
                return httpx.Response(403, json={"error": {"code": "forbidden"}})
            return super().handle_request(request)

    (ticker,) = make_markets(prime, 1)
    assert funded_subaccount(client) == 1
    on_1 = client.on_subaccount(1).orders.create_order(
        CreateOrder(ticker, BookSide.BID, Decimal("0.20"), Decimal(3))
    )
    on_0 = client.orders.create_order(
        CreateOrder(ticker, BookSide.BID, Decimal("0.10"), Decimal(2))
    )
    with connect(prime.account, transport=_NoSubaccountList()) as unnamed:
        report = KillSwitch(unnamed, store, ManualClock(), deadline_s=10).run(ticker=ticker)
    assert on_0.order_id in report.cancelled, report.errors
    assert any(
        e.startswith("could not tell the subaccount of every order: ") for e in report.errors
    )
    # subaccount 1's, whose subaccount could not be told, is cancelled as the primary's and
    # refused: left resting and named, never proven gone
    assert not report.proven and report.left == [on_1.order_id]


def test_a_refused_cancel_of_the_state_files_orders_sends_each_of_them_alone(
    store: Store,
) -> None:
    """A 4xx refusing the state file's batch ends that request, not the run: each of its orders
    is sent again in a batch of its own, before any listing."""
    two_resting_rows(store)
    exchange = Cancels(
        resting_order("o-1"), resting_order("o-2"), answers=[ApiError.from_response(400, {})]
    )

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert [[oid for oid, _ in pairs] for pairs, _ in exchange.calls] == [
        ["o-1", "o-2"],  # refused whole
        ["o-1"],
        ["o-2"],
    ]
    assert sorted(report.cancelled) == ["o-1", "o-2"] and report.left == []


# ------------------------------------------------------------- a slow exchange: cancel first


class SlowListings(UnexpectedCalls):
    """An exchange whose every listing runs out its request's time (a listing of a thousand
    orders at seconds per page), each request cut at the deadline it runs under, as the
    client cuts it: it answers the cancels, and never a listing."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.cancel_all_at: float | None = None
        self.batches: list[list[tuple[str, str | None]]] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        cut = Deadline.current()
        now = self.clock.monotonic()
        self.clock.advance(10.0 if cut is None else min(10.0, cut.at - now))
        raise TransportError("read timed out")

    def cancel_all_orders(self) -> None:
        self.cancel_all_at = self.clock.monotonic()

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.batches.append(orders)
        return [CancelResult(oid, Decimal(2)) for oid, _ in orders]


class FailingFirstListings(UnexpectedCalls):
    """An exchange whose listings are answered with a 503 at once until its cancel-all is
    sent, and then show nothing resting."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.cancel_all_at: float | None = None

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        if self.cancel_all_at is None:
            raise ApiError.from_response(503, {"code": "service_unavailable", "message": "busy"})
        return iter([])

    def cancel_all_orders(self) -> None:
        self.cancel_all_at = self.clock.monotonic()


def test_a_first_listing_failing_fast_is_tried_only_within_its_share_and_leaves_it_uncounted(
    store: Store,
) -> None:
    """A first listing answered with a 503 again and again is tried again only within its
    small share of the deadline, then the cancel-all goes out; what rested before it is not
    known, so the report says what it took is uncounted."""
    clock = ManualClock()
    exchange = FailingFirstListings(clock)
    start = clock.monotonic()

    report = KillSwitch(exchange, store, clock, deadline_s=60).run()

    assert exchange.cancel_all_at is not None
    assert exchange.cancel_all_at <= start + LIST_FIRST_SHARE * 60
    assert report.proven and report.exchange_cancel_all
    assert report.uncounted is True


def two_resting_rows(store: Store) -> None:
    for n, strategy in ((1, "spike"), (2, "mm")):
        store.orders.record_intent(
            IntentRecord(
                f"c-{n}",
                TICKER,
                BookSide.BID,
                Decimal("0.2"),
                Decimal(2),
                Side.YES,
                Action.BUY,
                strategy=strategy,
            )
        )
        store.orders.mark_sent(
            f"c-{n}",
            order_id=f"o-{n}",
            status="resting",
            fill_count=Decimal(0),
            remaining_count=Decimal(2),
        )


def test_a_slow_exchange_gets_its_cancel_all_first_and_every_known_order_is_named_left(
    store: Store,
) -> None:
    """Every listing runs out its time: the exchange's cancel-all goes out once the first
    listing has had its small share of the deadline, not after the whole of it; the report
    that cannot prove names each order of the state file, with its strategy and client order
    id, as possibly left."""
    two_resting_rows(store)
    clock = ManualClock()
    exchange = SlowListings(clock)
    start = clock.monotonic()

    report = KillSwitch(exchange, store, clock, deadline_s=60).run()

    assert exchange.cancel_all_at is not None
    assert exchange.cancel_all_at <= start + LIST_FIRST_SHARE * 60
    assert report.exchange_cancel_all and not report.proven
    assert sorted(report.left) == ["o-1", "o-2"]
    assert sorted(report.to_json()["orders"], key=lambda o: o["order_id"]) == [
        {"order_id": "o-1", "client_order_id": "c-1", "strategy": "spike"},
        {"order_id": "o-2", "client_order_id": "c-2", "strategy": "mm"},
    ]
    assert report.owner_text("o-1") == "o-1 (strategy spike, client order id c-1)"  # the text


def test_the_owners_read_before_the_cancels_are_named_when_the_state_file_fails_after(
    store: Store,
) -> None:
    """The state file is read before any cancel; if it fails afterwards (its disk is gone), the
    report still names each order it may have left with the strategy and client order id of
    that first read, which a person needs to know whose orders to look at."""
    two_resting_rows(store)
    clock = ManualClock()

    class LosesTheStateFile(SlowListings):
        def cancel_all_orders(self) -> None:
            store.close()
            super().cancel_all_orders()

    report = KillSwitch(LosesTheStateFile(clock), store, clock, deadline_s=60).run()

    assert sorted(report.left) == ["o-1", "o-2"] and not report.proven
    assert report.owner_text("o-1") == "o-1 (strategy spike, client order id c-1)"
    assert report.owner_text("o-2") == "o-2 (strategy mm, client order id c-2)"


class LostAfterTheListing(UnexpectedCalls):
    """An exchange that answers the first listing, then (after `unanswered` requests sent and
    never answered) refuses every connection."""

    def __init__(self, unanswered: int) -> None:
        self.unanswered = unanswered

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        return iter([])

    def cancel_all_orders(self) -> None:
        if self.unanswered:
            self.unanswered -= 1
            raise TransportError("read timed out")
        request = httpx.Request("DELETE", "http://127.0.0.1/trade-api/v2/portfolio/orders")
        try:
            raise httpx.ConnectError("connection refused", request=request)
        except httpx.ConnectError as exc:
            raise TransportError("connection refused") from exc


@pytest.mark.parametrize("unanswered", [0, 1])
def test_an_exchange_lost_after_an_answer_is_given_up_on_in_seconds(
    store: Store, unanswered: int
) -> None:
    """The count of time without a connection starts afresh after an answer or a request that
    went out, and still ends: NOT PROVEN after `UNREACHABLE_GIVE_UP_S`, not at the deadline."""
    clock = ManualClock()
    start = clock.monotonic()

    report = KillSwitch(LostAfterTheListing(unanswered), store, clock, deadline_s=60).run()

    assert not report.proven and report.unreachable
    assert clock.monotonic() - start <= UNREACHABLE_GIVE_UP_S + 2.0
    given_up = f"no connection reached the exchange for {UNREACHABLE_GIVE_UP_S:g}s: "
    assert given_up + "given up before the deadline" in report.errors


def test_an_order_the_state_file_never_recorded_is_named_with_its_owner_unknown(
    store: Store,
) -> None:
    """Placed elsewhere (the website names no client order id): the report does not guess."""
    exchange = Cancels(resting_order("web-1"))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.cancelled == ["web-1"]
    assert report.owner_text("web-1") == "web-1 (strategy unknown, client order id unknown)"


def test_a_slow_exchange_gets_the_known_orders_of_a_market_cancelled_before_any_listing(
    store: Store,
) -> None:
    two_resting_rows(store)
    clock = ManualClock()
    exchange = SlowListings(clock)
    said: list[str] = []

    report = KillSwitch(exchange, store, clock, deadline_s=60).run(
        ticker=TICKER, on_progress=said.append
    )

    assert said[0] == "cancelling the state file's 2 order(s) first"
    assert sorted(exchange.batches[0]) == [("o-1", TICKER), ("o-2", TICKER)]
    assert sorted(report.cancelled) == ["o-1", "o-2"] and not report.proven
    owners = {o["order_id"]: o for o in report.to_json()["orders"]}
    assert owners["o-2"] == {"order_id": "o-2", "client_order_id": "c-2", "strategy": "mm"}


def test_a_kill_of_a_market_cancels_first_the_known_orders_that_may_rest_on_its_subaccount(
    store: Store,
) -> None:
    """Before any listing, a kill of one market cancels the state file's orders there that
    may rest on the subaccount it acts on: not one that executed, not one of another market,
    and not another subaccount's (a kill scoped to one subaccount leaves the others' books
    alone)."""
    two_resting_rows(store)
    others = ((3, TICKER, "executed", 0), (4, TICKER, "resting", 2), (5, OTHER, "resting", 0))
    for n, ticker, status, subaccount in others:
        store.orders.record_intent(
            IntentRecord(
                f"c-{n}",
                ticker,
                BookSide.BID,
                Decimal("0.2"),
                Decimal(2),
                Side.YES,
                Action.BUY,
                strategy="mm",
                subaccount=subaccount,
            )
        )
        store.orders.mark_sent(
            f"c-{n}",
            order_id=f"o-{n}",
            status=status,
            fill_count=Decimal(2 if status == "executed" else 0),
            remaining_count=Decimal(0 if status == "executed" else 2),
        )
    clock = ManualClock()
    exchange = SlowListings(clock)
    exchange.subaccount = 0

    report = KillSwitch(exchange, store, clock, deadline_s=60).run(ticker=TICKER)

    assert sorted(exchange.batches[0]) == [("o-1", TICKER), ("o-2", TICKER)]
    assert sorted(report.cancelled) == ["o-1", "o-2"] and report.left == []


def test_a_kill_of_an_event_names_the_owner_the_state_file_holds_of_each_order_it_cancels(
    store: Store,
) -> None:
    """A kill of an event reads no orders from the state file before it cancels (a row does
    not name its event): each order the listing showed and the kill cancelled is named with
    the strategy and client order id the state file holds of it."""
    two_resting_rows(store)
    exchange = Cancels(resting_order("o-1"))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(event_ticker="KXT-EV")

    assert report.cancelled == ["o-1"]
    assert report.owner_text("o-1") == "o-1 (strategy spike, client order id c-1)"


def test_an_order_placed_elsewhere_is_named_with_the_client_order_id_its_listing_gives(
    store: Store,
) -> None:
    """Placed by another program on the account: the state file holds no row of it, and the
    report names it with the client order id the exchange's listing gives."""
    elsewhere = msgspec.structs.replace(resting_order("api-1"), client_order_id="their-7")
    exchange = Cancels(elsewhere)

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.cancelled == ["api-1"]
    assert report.owner_text("api-1") == "api-1 (strategy unknown, client order id their-7)"


class RefusedAtFirst(UnexpectedCalls):
    """An exchange that refuses the first `refused` connections, then answers: no order rests."""

    def __init__(self, refused: int) -> None:
        self.refused = refused

    def _connect(self) -> None:
        if self.refused:
            self.refused -= 1
            request = httpx.Request("GET", "http://127.0.0.1/trade-api/v2/portfolio/orders")
            try:
                raise httpx.ConnectError("connection refused", request=request)
            except httpx.ConnectError as exc:
                raise TransportError("connection refused") from exc

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self._connect()
        return iter([])

    def cancel_all_orders(self) -> None:
        self._connect()


def test_a_machine_up_for_a_day_does_not_give_up_on_an_exchange_refused_for_a_moment(
    store: Store,
) -> None:
    """The time without a connection is counted from the first refusal, on a monotonic clock
    that reads the machine's uptime: two refusals a moment apart are retried, not given up
    on, and the run proves."""
    clock = ManualClock()
    clock.advance(86_400.0)

    report = KillSwitch(RefusedAtFirst(2), store, clock, deadline_s=60).run()

    assert report.proven and not report.unreachable
    assert report.errors == ["connection refused"] * 2  # and no giving up
