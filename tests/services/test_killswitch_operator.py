"""What an operator and the state file see of a kill switch run, pinned where mutation testing
found it loose (docs/mutation.md): the HALTED reason and source, every progress
line, the end-of-run HALTED retry, the deadline, what a run that never saw the cancel-all's
result counts, a state file that cannot be written, and the RFQ step's failures. Every exchange
here is a fake that states the calls it expects (`UnexpectedCalls`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client.communications import Quote, Rfq
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch.order_groups import (
    ORDER_GROUPS_KEY,
    GroupPlace,
    remember_order_group,
    session_order_group_places,
)
from kalshi_cli.services.killswitch.report import KillReport
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError, KalshiError
from kalshi_cli.vocabulary.models import Fill, Order
from tests.alerts.receiver import Receiver
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi
from tests.services.killswitch_fakes import UnexpectedCalls, resting_order
from tests.services.test_killswitch_cancels_and_wiring import (
    TICKER,
    WAITING,
    Cancels,
    Groups,
    Listings,
    MaxJitter,
    OneOrderStuck,
    RecordingClock,
    SweptByCancelAll,
    fill_of,
    intent,
    order_created,
)
from tests.services.test_killswitch_rfqs import (
    _Comms,
    _NothingResting,
    _OneRestingOrder,
    _quote,
    _rfq,
)

# ---------------------------------------------------------------------------- HALTED


@pytest.mark.parametrize(
    ("ticker", "event_ticker", "scope"),
    [(None, None, "all markets"), (None, "KXT-EV", "KXT-EV"), (TICKER, None, TICKER)],
)
def test_halted_names_the_scope_and_the_source(
    store: Store, ticker: str | None, event_ticker: str | None, scope: str
) -> None:
    """`kalshi status` shows why trading is halted: the reason names what the switch covered,
    the source who pulled it (`cancel-all` unless a caller says otherwise)."""
    KillSwitch(Listings(), store, ManualClock(), deadline_s=30).run(
        ticker=ticker, event_ticker=event_ticker
    )

    state = store.trading.trading_state()
    assert (state.state, state.reason, state.source) == (
        "HALTED",
        f"kill switch ({scope})",
        "cancel-all",
    )
    (started,) = store.entries.read(kind="kill_switch")
    assert started.data == {"ticker": ticker, "event_ticker": event_ticker}


def test_without_a_state_file_the_operator_reads_why_and_the_cancels_go_out() -> None:
    said: list[str] = []

    report = KillSwitch(Listings(), None, ManualClock(), deadline_s=30).run(on_progress=said.append)

    assert report.proven and report.exchange_cancel_all
    assert report.state_error == "no state file" and not report.halted
    assert said == [
        "HALTED not recorded (no state file); cancelling anyway",
        "exchange cancel-all sent (0 resting before)",
    ]


def test_the_reason_a_state_file_could_not_be_opened_is_the_one_the_operator_reads() -> None:
    said: list[str] = []
    switch = KillSwitch(
        Listings(), None, ManualClock(), deadline_s=30, state_error="state file is locked"
    )

    report = switch.run(ticker=TICKER, on_progress=said.append)

    assert report.state_error == "state file is locked"
    assert said[0] == "HALTED not recorded (state file is locked); cancelling anyway"


def test_halted_recorded_only_at_the_end_says_so_and_keeps_why_it_was_late(
    tmp_path: Path,
) -> None:
    """Another writer holds the lock through HALTED and lets go as the proof listing is taken:
    the end of the run records HALTED and the result, and tells the operator it came after the
    cancels."""
    db = tmp_path / "state.db"
    said: list[str] = []
    with Store.open(db) as store, Store.open(db) as holder, ExitStack() as lock:
        lock.enter_context(holder.transaction())
        exchange = Listings(lambda n: lock.close())
        switch = KillSwitch(exchange, store, ManualClock(), deadline_s=30, halt_wait_s=0)

        report = switch.run(ticker=TICKER, on_progress=said.append)

        assert report.proven and exchange.listings == 2
        assert report.halted and report.result_recorded
        assert report.state_error is not None and "locked" in report.state_error
        assert said[0].startswith("HALTED not recorded (") and "locked" in said[0]
        assert said[-1] == "HALTED recorded, after the cancels"
        assert store.trading.trading_state().state == "HALTED"
        assert len(store.entries.read(kind="kill_switch_result")) == 1


def test_halted_recorded_at_once_is_not_announced_again(store: Store) -> None:
    said: list[str] = []

    report = KillSwitch(Cancels(resting_order("o-1")), store, ManualClock(), deadline_s=30).run(
        ticker=TICKER, on_progress=said.append
    )

    assert report.proven and report.halted
    assert said == ["round 1: 1 resting, cancelling"]


# ---------------------------------------------------------------------------- progress


def test_the_cancel_all_line_counts_what_rested_before_it(store: Store) -> None:
    a = order_created("a", "2026-11-22T10:00:00Z", "2.00")
    b = order_created("b", "2026-11-22T10:00:00Z", "1.00")
    said: list[str] = []

    KillSwitch(SweptByCancelAll([a, b], []), store, ManualClock(), deadline_s=30).run(
        on_progress=said.append
    )

    assert said == ["exchange cancel-all sent (2 resting before)"]


def test_an_empty_listing_within_the_read_lag_of_halted_is_taken_again_and_says_so(
    store: Store,
) -> None:
    exchange = Listings()
    said: list[str] = []

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(
        ticker=TICKER, on_progress=said.append
    )

    assert report.proven and report.rounds == 2 and exchange.listings == 2
    assert said == ["round 1: none resting, listing again after the read lag"]


def test_an_order_awaiting_its_answer_is_said_each_round_and_reported_once(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    said: list[str] = []
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        intent(store, "loop-1")

        report = KillSwitch(Listings(), store, clock, deadline_s=10, read_lag_s=0).run(
            ticker=TICKER, on_progress=said.append
        )

    assert not report.proven and report.rounds > 2
    assert report.errors == [WAITING]
    assert said[:2] == [
        f"round 1: none resting, but {WAITING}",
        f"round 2: none resting, but {WAITING}",
    ]


# ---------------------------------------------------------------------------- the deadline


class CancelTakesUntil(Cancels):
    """`Cancels`, whose batch cancel is answered exactly at `moment` on `clock`."""

    def __init__(self, clock: ManualClock, moment: float, *orders: Order) -> None:
        super().__init__(*orders)
        self.clock = clock
        self.moment = moment
        self.listings = 0

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        yield from list(self.listed)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.clock.advance(self.moment - self.clock.monotonic())
        return super().batch_cancel(orders, subaccounts=subaccounts)


def test_a_run_that_reaches_its_deadline_lists_nothing_more(store: Store) -> None:
    """The deadline is the operator's bound on the run: a cancel answered exactly at it ends the
    run unproven, with no listing after it."""
    clock = ManualClock()
    exchange = CancelTakesUntil(clock, clock.monotonic() + 30, resting_order("o-1"))

    report = KillSwitch(exchange, store, clock, deadline_s=30, read_lag_s=0).run(ticker=TICKER)

    assert report.cancelled == ["o-1"]
    assert not report.proven and exchange.listings == 1 and report.left == ["o-1"]


# ---------------------------------------------------------------------------- after a cancel-all


class ListingsFailAfterCancelAll(SweptByCancelAll):
    """Lists `orders` once; after the cancel-all every listing is refused (a 4xx, an answer)."""

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        if self.swept:
            raise ApiError.from_response(403, {"code": "forbidden", "message": "no"})
        yield from self.listed


def test_orders_no_listing_showed_gone_are_not_counted_as_cancelled(store: Store) -> None:
    """Only an order a later listing no longer shows counts as cancelled by the cancel-all: when
    no listing after it could be read, nothing is counted (nor marked in the state file)."""
    a = order_created("a", "2026-11-22T10:00:00Z", "2.00")
    exchange = ListingsFailAfterCancelAll([a], [fill_of("b", "1.00")])

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run()

    assert report.exchange_cancel_all and not report.proven
    assert report.cancelled == [] and report.contracts_cancelled == 0
    assert exchange.min_ts == []  # no fills listing: nothing to count


# ---------------------------------------------------------------------------- the state file


def test_a_state_file_that_cannot_be_written_does_not_stop_the_cancels_when_a_group_is_gone(
    tmp_path: Path,
) -> None:
    """A read-only state file: the group list reads, the exchange no longer knows the group, and
    forgetting it fails; the cancel-all still goes out and the group stays listed."""
    db = tmp_path / "state.db"
    with Store.open(db) as writable:
        remember_order_group(writable, "g-gone")
    readonly = Store.open_readonly(db)
    assert readonly is not None
    gone = ApiError.from_response(404, {"code": "not_found", "message": "no such group"})
    exchange = Groups({"g-gone": [gone]})
    with readonly:
        report = KillSwitch(exchange, readonly, ManualClock(), deadline_s=30).run()

        assert report.proven and report.exchange_cancel_all
        assert exchange.triggers == ["g-gone"] and report.order_groups_triggered == []
        assert not report.halted and report.state_error is not None
        assert session_order_group_places(readonly) == [GroupPlace("g-gone")]


def test_a_group_on_subaccount_0_is_stored_as_its_bare_id(store: Store) -> None:
    """The form every version reads: an older `kalshi cancel-all` (before groups could live on
    other subaccounts) only knows bare ids, and must still trigger the group."""
    remember_order_group(store, "g-main")
    remember_order_group(store, "g-sub", subaccount=2)

    assert store.entries.get_kv(ORDER_GROUPS_KEY) == (
        '["g-main", {"order_group_id": "g-sub", "subaccount": 2}]'
    )


# ---------------------------------------------------------------------------- retries


class ListingFailsWith(UnexpectedCalls):
    """Every order listing raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        raise self.error

    def iter_fills(self, *, min_ts: int | None = None) -> Iterator[Fill]:
        raise AssertionError("nothing was listed")


