"""The retry policy and cursor pagination, without any network."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest

from kalshi_cli.client.pagination import paginate
from kalshi_cli.client.retry import Resend, RetryPolicy
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    KalshiError,
    NotFoundError,
    OrderOutcomeUnknown,
    RateLimitedError,
    ServerError,
    TransportError,
)


def _server_error() -> ServerError:
    return ServerError("GET /x failed: HTTP 503", status=503)


def _rate_limited() -> RateLimitedError:
    return RateLimitedError("GET /x failed: HTTP 429", status=429)


def _transport(cause: Exception) -> TransportError:
    try:
        raise TransportError("no answer") from cause
    except TransportError as exc:
        return exc


def _failing(errors: list[KalshiError], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    calls = [0]

    def call() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return result

    return call, calls


def _run(policy: RetryPolicy, call: Callable[[], str], mode: Resend, clock: ManualClock) -> str:
    return policy.run(call, mode=mode, clock=clock, rng=random.Random(7), what="GET /x")


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    rng = random.Random(1)
    for retry, cap in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)):
        draws = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in draws)
        assert max(draws) > cap * 0.8  # spread over the whole range, not a fixed delay
        assert min(draws) < cap * 0.2


def test_reads_are_retried_through_5xx_429_and_transport_errors() -> None:
    clock = ManualClock()
    errors: list[KalshiError] = [
        _server_error(),
        _rate_limited(),
        _transport(httpx.ReadTimeout("slow")),
    ]
    call, calls = _failing(errors)
    assert _run(RetryPolicy(max_attempts=4), call, Resend.ALWAYS, clock) == "ok"
    assert calls[0] == 4
    assert clock.monotonic() > 0  # it waited between attempts


def test_retries_stop_at_max_attempts_with_the_last_error() -> None:
    clock = ManualClock()
    call, calls = _failing([_server_error() for _ in range(10)])
    with pytest.raises(ServerError):
        _run(RetryPolicy(max_attempts=3), call, Resend.ALWAYS, clock)
    assert calls[0] == 3


def test_retries_stop_when_the_time_budget_would_be_exceeded() -> None:
    clock = ManualClock()
    call, calls = _failing([_server_error() for _ in range(50)])
    policy = RetryPolicy(max_attempts=50, max_seconds=5.0, base_delay=1.0, max_delay=4.0)
    with pytest.raises(ServerError):
        _run(policy, call, Resend.ALWAYS, clock)
    assert clock.monotonic() <= 5.0
    assert 2 <= calls[0] < 50


def test_client_errors_are_never_retried() -> None:
    clock = ManualClock()
    call, calls = _failing([NotFoundError("nope", status=404)])
    with pytest.raises(NotFoundError):
        _run(RetryPolicy(), call, Resend.ALWAYS, clock)
    assert calls[0] == 1


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (_rate_limited(), True),
        (_transport(httpx.ConnectError("refused")), True),
        (_transport(httpx.ConnectTimeout("slow connect")), True),
        (_server_error(), False),
        (_transport(httpx.ReadTimeout("slow")), False),
        (_transport(httpx.RemoteProtocolError("dropped")), False),
    ],
)
def test_if_unsent_retries_only_when_the_exchange_certainly_did_not_act(
    error: KalshiError, retried: bool
) -> None:
    call, calls = _failing([error])
    if retried:
        assert _run(RetryPolicy(), call, Resend.IF_UNSENT, ManualClock()) == "ok"
        assert calls[0] == 2
    else:
        with pytest.raises(type(error)):
            _run(RetryPolicy(), call, Resend.IF_UNSENT, ManualClock())
        assert calls[0] == 1


@pytest.mark.parametrize(
    "error",
    [
        _rate_limited(),
        _server_error(),
        _transport(httpx.ConnectError("refused")),
        OrderOutcomeUnknown("lost", client_order_id="c1"),
    ],
)
def test_never_means_never(error: KalshiError) -> None:
    call, calls = _failing([error])
    with pytest.raises(type(error)):
        _run(RetryPolicy(), call, Resend.NEVER, ManualClock())
    assert calls[0] == 1


# ------------------------------------------------------------------------------------------
# pagination


Fetch = Callable[[str | None, int], tuple[list[int], str]]


def _pages(
    pages: dict[str | None, tuple[list[int], str]],
) -> tuple[Fetch, list[tuple[str | None, int]]]:
    requests: list[tuple[str | None, int]] = []

    def fetch(cursor: str | None, size: int) -> tuple[list[int], str]:
        requests.append((cursor, size))
        return pages[cursor]

    return fetch, requests


def test_pagination_follows_cursors_until_an_empty_one() -> None:
    fetch, requests = _pages({None: ([1, 2], "a"), "a": ([3, 4], "b"), "b": ([5], "")})
    progress: list[int] = []
    items = list(paginate(fetch, page_size=2, on_page=progress.append))
    assert items == [1, 2, 3, 4, 5]
    assert [c for c, _ in requests] == [None, "a", "b"]
    assert progress == [2, 4, 5]


def test_a_repeated_cursor_is_an_error_not_an_endless_loop() -> None:
    fetch, requests = _pages({None: ([1], "a"), "a": ([2], "b"), "b": ([3], "a")})
    with pytest.raises(KalshiError, match="pagination cursor repeated"):
        list(paginate(fetch, page_size=1, what="markets"))
    assert len(requests) == 3


def test_the_page_count_is_bounded() -> None:
    counter = iter(range(10**6))

    def fetch(cursor: str | None, size: int) -> tuple[list[int], str]:
        return [0], f"c{next(counter)}"  # a fresh cursor forever

    with pytest.raises(KalshiError, match="stopped after 5 pages"):
        list(paginate(fetch, page_size=1, max_pages=5))


def test_limit_stops_early_and_asks_only_for_what_is_needed() -> None:
    fetch, requests = _pages({None: ([1, 2, 3], "a"), "a": ([4, 5, 6], "b")})
    assert list(paginate(fetch, page_size=3, limit=4)) == [1, 2, 3, 4]
    assert requests == [(None, 3), ("a", 1)]
    assert list(paginate(fetch, page_size=3, limit=0)) == []
