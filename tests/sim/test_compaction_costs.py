"""The compaction (records stored compactly a minute after they are made; the live listings
read by index) keeps the answers and costs it had before: each test failed on a first version of
it.

F1  GET /portfolio/fills refused its query parameters in another order than before: the shard
    parameters (`subaccount`, `exchange_index`, last in the spec) were checked first.
F2  the retention's pass over every keyed account's live orders ran on nearly every tick of a
    busy simulator; it now runs once per `COMPACT_EVERY_S`.
F3  GET /portfolio/orders of one ledger parsed the id of every live order on every request.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.sim.core import record_views, trade_archive
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.historical import COMPACT_EVERY_S, HistoryPolicy, attach_retention
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce
from tests.conftest import STANDARD_FEES, SimHarness
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market

# ---------------------------------------------------------------------------------- F1


# (query, the answer 0282284^ gave: 400 and this msg)
_OLD_FILLS_REFUSALS: list[tuple[dict[str, str], str]] = [
    (
        {"limit": "0", "subaccount": "64"},
        "Parameter validation failed for GetFills: Key: 'GetFillsParams.Limit' Error:Field "
        "validation for 'Limit' failed on the 'gte' tag",
    ),
    (
        {"limit": "abc", "subaccount": "abc"},
        'Parameter validation failed for GetFills: limit: strconv.ParseInt: parsing "abc": '
        "invalid syntax",
    ),
    (
        {"exchange_index": "abc", "limit": "0"},
        "Parameter validation failed for GetFills: Key: 'GetFillsParams.Limit' Error:Field "
        "validation for 'Limit' failed on the 'gte' tag",
    ),
    (
        {"min_ts": "abc", "subaccount": "64"},
        'Parameter validation failed for GetFills: min_ts: strconv.ParseInt: parsing "abc": '
        "invalid syntax",
    ),
    (
        {"max_ts": "x", "exchange_index": "-1"},
        'Parameter validation failed for GetFills: max_ts: strconv.ParseInt: parsing "x": '
        "invalid syntax",
    ),
]


@pytest.mark.parametrize(("params", "msg"), _OLD_FILLS_REFUSALS)
def test_fills_refuse_the_first_bad_parameter_as_before(
    sim: SimHarness, params: dict[str, str], msg: str
) -> None:
    """The fills read limit, ticker, order_id, min_ts, max_ts and only then the shard and the
    subaccount (`listing_query`), as /portfolio/settlements does: of two bad parameters the
    400 names the one read first."""
    response = sim.signed(sim.account, "GET", "/portfolio/fills", params=params)
    assert response.status_code == 400
    assert response.json() == {"msg": msg}


# ---------------------------------------------------------------------------------- F2 / F3


def _exchange(markets: int = 50) -> tuple[Exchange, ManualClock]:
    clock = ManualClock()
    ex = Exchange(clock, fees=STANDARD_FEES)
    for i in range(markets):
        ex.add_market(market(f"REV-{i}", event_ticker="REV", series_ticker="REV", title="rev"))
    return ex, clock


def _place(  # noqa: PLR0917 (a short call in loops)
    ex: Exchange, account: str, ticker: str, side: BookSide, cents: int, tif: Any
) -> Any:
    return place_on_desk(
        ex,
        account,
        ticker,
        side,
        Decimal(cents) / 100,
        1,
        time_in_force=tif,
        self_trade_prevention=SelfTradePrevention.MAKER,
    )


def test_the_minute_old_records_move_in_steps_not_every_tick() -> None:
    """With a keyed account finishing an order every tick (10 a second), the compaction of
    minute-old records runs once per `COMPACT_EVERY_S`, not on nearly every tick: each pass
    walks every live order of every keyed account, so a pass a tick cost a busy simulator up
    to a quarter of its event loop (27 ms a tick at 100 keyed orders a second)."""
    ex, clock = _exchange()
    keyed = ex.accounts.create_account(
        key_id="k0", public_key_pem="PEM", cash_cents=10**12
    ).account_id
    other = ex.accounts.create_account(key_id="k1", public_key_pem="", cash_cents=10**12).account_id
    attach_retention(ex, HistoryPolicy())
    moved_at: list[float] = []
    archived = 0
    for step in range(1_800):  # three minutes of ticks
        clock.advance(0.1)
        t = f"REV-{step % 50}"
        _place(ex, other, t, BookSide.ASK, 60, TimeInForce.GTC)
        _place(ex, keyed, t, BookSide.BID, 60, TimeInForce.IOC)
        ex.tick()
        now_archived = ex.history.order_tiers(keyed)[1]
        if now_archived != archived:
            moved_at.append(clock.wall())
            archived = now_archived
    assert archived > 1_000  # it does compact: two minutes' worth
    gaps = [b - a for a, b in itertools.pairwise(moved_at)]
    assert len(moved_at) <= 3 * 60 / COMPACT_EVERY_S and min(gaps) > COMPACT_EVERY_S - 0.2


def test_orders_page_does_not_parse_every_live_order_id(
    sim: SimHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /portfolio/orders?limit=10 of an account with 3,000 resting orders (nothing finished,
    so no archive): 90b5073's `OrdersNewestFirst` parses every live order's id counter up front
    (3,000 `id_counter` calls per request; 20,000 resting orders: 5 ms -> 45 ms a page over
    loopback, 0282284^ vs 90b5073). A page should parse about what it reads."""
    sim.create_market("KXREV-26JAN01-A")
    me = sim.new_account(balance_cents=10**9)
    ex = sim.running.state.exchange
    found = ex.subaccounts.account_by_key(me.key_id)
    assert found is not None
    account = found.account_id
    for i in range(3_000):
        _place(ex, account, "KXREV-26JAN01-A", BookSide.BID, 1 + i % 30, TimeInForce.GTC)
    calls = 0
    real = trade_archive.id_counter

    def counting(order_id: str) -> int:
        nonlocal calls
        calls += 1
        return real(order_id)

    monkeypatch.setattr(record_views, "id_counter", counting)
    response = sim.signed(me, "GET", "/portfolio/orders", params={"limit": 10})
    assert response.status_code == 200, response.text
    assert len(response.json()["orders"]) == 10
    assert calls <= 100, f"{calls} order ids parsed for a page of 10"