def test_an_error_that_is_not_an_answer_is_reported_in_its_own_words(store: Store) -> None:
    """A failure of ours (not the exchange's answer) stops the run at once, and the report
    says what it was."""
    exchange = ListingFailsWith(KalshiError("the order listing could not be read"))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert not report.proven and report.errors == ["the order listing could not be read"]


# ---------------------------------------------------------------------------- the RFQ step


def _kill_rfqs(
    comms: _Comms, *, ticker: str | None = None, said: list[str] | None = None
) -> KillReport:
    switch = KillSwitch(
        _NothingResting(), None, ManualClock(), deadline_s=60, rng=MaxJitter(), communications=comms
    )
    return switch.run(ticker=ticker, on_progress=(said if said is not None else []).append)


class FailingComms(_Comms):
    """`_Comms`, whose calls raise the errors queued for them first: `failures["list"]` for the
    RFQ listings (None lets one through), `failures["delete_rfq"]` and `["delete_quote"]` for
    the deletes."""

    def __init__(
        self, rfqs: list[Rfq], quotes: list[Quote], failures: dict[str, list[Exception | None]]
    ) -> None:
        super().__init__(rfqs, quotes)
        self.failures = failures

    def _fail(self, call: str) -> None:
        queue = self.failures.get(call) or []
        if queue and (error := queue.pop(0)) is not None:
            raise error

    def iter_rfqs(
        self,
        *,
        market_ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        mine: bool = False,
        subaccount: int | None = None,
    ) -> Iterator[Rfq]:
        self._fail("list")
        return super().iter_rfqs(
            market_ticker=market_ticker,
            event_ticker=event_ticker,
            status=status,
            mine=mine,
            subaccount=subaccount,
        )

    def delete_rfq(self, rfq_id: str) -> None:
        self._fail("delete_rfq")
        super().delete_rfq(rfq_id)

    def delete_quote(self, quote_id: str, *, rfq_id: str | None = None) -> None:
        self._fail("delete_quote")
        super().delete_quote(quote_id, rfq_id=rfq_id)


