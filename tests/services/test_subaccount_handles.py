"""A read that goes over every subaccount never re-scopes the client it is given.

`kalshi_cli.services.reconcile.catch_up`, `pnl_report` (`kalshi pnl` marking each subaccount's
positions) and the `positions` and `exposure` checks read subaccount by subaccount. Each reads
through a second handle on the same connection (`client.on_subaccount(N)`), so the caller's
client stays on the subaccount it was on throughout, not only after: a client shared with
another thread (the dashboard's kill switch) set to subaccount 1 for a moment cancels and proves
on subaccount 1 only.

`_Watch` is the client's HTTP transport: at every request it notes what the caller's client acts
on at that moment, which is what another thread using it would see."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest

from kalshi_cli.checks.remote import check_exposure, check_positions
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.pnl_report import pnl_report
from kalshi_cli.services.reconcile import ReconcileReport, catch_up, resolve_unknown
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import connect, funded_subaccount, make_markets


class _Watch(httpx.HTTPTransport):
    """The transport of `watched`: `seen` gets (path, watched.subaccount) at every request."""

    def __init__(self) -> None:
        super().__init__()
        self.watched: KalshiClient | None = None
        self.seen: list[tuple[str, int | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert self.watched is not None
        self.seen.append((request.url.path, self.watched.subaccount))
        return super().handle_request(request)


@pytest.fixture
def watch(prime: SimHarness) -> Iterator[tuple[KalshiClient, _Watch]]:
    """A client of the prime account whose every request notes what it acts on; the account
    has subaccount 1, and each subaccount holds YES (0: 4 at 0.40, 1: 5 at 0.45) and rests a bid
    (0: 3 at 0.20, 1: 2 at 0.25), so every read below has something on both."""
    (ticker,) = make_markets(prime, 1)
    transport = _Watch()
    with connect(prime.account, transport=transport) as client:
        transport.watched = client
        assert funded_subaccount(client) == 1
        with connect(prime.new_account(balance_cents=100_000)) as maker:
            for subaccount, price, count in ((0, "0.40", 4), (1, "0.45", 5)):
                maker.orders.create_order(CreateOrder(ticker, BookSide.ASK, D(price), D(count)))
                _buy(client.on_subaccount(subaccount), ticker, price, count)
        _buy(client, ticker, "0.20", 3)
        _buy(client.on_subaccount(1), ticker, "0.25", 2)
        yield client, transport


def _buy(client: KalshiClient, ticker: str, price: str, count: int) -> None:
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D(price), D(count)))


def _scopes_during(
    client: KalshiClient, transport: _Watch, scope: int | None, read: Callable[[], object]
) -> tuple[set[int | None], set[str]]:
    """What the caller's client acted on at every request `read` made, and the paths read."""
    client.subaccount = scope
    transport.seen.clear()
    read()
    return {s for _, s in transport.seen}, {p for p, _ in transport.seen}


@pytest.mark.parametrize("scope", [None, 1])
def test_catch_up_reads_every_subaccount_without_rescoping_the_callers_client(
    watch: tuple[KalshiClient, _Watch], tmp_path: Path, scope: int | None
) -> None:
    client, transport = watch
    with Store.open(tmp_path / "state.db") as store:
        scopes, paths = _scopes_during(
            client, transport, scope, lambda: catch_up(client, store, now=SystemClock().wall())
        )
        books = {f.subaccount for f in store.fills.read()}
    assert "/trade-api/v2/portfolio/fills" in paths
    assert books == {0, 1}  # every subaccount's fills read, each booked on its own
    assert scopes == {scope}
    # a later call on the caller's client is still on its subaccount
    assert client.subaccount == scope
    assert {o.subaccount for o in client.orders.iter_orders(status="resting")} == (
        {0, 1} if scope is None else {scope}
    )


@pytest.mark.parametrize("scope", [None, 1])
def test_pnl_marks_every_subaccount_without_rescoping_the_callers_client(
    watch: tuple[KalshiClient, _Watch], tmp_path: Path, scope: int | None
) -> None:
    client, transport = watch
    state = tmp_path / "state.db"
    Store.open(state).close()
    report = None

    def read() -> None:
        nonlocal report
        report = pnl_report(
            state, since=None, since_ts=None, by="market", exchange=lambda: (client, None)
        )

    scopes, paths = _scopes_during(client, transport, scope, read)
    assert report is not None and report.view is not None
    held = sorted(r.contracts for r in report.view.rows)
    assert held == ([D(4), D(5)] if scope is None else [D(5)])
    assert "/trade-api/v2/portfolio/positions" in paths
    assert scopes == {scope}
    assert client.subaccount == scope


@pytest.mark.parametrize("scope", [None, 1])
@pytest.mark.parametrize("check", ["positions", "exposure"])
def test_the_positions_checks_read_every_subaccount_without_rescoping_the_callers_client(
    watch: tuple[KalshiClient, _Watch], scope: int | None, check: str
) -> None:
    client, transport = watch
    thresholds = resolve(None)
    result = None

    def read() -> None:
        nonlocal result
        if check == "positions":
            result = check_positions(client, thresholds, D(100))
        else:
            result = check_exposure(client, thresholds, D(100))

    scopes, paths = _scopes_during(client, transport, scope, read)
    assert result is not None
    extra = result.extra
    books = (
        extra["subaccounts"]
        if check == "positions"
        else [e["subaccount"] for e in extra["exposures"]]
    )
    assert sorted(books) == [0, 1]  # every subaccount's positions were read
    assert "/trade-api/v2/portfolio/positions" in paths
    assert scopes == {scope}
    assert client.subaccount == scope


@pytest.mark.parametrize("scope", [None, 1])
def test_resolve_unknown_looks_up_another_subaccounts_intent_without_rescoping_the_client(
    watch: tuple[KalshiClient, _Watch], tmp_path: Path, scope: int | None
) -> None:
    """An intent awaiting its answer on subaccount 0, looked up by a client acting on 1 (`kalshi
    trade --subaccount 1`'s start) or on none: its subaccount's orders are read through a handle
    on 0, and the caller's client never moves, not even for the length of the listing."""
    client, transport = watch
    # subaccount 0's resting bid of 3 at 0.20, recorded as if its answer had been lost
    (lost,) = client.on_subaccount(0).orders.iter_orders(status="resting")
    with Store.open(tmp_path / "state.db") as store:
        store.orders.record_intent(
            IntentRecord(
                client_order_id=lost.client_order_id,
                ticker=lost.ticker,
                book_side=lost.book_side,
                price=lost.yes_price,
                count=lost.remaining_count,
                side=Side.YES,
                action=Action.BUY,
                subaccount=0,
            )
        )
        report = ReconcileReport()
        scopes, paths = _scopes_during(
            client,
            transport,
            scope,
            lambda: resolve_unknown(client, store, report, now=SystemClock().wall()),
        )
        (found,) = store.orders.intents()
    assert report.resolved_unknown == [lost.client_order_id]
    assert (found.order_id, found.status, found.remaining) == (lost.order_id, "resting", D(3))
    assert "/trade-api/v2/portfolio/orders" in paths
    assert scopes == {scope}
    assert client.subaccount == scope
