"""A batch cancel's answer proves an order cancelled only by an item of its own: an order of the
request the answer does not name once (no `orders` list, which the spec requires; a short list;
the order named twice; an answer or an item that cannot be read) comes back as not proven
cancelled, an error of its own, and an item naming an order the request did not name is no
answer about it.

Read as "no results", `200 {}` said nothing was cancelled and nothing went wrong; an item for an
order the request never named was taken by `kalshi cancel-all` as a cancel of that order, and
booked so in the state file while it rested. The exchange here is the real simulator (or, for
the client alone, a mock transport); the answers are changed between it and the client, as an
exchange or a proxy answering half would, and the simulator itself answers as the spec says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from kalshi_cli.client.retry import may_have_acted
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError, KalshiError
from kalshi_cli.vocabulary.keys import generate_private_key
from tests.conftest import SimHarness
from tests.openapi_check import raw_spec
from tests.prime_tier import Kalshi, connect, make_markets, seed_resting, state_path

BASE = "https://exchange.test/trade-api/v2"
BATCHED = "/trade-api/v2/portfolio/events/orders/batched"
PAIRS: list[tuple[str, str | None]] = [("o1", "KXT-A"), ("o2", "KXT-A"), ("o3", None)]
# 45 write tokens, the client's safety margin (90%), 2 a cancel: 20 cancels a request, so 25
# orders go in two
TWENTY_A_REQUEST = TierLimits(read=BucketLimit(1000, 1000), write=BucketLimit(1000, 45))


def _client(
    answer: Callable[[list[str]], Any], *, reply: Callable[[], httpx.Response] | None = None
) -> KalshiClient:
    """A client whose batch cancels are answered `answer(order ids asked)` with HTTP 200, or
    `reply()` when given."""

    def handler(request: httpx.Request) -> httpx.Response:
        if reply is not None:
            return reply()
        asked = [item["order_id"] for item in json.loads(request.content)["orders"]]
        return httpx.Response(200, json=answer(asked))

    return KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=generate_private_key(),
        max_attempts=1,
        transport=httpx.MockTransport(handler),
        rate_limits=TWENTY_A_REQUEST,
    )


def _cancelled(order_id: str) -> dict[str, Any]:
    return {"order_id": order_id, "reduced_by": "1.00", "ts_ms": 1}


def test_the_spec_requires_the_batch_cancel_answer_to_list_its_orders() -> None:
    spec = raw_spec()
    answer = spec["paths"]["/portfolio/events/orders/batched"]["delete"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "orders" in schema["required"]
    assert {"order_id", "reduced_by"} <= set(schema["properties"]["orders"]["items"]["required"])


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda asked: {}, id="no orders list"),
        pytest.param(lambda asked: {"orders": None}, id="a null orders list"),
        pytest.param(lambda asked: {"orders": []}, id="an empty orders list"),
    ],
)
def test_an_answer_that_names_no_order_proves_none_cancelled(
    answer: Callable[[list[str]], Any],
) -> None:
    with _client(answer) as client:
        results = client.orders.batch_cancel(PAIRS)
    assert [r.order_id for r in results] == ["o1", "o2", "o3"]
    assert all(r.error is not None and r.reduced_by == 0 for r in results), results
    assert all("not proven cancelled" in (r.error or "") for r in results), results


def test_an_order_a_short_answer_leaves_out_is_not_proven_cancelled() -> None:
    with _client(lambda asked: {"orders": [_cancelled(asked[1])]}) as client:
        results = client.orders.batch_cancel(PAIRS)
    by_id = {r.order_id: r for r in results}
    assert [r.order_id for r in results] == ["o1", "o2", "o3"]
    assert by_id["o2"].error is None and by_id["o2"].reduced_by == D(1)
    assert by_id["o1"].error is not None and by_id["o3"].error is not None


def test_an_item_for_an_order_the_request_did_not_name_is_no_result() -> None:
    def answer(asked: list[str]) -> dict[str, Any]:
        return {"orders": [_cancelled(o) for o in asked] + [_cancelled("o-stranger")]}

    with _client(answer) as client:
        results = client.orders.batch_cancel(PAIRS)
    assert [(r.order_id, r.error) for r in results] == [("o1", None), ("o2", None), ("o3", None)]


def test_an_order_the_answer_names_twice_is_not_proven_cancelled() -> None:
    """Which of two items is true cannot be told (a batch create's answer is read so too)."""

    def answer(asked: list[str]) -> dict[str, Any]:
        refused = {"order_id": "o1", "reduced_by": "0.00", "error": {"code": "not_found"}}
        return {"orders": [_cancelled(o) for o in asked] + [refused]}

    with _client(answer) as client:
        results = client.orders.batch_cancel(PAIRS)
    by_id = {r.order_id: r for r in results}
    assert len(results) == 3
    assert by_id["o1"].error is not None and "named it 2 times" in by_id["o1"].error
    assert by_id["o2"].error is None and by_id["o3"].error is None


def test_each_chunk_is_held_to_its_own_orders() -> None:
    """The first chunk's answer also names an order of the second, whose own answer names
    none: that order is not proven cancelled."""
    many: list[tuple[str, str | None]] = [(f"o{i}", "KXT-A") for i in range(25)]
    chunks: list[list[str]] = []

    def answer(asked: list[str]) -> dict[str, Any]:
        chunks.append(asked)
        if len(chunks) > 1:
            return {"orders": []}
        return {"orders": [_cancelled(o) for o in asked] + [_cancelled("o24")]}

    with _client(answer) as client:
        results = client.orders.batch_cancel(many)
    assert [len(c) for c in chunks] == [20, 5]
    assert [r.order_id for r in results] == [o for o, _ in many]
    confirmed = [r.order_id for r in results if r.error is None]
    assert confirmed == [f"o{i}" for i in range(20)], confirmed


class AlsoNaming(httpx.BaseTransport):
    """The real simulator, except that each batch cancel's answer also names `stranger` as
    cancelled, an order the request did not name (the simulator was never asked of it)."""

    def __init__(self, stranger: Callable[[], str]) -> None:
        self._inner = httpx.HTTPTransport()
        self._stranger = stranger

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method != "DELETE" or request.url.path != BATCHED:
            return response
        body = json.loads(response.read())
        body["orders"].append(_cancelled(self._stranger()))
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


def test_cancel_all_books_no_order_its_batch_did_not_name_as_cancelled(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """`kalshi cancel-all --ticker A`, whose batch answer also names the person's order on B:
    the state file kept B's order resting (it rests), and the report does not count it."""
    a, b = make_markets(prime, 2)
    for ticker, coid in ((a, "hand-a"), (b, "hand-b")):
        placed = kalshi(
            "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1",
            "--price", "0.40", "--client-order-id", coid, "--yes",
        )  # fmt: skip
        assert placed.exit_code == 0, placed.output
    with Store.open(state_path(tmp_path)) as store:
        on_b = store.orders.get_intent("hand-b")
        on_a = store.orders.get_intent("hand-a")
    assert on_a is not None and on_a.order_id and on_b is not None and on_b.order_id
    stranger = on_b.order_id
    done = kalshi(
        "cancel-all",
        "--ticker",
        a,
        "--json",
        client=lambda: connect(prime.account, transport=AlsoNaming(lambda: stranger)),
    )
    assert done.exit_code == 0, done.output  # A's order is cancelled, and proven so
    report = json.loads(done.stdout)
    assert report["cancelled"] == [on_a.order_id], report
    assert report["contracts_cancelled"] == "1.00", report
    with connect(prime.account) as client:
        resting = {o.order_id for o in client.orders.iter_orders(status="resting")}
    assert resting == {stranger}
    with Store.open(state_path(tmp_path)) as store:
        kept = store.orders.get_intent("hand-b")
        gone = store.orders.get_intent("hand-a")
    assert kept is not None and kept.status == "resting", kept
    assert gone is not None and gone.status == "canceled", gone


class AnsweredEmpty(httpx.BaseTransport):
    """The real simulator, except that a batch cancel never reaches it: each is answered
    `200 {}`, so what it named still rests."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.batches = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "DELETE" or request.url.path != BATCHED:
            return self._inner.handle_request(request)
        self.batches += 1
        return httpx.Response(200, json={})

    def close(self) -> None:
        self._inner.close()


def test_cancel_all_answered_with_no_orders_list_is_not_proven_and_says_why(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Each round lists the order again and cancels it again; the deadline passes with it
    resting: NOT PROVEN (exit 11), the order named, the state file's row still resting, and
    the errors say the answers accounted for none of it."""
    (ticker,) = make_markets(prime, 1)
    placed = kalshi(
        "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1",
        "--price", "0.40", "--client-order-id", "hand-a", "--yes",
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    transport = AnsweredEmpty()
    done = kalshi(
        "cancel-all",
        "--ticker",
        ticker,
        "--deadline",
        "2",
        "--json",
        client=lambda: connect(prime.account, transport=transport),
    )
    assert done.exit_code == 11, done.output
    assert transport.batches >= 1
    report = json.loads(done.stdout)
    assert not report["proven"] and report["cancelled"] == [], report
    with Store.open(state_path(tmp_path)) as store:
        row = store.orders.get_intent("hand-a")
    assert row is not None and row.status == "resting", row
    assert report["left"] == [row.order_id], report
    assert any("not proven cancelled" in e for e in report["errors"]), report["errors"]


class FirstAnswerUnreadable(httpx.BaseTransport):
    """The real simulator, except that the answer to the first batch cancel (which the
    simulator carried out) reaches the client as `garbled`, an answer that cannot be read."""

    def __init__(self, garbled: httpx.Response) -> None:
        self._inner = httpx.HTTPTransport()
        self._garbled: httpx.Response | None = garbled

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method != "DELETE" or request.url.path != BATCHED or self._garbled is None:
            return response
        response.read()
        garbled, self._garbled = self._garbled, None
        return garbled

    def close(self) -> None:
        self._inner.close()


UNREADABLE = [
    pytest.param(lambda: httpx.Response(200, json={"orders": {}}), id="orders no list"),
    pytest.param(
        lambda: httpx.Response(200, json={"orders": [{"reduced_by": "1.00"}]}),
        id="an item without its order id",
    ),
    pytest.param(lambda: httpx.Response(200, text="<html>busy</html>"), id="a body no JSON"),
]


@pytest.mark.parametrize("garbled", UNREADABLE)
def test_an_unreadable_batch_cancel_answer_leaves_its_orders_to_the_next_listing(
    garbled: Callable[[], httpx.Response],
) -> None:
    """Each order of the batch comes back not proven cancelled, as when the answer leaves it
    out: the cancel is idempotent, and the next listing decides."""
    with _client(lambda asked: None, reply=garbled) as client:
        results = client.orders.batch_cancel(PAIRS)
    assert [r.order_id for r in results] == ["o1", "o2", "o3"]
    assert all(r.error is not None and r.reduced_by == 0 for r in results), results
    assert all("not proven cancelled" in (r.error or "") for r in results), results


@pytest.mark.parametrize("garbled", UNREADABLE)
def test_cancel_all_goes_on_past_a_batch_cancel_answer_it_cannot_read(
    prime: SimHarness, kalshi: Kalshi, garbled: Callable[[], httpx.Response]
) -> None:
    """`kalshi cancel-all --ticker T` with 25 orders resting (batches of 20 and 5), the first
    batch's answer unreadable once: the kill switch stopped there, NOT PROVEN (exit 11) with
    the second batch never sent and its 5 orders resting, as it would never stop at a 503.
    It goes on: the second batch, then the proof's listing, PROVEN (exit 0)."""
    (ticker,) = make_markets(prime, 1)
    seed_resting(prime, [ticker], 25)
    done = kalshi(
        "cancel-all",
        "--ticker",
        ticker,
        "--json",
        client=lambda: connect(prime.account, transport=FirstAnswerUnreadable(garbled())),
    )
    with connect(prime.account) as client:
        left = [o.order_id for o in client.orders.iter_orders(status="resting")]
    assert left == [], done.output
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["proven"] is True, report
    assert any("not proven cancelled" in e for e in report["errors"]), report["errors"]


def _failing_requests(
    failing: dict[int, int], *, tries: int = 1
) -> tuple[KalshiClient, list[list[str]]]:
    """A client whose batch cancel requests are answered in full, but the nth request (from 0)
    with HTTP `failing[n]`, each tried `tries` times (no real wait between); the order ids of
    each request, as sent."""
    sent: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append([item["order_id"] for item in json.loads(request.content)["orders"]])
        status = failing.get(len(sent) - 1)
        if status is not None:
            return httpx.Response(status, json={"error": {"code": "failed", "message": "no"}})
        return httpx.Response(200, json={"orders": [_cancelled(o) for o in sent[-1]]})

    client = KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=generate_private_key(),
        max_attempts=tries,
        clock=ManualClock(),
        transport=httpx.MockTransport(handler),
        rate_limits=TWENTY_A_REQUEST,
    )
    return client, sent


@pytest.mark.parametrize(("status", "lost"), [(503, True), (500, True), (429, False)])
def test_a_failed_request_of_a_split_batch_keeps_what_the_others_answered(
    status: int, lost: bool
) -> None:
    """45 orders go as requests of 20, 20 and 5; the second fails after every retry. The first
    and third requests' cancels come back confirmed, and the second's orders not proven
    cancelled, in doubt when the failure may have cancelled them (its answer lost). The
    failure was raised and every answer of the call thrown away: the kill switch's report and
    its proof rested on a listing, and `--json` of a filtered one counted fewer cancels."""
    many: list[tuple[str, str | None]] = [(f"o{i}", "KXT-A") for i in range(45)]
    client, sent = _failing_requests({1: status})
    with client:
        results = client.orders.batch_cancel(many)
    assert [len(ids) for ids in sent] == [20, 20, 5]
    assert [r.order_id for r in results] == [o for o, _ in many]
    confirmed = {r.order_id for r in results if r.error is None}
    assert confirmed == {f"o{i}" for i in [*range(20), *range(40, 45)]}
    failed = [r for r in results if r.error is not None]
    assert [r.order_id for r in failed] == [f"o{i}" for i in range(20, 40)]
    assert all(r.reduced_by == 0 and str(status) in (r.error or "") for r in failed), failed
    assert all(r.after_lost_answer is lost for r in failed), failed


def test_a_refused_key_after_an_answered_request_sends_no_more_and_keeps_the_answers() -> None:
    """A 401 refuses the key, not the orders: no later request is sent (it would be refused
    too), and the orders not cancelled come back not proven cancelled beside those that were."""
    many: list[tuple[str, str | None]] = [(f"o{i}", "KXT-A") for i in range(45)]
    client, sent = _failing_requests({1: 401})
    with client:
        results = client.orders.batch_cancel(many)
    assert [len(ids) for ids in sent] == [20, 20]
    assert [r.order_id for r in results] == [o for o, _ in many]
    assert [r.order_id for r in results if r.error is None] == [f"o{i}" for i in range(20)]
    assert all("401" in (r.error or "") for r in results[20:]), results[20:]


@pytest.mark.parametrize("status", [503, 401])
def test_a_batch_none_of_whose_requests_is_answered_raises(status: int) -> None:
    """Nothing answered, the failure is the caller's to judge (retried, refused whole)."""
    many: list[tuple[str, str | None]] = [(f"o{i}", "KXT-A") for i in range(25)]
    client, _ = _failing_requests({0: status, 1: status})
    with client, pytest.raises(ApiError) as failed:
        client.orders.batch_cancel(many)
    assert failed.value.status == status


def test_a_batch_no_request_answered_raises_a_failure_that_may_have_acted() -> None:
    """The first request's answer is lost (503: it may have cancelled its orders), the second is
    refused before acting (429). The failure raised tells the caller a request may have acted,
    so the caller marks what a later try is refused as in doubt (`after_lost_answer`): raising
    the last failure alone (the 429) told it nothing was cancelled, and the orders the lost
    request took were named errors, not looked up."""
    from kalshi_cli.client.retry import may_have_acted

    many: list[tuple[str, str | None]] = [(f"o{i}", "KXT-A") for i in range(25)]
    client, sent = _failing_requests({0: 503, 1: 429})
    with client, pytest.raises(ApiError) as failed:
        client.orders.batch_cancel(many)
    assert [len(ids) for ids in sent] == [20, 5]
    assert may_have_acted(failed.value), failed.value


@pytest.mark.parametrize("lost", [503, 500])
def test_a_request_refused_after_its_answer_was_lost_keeps_its_orders_in_doubt(
    lost: int,
) -> None:
    """The second request's first try loses its answer (it may have cancelled its orders) and
    the client's retry is refused whole (a 400): its orders come back in doubt, never as
    refused, so the kill switch looks them up rather than count them failed."""
    many: list[tuple[str, str | None]] = [(f"o{i}", "KXT-A") for i in range(45)]
    client, sent = _failing_requests({1: lost, 2: 400}, tries=2)
    with client:
        results = client.orders.batch_cancel(many)
    assert [len(ids) for ids in sent] == [20, 20, 20, 5]
    failed = [r for r in results if r.error is not None]
    assert [r.order_id for r in failed] == [f"o{i}" for i in range(20, 40)]
    assert all(r.after_lost_answer for r in failed), failed


def test_a_lone_request_refused_after_its_answer_was_lost_raises_a_doubt() -> None:
    """Nothing answered but a refusal after a lost answer: what is raised says the exchange may
    have acted (`may_have_acted`), as the kill switch and the stop judge it, not the refusal of
    the last try alone; the refusal is named in it."""
    client, sent = _failing_requests({0: 503, 1: 400}, tries=2)
    with client, pytest.raises(KalshiError) as failed:
        client.orders.batch_cancel(PAIRS)
    assert len(sent) == 2
    assert may_have_acted(failed.value), failed.value
    assert "503" in failed.value.message and "400" in failed.value.message, failed.value.message


def test_a_request_refused_on_its_first_try_is_a_refusal() -> None:
    """The doubt needs a lost answer: a 400 on the first try is a refusal, raised as it came."""
    client, sent = _failing_requests({0: 400}, tries=2)
    with client, pytest.raises(ApiError) as failed:
        client.orders.batch_cancel(PAIRS)
    assert len(sent) == 1
    assert failed.value.status == 400 and not may_have_acted(failed.value)
