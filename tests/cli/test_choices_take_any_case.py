"""A choice is read in any case (`--side YES`, `--action Buy`, `--status OPEN`), as `--env` and
`--format` already were, and is the lower-case value from there on: in the request sent, the
state file and every output. The walk holds every choice of the command tree to it; a candle
period keeps its case, where `1M` would read as a month. Against the prime simulator."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path

from .test_numeric_options import _params

CASE_KEPT = {"--period"}  # 1m, 1h, 1d: an upper-case M reads as a month


def _choices() -> list[tuple[tuple[str, ...], Any]]:
    return [
        (path, param)
        for path, _, param in _params()
        # Typer's own Click's Choice, duck-typed
        if hasattr(param.type, "choices") and param.opts[0] not in CASE_KEPT
    ]


def test_every_choice_of_the_command_tree_is_read_in_any_case() -> None:
    choices = _choices()
    assert {("order", "place"), ("markets",), ("backtest",)} <= {path for path, _ in choices}
    kept = [
        f"{' '.join(path)} {param.opts[0]}" for path, param in choices if param.type.case_sensitive
    ]
    assert kept == []


def test_an_upper_case_side_and_action_place_the_order_in_the_exchanges_words(
    prime: SimHarness, kalshi: Kalshi, client: KalshiClient, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    done = kalshi(
        "order", "place", ticker, "--side", "YES", "--action", "Buy",
        "--count", "1", "--price", "0.40", "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    order = json.loads(done.stdout)["order"]
    assert (order["side"], order["action"]) == ("yes", "buy")
    (sent,) = client.orders.iter_orders()  # a YES buy is a bid on the exchange's one book
    assert sent.book_side is BookSide.BID
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.orders.intents()
        assert (intent.side, intent.action) == (Side.YES, Action.BUY)
    with sqlite3.connect(state_path(tmp_path)) as raw:
        assert raw.execute("SELECT side, action FROM orders").fetchall() == [("yes", "buy")]
