"""Every write that places, changes or executes something follows one rule: when its answer is
lost after it was sent (a 5xx, a timeout or a dropped connection once the request left, an
answer whose body cannot be read) its outcome is unknown: an `OrderOutcomeUnknown` of the kind
the write names (exit 10), never success, never a refusal, and the write is never sent again. A
request that never left (a refused connection) is no such case: it is raised as it is (exit 7),
after the tries its resend mode allows.

Each write is pinned here for each of those failures, to the class, the words and the hint the
person reads, and to how many times it was sent: an order, a batch of orders, an amend and a
decrease, the RFQ and quote writes, the creates of a subaccount, an order group and an API
key (registered or generated), and a transfer of money between exchange shards. The exchange is
a fake transport answering the one request as each case says."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.portfolio import TransferOutcomeUnknown
from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    AnswerUnreadable,
    KalshiError,
    OrderOutcomeUnknown,
    RateLimitedError,
    TransportError,
)
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import generate_private_key
from kalshi_cli.vocabulary.units import BookSide

BASE = "https://exchange.test/trade-api/v2"
HOST = "exchange.test"
TRIES = 4  # the client's `max_attempts`
Reply = httpx.Response | Exception


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    made = generate_private_key()
    assert isinstance(made, rsa.RSAPrivateKey)
    return made


class OneRoute:
    """A fake exchange whose every answer is `reply`; it counts the requests that reach it."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def _client(exchange: OneRoute, key: rsa.RSAPrivateKey) -> KalshiClient:
    return KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=key,
        clock=ManualClock(),
        transport=httpx.MockTransport(exchange.handler),
        rng=random.Random(3),
        max_attempts=TRIES,
    )


def _order(coid: str) -> CreateOrder:
    return CreateOrder(
        ticker="KXT",
        book_side=BookSide.ASK,
        price=Decimal("0.60"),
        count=Decimal(3),
        client_order_id=coid,
    )


@dataclass(frozen=True)
class Write:
    """One write, what it is called in the messages, and how its unknown outcome is told."""

    name: str
    call: Callable[[KalshiClient], object]
    request: str  # "METHOD /path": how a lost connection's message names the request
    what: str  # how the other messages name the write
    doubt: str  # what may or may not be so, after the exchange's status
    lost: str  # the same, after a lost connection's message
    kind: type[OrderOutcomeUnknown]
    hint: str
    ids: dict[str, str]
    resent_if_unsent: bool  # sent again when it certainly never left
    created: int  # the status of a success, whose unreadable body is a lost answer

    def unknown(self, message: str) -> OrderOutcomeUnknown:
        if self.kind is AmendOutcomeUnknown:
            return AmendOutcomeUnknown(message, order_id=self.ids["order_id"], hint=self.hint)
        if self.kind is TransferOutcomeUnknown:
            return TransferOutcomeUnknown(message, hint=self.hint)
        return OrderOutcomeUnknown(
            message, client_order_id=self.ids["client_order_id"], hint=self.hint
        )


RECONCILE = "run `kalshi reconcile` to resolve it"
ORDER_SHOW = "`kalshi order show o1` shows what the exchange has"
BATCH = "a batch of 2 orders (coid-a...)"


def _change(verb: str, call: Callable[[KalshiClient], object]) -> Write:
    return Write(
        name=verb,
        call=call,
        request=f"POST /portfolio/events/orders/o1/{verb}",
        what=f"the {verb} of order o1",
        doubt="it may or may not have been applied",
        lost=f"the {verb} of order o1 may or may not have been applied",
        kind=AmendOutcomeUnknown,
        hint=ORDER_SHOW,
        ids={"order_id": "o1", "client_order_id": ""},
        resent_if_unsent=True,
        created=200,
    )


