"""Exit codes are an interface: each value is pinned, documented, and reached by its error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kalshi_cli.backtest.executors import ExecutorError
from kalshi_cli.backtest.report import StrategyFailed
from kalshi_cli.runner.loop.state_fault import StateFileFailed
from kalshi_cli.store import NotAStateFile, StateFileMismatch
from kalshi_cli.vocabulary import errors
from kalshi_cli.vocabulary.exit_codes import ExitCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"

PINNED = {
    "OK": 0,
    "FAILURE": 1,
    "USAGE": 2,
    "CONFIG": 3,
    "CREDENTIALS": 4,
    "AUTH": 5,
    "NOT_FOUND": 6,
    "UNREACHABLE": 7,
    "RATE_LIMITED": 8,
    "REJECTED": 9,
    "OUTCOME_UNKNOWN": 10,
    "NOT_PROVEN": 11,
    "CHECK_FAILED": 12,
    "HALTED": 13,
    "EXCHANGE_ERROR": 14,
    "ALREADY_RUNNING": 15,
    "FORBIDDEN": 16,
    "BAD_STATE_FILE": 17,
    "DATA_WRITE_FAILED": 18,
    "NO_DATA": 19,
    "STATE_MISMATCH": 20,
    "STATE_WRITE_FAILED": 21,
    "EXECUTOR_FAILED": 22,
    "STRATEGY_FAILED": 23,
    "FILL_QUARANTINED": 24,
    "TRANSFER_SHORT": 25,
    "INTERRUPTED": 130,
    "BROKEN_PIPE": 141,
}


def test_every_code_is_pinned() -> None:
    assert {code.name: int(code) for code in ExitCode} == PINNED


def test_codes_are_distinct() -> None:
    assert len({int(code) for code in ExitCode}) == len(ExitCode)


def test_every_code_is_documented_with_its_value() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", text, flags=re.MULTILINE))
    assert {name: int(value) for value, name in rows.items()} == PINNED


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.UsageError("x"), ExitCode.USAGE),
        (errors.ConfigError("x"), ExitCode.CONFIG),
        (errors.CredentialsError("x"), ExitCode.CREDENTIALS),
        (errors.ValidationError("x"), ExitCode.REJECTED),
        (errors.TradingHaltedError("x"), ExitCode.HALTED),
        (errors.TransportError("x"), ExitCode.UNREACHABLE),
        (errors.OrderOutcomeUnknown("x", client_order_id="c"), ExitCode.OUTCOME_UNKNOWN),
        (errors.ApiError.from_response(400, {}), ExitCode.REJECTED),
        (errors.ApiError.from_response(401, {}), ExitCode.AUTH),
        (errors.ApiError.from_response(403, {}), ExitCode.FORBIDDEN),
        (errors.ApiError.from_response(404, {}), ExitCode.NOT_FOUND),
        (errors.ApiError.from_response(409, {}), ExitCode.REJECTED),
        (errors.ApiError.from_response(429, {}), ExitCode.RATE_LIMITED),
        (errors.ApiError.from_response(503, {}), ExitCode.EXCHANGE_ERROR),
        (NotAStateFile("x"), ExitCode.BAD_STATE_FILE),
        (errors.DataWriteError("x"), ExitCode.DATA_WRITE_FAILED),
        (errors.NoDataError("x"), ExitCode.NO_DATA),
        (StateFileMismatch("x"), ExitCode.STATE_MISMATCH),
        (StateFileFailed("x"), ExitCode.STATE_WRITE_FAILED),
        (ExecutorError("x"), ExitCode.EXECUTOR_FAILED),
        (StrategyFailed("x"), ExitCode.STRATEGY_FAILED),
    ],
)
def test_each_error_class_carries_its_code(error: errors.KalshiError, code: ExitCode) -> None:
    assert error.exit_code is code
