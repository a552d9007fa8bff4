"""Reading the simulator's error answers in the shapes Kalshi uses on the wire (REFERENCE.md
"Observed on the real wire"), so a test states which shape it expects."""

from __future__ import annotations

from typing import Any

import httpx


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
