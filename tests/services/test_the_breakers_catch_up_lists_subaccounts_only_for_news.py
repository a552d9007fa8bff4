"""The catch-up a hand order makes before the daily circuit breaker (and `kalshi positions`'s)
lists every subaccount's fills and settlements at once, and lists the account's subaccounts, to
read each on its own, only when something new there must be told apart by them
(docs/pnl.md "Read commands catch up first"): a hand order with nothing new since the last look
asks no subaccount listing, and a settlement of another subaccount is still booked there. Each
catch-up's requests are counted: the fills listed once, the next catch-up from its cursor (the
last catch-up's time less `CATCH_UP_OVERLAP_S`), the subaccounts asked at most once, and only for
a new fill naming none of an order placed elsewhere or a settlement not yet recorded."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from unittest.mock import ANY

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.subaccounts import SubaccountBalance
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import CATCH_UP_OVERLAP_S, catch_up
from kalshi_cli.store import Store
from kalshi_cli.store.records import RESTING, IntentRecord
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.models import Fill, Settlement, decode_answer
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import RequestsSeen, another_accounts_order, connect
from tests.runner.fakes import START, FakeClient, new_exchange, order_fill, trader

SUBACCOUNTS = "/portfolio/subaccounts/balances"
TICKER = "KXEVENT-M1"


def test_a_hand_order_with_nothing_new_since_the_last_look_lists_no_subaccounts(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    seen = RequestsSeen()
    client: KalshiClient
    with connect(prime.account, transport=seen) as client:
        service = OrderService(client, store)
        buy = OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.10"))
        service.place(service.prepare(buy))
        seen.clear()
        service.place(service.prepare(buy))
    asked = seen.paths
    assert "/portfolio/fills" in asked and "/portfolio/settlements" in asked, asked
    assert SUBACCOUNTS not in asked, asked


def test_each_catch_up_reads_the_fills_once_and_the_next_only_since_the_last_less_its_overlap(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    """A fill of an order placed elsewhere (which names its subaccount, as the exchange names it
    to a direct member): the first catch-up lists every fill once, of both tiers, and asks no
    subaccount; the next, with nothing new, lists the live fills from `CATCH_UP_OVERLAP_S` back
    of the first and no more: the archive, older than that, is not read again."""
    requests = RequestsSeen()
    with connect(prime.account, transport=requests) as client:
        another_accounts_order(prime, ticker, BookSide.ASK, "0.60", 2)
        client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(2)))
        first = time.time()
        requests.clear()
        catch_up(client, store, now=first)
        assert [f.ticker for f in store.fills.read()] == [ticker]
        assert requests.paths == [
            "/portfolio/fills",
            "/historical/cutoff",
            "/historical/fills",
            "/portfolio/settlements",
        ]
        requests.clear()
        catch_up(client, store, now=first + 60)
    since = str(int(first - CATCH_UP_OVERLAP_S))
    assert list(zip(requests.paths, requests.queries, strict=True)) == [
        ("/portfolio/fills", {"min_ts": since, "limit": ANY}),
        ("/historical/cutoff", {}),
        ("/portfolio/settlements", {"min_ts": since, "limit": ANY}),
    ]


def _settled_on_one(ticker: str) -> Settlement:
    """10 YES bought for $6.00 that settled NO at 00:10 on the day of START: $6.00 lost."""
    return decode_answer(
        Settlement,
        {
            "ticker": ticker,
            "event_ticker": "KXEVENT",
            "market_result": "no",
            "yes_count_fp": "10.00",
            "yes_total_cost_dollars": "6.0000",
            "no_count_fp": "0.00",
            "no_total_cost_dollars": "0.0000",
            "revenue": 0,
            "fee_cost": "0.0000",
            "settled_time": "2026-01-01T00:10:00Z",
        },
    )


class _SettledOnOne(FakeClient):
    """An account with subaccounts 0 and 1, a market settled on 1 alone (a listing on no
    subaccount covers both: the spec's default), counting its subaccount listings."""

    settled: Settlement | None = None
    listings: list[int]  # one item a listing, shared by every handle (`on_subaccount`)

    def iter_settlements(self, **kwargs: Any) -> Any:
        number = kwargs.get("subaccount", self.subaccount)
        return iter([self.settled] if self.settled and number in (None, 1) else [])

    def subaccount_balances(self) -> list[SubaccountBalance]:
        self.listings.append(1)
        return [SubaccountBalance(n, D(0), 0) for n in (0, 1)]


def test_a_settlement_of_another_subaccount_is_booked_there_and_then_lists_no_subaccounts(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START + 3_600)
    exchange = new_exchange(clock=clock)
    ticker = next(iter(exchange.reference.markets))
    client = _SettledOnOne(exchange, trader(exchange), clock=clock)
    client.listings = []
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        catch_up(client, store, now=clock.wall())
        assert client.listings == []  # nothing to tell apart
        client.settled = _settled_on_one(ticker)
        catch_up(client, store, now=clock.wall())
        assert [(s.ticker, s.subaccount) for s in store.settlements.read()] == [(ticker, 1)]
        assert store.trading.daily_realized_pnl(utc_day(START)) == D("-6")
        asked = len(client.listings)
        assert asked >= 1
        catch_up(client, store, now=clock.wall())
        assert len(client.listings) == asked  # recorded: no subaccount asked again


def _fill(order_id: str, at: float, **named: int) -> Fill:
    """A fill of one contract of `order_id` at `at`; `named`: its `subaccount_number`, which
    the exchange lists to a direct member alone."""
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return order_fill(
        order_id, TICKER, "bid", "0.4000", fee="0", created_time=when, ts=int(at), **named
    )


class _Counted(FakeClient):
    """An account of subaccounts `numbers` whose listings on no subaccount cover every one
    (the spec's default): `fills_on[n]` what a fill listing on n gives, `settled_on` the same
    of settlements. Every read is written to `asked`, shared by every handle."""

    numbers: list[int]
    fills_on: dict[int | None, list[Fill]]
    settled_on: dict[int | None, list[Settlement]]
    asked: list[tuple[object, ...]]

    def iter_fills(self, *, min_ts: int | None = None, **_: Any) -> Any:
        self.asked.append(("fills", self.subaccount, min_ts))
        listed = self.fills_on.get(self.subaccount, [])
        return iter([f for f in listed if min_ts is None or (f.ts or 0) >= min_ts])

    def iter_settlements(self, **kwargs: Any) -> Any:
        number = kwargs.get("subaccount", self.subaccount)
        self.asked.append(("settlements", number, kwargs.get("min_ts")))
        return iter(self.settled_on.get(number, []))

    def subaccount_balances(self) -> list[SubaccountBalance]:
        self.asked.append(("subaccounts",))
        return [SubaccountBalance(n, D(0), 0) for n in self.numbers]


def _counted(clock: ManualClock, numbers: list[int]) -> _Counted:
    exchange = new_exchange(clock=clock)
    client = _Counted(exchange, trader(exchange), clock=clock)
    client.numbers, client.fills_on, client.settled_on, client.asked = numbers, {}, {}, []
    return client


def test_an_untold_fill_on_an_account_of_the_primary_alone_is_listed_once(
    tmp_path: Path,
) -> None:
    """A fill naming no subaccount, of an order placed elsewhere: the subaccounts are asked to
    tell it apart, and an account of the primary alone has it booked from the one listing, not
    listed again on the primary."""
    clock = ManualClock(START + 3_600)
    client = _counted(clock, [0])
    theirs = _fill("by-hand", START + 3_500)
    client.fills_on = {None: [theirs], 0: [theirs]}
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        assert catch_up(client, store, now=clock.wall()) == 1
        assert {f.fill_id: f.subaccount for f in store.fills.iter_fills()} == {theirs.fill_id: 0}
    assert client.asked == [("fills", None, None), ("settlements", None, None), ("subaccounts",)]


def test_a_catch_up_asks_the_subaccounts_only_for_what_is_new_and_untold_and_once(
    tmp_path: Path,
) -> None:
    """On an account of subaccounts 0 and 1: a fill naming none of an order the state file
    placed asks no subaccount (its order tells it); a new fill naming none of an order placed
    elsewhere, with a settlement, asks the subaccounts once, for the fills and the settlements,
    and lists each subaccount's fills since the last catch-up less the overlap; the next, with
    that fill recorded, asks none again."""
    clock = ManualClock(START + 3_600)
    client = _counted(clock, [0, 1])
    ours = _fill("ours-on-1", START + 3_500)
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        store.orders.record_intent(
            IntentRecord(
                "c-1", TICKER, BookSide.BID, D("0.40"), D(1), Side.YES, Action.BUY, subaccount=1
            )
        )
        store.orders.mark_sent(
            "c-1", order_id="ours-on-1", status=RESTING, fill_count=D(0), remaining_count=D(1)
        )
        client.fills_on = {None: [ours], 1: [ours]}
        catch_up(client, store, now=clock.wall())
        assert client.asked == [("fills", None, None), ("settlements", None, None)]

        first = clock.wall()
        clock.advance(60)
        theirs = _fill("by-hand-on-1", clock.wall() - 10)
        client.fills_on = {None: [theirs, ours], 1: [theirs, ours]}
        client.settled_on = {None: [_settled_on_one(TICKER)], 1: [_settled_on_one(TICKER)]}
        client.asked.clear()
        assert catch_up(client, store, now=clock.wall()) == 2
        since = int(first - CATCH_UP_OVERLAP_S)
        assert client.asked == [
            ("fills", None, since),
            ("settlements", None, since),
            ("subaccounts",),
            ("fills", 0, since),
            ("fills", 1, since),
            ("settlements", 0, since),
            ("settlements", 1, since),
        ]
        booked = {f.fill_id: f.subaccount for f in store.fills.iter_fills()}
        assert booked == {ours.fill_id: 1, theirs.fill_id: 1}
        assert [(s.ticker, s.subaccount) for s in store.settlements.read()] == [(TICKER, 1)]

        second = clock.wall()
        clock.advance(60)
        client.asked.clear()
        assert catch_up(client, store, now=clock.wall()) == 0
        assert client.asked == [
            ("fills", None, int(second - CATCH_UP_OVERLAP_S)),
            ("settlements", None, int(second - CATCH_UP_OVERLAP_S)),
        ]


def test_a_catch_up_on_one_subaccount_lists_its_settlements_since_the_last_one(
    tmp_path: Path,
) -> None:
    """A catch-up made through a client on one subaccount lists every subaccount's settlements
    (the cursor is the state file's): after the first catch-up, since the last one less the
    overlap, not from the account's opening."""
    clock = ManualClock(START + 3_600)
    client = _counted(clock, [0, 1]).on_subaccount(1)
    assert isinstance(client, _Counted)
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        catch_up(client, store, now=clock.wall())
        first = clock.wall()
        clock.advance(60)
        client.asked.clear()
        catch_up(client, store, now=clock.wall())
    since = int(first - CATCH_UP_OVERLAP_S)
    assert [a for a in client.asked if a[0] == "settlements"] == [("settlements", None, since)]
