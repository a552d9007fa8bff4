"""What the kill switch sends, counts, records and waits, pinned exactly: the single exchange
cancel-all, the contracts cancelled, the events it logs, the growth of its backoff, and the stop
on a 4xx with what it says about reachability."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import CreateOrder, KalshiClient
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch import IN_FLIGHT_S, KillSwitch
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError, KalshiError, TransportError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Action, BookSide, Order, Side, decode_answer
from tests.conftest import SimHarness
from tests.orders.exchange_fakes import UnexpectedCalls

from .conftest import Kalshi, connect, make_markets, resting_count

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
    with connect(prime.new_account()) as other:
        other.orders.create_order(CreateOrder(first, BookSide.ASK, Decimal("0.30"), Decimal(4)))
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
    (started,) = store.events.events(kind="kill_switch")
    assert started.data == {"ticker": None, "event_ticker": None}
    (result,) = store.events.events(kind="kill_switch_result")
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
    (started,) = store.events.events(kind="kill_switch")
    assert started.data == {"ticker": ticker, "event_ticker": None}
    (result,) = store.events.events(kind="kill_switch_result")
    assert result.data == report.to_json()


class OneOrderStuck(UnexpectedCalls):
    """An exchange that lists one resting order and refuses every cancel of it."""

    def __init__(self) -> None:
        self.order = decode_answer(
            Order,
            {
                "order_id": "stuck-1",
                "ticker": "KXT-EV-M00",
                "book_side": "bid",
                "status": "resting",
                "yes_price_dollars": "0.2000",
                "fill_count_fp": "0.00",
                "remaining_count_fp": "1.00",
            },
        )

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
    (result,) = store.events.events(kind="kill_switch_result")
    assert result.data["unreachable"] is False and result.data["proven"] is False


def test_transport_errors_to_the_deadline_mean_unreachable(store: Store) -> None:
    exchange = FlakyExchange(*(TransportError("no answer") for _ in range(1000)))

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
        self.order = decode_answer(
            Order,
            {
                "order_id": "late-1",
                "client_order_id": client_order_id,
                "ticker": "KXT-EV-M00",
                "book_side": "bid",
                "status": "resting",
                "yes_price_dollars": "0.2000",
                "fill_count_fp": "0.00",
                "remaining_count_fp": "2.00",
            },
        )

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


def pending_intent(store: Store) -> str:
    intent = IntentRecord(
        "loop-1", "KXT-EV-M00", BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES, Action.BUY
    )
    store.orders.record_intent(intent)
    return intent.client_order_id


def test_an_empty_listing_proves_nothing_while_an_intent_is_in_flight(tmp_path: Path) -> None:
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        exchange = LandsLate(store, pending_intent(store))

        report = KillSwitch(exchange, store, clock, deadline_s=30).run(ticker="KXT-EV-M00")

        assert report.proven
        assert exchange.listings == 3  # empty but in flight; the order; empty
        assert report.cancelled == ["late-1"] and report.contracts_cancelled == Decimal(2)


def test_a_pending_row_left_by_a_crash_long_ago_does_not_hold_the_proof(tmp_path: Path) -> None:
    clock = ManualClock()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        pending_intent(store)
        clock.advance(IN_FLIGHT_S + 1)  # past the time its request could still land (40 s)
        exchange = FlakyExchange()

        # read_lag_s=0: one listing (with a read lag an empty first listing is taken again)
        report = KillSwitch(exchange, store, clock, deadline_s=30, read_lag_s=0).run(
            ticker="KXT-EV-M00"
        )

        assert report.proven and exchange.listings == 1


def test_one_deadline_default_of_60_seconds_for_the_switch_the_command_and_the_dashboard(
    store: Store,
) -> None:
    """docs/kill-switch.md: the deadline defaults to 60 s, wherever the switch is pulled from."""
    import inspect

    import typer.main

    from kalshi_cli.cli import trading
    from kalshi_cli.dashboard import actions
    from kalshi_cli.services.killswitch import DEFAULT_DEADLINE_S

    clock = ManualClock()
    started = clock.monotonic()

    report = KillSwitch(OneOrderStuck(), store, clock, read_lag_s=0).run(ticker="KXT-EV-M00")

    assert not report.proven
    # it gives up when the next pause (at most 2 s) would pass 60 s
    assert 58 <= clock.monotonic() - started <= 60
    assert DEFAULT_DEADLINE_S == 60
    holder = typer.Typer()
    trading.register(holder)
    (cancel_all,) = (
        c for c in typer.main.get_group(holder).commands.values() if c.name == "cancel-all"
    )
    (option,) = (p for p in cancel_all.params if p.name == "deadline")
    assert option.default == DEFAULT_DEADLINE_S
    assert inspect.signature(actions.kill).parameters["deadline_s"].default == DEFAULT_DEADLINE_S
