"""The trade loop against the real simulator over loopback: what it sends and reads per order.

The orders one tick decides in several markets go out together, as one batch request whose
intents are one state-file transaction written before it leaves, instead of a commit and a
round trip each; what the risk engine allows counts the orders already waiting in that batch;
a halt written before the batch leaves stops all of it; an answer lost for the batch leaves
every order of it unknown, looked up and never sent again. A fill the loop has already read
(an order filled at once) is not read again from REST when its `fill` and `user_order`
messages arrive.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.execution.order_group import open_session_group
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.trading_state import TradingState
from tests.conftest import SimHarness
from tests.runner.fakes import swap_decide
from tests.runner.sim_rig import BATCH, EXAMPLE, SINGLE, Rig, drained_until, rig, yes_ask, yes_bid
from tests.runner.simproc import log_events
from tests.waiting import poll_until

FILLS = "GET /portfolio/fills"


def test_quotes_decided_in_one_pass_go_out_in_one_batch_request(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Four markets, a bid and an ask each: one full pass sends the eight orders as one batch
    request, never one request an order, and every one rests on the exchange with its intent
    in the state file under the order id the exchange gave it."""
    tickers = [f"KXBATCH-SIM-{c}" for c in "ABCD"]
    with rig(sim, tmp_path, tickers, strategy="market-maker", params={}) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        sent = r.requests(sim)
        assert sent.get(BATCH) == 1, sent
        assert sent.get(SINGLE, 0) == 0, sent
        resting = list(r.client.orders.iter_orders(status="resting"))
        assert len(resting) == 8
        rows = {i.order_id: i for i in r.store.orders.intents()}
        assert {o.order_id for o in resting} <= set(rows)
        assert all(rows[o.order_id].status == "resting" for o in resting)
        assert len(r.events("order_placed")) == 8


def test_an_order_waits_no_longer_than_batch_wait_s_for_others(
    sim: SimHarness, tmp_path: Path
) -> None:
    """With `batch_wait_s` 0, no order waits for another market's visit: each market's bid and
    ask go out as their own batch, three markets three requests, in the order visited."""
    tickers = [f"KXBATCH-SIM-{c}" for c in "ABC"]
    with rig(sim, tmp_path, tickers, strategy="market-maker", params={}, batch_wait_s=0.0) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        sent = r.requests(sim)
        assert sent.get(BATCH) == 3, sent
        assert sent.get(SINGLE, 0) == 0, sent
        placed = [e["ticker"] for e in r.events("order_placed")]
        assert len(placed) == 6
        assert [placed[0], placed[2], placed[4]] == [placed[1], placed[3], placed[5]]


def test_the_position_limit_counts_the_orders_waiting_in_the_batch(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A limit of one contract a market: the market maker's bid (one YES) fits, its ask (one
    NO) fits too; with the limit at one and the maker quoting two a side, neither fits, and
    with a total exposure limit that holds only three markets' bids, the fourth market's
    orders are denied though none of the first three has reached the exchange yet."""
    tickers = [f"KXBATCH-SIM-{c}" for c in "ABCD"]
    # each bid commits 0.40 and each ask 0.40 (NO at 0.60 sold, YES ask 0.60 -> 1 - 0.60)
    risk = {"max_total_exposure": "2.5"}
    params = {"quote_count": "1"}
    with rig(sim, tmp_path, tickers, strategy="market-maker", params=params, risk=risk) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        resting = list(r.client.orders.iter_orders(status="resting"))
        committed = sum(
            (o.yes_price if o.book_side.value == "bid" else 1 - o.yes_price) * o.remaining_count
            for o in resting
        )
        assert committed <= Decimal("2.5"), resting
        assert r.events("risk_denied"), "the exposure limit denied nothing"
        assert r.requests(sim).get(BATCH) == 1


def test_the_order_rate_cap_counts_the_orders_waiting_in_the_batch(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A cap of five orders a minute and four markets of a bid and an ask each: one pass sends
    five in its batch, none of which has reached the exchange when the sixth is decided, and
    the rate rule denies the rest."""
    tickers = [f"KXBATCH-SIM-{c}" for c in "ABCD"]
    risk = {"max_orders_per_minute": 5}
    with rig(sim, tmp_path, tickers, strategy="market-maker", params={}, risk=risk) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert r.requests(sim).get(BATCH) == 1
        assert len(list(r.client.orders.iter_orders(status="resting"))) == 5
        assert len(r.store.orders.intents()) == 5
        assert any(e["code"] == "ORDER_RATE" for e in r.events("risk_denied"))


