"""Every fill the loop books is logged once as `fill_received`, in the terms of the side its
order was sent on (YES for an order placed by hand), with the position it leaves and the P&L it
realized, which the state file's row of the fill holds too. A fill of an order this run sent
adds how long it took (from the send, on the loop's monotonic clock), its slippage against the
order's limit (negative: better than asked), the fair value the strategy decided on, and the
strategy; a fill of an order placed by hand has none of these."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.runner.execution.fills import Sent
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.runner.fakes import Rig, make_rig, swap_decide

D = Decimal
BETTER = D("0.02")  # each order's limit is this much worse than the book: it fills better


def _a_market_with_both_sides(rig: Rig) -> str:
    rig.exchange.tick()  # the simulated makers quote
    books = {t: rig.client.get_orderbook(t) for t in rig.exchange.reference.markets}
    return next(t for t, b in books.items() if b.no_ask and b.best_no_bid)


def _logged(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [e for e in map(json.loads, lines) if e["event"] == "fill_received"]


def _no_round_trip(rig: Rig, ticker: str) -> None:
    """The strategy buys 3 NO through the book, then sells them back, each IOC with a limit
    BETTER worse than the book's price, so each fills at the book's price."""
    orders: list[str] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        book = snap.book
        no_ask, no_bid = book.no_ask, book.best_no_bid
        if snap.ticker != ticker or no_ask is None or no_bid is None:
            return []
        if not orders:
            orders.append("buy")
            return [_ioc(ticker, Action.BUY, no_ask[0] + BETTER, D("0.70"))]
        if orders == ["buy"] and pos.position == -3:
            orders.append("sell")
            return [_ioc(ticker, Action.SELL, no_bid[0] - BETTER, D("0.30"))]
        return []

    swap_decide(rig.loop, decide)


def _ioc(ticker: str, action: Action, price: Decimal, fair: Decimal) -> Intent:
    return Intent(ticker, Side.NO, action, price, D(3), fair, "test", time_in_force=TimeInForce.IOC)


def test_a_fill_of_an_order_sent_is_logged_in_its_sides_terms_with_latency_and_slippage(
    tmp_path: Path,
) -> None:
    log = tmp_path / "loop.jsonl"
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk={"max_orders_per_minute": 1000},
        log_path=log,
    )
    ticker = _a_market_with_both_sides(rig)
    _no_round_trip(rig, ticker)
    create = rig.client.create_order

    def slow_answer(request: CreateOrder) -> CreateOrderResult:
        result = create(request)
        rig.clock.advance(0.2500375)  # the answer's way back: 250.0375 ms
        return result

    rig.client.create_order = slow_answer  # type: ignore[method-assign]
    fills = rig.loop.executor.fills
    # what was sent of each order, as it was remembered (an order filled whole is let go)
    remembered: dict[str, Sent] = {}
    remember = fills.sent.remember

    def spied(order_id: str, sent: Sent) -> None:
        remembered[order_id] = sent
        remember(order_id, sent)

    fills.sent.remember = spied
    booked_at: list[float] = []
    for _ in range(40):
        before = len(_logged(log))
        rig.step(0.5)
        if len(_logged(log)) > before:
            booked_at.append(rig.clock.monotonic())
        if len(_logged(log)) >= 2:
            break
    bought, sold = _logged(log)
    for line, action, at in ((bought, "buy", booked_at[0]), (sold, "sell", booked_at[-1])):
        sent = remembered[line["order_id"]]
        assert sent.action.value == action
        assert (line["ticker"], line["side"], line["action"]) == (ticker, "no", action)
        assert D(line["count"]) == 3 and line["fill_id"]
        assert D(line["slippage"]) == -BETTER, line  # filled BETTER better than its limit
        assert D(line["price"]) == sent.price - BETTER * (1 if action == "buy" else -1)
        assert line["latency_ms"] == round((at - sent.sent_at) * 1000, 3) > 0
        assert D(line["model_fair"]) == sent.model_fair
        assert line["strategy"] == sent.strategy
    assert D(bought["position"]) == -3 and D(sold["position"]) == 0
    realized = D(bought["price"]) * 3 - D(sold["price"]) * 3  # NO bought dearer than sold
    fees = D(bought["fee"]) + D(sold["fee"])
    assert D(sold["realized_pnl"]) == -realized - D(sold["fee"]) != 0
    kept = {f.fill_id: f.realized_pnl for f in rig.store.fills.iter_fills()}
    assert kept[sold["fill_id"]] == D(sold["realized_pnl"])
    assert kept[bought["fill_id"]] == D(bought["realized_pnl"]) == -D(bought["fee"])
    assert fees >= 0
    rig.loop.log.close()


def test_a_fill_of_an_order_placed_by_hand_is_logged_as_yes_without_the_orders_figures(
    tmp_path: Path,
) -> None:
    log = tmp_path / "loop.jsonl"
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", log_path=log)
    ticker = _a_market_with_both_sides(rig)
    swap_decide(rig.loop, lambda snap, pos, params: [])
    book = rig.client.get_orderbook(ticker)
    assert book.yes_ask is not None
    rig.hand_buy_yes(ticker, book.yes_ask[0], 2)
    for _ in range(20):
        rig.step(0.5)
        if _logged(log):
            break
    [line] = _logged(log)
    assert (line["ticker"], line["side"], line["action"]) == (ticker, "yes", "buy")
    assert D(line["price"]) == book.yes_ask[0] and D(line["position"]) == 2
    assert not {"latency_ms", "slippage", "model_fair", "strategy"} & set(line)
    rig.loop.log.close()
