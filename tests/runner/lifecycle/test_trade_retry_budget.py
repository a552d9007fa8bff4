"""The trade loop's client retries one call for at most CLIENT_RETRY_BUDGET_S (the loop does
not tick, and SIGTERM waits, while a call retries); every other command keeps the client's
default budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.retry import DEFAULT_RETRY_BUDGET_S, retry_budget
from kalshi_cli.runner.loop.settings import CLIENT_RETRY_BUDGET_S
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import CredentialsError, ServerError

BASE = "http://127.0.0.1:9/trade-api/v2"


def _budgets(tmp_path: Path, args: list[str]) -> list[float | None]:
    """Run `kalshi ARGS` and return the retry budget in force each time it built a client (the
    factory then refuses, which ends the command)."""
    seen: list[float | None] = []

    def factory(context: AppContext, _settings: Any, _anonymous: bool) -> Any:
        seen.append(context.retry_budget_s)
        raise CredentialsError("no client in this test")

    context = AppContext(environ={"KALSHI_HOME": str(tmp_path)}, client_factory=factory)
    CliRunner().invoke(app, args, obj=context, env={"COLUMNS": "100"}, prog_name="kalshi")
    return seen


def test_kalshi_trade_builds_its_client_with_the_short_budget(tmp_path: Path) -> None:
    assert 0 < CLIENT_RETRY_BUDGET_S <= 5
    assert _budgets(tmp_path, ["trade", "--strategy", "spike", "--once"]) == [CLIENT_RETRY_BUDGET_S]


def test_other_commands_keep_the_default_budget(tmp_path: Path) -> None:
    assert _budgets(tmp_path, ["balance"]) == [None]
    assert _budgets(tmp_path, ["market", "X"]) == [None]


def test_the_default_factory_passes_the_budget_to_the_client(tmp_path: Path) -> None:
    environ = {"KALSHI_HOME": str(tmp_path), "KALSHI_API_BASE": BASE}
    short = AppContext(environ=environ).client(retry_budget_s=CLIENT_RETRY_BUDGET_S)
    default = AppContext(environ=environ).client()
    assert short.connection._retry.max_seconds == CLIENT_RETRY_BUDGET_S
    assert default.connection._retry.max_seconds == DEFAULT_RETRY_BUDGET_S == 20.0


def test_a_budget_cannot_change_once_the_client_is_built(tmp_path: Path) -> None:
    context = AppContext(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_API_BASE": BASE})
    built = context.client()
    assert context.client() is built
    with pytest.raises(RuntimeError, match="retry budget"):
        context.client(retry_budget_s=CLIENT_RETRY_BUDGET_S)


def _slow_503s(clock: ManualClock, started: list[float]) -> httpx.MockTransport:
    """An exchange that answers every request with a 503 after a second."""

    def handler(request: httpx.Request) -> httpx.Response:
        started.append(clock.monotonic())
        clock.advance(1.0)
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})

    return httpx.MockTransport(handler)


def _time_to_give_up(clock: ManualClock, client: KalshiClient, started: list[float]) -> float:
    with pytest.raises(ServerError):
        client.markets.get_market("X")
    assert len(started) > 1, "a 503 on a read is retried"
    return clock.monotonic()


def test_the_loops_client_gives_up_within_its_budget_the_default_one_later() -> None:
    clock, started = ManualClock(0.0), list[float]()
    short = KalshiClient(
        api_base=BASE,
        clock=clock,
        transport=_slow_503s(clock, started),
        max_attempts=100,  # only the time budget ends the retries
        max_retry_seconds=CLIENT_RETRY_BUDGET_S,
    )
    # no retry starts past the budget, so the call ends within one attempt of it
    assert _time_to_give_up(clock, short, started) <= CLIENT_RETRY_BUDGET_S + 1.0
    clock, started = ManualClock(0.0), list[float]()
    default = KalshiClient(
        api_base=BASE, clock=clock, transport=_slow_503s(clock, started), max_attempts=100
    )
    assert _time_to_give_up(clock, default, started) > CLIENT_RETRY_BUDGET_S + 1.0


def test_the_starts_block_gives_its_calls_the_default_budget_and_no_call_after_it() -> None:
    """The start's reads run in `retry_budget(DEFAULT_RETRY_BUDGET_S)`; the loop's calls after
    it retry within the budget the client was built with."""
    clock, started = ManualClock(0.0), list[float]()
    short = KalshiClient(
        api_base=BASE,
        clock=clock,
        transport=_slow_503s(clock, started),
        max_attempts=100,
        max_retry_seconds=CLIENT_RETRY_BUDGET_S,
    )
    with retry_budget(DEFAULT_RETRY_BUDGET_S):
        assert _time_to_give_up(clock, short, started) > CLIENT_RETRY_BUDGET_S + 1.0
    began = clock.monotonic()
    assert _time_to_give_up(clock, short, started) - began <= CLIENT_RETRY_BUDGET_S + 1.0
