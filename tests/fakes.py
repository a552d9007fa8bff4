"""Fakes shared by more than one test module."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Self, TypeVar

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import AREAS
from kalshi_cli.client.connection import Area, Connection
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import (
    AmendOrder,
    AmendResult,
    CreateOrder,
    CreateOrderResult,
    DecreaseResult,
)
from kalshi_cli.risk.engine import RiskEngine
from kalshi_cli.risk.rules import RiskContext
from kalshi_cli.services.pretrade.loop import LoopAccount, LoopView
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Order, tick_side
from kalshi_cli.vocabulary.units import ONE, Action, Side

A = TypeVar("A", bound=Area)


class EveryAreaItself:
    """A fake exchange that answers every area of the client itself: `fake.orders`,
    `fake.markets`, ... are the fake, so one flat class stands in for the composed client."""

    @property
    def markets(self) -> Self:
        return self

    @property
    def exchange(self) -> Self:
        return self

    @property
    def portfolio(self) -> Self:
        return self

    @property
    def orders(self) -> Self:
        return self

    @property
    def subaccounts(self) -> Self:
        return self

    @property
    def historical(self) -> Self:
        return self

    @property
    def order_groups(self) -> Self:
        return self


class Swapped(KalshiClient, Generic[A]):
    """A real client one of whose areas is a test's subclass of it (`area_type`) that changes
    one call, on the simulator's wire otherwise. The test reaches its instance, and whatever
    state it keeps, as `area`; a handle (`on_subaccount`) has a copy of it on its own
    connection."""

    area: A

    def __init__(self, area_type: type[A], **kwargs: Any) -> None:
        self._area_type = area_type
        super().__init__(**kwargs)

    def _attach(self, connection: Connection) -> None:
        made: A | None = getattr(self, "area", None)
        super()._attach(connection)
        area = self._area_type(connection)
        if made is not None:  # a handle: the test's state carried over, on the new connection
            area = copy.copy(made)
            area._conn = connection
        self.area = area
        (name,) = [name for name in AREAS if isinstance(area, type(getattr(self, name)))]
        setattr(self, name, area)


class UnreadAfterChange(OrdersApi):
    """A client's orders on the simulator's wire whose amends and decreases are made and
    answered, and whose reads of an order fail once one has been answered (the exchange
    answering 503): the change landed, and this machine cannot read the order back."""

    changed = False

    def amend_order(self, order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        result = super().amend_order(order_id, terms, **where)
        self.changed = True
        return result

    def decrease_order(self, order_id: str, **terms: Any) -> DecreaseResult:
        result = super().decrease_order(order_id, **terms)
        self.changed = True
        return result

    def get_order(self, order_id: str) -> Order:
        if self.changed:
            raise ServerError("request failed: HTTP 503 service_unavailable", status=503)
        return super().get_order(order_id)


class StateFailsAfterWrite(OrdersApi):
    """A client's orders on the simulator's wire whose orders, amends and decreases are made
    and answered, and which call the test's `fail` (the state file stops taking writes: a lock
    another process holds, a disk that fills) once the exchange has answered, before the
    answer is booked."""

    fail: Callable[[], None]

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        result = super().create_order(request)
        self.fail()
        return result

    def amend_order(self, order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        result = super().amend_order(order_id, terms, **where)
        self.fail()
        return result

    def decrease_order(self, order_id: str, **terms: Any) -> DecreaseResult:
        result = super().decrease_order(order_id, **terms)
        self.fail()
        return result


@dataclass(frozen=True)
class FakeAlertState:
    fingerprint: str
    status: str
    severity: str
    summary: str
    last_sent_at: float | None
    error: str | None
    first_seen_at: float
    scope: str | None = None
    told: frozenset[str] = frozenset()


class FakeAlertStateStore:
    """The alert de-duplication state (kalshi_cli.alerts.AlertStateStore) in memory, keeping
    `last_sent_at` unchanged when nothing was sent, `first_seen_at` at the start of the
    current status and `told` the severities delivered since, as the state file does."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.rows: dict[str, FakeAlertState] = {}
        self.claims: dict[str, float] = {}

    def alert_state(self, fingerprint: str) -> FakeAlertState | None:
        return self.rows.get(fingerprint)

    def claim_alert(
        self, fingerprint: str, claim: Callable[[Any, float | None], float | None]
    ) -> FakeAlertState | None:
        state = self.rows.get(fingerprint)
        until = claim(state, self.claims.get(fingerprint))
        if until is not None:
            self.claims[fingerprint] = until
        return state

    def record_alert(
        self,
        fingerprint: str,
        *,
        status: str,
        severity: str,
        summary: str,
        sent: bool,
        error: str | None = None,
        scope: str | None = None,
    ) -> None:
        self.claims.pop(fingerprint, None)
        prev = self.rows.get(fingerprint)
        now = self.clock.wall()
        last = now if sent else (prev.last_sent_at if prev else None)
        same = prev is not None and prev.status == status
        began = prev.first_seen_at if prev is not None and same else now
        told = (prev.told if prev is not None and same else frozenset()) | (
            {severity} if sent else set()
        )
        self.rows[fingerprint] = FakeAlertState(
            fingerprint, status, severity, summary, last, error, began, scope, told
        )