def _communication(
    name: str, call: Callable[[KalshiClient], object], *, request: str, what: str, doubt: str,
    read_back: str, created: int = 204, hint: str | None = None,
) -> Write:  # fmt: skip
    """A write sent again only while it certainly never left, whose unknown outcome names the
    read that tells (`read_back`), or says `hint` in full."""
    return Write(
        name=name,
        call=call,
        request=request,
        what=what,
        doubt=doubt,
        lost=doubt,
        kind=OrderOutcomeUnknown,
        hint=hint or f"`{read_back}` shows what the exchange has",
        ids={"client_order_id": ""},
        resent_if_unsent=True,
        created=created,
    )


WRITES = [
    Write(
        name="create_order",
        call=lambda c: c.orders.create_order(_order("coid-7")),
        request="order coid-7",
        what="order coid-7",
        doubt="it may or may not exist",
        lost="order coid-7 may or may not exist",
        kind=OrderOutcomeUnknown,
        hint=RECONCILE,
        ids={"client_order_id": "coid-7"},
        resent_if_unsent=False,
        created=201,
    ),
    Write(
        name="batch_create_orders",
        call=lambda c: c.orders.batch_create_orders([_order("coid-a"), _order("coid-b")]),
        request=BATCH,
        what=BATCH,
        doubt="any of them may exist",
        lost=f"any order of {BATCH} may exist",
        kind=OrderOutcomeUnknown,
        hint=RECONCILE,
        ids={"client_order_id": "coid-a"},
        resent_if_unsent=False,
        created=201,
    ),
    _change(
        "amend",
        lambda c: c.orders.amend_order(
            "o1",
            AmendOrder(
                ticker="KXT", book_side=BookSide.BID, price=Decimal("0.41"), count=Decimal(5)
            ),
        ),
    ),
    _change("decrease", lambda c: c.orders.decrease_order("o1", reduce_by=Decimal(1))),
    _communication(
        "create_rfq",
        lambda c: c.communications.create_rfq("KXT", contracts=Decimal(2)),
        request="POST /communications/rfqs",
        what="a new RFQ on KXT",
        doubt="the RFQ may or may not exist",
        read_back="kalshi rfq list --mine",
        created=201,
    ),
    _communication(
        "create_quote",
        lambda c: c.communications.create_quote(
            "r1", yes_bid=Decimal("0.40"), no_bid=Decimal("0.55")
        ),
        request="POST /communications/quotes",
        what="a new quote on RFQ r1",
        doubt="the quote may or may not exist",
        read_back="kalshi quote list --mine --rfq r1",
        created=201,
    ),
    _communication(
        "delete_rfq",
        lambda c: c.communications.delete_rfq("r1"),
        request="DELETE /communications/rfqs/r1",
        what="the close of RFQ r1",
        doubt="it may or may not be closed",
        read_back="kalshi rfq show r1",
    ),
    _communication(
        "delete_quote",
        lambda c: c.communications.delete_quote("q1"),
        request="DELETE /communications/quotes/q1",
        what="the cancel of quote q1",
        doubt="it may or may not be cancelled",
        read_back="kalshi quote show q1",
    ),
    _communication(
        "accept_quote",
        lambda c: c.communications.accept_quote("q1", "yes"),
        request="PUT /communications/quotes/q1/accept",
        what="the acceptance of quote q1",
        doubt="it may or may not be accepted: you buy yes once the maker confirms",
        read_back="kalshi quote show q1",
    ),
    _communication(
        "confirm_quote",
        lambda c: c.communications.confirm_quote("q1"),
        request="PUT /communications/quotes/q1/confirm",
        what="the confirmation of quote q1",
        doubt="its orders may or may not exist",
        read_back="kalshi quote show q1",
    ),
    _communication(
        "create_subaccount",
        lambda c: c.subaccounts.create_subaccount(),
        request="POST /portfolio/subaccounts",
        what="a new subaccount",
        doubt="the subaccount may or may not exist",
        read_back="kalshi subaccount list",
        created=201,
    ),
    _communication(
        "create_order_group",
        lambda c: c.order_groups.create_order_group(Decimal(40)),
        request="POST /portfolio/order_groups/create",
        what="a new order group of 40 contracts",
        doubt="the order group may or may not exist",
        read_back="kalshi order-group list",
        created=201,
    ),
    _communication(
        "create_order_group_on_a_subaccount",
        lambda c: c.order_groups.create_order_group(Decimal(40), subaccount=3),
        request="POST /portfolio/order_groups/create",
        what="a new order group of 40 contracts",
        doubt="the order group may or may not exist",
        read_back="kalshi order-group list --subaccount 3",
        created=201,
    ),
    _communication(
        "create_api_key",
        lambda c: c.api_keys.create_api_key("bot", "-----BEGIN PUBLIC KEY-----"),
        request="POST /api_keys",
        what="a new API key named bot",
        doubt="the key may or may not be registered",
        read_back="kalshi key list",
        created=201,
    ),
    _communication(
        "generate_api_key",
        lambda c: c.api_keys.generate_api_key("reader"),
        request="POST /api_keys/generate",
        what="a new API key named reader",
        doubt="the key may or may not exist, and nobody holds its private key",
        read_back="",
        hint="`kalshi key list` shows whether a key named reader was made; its private key is "
        "lost, so delete it with `kalshi key delete KEY_ID`",
        created=201,
    ),
]
TRANSFER = "the transfer of $25.00 from shard 0 to shard 2"
WRITES.append(
    Write(
        name="send_transfer",
        call=lambda c: c.portfolio.send_transfer(Decimal(25), from_shard=0, to_shard=2),
        request=TRANSFER,
        what=TRANSFER,
        doubt="the money may or may not be moving",
        lost=f"{TRANSFER} may or may not have been made",
        kind=TransferOutcomeUnknown,
        hint="`kalshi shard transfers` lists what the exchange has; move again only once you "
        "know this one is not there",
        ids={"client_order_id": ""},
        resent_if_unsent=False,  # no idempotency key: never sent twice by the client
        created=200,
    )
)
BY_NAME = {w.name: w for w in WRITES}
READ_BODIES = [w for w in WRITES if w.created != 204]  # a 204 has no body to read
NO_BODIES = [w for w in WRITES if w.created == 204]


