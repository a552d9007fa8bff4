"""The spec check itself (tests/openapi_check.py), which the suite runs on every simulator answer.

It remembers what it builds (openapi-core's validators, once per schema and parameter) and what it
judged (a verdict per distinct answer), so these tests hold it to two things: each kind of answer
off openapi.yaml is reported the first time and every time after, and never spoils the verdict on
a good answer; and the validators it builds once judge every answer of a real session, and bad
variants of them, exactly as a stock openapi-core does.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_core.validation.request.validators import V30RequestParametersValidator

from kalshi_cli.sim.server.embed import start_simulator
from tests.conftest import SimHarness
from tests.openapi_check import (
    RECORDER,
    _parameters_validator,
    _response_validator,
    check_response,
    mock_call,
    spec,
)
from tests.wire import order_body

T = "KXCHK-26JAN01-A"
T2 = "KXCHK-26JAN01-B"
P = "/trade-api/v2"
Answer = tuple[str, str, str, int, str, bytes]


def _verdict(path: str, body: Any, status: int = 200, query: str = "") -> str | None:
    return check_response("GET", P + path, query, status, "application/json", _json(body))


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


def _without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda market: {k: v for k, v in market.items() if k != name}


def _with(**fields: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda market: market | fields


@pytest.mark.parametrize(
    ("spoil", "status", "reported"),
    [
        (_with(yes_sub_title=5), 200, "5 is not of type 'string'"),
        (_without("event_ticker"), 200, "'event_ticker' is a required property"),
        (_with(surprise="x"), 200, ".market.surprise is not declared by the spec"),
        (_with(status="bogus"), 200, "'bogus' is not one of ['initialized'"),
        (_with(volume_fp="1"), 200, "'1' is not a FixedPointCount"),
        (_with(), 201, "status not in the spec for this operation"),
    ],
    ids=["wrong-type", "missing-required", "undeclared-field", "wrong-enum", "precision", "status"],
)
def test_an_answer_off_the_spec_is_reported_each_time_and_spoils_no_good_answer(
    sim: SimHarness,
    spoil: Callable[[dict[str, Any]], dict[str, Any]],
    status: int,
    reported: str,
) -> None:
    for ticker in (T, T2):
        sim.create_market(ticker)
    # two markets: the second's answers are new to the check, its validators are not
    for ticker in (T, T2, T):
        good = sim.signed(sim.account, "GET", f"/markets/{ticker}").json()
        assert _verdict(f"/markets/{ticker}", good) is None
        bad = {"market": spoil(good["market"])}
        for _ in range(2):  # the second time, the verdict the check remembers
            problem = _verdict(f"/markets/{ticker}", bad, status)
            assert problem is not None
            assert reported in problem
        assert _verdict(f"/markets/{ticker}", good) is None


@pytest.mark.parametrize(
    ("path", "accepted", "refused", "reported"),
    [
        ("/markets", "status=open", "status=live", "'live' is not one of ['unopened'"),
        ("/markets", "limit=2", "limit=abc", "Failed to cast value to integer type: abc"),
        ("/markets", "limit=2", "limit=1001", "1001 is greater than the maximum of 1000"),
        (
            "/markets/orderbooks",
            f"tickers={T}",
            "",
            "Missing required query parameter: tickers",
        ),
    ],
    ids=["enum", "type", "range", "required"],
)
def test_a_success_to_a_request_the_spec_refuses_is_reported_each_time(
    sim: SimHarness, path: str, accepted: str, refused: str, reported: str
) -> None:
    sim.create_market(T)
    response = sim.signed(sim.account, "GET", f"{path}?{accepted}")
    assert response.status_code == 200
    body = response.json()
    for round_ in range(2):  # the second time, what the check remembers of each parameter value
        assert _verdict(path, body, query=accepted) is None
        problem = _verdict(path, body, query=refused)
        assert problem is not None
        assert "answered a request the spec refuses" in problem
        assert reported in problem
        # a value not met before, of the parameter just refused or accepted
        assert _verdict(path, body, query=f"{refused}&cursor=abc{round_}") is not None
    assert _verdict(path, body, query=accepted) is None


# --- the validators built once against a stock openapi-core ---------------------------------------


def _order(ticker: str, side: str, price: str, count: str) -> dict[str, Any]:
    return order_body(ticker, side=side, price=price, count=count)


def _session(sim: SimHarness) -> None:
    """A short session touching the kinds of answer the suite meets: lists read page by page,
    orders placed, filled and cancelled, refusals, path parameters and a required array."""
    me, other = sim.account, sim.new_account()
    for ticker in (T, T2):
        sim.create_market(ticker)
        sim.place_order(other, _order(ticker, "ask", "0.40", "3"))
        sim.place_order(me, _order(ticker, "bid", "0.45", "2"))
    resting = sim.place_order(me, _order(T, "bid", "0.20", "1"))
    order_id = resting.json().get("order", {}).get("order_id", "none")
    sim.signed(me, "DELETE", f"/portfolio/events/orders/{order_id}")
    for listing in ("/portfolio/orders", "/portfolio/fills", "/markets/trades", "/markets"):
        cursor = ""
        for _ in range(3):
            page = sim.signed(me, "GET", listing, params={"limit": 1, "cursor": cursor}).json()
            cursor = page.get("cursor") or ""
            if not cursor:
                break
    reads: list[tuple[str, dict[str, Any]]] = [
        (f"/markets/{T}", {}),
        (f"/markets/{T}/orderbook", {"depth": 3}),
        ("/markets/orderbooks", {"tickers": T}),
        ("/markets", {"status": "open", "tickers": f"{T},{T2}"}),
        ("/markets", {"limit": "abc"}),
        ("/markets", {"status": "live"}),
        ("/markets/NOPE-26JAN01-A", {}),
        ("/portfolio/balance", {}),
        ("/portfolio/positions", {"ticker": T}),
        ("/exchange/status", {}),
        ("/historical/cutoff", {}),
        ("/historical/orders", {"limit": 2}),
    ]
    for path, params in reads:
        sim.signed(me, "GET", path, params=params)


def _spoiled(answer: Answer) -> Iterator[Answer]:
    """Bad variants of a real answer: a field dropped, a field of the wrong type, a status the
    operation does not list, a query the spec refuses."""
    method, path, query, status, content_type, body = answer
    data = json.loads(body) if body else None
    if isinstance(data, dict) and data:
        first = next(iter(data))
        yield method, path, query, status, content_type, _json(_without(first)(data))
        yield method, path, query, status, content_type, _json(data | {first: 12345})
        for name, value in data.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                item = value[0]
                field = next(iter(item))
                spoilt = [{k: v for k, v in item.items() if k != field}, *value[1:]]
                yield method, path, query, status, content_type, _json(data | {name: spoilt})
                yield (
                    method,
                    path,
                    query,
                    status,
                    content_type,
                    _json(data | {name: [item | {field: [True]}, *value[1:]]}),
                )
                break
    yield method, path, query, 299, content_type, body
    if method == "GET":
        for refused in ("limit=abc", "limit=0", "status=live", "cursor="):
            yield (
                method,
                path,
                f"{query}&{refused}" if query else refused,
                status,
                content_type,
                body,
            )


def _openapi_errors(errors: Iterator[Exception]) -> list[tuple[str, str, str]]:
    return [(type(e).__name__, str(e), str(e.__cause__)) for e in errors]


def test_the_validators_built_once_judge_every_answer_as_a_stock_openapi_core(
    tmp_path: Path,
) -> None:
    answers: list[Answer] = []

    def record(*answer: Any) -> None:
        answers.append(answer)
        RECORDER.hook(*answer)

    sim = SimHarness(start_simulator(tmp_path / "sim", scenario="empty", response_hook=record))
    try:
        _session(sim)
    finally:
        sim.close()
    corpus = [spoilt for answer in answers for spoilt in (answer, *_spoiled(answer))]
    stock_parameters = V30RequestParametersValidator(spec().spec)
    stock_responses = spec().response_validator
    seen: Counter[str] = Counter()
    for _ in range(2):  # the second round from what the validators built once remember
        for answer in corpus:
            request, _response = mock_call(*answer)
            expected = _openapi_errors(stock_parameters.iter_errors(request))
            request, _response = mock_call(*answer)
            assert _openapi_errors(_parameters_validator().iter_errors(request)) == expected, answer
            seen["parameters refused" if expected else "parameters accepted"] += 1
            request, response = mock_call(*answer)
            expected = _openapi_errors(stock_responses.iter_errors(request, response))
            request, response = mock_call(*answer)
            ours = _openapi_errors(_response_validator().iter_errors(request, response))
            assert ours == expected, answer
            seen["response refused" if expected else "response accepted"] += 1
    # the comparison covered both verdicts on both sides, many times over
    assert min(seen.values()) >= 20, seen
    assert len(seen) == 4, seen