def test_a_halt_written_before_the_batch_leaves_stops_all_of_it(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The kill switch's HALTED lands while a pass is deciding (here: between the pass's
    decisions and its send, written by another connection to the state file, as `kalshi
    cancel-all` writes it): no order of the pass reaches the exchange, and no intent of it
    is left pending."""
    tickers = [f"KXBATCH-SIM-{c}" for c in "AB"]
    with rig(sim, tmp_path, tickers, strategy="market-maker", params={}) as r:
        halt_once = _HaltOnSecondMarket(r, tmp_path / "state.db")
        swap_decide(r.loop, halt_once)
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert halt_once.halted
        sent = r.requests(sim)
        assert sent.get(BATCH, 0) + sent.get(SINGLE, 0) == 0, sent
        assert list(r.client.orders.iter_orders(status="resting")) == []
        assert [i for i in r.store.orders.intents() if i.status == "pending"] == []


class _HaltOnSecondMarket:
    """The market maker's decision, but the second call first writes HALTED through its own
    connection to the state file."""

    def __init__(self, r: Rig, state: Path) -> None:
        self.decide = r.loop.reloads.lineup.members[0].strategy.decide_fn
        self.state = state
        self.calls = 0
        self.halted = False

    def __call__(self, snapshot: Any, position: Any, params: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            with Store.open(self.state) as other:
                other.trading.set_trading_state(
                    TradingState.HALTED, reason="test", source="cancel-all"
                )
            self.halted = True
        return self.decide(snapshot, position, params)


def test_a_batch_refused_for_the_triggered_order_group_halts_the_loop(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The session's order group is triggered on the exchange (its limit, or a kill switch
    there): the next pass's batch is refused item by item for it, and the loop halts, as it
    does when a single order is refused so."""
    tickers = [f"KXBATCH-SIM-{c}" for c in "AB"]
    with rig(sim, tmp_path, tickers, strategy="market-maker", params={}) as r:
        groups = open_session_group(r.client, r.store, TradeConfig(), r.loop.log)
        r.loop.executor.answers.order_groups = groups.by_shard
        r.client.order_groups.trigger_order_group(groups.by_shard[0])
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert r.requests(sim).get(BATCH) == 1
        assert r.events("order_group_triggered")
        assert r.store.trading.trading_state().state == "HALTED"
        assert list(r.client.orders.iter_orders(status="resting")) == []