def _raised(write: Write, reply: Reply, key: rsa.RSAPrivateKey) -> tuple[KalshiError, OneRoute]:
    exchange = OneRoute(reply)
    with _client(exchange, key) as client, pytest.raises(KalshiError) as info:
        write.call(client)
    return info.value, exchange


def _assert_unknown(error: KalshiError, write: Write, message: str) -> None:
    assert type(error) is write.kind, repr(error)
    assert isinstance(error, OrderOutcomeUnknown)
    assert error.message == message
    assert error.hint == write.hint
    assert error.exit_code is ExitCode.OUTCOME_UNKNOWN
    assert error.client_order_id == write.ids["client_order_id"]
    if isinstance(error, AmendOutcomeUnknown):
        assert error.order_id == write.ids["order_id"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("write", WRITES, ids=BY_NAME)
def test_a_5xx_is_unknown_and_never_sent_again(
    write: Write, status: int, key: rsa.RSAPrivateKey
) -> None:
    error, exchange = _raised(write, httpx.Response(status, json={"code": "internal"}), key)
    _assert_unknown(
        error, write, f"the exchange answered HTTP {status} to {write.what}; {write.doubt}"
    )
    assert len(exchange.requests) == 1


@pytest.mark.parametrize("write", WRITES, ids=BY_NAME)
def test_a_timeout_after_sending_is_unknown_and_never_sent_again(
    write: Write, key: rsa.RSAPrivateKey
) -> None:
    error, exchange = _raised(write, httpx.ReadTimeout("timed out"), key)
    _assert_unknown(
        error,
        write,
        f"{write.request}: no answer from {HOST}: no response within 10s; {write.lost}",
    )
    assert len(exchange.requests) == 1


@pytest.mark.parametrize(
    "lost",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("Connection reset by peer."),
        httpx.WriteError("Broken pipe."),
    ],
    ids=["disconnected", "reset", "broken-pipe"],
)
@pytest.mark.parametrize("write", WRITES, ids=BY_NAME)
def test_a_connection_lost_after_sending_is_one_sentence_of_unknown_outcome(
    write: Write, lost: httpx.TransportError, key: rsa.RSAPrivateKey
) -> None:
    """The connection's own words end in a full stop; the doubt follows them in the same
    sentence, as the RFQ and quote writes always said it, never as `response.; it may`."""
    error, exchange = _raised(write, lost, key)
    reason = str(lost).rstrip(".")
    _assert_unknown(error, write, f"{write.request}: no answer from {HOST}: {reason}; {write.lost}")
    assert len(exchange.requests) == 1


