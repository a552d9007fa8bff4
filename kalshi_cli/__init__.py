"""kalshi-cli: trade Kalshi event contracts from the terminal, cron and systemd."""

from __future__ import annotations

from typing import Any

# The public library API (docs/library.md): these names, and `kalshi_cli.strategy_api`'s, are
# what a program may import from kalshi-cli and count on; every other module is private. Each
# is loaded on first use (`import kalshi_cli` loads nothing but the version below, so every
# command's cold start pays for none of them, and the package root, layer 0 of
# ARCHITECTURE.md, imports nothing above it: the names are resolved through `importlib`).
_PUBLIC: dict[str, tuple[str, str]] = {
    # the client
    "KalshiClient": ("kalshi_cli.client", "KalshiClient"),
    "KalshiError": ("kalshi_cli.vocabulary.errors", "KalshiError"),
    "CreateOrder": ("kalshi_cli.client.requests", "CreateOrder"),
    "BookSide": ("kalshi_cli.vocabulary.units", "BookSide"),
    # models: what the exchange sends, parsed (Decimal money and counts)
    "Market": ("kalshi_cli.vocabulary.models", "Market"),
    "Orderbook": ("kalshi_cli.vocabulary.models", "Orderbook"),
    "Level": ("kalshi_cli.vocabulary.models", "Level"),
    "Order": ("kalshi_cli.vocabulary.models", "Order"),
    "Fill": ("kalshi_cli.vocabulary.models", "Fill"),
    "Position": ("kalshi_cli.vocabulary.models", "Position"),
    "Settlement": ("kalshi_cli.vocabulary.models", "Settlement"),
    "Balance": ("kalshi_cli.vocabulary.models", "Balance"),
    "Side": ("kalshi_cli.vocabulary.units", "Side"),
    "Action": ("kalshi_cli.vocabulary.units", "Action"),
    # strategies: the API itself is `kalshi_cli.strategy_api`
    "STRATEGY_API_VERSION": ("kalshi_cli.strategy_api", "STRATEGY_API_VERSION"),
    "Strategy": ("kalshi_cli.strategy_api", "Strategy"),
    "load_strategy": ("kalshi_cli.strategies", "get_strategy"),
    "load_params": ("kalshi_cli.runner.config", "load_params"),
    "check_strategy": ("kalshi_cli.strategies.check", "check_strategy"),
    # backtests
    "BacktestSpec": ("kalshi_cli.backtest", "BacktestSpec"),
    "run_backtest": ("kalshi_cli.backtest", "run_backtest"),
    "run_sweep": ("kalshi_cli.backtest.sweep", "run_sweep"),
    "open_executor": ("kalshi_cli.backtest.executors", "open_executor"),
}

__all__ = [
    "STRATEGY_API_VERSION",
    "Action",
    "BacktestSpec",
    "Balance",
    "BookSide",
    "CreateOrder",
    "Fill",
    "KalshiClient",
    "KalshiError",
    "Level",
    "Market",
    "Order",
    "Orderbook",
    "Position",
    "Settlement",
    "Side",
    "Strategy",
    "__version__",
    "check_strategy",
    "load_params",
    "load_strategy",
    "open_executor",
    "run_backtest",
    "run_sweep",
]


# The one place the version is kept: pyproject.toml reads it (`[tool.setuptools.dynamic]`), so
# the installed metadata says the same, and every command that builds a client (its User-Agent
# names it) has it without importing `importlib.metadata` and scanning sys.path for it.
__version__ = "0.4.0"

assert set(__all__) == {"__version__", *_PUBLIC}  # one list, spelt twice for static readers


def __getattr__(name: str) -> Any:
    import importlib

    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value
    return value
