"""A request the client does not send because its deadline would pass first is no failure of the
exchange: one its own rate limiter would let out only after its deadline (`TurnAfterDeadline`:
the loop asked more of its write budget than the retry budget of a call, 3 s in `kalshi trade`,
can wait for, a pause or a SAFE_MODE withdrawing hundreds of quotes at once), or one whose
caller's deadline had passed before it could leave (a loaded machine's overrun wait). That says
nothing about the exchange's health, so the API error guard must not count it toward SAFE_MODE
(which needs a person to lift), nor back the loop off for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client.connection import Connection
from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from kalshi_cli.client.retry import Resend, nothing_sent
from kalshi_cli.risk.engine import RiskEngine, RiskLimits
from kalshi_cli.runner.books.records import LoopTradingRecords
from kalshi_cli.runner.loop.settings import CLIENT_RETRY_BUDGET_S
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import Deadline, ManualClock
from kalshi_cli.vocabulary.errors import TransportError
from kalshi_cli.vocabulary.trading_state import TradingState
from tests.conftest import standard_rates

START = 1_767_268_800.0
# ten tokens a second: a batch cancel of 40 orders (80 tokens) waits about 8 s for its turn
SLOW_WRITES = TierLimits(read=BucketLimit(1000, 1000), write=BucketLimit(10, 10))
BATCH = "/portfolio/events/orders/batched"


def _connection(clock: ManualClock, sent: list[httpx.Request], **kwargs: Any) -> Connection:
    """A connection to an exchange that answers every request it gets, kept in `sent`."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"orders": []})

    return Connection(
        api_base="http://exchange.invalid/trade-api/v2",
        clock=clock,
        transport=httpx.MockTransport(answer),
        **kwargs,
    )


def _behind_its_own_budget(clock: ManualClock, sent: list[httpx.Request]) -> TransportError:
    conn = _connection(
        clock, sent, rate_limits=SLOW_WRITES, max_retry_seconds=CLIENT_RETRY_BUDGET_S
    )
    with pytest.raises(TransportError) as info:
        conn.request("DELETE", BATCH, items=40, mode=Resend.IF_UNSENT)
    return info.value


def _past_its_deadline(clock: ManualClock, sent: list[httpx.Request]) -> TransportError:
    conn = _connection(clock, sent)
    with Deadline.within(clock, 0.0), pytest.raises(TransportError) as info:
        conn.request("GET", "/portfolio/orders")
    return info.value


@pytest.mark.parametrize("not_sent", [_behind_its_own_budget, _past_its_deadline])
def test_a_call_not_sent_for_its_deadline_is_no_api_error(
    tmp_path: Path, not_sent: Callable[[ManualClock, list[httpx.Request]], TransportError]
) -> None:
    clock = ManualClock(START)
    sent: list[httpx.Request] = []
    error = not_sent(clock, sent)
    assert sent == [] and nothing_sent(error)  # never left: safe to send again later
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        engine = RiskEngine(
            LoopTradingRecords(store),
            RiskLimits(max_consecutive_errors=2),
            clock=clock,
            fee_rates=standard_rates,
        )
        verdicts = [engine.api_guard.record_error(error) for _ in range(3)]
        assert not any(v.safe_mode for v in verdicts)
        assert all(v.delay_s == 0 for v in verdicts), "no backoff: the exchange is not failing"
        assert store.trading.trading_state().state == TradingState.ACTIVE.value


def test_a_call_whose_turn_comes_after_its_deadline_is_not_tried_again_within_it() -> None:
    """The wait for its turn and the time left shrink together: a retry would fail alike, and
    its backoff would only spend the caller's deadline (a stop's, the kill switch's)."""
    clock = ManualClock(START)
    started = clock.monotonic()
    sent: list[httpx.Request] = []
    _behind_its_own_budget(clock, sent)
    assert sent == []
    assert clock.monotonic() == started, "it gave up at once, with no backoff between tries"