def test_a_lost_batch_answer_leaves_every_order_unknown_and_looked_up_never_resent(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The exchange takes the batch and its answer is lost: every order of it is unknown, its
    markets take no new order, and the lookups find each resting; the batch went out once."""
    tickers = [f"KXBATCH-SIM-{c}" for c in "AB"]
    with rig(sim, tmp_path, tickers, strategy="market-maker", params={}) as r:
        sim.set_faults(drop_response_after_commit_rate=1.0)
        r.loop.tick(r.feed.drain_messages(), full=True)
        sim.clear_faults()
        assert len(r.loop.executor.unknown_orders.unknown) == 4
        assert {i.status for i in r.store.orders.intents()} == {"unknown"}
        r.loop.executor.guard.backoff_until = 0.0
        r.loop.executor.unknown_orders.resolve()
        assert r.loop.executor.unknown_orders.unknown == {}
        assert {i.status for i in r.store.orders.intents()} == {"resting"}
        sent = r.requests(sim)
        assert sent.get(BATCH, 0) + sent.get(SINGLE, 0) == 1, sent
        assert len(list(r.client.orders.iter_orders(status="resting"))) == 4


def test_a_take_profit_goes_out_at_once_not_in_the_batch_behind_the_quotes(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The example strategy holds YES in one market, bought at 0.45; then its bid pays the
    take-profit there while two other markets offer YES below fair. The pass sends the
    reducing sell on its own, at once, and the two buys together as one batch."""
    held, others = "KXBATCH-SIM-H", ["KXBATCH-SIM-J", "KXBATCH-SIM-K"]
    params = {"fair": "0.50", "edge": "0.03", "take_profit": "0.05", "order_count": "1"}
    with rig(
        sim, tmp_path, [held, *others], strategy=str(EXAMPLE), params=params, quote=("0.49", "0.51")
    ) as r:
        r.books[held].quote("0.43", "0.45")
        assert poll_until(lambda: yes_ask(r, held) == Decimal("0.45"))
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert r.loop.portfolio.position(held) == 1, log_events(r.log)
        before = r.requests(sim)
        r.books[held].quote("0.52", "0.54")
        for ticker in others:
            r.books[ticker].quote("0.43", "0.45")
        assert poll_until(
            lambda: (
                yes_bid(r, held) == Decimal("0.52")
                and all(yes_ask(r, t) == Decimal("0.45") for t in others)
            )
        )
        r.loop.tick(r.feed.drain_messages(), full=True)
        after = r.requests(sim)
        assert after.get(SINGLE, 0) - before.get(SINGLE, 0) == 1, after
        assert after.get(BATCH, 0) - before.get(BATCH, 0) == 1, after
        assert r.loop.portfolio.position(held) == 0
        assert all(r.loop.portfolio.position(t) == 1 for t in others)
        placed = [e["ticker"] for e in r.events("order_placed")]
        assert placed[1] == held, placed


def test_a_fill_already_read_is_not_read_again_when_its_messages_arrive(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The example strategy buys YES offered at 0.45 (fair 0.50): its order fills at once and
    the loop reads that fill right after the answer. The `fill` and `user_order` messages of
    the same fill arrive afterwards: they are no news, and the next tick reads no fills."""
    ticker = "KXBATCH-SIM-F"
    params = {"fair": "0.50", "edge": "0.03", "order_count": "1"}
    with rig(
        sim, tmp_path, [ticker], strategy=str(EXAMPLE), params=params, quote=("0.43", "0.45")
    ) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert len(r.events("fill_received")) == 1, log_events(r.log)
        reads = r.requests(sim).get(FILLS, 0)
        assert reads >= 1
        kept: list[FeedMessage] = []

        def both(messages: list[FeedMessage]) -> bool:
            kinds = {e.kind for e in messages}
            return MessageKind.FILL in kinds and any(
                e.kind is MessageKind.USER_ORDER
                and isinstance(e.payload, Order)
                and e.payload.status == "executed"
                for e in messages
            )

        assert drained_until(r, kept, both), kept
        r.loop.tick(kept, full=False)
        assert r.requests(sim).get(FILLS, 0) == reads
        assert r.loop.portfolio.position(ticker) == 1
        assert len(r.store.fills.read()) == 1


class FillsWithoutCounts(httpx.HTTPTransport):
    """The real transport, with `count_fp` taken out of every fill the fills listing gives."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method != "GET" or not request.url.path.endswith("/portfolio/fills"):
            return response
        body = json.loads(response.read())
        for fill in body.get("fills") or []:
            fill.pop("count_fp", None)
        return httpx.Response(response.status_code, json=body)


def test_a_fill_listed_without_its_count_is_quarantined_never_applied(
    sim: SimHarness, tmp_path: Path
) -> None:
    """No defaults in money: a fill without `count_fp` was read as 0 contracts and went into the
    portfolio. It is quarantined: logged, kept in the state file, its market held, and no
    position or fill row comes of it; told once however often it is listed again."""
    ticker = "KXBATCH-SIM-Q"
    params = {"fair": "0.50", "edge": "0.03", "order_count": "1"}
    with rig(
        sim, tmp_path, [ticker], strategy=str(EXAMPLE), params=params, quote=("0.43", "0.45"),
        transport=FillsWithoutCounts(),
    ) as r:  # fmt: skip
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert r.events("fill_received") == []
        [event] = r.events("fill_quarantined")
        assert event["ticker"] == ticker and "count_fp" in str(event["reason"])
        assert r.loop.portfolio.position(ticker) == 0
        assert r.store.fills.read() == []
        assert r.store.entries.count("fill_quarantined") == 1
        assert r.loop.executor.unknown_orders.holds(ticker)
        r.loop.executor.fills.sync()  # listed again: not told twice
        assert len(r.events("fill_quarantined")) == 1
        # the exchange holds the contract the loop could not count
        [held] = r.client.portfolio.get_positions(ticker=ticker)
        assert held.position == 1
