"""What each portfolio read covers when the request names no `subaccount`, exactly as the
spec words it (openapi.yaml 3.31.0):

- `SubaccountQuery`, "If omitted, defaults to all subaccounts": GET /portfolio/orders,
  /portfolio/fills, /portfolio/settlements;
- `SubaccountQueryDefaultPrimary`, "Defaults to 0": GET /portfolio/positions,
  /portfolio/balance, /portfolio/orders/queue_positions.

The client relies on these defaults (client/subaccount_scope.py; the read commands' catch-up
lists every subaccount's fills by omitting it), so each is pinned here against one account that
rests, fills and settles on subaccounts 0 and 1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.wire import order_body

T = "KXSUBDEF-26JAN01-A"  # traded on subaccount 0
U = "KXSUBDEF-26JAN01-B"  # traded on subaccount 1


def ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture
def adv(tmp_path: Path) -> Iterator[SimHarness]:
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim", scenario="empty", tier="advanced", response_hook=RECORDER.hook
        )
    )
    harness.create_market(T)
    harness.create_market(U)
    yield harness
    harness.close()


def bid(sim: SimHarness, who: AccountInfo, ticker: str, subaccount: int | None = None) -> str:
    """A bid of 2 at 0.30 (on `subaccount` when given), resting."""
    body: dict[str, Any] = order_body(ticker, price="0.30", count="2")
    if subaccount is not None:
        body["subaccount"] = subaccount
    order_id: str = ok(sim.place_order(who, body), 201)["order_id"]
    return order_id


def sell_one(sim: SimHarness, who: AccountInfo, ticker: str) -> None:
    body = order_body(
        ticker, side="ask", price="0.30", count="1", time_in_force="immediate_or_cancel"
    )
    ok(sim.place_order(who, body), 201)


def read(sim: SimHarness, who: AccountInfo, path: str, key: str, **params: str) -> list[Any]:
    rows: list[Any] = ok(sim.signed(who, "GET", path, params=params))[key]
    return rows


@pytest.fixture
def both(adv: SimHarness) -> tuple[SimHarness, AccountInfo, str, str]:
    """Subaccount 0 rests a bid on T and subaccount 1 one on U; one contract of each fills."""
    me = adv.account
    assert (
        ok(adv.signed(me, "POST", "/portfolio/subaccounts", json={}), 201)["subaccount_number"] == 1
    )
    transfer = {
        "client_transfer_id": str(uuid.uuid4()),
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount_cents": 5000,
    }
    ok(adv.signed(me, "POST", "/portfolio/subaccounts/transfer", json=transfer))
    zero, one = bid(adv, me, T), bid(adv, me, U, subaccount=1)
    other = adv.new_account()
    sell_one(adv, other, T)
    sell_one(adv, other, U)
    return adv, me, zero, one


def test_orders_and_fills_cover_every_subaccount_when_none_is_named(
    both: tuple[SimHarness, AccountInfo, str, str],
) -> None:
    sim, me, zero, one = both
    orders = read(sim, me, "/portfolio/orders", "orders")
    assert sorted(o["order_id"] for o in orders) == sorted([zero, one])
    fills = read(sim, me, "/portfolio/fills", "fills")
    assert sorted(f["ticker"] for f in fills) == [T, U]
    assert [f["ticker"] for f in read(sim, me, "/portfolio/fills", "fills", subaccount="1")] == [U]


def test_positions_balance_and_queue_positions_are_subaccount_0s_when_none_is_named(
    both: tuple[SimHarness, AccountInfo, str, str],
) -> None:
    sim, me, zero, one = both
    positions = read(sim, me, "/portfolio/positions", "market_positions")
    assert [(p["ticker"], p["position_fp"]) for p in positions] == [(T, "1.00")]
    # two reads, compared whole: `updated_ts` is the balance's last change, not the read's
    balance = ok(sim.signed(me, "GET", "/portfolio/balance"))
    named_zero = ok(sim.signed(me, "GET", "/portfolio/balance", params={"subaccount": "0"}))
    assert balance == named_zero
    assert balance != {  # another balance, whatever its stamp
        **ok(sim.signed(me, "GET", "/portfolio/balance", params={"subaccount": "1"})),
        "updated_ts": balance["updated_ts"],
    }
    queue = "/portfolio/orders/queue_positions"
    assert [r["order_id"] for r in read(sim, me, queue, "queue_positions")] == [zero]
    named = read(sim, me, queue, "queue_positions", subaccount="1")
    assert [r["order_id"] for r in named] == [one]


def test_settlements_cover_every_subaccount_when_none_is_named(
    both: tuple[SimHarness, AccountInfo, str, str],
) -> None:
    sim, me, _, _ = both
    sim.settle(T, "yes")
    sim.settle(U, "yes")
    settled = read(sim, me, "/portfolio/settlements", "settlements")
    assert sorted(s["ticker"] for s in settled) == [T, U]
    named = read(sim, me, "/portfolio/settlements", "settlements", subaccount="1")
    assert [s["ticker"] for s in named] == [U]
    assert sum(Decimal(s["yes_count_fp"]) for s in settled) == 2


def test_settlements_of_one_market_on_several_subaccounts_page_to_the_end(
    both: tuple[SimHarness, AccountInfo, str, str],
) -> None:
    """Each subaccount that held a market has its own settlement of it: paging the listing of
    every subaccount one at a time gives each once and then an empty cursor."""
    sim, me, _, _ = both
    body = order_body(T, price="0.31", count="1", subaccount=1)
    ok(sim.place_order(me, body), 201)
    sell_one(sim, sim.new_account(), T)
    sim.settle(U, "yes")
    sim.settle(T, "yes")  # newest first: T's two settlements lead, U's follows them
    pages: list[list[str]] = []
    cursor = ""
    while len(pages) < 10:  # three settlements: a listing that never ends stops here
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        answer = ok(sim.signed(me, "GET", "/portfolio/settlements", params=params))
        pages.append([s["ticker"] for s in answer["settlements"]])
        cursor = answer["cursor"]
        if not cursor:
            break
    assert sorted(t for page in pages for t in page) == [T, T, U]
    assert len(pages) == 3


def test_the_historical_reads_default_and_scope_as_the_spec_words_them(
    both: tuple[SimHarness, AccountInfo, str, str],
) -> None:
    """GetFillsHistorical and GetHistoricalOrders take `SubaccountQuery` (omitted: every
    subaccount); GetHistoricalPositions takes `SubaccountQueryDefaultPrimary` (omitted: 0), and
    a named subaccount gets that subaccount's archived positions, not 0's."""
    sim, me, zero, one = both
    sim.settle(T, "yes")  # settling cancels both resting remainders
    sim.settle(U, "yes")
    ok(sim.http.put(sim.admin_url + "/historical", json={"lag_seconds": 0}))
    fills = read(sim, me, "/historical/fills", "fills")
    assert sorted(f["ticker"] for f in fills) == [T, U]
    assert [f["ticker"] for f in read(sim, me, "/historical/fills", "fills", subaccount="1")] == [U]
    orders = read(sim, me, "/historical/orders", "orders")
    assert sorted(o["order_id"] for o in orders) == sorted([zero, one])
    named_orders = read(sim, me, "/historical/orders", "orders", subaccount="1")
    assert [o["order_id"] for o in named_orders] == [one]
    positions = "/historical/positions"
    assert [p["ticker"] for p in read(sim, me, positions, "market_positions")] == [T]
    assert [p["ticker"] for p in read(sim, me, positions, "market_positions", subaccount="0")] == [
        T
    ]
    named = read(sim, me, positions, "market_positions", subaccount="1")
    assert [(p["ticker"], p["total_traded_dollars"]) for p in named] == [(U, "0.300000")]
    assert read(sim, me, positions, "market_positions", subaccount="2") == []
