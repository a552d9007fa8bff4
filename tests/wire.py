"""The wire's shapes: an order's body as a test sends it (`order_body`), and the simulator's error
answers read in the shapes Kalshi uses on the wire (REFERENCE.md "Observed on the real wire"), so
a test states which shape it expects."""

from __future__ import annotations

from typing import Any

import httpx


# Any: some tests send values of the wrong JSON type on purpose
def order_body(
    ticker: str, /, side: Any = "bid", price: Any = "0.40", count: Any = "5", **extra: Any
) -> dict[str, Any]:
    """A `POST /portfolio/events/orders` body for `ticker`: a good-till-canceled bid of 5 at
    $0.40 unless told otherwise, `extra` fields added or replacing (`ticker=` too)."""
    return {
        "ticker": ticker,
        "side": side,
        "price": price,
        "count": count,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        **extra,
    }


def nested(response: httpx.Response) -> dict[str, Any]:
    """The inner object of a nested `{"error": {...}}` body; fails on any other shape, and on a
    `service` field, which Kalshi removed from `ErrorResponse` on 2026-08-06."""
    body = response.json()
    assert set(body) == {"error"}, body
    inner: dict[str, Any] = body["error"]
    assert isinstance(inner.get("code"), str) and isinstance(inner.get("message"), str), body
    assert set(inner) <= {"code", "message", "details"}, body
    return inner


def flat(response: httpx.Response) -> dict[str, Any]:
    """A flat `{code, message, details}` body (a request body that did not decode)."""
    body: dict[str, Any] = response.json()
    assert set(body) <= {"code", "message", "details"} and "code" in body, body
    return body


def nested_code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(nested(response)["code"])


def flat_code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(flat(response)["code"])
