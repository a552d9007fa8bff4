"""One spelling of "which markets" everywhere: `--tickers` (a comma-separated list) and
`--ticker` (one market) are accepted by every command that takes markets, with the older
`--markets` / `--market` kept as aliases."""

from __future__ import annotations

import pytest
from typer.main import get_command

from kalshi_cli.cli.app import app

LISTS = [
    ("markets",),
    ("watch",),
    ("trade",),
    ("backtest",),
    ("record",),
    ("data", "download"),
]
ONE = [
    ("order", "list"),
    ("positions",),
    ("fills",),
    ("settlements",),
    ("cancel-all",),
    ("rfq", "list"),
]


def options_of(path: tuple[str, ...]) -> set[str]:
    command = get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return {o for p in command.params for o in p.opts}


@pytest.mark.parametrize("path", LISTS, ids=" ".join)
def test_a_command_of_several_markets_takes_tickers_ticker_and_markets(
    path: tuple[str, ...],
) -> None:
    assert {"--tickers", "--ticker", "--markets"} <= options_of(path)


@pytest.mark.parametrize("path", ONE, ids=" ".join)
def test_a_command_of_one_market_takes_ticker_and_market(path: tuple[str, ...]) -> None:
    assert {"--ticker", "--market"} <= options_of(path)