@pytest.mark.parametrize("write", WRITES, ids=BY_NAME)
def test_a_write_that_never_left_is_raised_as_it_is(write: Write, key: rsa.RSAPrivateKey) -> None:
    """A refused connection sent nothing: no unknown outcome (exit 7, the exchange is not
    reached). The writes that may be sent again when they certainly never left are tried as
    often as the client tries; an order or a batch is never sent twice, even so."""
    error, exchange = _raised(write, httpx.ConnectError("Connection refused"), key)
    assert type(error) is TransportError, repr(error)
    assert error.exit_code is ExitCode.UNREACHABLE
    assert error.message == f"{write.request}: no answer from {HOST}: Connection refused"
    assert len(exchange.requests) == (TRIES if write.resent_if_unsent else 1)


@pytest.mark.parametrize("write", WRITES, ids=BY_NAME)
def test_an_answer_the_transport_could_not_read_is_unknown_and_never_sent_again(
    write: Write, key: rsa.RSAPrivateKey
) -> None:
    """An answer that came and cannot be read says nothing of whether the exchange acted, as
    a 5xx does not (`may_have_acted`: one judgement for a write and a batch's failures). A
    transport the client is given that reads the answer itself and raises `AnswerUnreadable`
    once passed it on as it came: neither unknown nor a refusal, exit 1."""
    error, exchange = _raised(write, AnswerUnreadable("the answer was cut short."), key)
    _assert_unknown(error, write, f"the answer was cut short; {write.lost}")
    assert isinstance(error.__cause__, AnswerUnreadable)
    assert len(exchange.requests) == 1


def _assert_unreadable(write: Write, body: bytes, key: rsa.RSAPrivateKey) -> None:
    error, exchange = _raised(write, httpx.Response(write.created, content=body), key)
    _assert_unknown(
        error,
        write,
        f"the exchange answered HTTP {write.created} to {write.what} but its answer could "
        f"not be read; {write.doubt}",
    )
    assert len(exchange.requests) == 1


@pytest.mark.parametrize(
    "body", [b"<html>bad gateway</html>", b"[1, 2]", b""], ids=["html", "no-object", "empty"]
)
@pytest.mark.parametrize("write", READ_BODIES, ids=[w.name for w in READ_BODIES])
def test_a_success_whose_body_cannot_be_read_is_unknown_and_never_sent_again(
    write: Write, body: bytes, key: rsa.RSAPrivateKey
) -> None:
    """A 2xx whose body is no JSON object: the exchange may have acted or may have answered
    with an error in a success status (as Kalshi did on retired order paths), so neither."""
    _assert_unreadable(write, body, key)


CREATES = [
    "create_rfq",
    "create_quote",
    "create_subaccount",
    "create_order_group",
    "create_api_key",
    "generate_api_key",
]


@pytest.mark.parametrize("write", [BY_NAME[n] for n in CREATES], ids=CREATES)
def test_a_created_id_in_a_body_that_is_no_json_is_unknown_too(
    write: Write, key: rsa.RSAPrivateKey
) -> None:
    """`NaN` is no JSON, though Python's own reader takes it: the answer of a create read by
    msgspec cannot be read, as any other, rather than the decoder's error escaping as if the
    write had failed."""
    _assert_unreadable(write, b'{"id": "x1", "spare": NaN}', key)


