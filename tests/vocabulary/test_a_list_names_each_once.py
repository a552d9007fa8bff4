"""A comma list names each name once, in the order first given: `kalshi trade --markets A,A`
said `markets=2` in its `started` line, and a sweep's `--param spread=0.02,0.02` ran one
parameter set twice. One reading (vocabulary/names.py) for every command and file."""

from __future__ import annotations

from kalshi_cli.backtest.sweep import parse_params
from kalshi_cli.vocabulary.names import names_in


def test_a_name_given_twice_is_named_once_where_first_given() -> None:
    assert names_in("B,A, B,A ,C") == ["B", "A", "C"]


def test_a_sweep_value_given_twice_runs_once() -> None:
    assert parse_params(["spread=0.02,0.03,0.02"]) == {"spread": ["0.02", "0.03"]}
