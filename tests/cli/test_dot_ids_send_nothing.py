"""An id typed as `.` or `..` is no id: percent-escaping leaves both as they are, and the URL
then drops or climbs the path segment (RFC 3986 dot segments), so the request goes to another
endpoint. `kalshi order cancel .` became `DELETE /portfolio/events/orders`, the exchange's
cancel-all; `kalshi rfq cancel .` a DELETE on the RFQ collection, `kalshi quote accept .` a
listing. Each is refused before anything is sent, and the order placed before still rests."""

from __future__ import annotations

import pytest

from kalshi_cli.client.connection import path_segment
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets


@pytest.mark.parametrize("segment", [".", ".."])
def test_a_dot_segment_is_refused(segment: str) -> None:
    with pytest.raises(ValidationError):
        path_segment(segment)
    assert path_segment("a.b") == "a.b" and path_segment("a/..") == "a%2F.."


@pytest.mark.parametrize("dots", [".", ".."])
@pytest.mark.parametrize(
    "command",
    [
        ("rfq", "cancel", "{}"),
        ("rfq", "show", "{}"),
        ("quote", "cancel", "{}"),
        ("quote", "accept", "{}", "--side", "yes"),
        ("quote", "confirm", "{}"),
        ("quote", "create", "{}", "--yes-bid", "0.40", "--no-bid", "0.55"),
        ("order", "cancel", "{}"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_an_id_of_dots_sends_nothing(
    prime: SimHarness, kalshi: Kalshi, command: tuple[str, ...], dots: str
) -> None:
    (ticker,) = make_markets(prime, 1)
    placed = kalshi(
        "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1",
        "--price", "0.30", "--json",
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    before = prime.stats()["total_requests"]

    result = kalshi(*(part.format(dots) for part in command))

    # an RFQ's or a quote's id is refused while the line is parsed (not a UUID), an order's by
    # the client before it builds the request's path
    refused = ExitCode.REJECTED if command[0] == "order" else ExitCode.USAGE
    assert result.exit_code == refused, result.output
    assert prime.stats()["total_requests"] == before  # not one request
    listed = prime.signed(prime.account, "GET", "/portfolio/orders", params={"status": "resting"})
    assert [o["ticker"] for o in listed.json()["orders"]] == [ticker]