@pytest.mark.parametrize("status", [200, 204])
@pytest.mark.parametrize("write", NO_BODIES, ids=[w.name for w in NO_BODIES])
def test_a_success_without_a_body_or_with_any_but_an_error_is_done(
    write: Write, status: int, key: rsa.RSAPrivateKey
) -> None:
    """The spec answers these writes 204 with no body: that, or a 2xx with a body that carries
    no `error`, is the write done."""
    body = b"" if status == 204 else b'{"quote_id": "q1"}'
    exchange = OneRoute(httpx.Response(status, content=body))
    with _client(exchange, key) as client:
        assert write.call(client) is None
    assert len(exchange.requests) == 1


@pytest.mark.parametrize("write", NO_BODIES, ids=[w.name for w in NO_BODIES])
def test_a_success_that_carries_an_error_is_unknown_and_never_sent_again(
    write: Write, key: rsa.RSAPrivateKey
) -> None:
    """Kalshi answered writes to its retired order paths with a 2xx whose body held an `error`
    object and did not act (REFERENCE.md, field reports of 2026); the quote paths these writes
    use are deprecated in their turn. Such an answer is no proof of the write, nor of its
    refusal: its outcome is unknown, as an order's is, never "done" (exit 0)."""
    body = {"error": {"code": "gone", "message": "this endpoint was retired"}}
    error, exchange = _raised(write, httpx.Response(200, json=body), key)
    _assert_unknown(
        error,
        write,
        f"the exchange answered HTTP 200 to {write.what} with an error (gone: this endpoint "
        f"was retired); {write.doubt}",
    )
    assert len(exchange.requests) == 1


@pytest.mark.parametrize("write", WRITES, ids=BY_NAME)
def test_an_unknown_outcome_the_transport_raised_is_passed_on_as_it_is(
    write: Write, key: rsa.RSAPrivateKey
) -> None:
    """What below already called unknown of the write's own kind is the caller's answer as it
    is, never wrapped in a second doubt about itself."""
    below = write.unknown("told below")
    error, exchange = _raised(write, below, key)
    assert error is below
    assert len(exchange.requests) == 1


def test_a_change_told_unknown_as_an_order_below_is_still_a_change_of_unknown_outcome(
    key: rsa.RSAPrivateKey,
) -> None:
    """An amend's callers handle `AmendOutcomeUnknown` (they read the order back): an order's
    unknown outcome raised below it is said as the amend's, never passed on as an order's."""
    write = BY_NAME["amend"]
    below = OrderOutcomeUnknown("told below", client_order_id="")
    error, _ = _raised(write, below, key)
    _assert_unknown(error, write, f"told below; {write.lost}")
    assert error.__cause__ is below


SENT_ONCE = [w for w in WRITES if not w.resent_if_unsent]


@pytest.mark.parametrize("write", SENT_ONCE, ids=[w.name for w in SENT_ONCE])
def test_a_429_to_a_write_sent_once_is_a_refusal_that_says_to_wait(
    write: Write, key: rsa.RSAPrivateKey
) -> None:
    """A 429 is the exchange refusing before it acted: no unknown outcome, and the person is
    told it may be placed again after a wait, a batch as a single order: one rule. A batch
    once said "the exchange kept answering 429", though it was sent once."""
    error, exchange = _raised(write, _429(), key)
    assert type(error) is RateLimitedError
    assert error.hint == "the exchange refused it before placing it; wait, then place it again"
    assert len(exchange.requests) == 1


@pytest.mark.parametrize("write", [w for w in WRITES if w.resent_if_unsent], ids=lambda w: w.name)
def test_a_429_to_a_write_sent_again_if_unsent_is_tried_again_then_raised(
    write: Write, key: rsa.RSAPrivateKey
) -> None:
    error, exchange = _raised(write, _429(), key)
    assert type(error) is RateLimitedError
    assert len(exchange.requests) == TRIES


def _429() -> httpx.Response:
    return httpx.Response(429, json={"error": "too many requests"}, headers={"retry-after": "0"})