BUSY = ApiError.from_response(503, {})
REFUSED = ApiError.from_response(403, {"code": "forbidden", "message": "no"})


def test_closing_rfqs_and_quotes_is_said_and_the_order_listing_waits_its_read_lag() -> None:
    comms = _Comms([_rfq("r-1")], [_quote("q-1", "open")])
    said: list[str] = []

    report = _kill_rfqs(comms, ticker="KXRFQ-A", said=said)

    assert report.proven and report.rounds == 1  # listed once, after the read lag of the deletes
    assert said[1:] == ["1 RFQ(s) closed, 1 quote(s) cancelled"]  # after "HALTED not recorded"


def test_nothing_to_close_says_nothing_of_rfqs() -> None:
    said: list[str] = []

    report = _kill_rfqs(_Comms([], []), ticker="KXRFQ-A", said=said)

    assert report.proven and report.rounds == 2
    assert said[1:] == ["round 1: none resting, listing again after the read lag"]


def test_an_rfq_whose_delete_was_refused_leaves_the_run_unproven() -> None:
    """A refused delete leaves the RFQ open (an accepted quote on it can still execute): the
    proof listing shows it, and the run is not proven."""
    comms = FailingComms([_rfq("r-1")], [], {"delete_rfq": [REFUSED]})
    said: list[str] = []

    report = _kill_rfqs(comms, ticker="KXRFQ-A", said=said)

    assert report.rfqs_closed == [] and report.communications_left == ["r-1"]
    assert report.errors == [REFUSED.one_line()]
    assert report.proven is False
    assert said[1] == "0 RFQ(s) closed, 0 quote(s) cancelled"


