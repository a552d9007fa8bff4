"""A batch answer that does not say plainly whether an order was placed leaves that order
unknown (looked up, never assumed), and the next batch holds a market such an order is in.

Every field of a V2 batch-create item is optional in openapi.yaml. An item naming its client
order id with neither an `order_id` nor an `error`, one with both, one whose error is the
exchange's own trouble (`internal_server_error`), or two items for one order: each was read as
a refusal and marked `rejected` while the order rested on the exchange, unknown to the loop
(no lookup, no withdrawal, and the strategy free to quote again beside it). The exchange here
is the in-process fake whose orders really rest; each answer goes through the real client's
item reader, changed as the exchange's answer would be.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client.batch_orders import read_batch_answer
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import Rig, make_rig

D = Decimal
Answer = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _rig(tmp_path: Path, answer: Answer, *, size: int = 20) -> tuple[Rig, list[list[str]]]:
    rig = make_rig(tmp_path / "state.db")
    client = rig.client
    sent: list[list[str]] = []

    def batch_create_orders(creates: list[Any], *, subaccount: int | None = None) -> list[Any]:
        sent.append([c.client_order_id for c in creates])
        raws = []
        for c in creates:
            placed = client._place(c)
            raws.append(
                {
                    "order_id": placed.order_id,
                    "client_order_id": c.client_order_id,
                    "fill_count": str(placed.fill_count),
                    "remaining_count": str(placed.remaining_count),
                    "ts_ms": 1,
                }
            )
        return read_batch_answer(answer(raws))

    client.batch_size = lambda: size  # type: ignore[attr-defined]
    client.batch_create_orders = batch_create_orders  # type: ignore[attr-defined]
    return rig, sent


def _bid(ticker: str, side: Side = Side.YES) -> Intent:
    return Intent(
        ticker=ticker, side=side, action=Action.BUY, price=D("0.05"), count=D(3),
        model_fair=D("0.50"), reason="test",
    )  # fmt: skip


def _status(rig: Rig, coid: str) -> str:
    return str(next(i for i in rig.store.orders.intents() if i.client_order_id == coid).status)


def _resting(rig: Rig, coid: str) -> bool:
    return any(
        o.client_order_id == coid and o.remaining_count > 0 for o in rig.client.iter_orders()
    )


def _without_order_id(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    raws[0].pop("order_id")
    return raws


def _with_an_error_too(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    raws[0]["error"] = {"code": "invalid_order", "message": "and yet"}
    return raws


def _server_trouble(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    raws[0] = {
        "client_order_id": raws[0]["client_order_id"],
        "error": {"code": "internal_server_error", "message": "timed out"},
    }
    return raws


def _twice(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    coid = raws[0]["client_order_id"]
    return [*raws, {"client_order_id": coid, "error": {"code": "duplicate", "message": "dup"}}]


@pytest.mark.parametrize(
    "answer",
    [_without_order_id, _with_an_error_too, _server_trouble, _twice],
    ids=["no-order-id-no-error", "order-id-and-error", "server-error-item", "named-twice"],
)
def test_an_item_that_does_not_say_plainly_leaves_its_order_unknown(
    tmp_path: Path, answer: Answer
) -> None:
    rig, sent = _rig(tmp_path, answer)
    executor = rig.loop.executor
    tickers = list(rig.exchange.reference.markets)[:2]
    for ticker in tickers:
        executor.outbox.queue(_bid(ticker))
    executor.flush()
    (first, second) = sent[0]
    assert _resting(rig, first)  # the exchange placed it
    assert _status(rig, first) == "unknown"  # never `rejected`
    assert (
        first in executor.unknown_orders.unknown
    )  # looked up, and its market holds new adding orders
    assert executor.unknown_orders.holds(tickers[0])
    assert _status(rig, second) == "resting"


def test_an_item_refused_in_plain_words_is_rejected(tmp_path: Path) -> None:
    def refused(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raws[0] = {
            "client_order_id": raws[0]["client_order_id"],
            "error": {"code": "insufficient_balance", "message": "not enough"},
        }
        return raws

    rig, sent = _rig(tmp_path, refused)
    executor = rig.loop.executor
    for ticker in list(rig.exchange.reference.markets)[:2]:
        executor.outbox.queue(_bid(ticker))
    executor.flush()
    assert _status(rig, sent[0][0]) == "rejected"
    assert sent[0][0] not in executor.unknown_orders.unknown


def test_the_next_batch_holds_a_market_the_last_one_left_an_order_unknown_in(
    tmp_path: Path,
) -> None:
    calls = {"n": 0}

    def first_loses_its_first_item(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls["n"] += 1
        return raws[1:] if calls["n"] == 1 else raws

    rig, _sent = _rig(tmp_path, first_loses_its_first_item, size=2)
    executor = rig.loop.executor
    a, b = list(rig.exchange.reference.markets)[:2]
    for intent in (_bid(a), _bid(b), _bid(a, Side.NO), _bid(b, Side.NO)):
        executor.outbox.queue(intent)
    executor.flush()
    assert executor.unknown_orders.holds(a)
    recorded = [i.ticker for i in rig.store.orders.intents()]
    # a held: no new adding order beside an order of unknown outcome; b's second goes out
    assert recorded.count(a) == 1 and recorded.count(b) == 2


def _all_trouble(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "client_order_id": raw["client_order_id"],
            "error": {"code": "internal_server_error", "message": "timed out"},
        }
        for raw in raws
    ]


def test_a_batch_answered_with_the_exchanges_trouble_counts_as_an_api_error(
    tmp_path: Path,
) -> None:
    """Every item of the answer is the exchange's own trouble: each order's outcome is unknown,
    as after a 5xx, and the API error guard counts it as it counts a 5xx: the loop backs off,
    and batch after batch so answered put trading into SAFE_MODE."""
    rig, sent = _rig(tmp_path, _all_trouble)
    executor = rig.loop.executor
    tickers = list(rig.exchange.reference.markets)
    limit = rig.loop.questions.risk.limits.max_consecutive_errors
    assert len(tickers) >= limit
    for n, ticker in enumerate(tickers[:limit], start=1):
        executor.guard.backoff_until = 0.0  # each batch as the first after a backoff
        executor.outbox.queue(_bid(ticker))
        executor.outbox.queue(_bid(ticker, Side.NO))
        executor.flush()
        assert len(sent) == n
        assert all(coid in executor.unknown_orders.unknown for coid in sent[-1])
        assert executor.guard.backing_off, f"batch {n}: no backoff after the exchange's trouble"
    assert executor.guard.safe_mode_tripped
    assert rig.store.trading.trading_state().state == "SAFE_MODE"


def test_items_that_only_leave_out_their_ids_do_not_count_as_api_errors(tmp_path: Path) -> None:
    """Every field of a batch item is optional in the spec: an answer whose items name no client
    order id leaves every order unknown (looked up), but it is no failure of the exchange, so
    the loop neither backs off nor heads for SAFE_MODE."""

    def without_client_order_ids(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in raw.items() if k != "client_order_id"} for raw in raws]

    rig, sent = _rig(tmp_path, without_client_order_ids)
    executor = rig.loop.executor
    ticker = next(iter(rig.exchange.reference.markets))
    executor.outbox.queue(_bid(ticker))
    executor.outbox.queue(_bid(ticker, Side.NO))
    executor.flush()
    assert all(coid in executor.unknown_orders.unknown for coid in sent[0])
    assert not executor.guard.backing_off
    assert rig.loop.questions.risk.api_guard.consecutive == 0