@dataclass(frozen=True)
class NoProblems:
    problems: tuple[str, ...] = ()


class RecordingRouter:
    """An alert router (what `kalshi_cli.runner.loop.alerting.TradeAlerts` asks of one) that
    delivers nothing: `sent`, the alerts it was asked to post; `asked`, what it was asked in
    order, ("fire" or "resolve", fingerprint); `beats`, the dead-man signals."""

    channels = ("webhook",)

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.asked: list[tuple[str, str]] = []
        self.beats: list[str] = []

    def notify(self, alert: Any, state_store: Any) -> NoProblems:
        self.sent.append(alert)
        self.asked.append(("fire", alert.fingerprint))
        return NoProblems()

    def resolve(
        self, fingerprint: str, state_store: Any, *, title: str, summary: str, runbook: str
    ) -> NoProblems:
        self.asked.append(("resolve", fingerprint))
        return NoProblems()

    def beat(self, signal: str, *, body: str = "") -> NoProblems:
        self.beats.append(signal)
        return NoProblems()


class OneRouteFails(httpx.BaseTransport):
    """The real simulator over loopback, except that one route answers `status` (an exchange
    whose `GET /account/limits` fails, while everything else works)."""

    def __init__(self, method: str, path: str, status: int = 500) -> None:
        self._inner = httpx.HTTPTransport()
        self.method, self.path, self.status = method, "/trade-api/v2" + path, status
        self.failed = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (request.method, request.url.path) == (self.method, self.path):
            self.failed += 1
            body = {"code": "internal_server_error", "message": "injected", "details": ""}
            return httpx.Response(self.status, json=body)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class Unanswered(httpx.BaseTransport):
    """The real simulator over loopback, except that requests of `method` whose path ends with
    `path` get no answer for `hold_s` (a loaded exchange, a lost network), then time out: the
    first `times` of them (None: every one). `unanswered` counts them."""

    def __init__(self, method: str, path: str, hold_s: float, times: int | None = None) -> None:
        self._inner = httpx.HTTPTransport()
        self.method, self.path, self.hold_s, self.times = method, path, hold_s, times
        self.unanswered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (
            request.method == self.method
            and request.url.path.endswith(self.path)
            and (self.times is None or self.unanswered < self.times)
        ):
            self.unanswered += 1
            time.sleep(self.hold_s)
            raise httpx.ReadTimeout("no answer", request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def loop_context(
    engine: RiskEngine,
    position: PositionView,
    *,
    total_exposure: Decimal,
    last_data_at: float | None,
) -> RiskContext:
    """The context the loop's pre-trade account builds for an order in `position`'s market now,
    handed that view alone (no budget, no event, no shard): what the engine's rules read."""
    intent = Intent(position.ticker, Side.YES, Action.BUY, Decimal("0.5"), Decimal(1), ONE, "")
    seen = LoopView(lambda ticker: position, total_exposure, tuple, last_data_at)
    return LoopAccount(engine).context(intent, seen)


def ticks(levels: Mapping[Decimal, Decimal]) -> dict[int, int]:
    """A book side written in Decimal dollars and contracts, as a venue is fed one: price ticks ->
    size hundredths (units "Integer money")."""
    return tick_side(levels.items())