def test_a_refused_quote_delete_does_not_hold_back_the_order_cancels() -> None:
    clock = ManualClock()
    exchange = _OneRestingOrder(clock)
    comms = FailingComms([], [_quote("q-1", "open")], {"delete_quote": [REFUSED]})
    switch = KillSwitch(exchange, None, clock, deadline_s=60, communications=comms)

    report = switch.run(ticker="KXRFQ-A")

    assert report.cancelled == ["o-1"] and report.left == []
    assert report.quotes_cancelled == [] and report.communications_left == ["q-1"]
    assert report.errors == [REFUSED.one_line()] and report.proven is False


def test_deletes_answered_503_are_retried_within_the_rfq_steps_share() -> None:
    comms = FailingComms(
        [_rfq("r-1")], [_quote("q-1", "open")], {"delete_rfq": [BUSY], "delete_quote": [BUSY]}
    )

    report = _kill_rfqs(comms)

    assert report.rfqs_closed == ["r-1"] and report.quotes_cancelled == ["q-1"]
    assert report.errors == [BUSY.one_line(), BUSY.one_line()]
    assert report.proven and report.communications_left == []


def test_a_proof_listing_answered_503_is_retried() -> None:
    comms = FailingComms([_rfq("r-1")], [], {"list": [None, BUSY]})

    report = _kill_rfqs(comms)

    assert report.proven and report.communications_left == []
    assert report.errors == [BUSY.one_line()]
    assert len(comms.rfq_asks) == 2


def test_a_proof_listing_that_fails_leaves_the_closing_unproven() -> None:
    comms = FailingComms([_rfq("r-1")], [], {"list": [None, REFUSED]})

    report = _kill_rfqs(comms)

    assert report.rfqs_closed == ["r-1"] and report.proven is False
    assert report.errors == [
        REFUSED.one_line(),
        "RFQs and quotes not listed again: their closing is not proven",
    ]


def test_a_group_entry_without_a_string_id_and_an_integer_subaccount_is_skipped(
    store: Store,
) -> None:
    """The kill switch triggers each group the state file lists on its subaccount: an entry it
    cannot place exactly (a hand-edited or garbled file) is skipped, never sent half-read."""
    store.entries.set_kv(
        ORDER_GROUPS_KEY,
        '[{"order_group_id": "g-1", "subaccount": "2"}, {"order_group_id": 7, "subaccount": 2},'
        ' {"order_group_id": "g-2", "subaccount": true}, {"order_group_id": "", "subaccount": 1},'
        ' {"order_group_id": "g-3", "subaccount": 3}]',
    )

    assert session_order_group_places(store) == [GroupPlace("g-3", 3)]


def test_an_rfq_proof_listing_the_deadline_leaves_no_time_for_is_not_taken(store: Store) -> None:
    """An order the exchange never cancels ends the order rounds at the deadline, within the
    read lag of its last cancel: the RFQ proof listing is not taken (it would come after the
    deadline) and the report says the closing is not proven."""
    clock = RecordingClock()
    comms = _Comms([_rfq("r-1", ticker="KXT-EV-M00")], [])
    switch = KillSwitch(
        OneOrderStuck(), store, clock, deadline_s=5, rng=MaxJitter(), communications=comms
    )

    report = switch.run(ticker="KXT-EV-M00")

    assert report.rfqs_closed == ["r-1"] and report.left == ["stuck-1"]
    assert not report.proven and len(comms.rfq_asks) == 1  # no proof listing
    assert report.errors[-1] == "RFQs and quotes not listed again: their closing is not proven"


def test_the_order_listing_waits_the_read_lag_of_the_last_rfq_delete() -> None:
    """A delete answered late (after a 503 and a pause) moves the first order listing to a read
    lag after that answer, not after HALTED: a listing any sooner could predate the delete."""
    clock = ManualClock()
    asked: list[float] = []  # monotonic
    exchange = Listings(lambda n: asked.append(clock.monotonic()))
    comms = FailingComms([_rfq("r-1")], [], {"delete_rfq": [BUSY]})
    switch = KillSwitch(
        exchange, None, clock, deadline_s=60, rng=MaxJitter(), read_lag_s=1, communications=comms
    )
    started = clock.monotonic()

    report = switch.run(ticker="KXRFQ-A")

    assert report.proven and report.rfqs_closed == ["r-1"]
    # the delete was answered after the retry's pause (0.1 s): the listing a read lag later
    assert asked == [pytest.approx(started + 0.1 + 1)]


class CancelAllMisses(Cancels):
    """`Cancels`, whose cancel-all leaves the orders resting (only a batch cancel takes them),
    recording each fills listing."""

    def __init__(self, *orders: Order) -> None:
        super().__init__(*orders)
        self.fill_listings = 0

    def cancel_all_orders(self) -> None:
        pass

    def iter_fills(self, *, min_ts: int | None = None) -> Iterator[Fill]:
        self.fill_listings += 1
        yield from ()


def test_an_order_the_cancel_all_missed_is_counted_once_from_its_own_cancel(
    store: Store,
) -> None:
    """An order still listed after the exchange's cancel-all is cancelled in a batch, which says
    what it took: it counts once, from that answer, and needs no fills to be counted."""
    exchange = CancelAllMisses(resting_order("a", count="2.00"))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run()

    assert report.proven and report.exchange_cancel_all
    assert report.cancelled == ["a"] and report.contracts_cancelled == Decimal(2)
    assert exchange.fill_listings == 0


def test_a_result_that_cannot_be_recorded_says_why(tmp_path: Path) -> None:
    """HALTED is recorded at once; then another writer takes the lock for the rest of the run:
    the cancels are proven, and the report says why their record is missing."""
    db = tmp_path / "state.db"
    with Store.open(db) as store, Store.open(db) as holder, ExitStack() as lock:

        def lock_it(n: int) -> None:
            if n == 1:
                lock.enter_context(holder.transaction())

        switch = KillSwitch(Listings(lock_it), store, ManualClock(), deadline_s=30, halt_wait_s=0)

        report = switch.run(ticker=TICKER)

        assert report.proven and report.halted and not report.result_recorded
        assert report.state_error is not None and "locked" in report.state_error
        # what `cancel-all --json` says: HALTED is recorded, the state file's record is not
        assert report.state_json() == {
            "halted": True,
            "state_recorded": False,
            "state_error": report.state_error,
        }
        lock.close()
        assert store.trading.trading_state().state == "HALTED"
        assert store.entries.read(kind="kill_switch_result") == []


def test_cancel_all_with_no_loop_running_posts_its_critical_alert_once(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, receiver: Receiver
) -> None:
    """runbooks/06: the kill switch's alert reaches the webhooks whoever pulled it, with no
    trade loop to see HALTED; critical, as the loop's own for the same fingerprint."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.yaml").write_text(receiver.alerts_config("critical", "info"))
    result = kalshi("cancel-all", "--yes")
    assert result.exit_code == 0, result.output
    assert [(p["fingerprint"], p["severity"], p["status"]) for p in receiver.posts] == [
        ("trade.kill_switch", "critical", "firing")
    ]
    assert receiver.posts[0]["runbook"] == "runbooks/06-kill-switch-used.md"
