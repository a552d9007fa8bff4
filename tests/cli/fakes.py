"""A fake KalshiClient for CLI tests: API-shaped dicts in, the models' own parsing out.

It implements only what the commands call, records each call, and raises a configured error
for a method on request, so every command body and error path runs without a network.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client.exchange import AccountLimits, ExchangeSchedule
from kalshi_cli.client.fill_quarantine import FillQuarantine
from kalshi_cli.client.historical import HistoricalCutoff
from kalshi_cli.client.subaccounts import SubaccountBalance
from kalshi_cli.vocabulary.errors import NotFoundError
from kalshi_cli.vocabulary.models import (
    Balance,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    Orderbook,
    Position,
    Settlement,
    decode_answer,
    decode_orderbook,
)
from tests.fakes import EveryAreaItself


def market(ticker: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ticker": ticker,
        "event_ticker": ticker.rsplit("-", 1)[0],
        "title": f"Will {ticker} happen?",
        "yes_sub_title": "Yes",
        "status": "active",
        "yes_bid_dollars": "0.4500",
        "yes_ask_dollars": "0.4700",
        "no_bid_dollars": "0.5300",
        "no_ask_dollars": "0.5500",
        "last_price_dollars": "0.4600",
        "volume_fp": "100.00",
        "volume_24h_fp": "10.00",
        "open_interest_fp": "50.00",
        "open_time": "2026-01-01T00:00:00Z",
        "close_time": "2026-12-31T00:00:00Z",
        "latest_expiration_time": "2027-01-07T00:00:00Z",
        "result": "",
        "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        "rules_primary": "Resolves YES if it happens.",
        "rules_secondary": "",
        "strike_type": "greater",
        "floor_strike": 96999.99,
        "exchange_index": 0,
    }
    data.update(overrides)
    return data


@dataclass
class FakeClient(EveryAreaItself):
    market_rows: list[dict[str, Any]] = field(default_factory=list)
    books: dict[str, dict[str, Any]] = field(default_factory=dict)
    balance_cents: int = 100_000
    balance_dollars: str | None = None
    portfolio_value_cents: int | None = 2500  # None: the answer leaves it out
    # `balance_breakdown` as the answer sends it; None: left out
    balance_breakdown: list[dict[str, Any]] | None = None
    positions: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[dict[str, Any]] = field(default_factory=list)
    order_rows: list[dict[str, Any]] = field(default_factory=list)
    exchange_status: dict[str, Any] = field(
        default_factory=lambda: {"exchange_active": True, "trading_active": True}
    )
    skew: float = 0.0
    usage_tier: str = "basic"
    has_key: bool = True
    page_size: int = 2
    errors: dict[str, BaseException] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed: bool = False
    # the historical tier: archived fills, and the cutoff (unix seconds) they are older than
    historical_fills: list[dict[str, Any]] = field(default_factory=list)
    historical_positions: list[dict[str, Any]] = field(default_factory=list)
    cutoff_ts: float = 0.0
    # the subaccount the client acts on, as `KalshiClient.subaccount` (None: the defaults)
    subaccount: int | None = None

    connection: Any = field(
        default_factory=lambda: SimpleNamespace(fill_quarantine=FillQuarantine())
    )

    @property
    def authenticated(self) -> bool:
        return self.has_key

    def _call(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        if name in self.errors:
            raise self.errors[name]

    def on_subaccount(self, subaccount: int | None) -> FakeClient:
        """A second handle acting on `subaccount`, as `KalshiClient.on_subaccount`: the same
        exchange, calls and lists, this client left on its own subaccount."""
        handle = copy.copy(self)
        handle.subaccount = subaccount
        return handle

    def close(self) -> None:
        self.closed = True

    def get_exchange_status(self) -> ExchangeStatus:
        self._call("get_exchange_status")
        return decode_answer(ExchangeStatus, self.exchange_status)

    def get_exchange_schedule(self) -> ExchangeSchedule:
        self._call("get_exchange_schedule")
        return ExchangeSchedule([])

    def get_markets_page(self, *, limit: int = 100, **filters: Any) -> tuple[list[Market], str]:
        self._call("get_markets_page", limit=limit, **filters)
        # a cursor when the exchange has more, as Kalshi's listing does
        cursor = "next" if len(self.market_rows) > limit else ""
        return [decode_answer(Market, m) for m in self.market_rows[:limit]], cursor

    def iter_markets(
        self,
        *,
        limit: int | None = None,
        on_page: Callable[[int], None] | None = None,
        **filters: Any,
    ) -> Iterator[Market]:
        self._call("iter_markets", limit=limit, **filters)
        seen = 0
        for start in range(0, len(self.market_rows), self.page_size):
            page = self.market_rows[start : start + self.page_size]
            for item in page:
                yield decode_answer(Market, item)
            seen += len(page)
            if on_page is not None:
                on_page(seen)

    def get_market(self, ticker: str) -> Market:
        self._call("get_market", ticker=ticker)
        for item in self.market_rows:
            if item["ticker"] == ticker:
                return decode_answer(Market, item)
        raise NotFoundError(f"unknown ticker {ticker}", status=404)

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        self._call("get_orderbook", ticker=ticker, depth=depth)
        if ticker not in self.books:
            raise NotFoundError(f"unknown ticker {ticker}", status=404)
        return decode_orderbook(ticker, self.books[ticker])

    def get_balance(self) -> Balance:
        self._call("get_balance")
        data: dict[str, Any] = {"balance": self.balance_cents}
        if self.portfolio_value_cents is not None:
            data["portfolio_value"] = self.portfolio_value_cents
        if self.balance_dollars is not None:
            data["balance_dollars"] = self.balance_dollars
        if self.balance_breakdown is not None:
            data["balance_breakdown"] = self.balance_breakdown
        return decode_answer(Balance, data)

    def get_positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        include_flat: bool = False,
    ) -> list[Position]:
        self._call(
            "get_positions", ticker=ticker, event_ticker=event_ticker, include_flat=include_flat
        )
        listed = [decode_answer(Position, p) for p in self.positions]
        return [p for p in listed if include_flat or p.position != 0]

    def iter_orders(self, **kwargs: Any) -> Iterator[Order]:
        self._call("iter_orders", **kwargs)
        return iter([decode_answer(Order, o) for o in self.order_rows])

    def iter_fills(self, **kwargs: Any) -> Iterator[Fill]:
        """As the client lists them: a fill lacking a required field is quarantined."""
        self._call("iter_fills", **kwargs)
        listed = [self.connection.fill_quarantine.fill_or_none(f) for f in self.fills]
        return iter([f for f in listed if f is not None])

    def iter_settlements(self, **kwargs: Any) -> Iterator[Settlement]:
        self._call("iter_settlements", **kwargs)
        return iter([decode_answer(Settlement, s) for s in self.settlements])

    def subaccount_balances(self) -> list[SubaccountBalance]:
        """Subaccount 0 only (the settlement import lists once per subaccount)."""
        self._call("subaccount_balances")
        return [SubaccountBalance(0, Decimal(0), 0)]

    def get_account_limits(self) -> AccountLimits:
        self._call("get_account_limits")
        return AccountLimits(self.usage_tier, read_limit=200, write_limit=100)

    def clock_skew_seconds(self) -> float:
        self._call("clock_skew_seconds")
        return self.skew

    def get_historical_cutoff(self) -> HistoricalCutoff:
        self._call("get_historical_cutoff")
        return HistoricalCutoff(self.cutoff_ts, self.cutoff_ts, self.cutoff_ts, self.cutoff_ts)

    def iter_historical_fills(self, **kwargs: Any) -> Iterator[Fill]:
        self._call("iter_historical_fills", **kwargs)
        return iter([decode_answer(Fill, f) for f in self.historical_fills])

    def iter_historical_positions(self, **kwargs: Any) -> Iterator[Position]:
        self._call("iter_historical_positions", **kwargs)
        return iter([decode_answer(Position, p) for p in self.historical_positions])

    def iter_historical_orders(self, **kwargs: Any) -> Iterator[Order]:
        self._call("iter_historical_orders", **kwargs)
        return iter(())


def run(
    args: list[str],
    *,
    client: FakeClient | None = None,
    home: Path,
    environ: dict[str, str] | None = None,
    debug: bool = False,
    width: int = 100,
) -> Result:
    """Invoke the app as the `kalshi` script would, `width` columns wide, with `client` as the
    one client and an environment limited to KALSHI_HOME=`home` plus `environ`."""
    app_env = {"KALSHI_HOME": str(home), **(environ or {})}

    def factory(_app: AppContext, _settings: Any, _anonymous: bool) -> Any:
        assert client is not None, "this command was not expected to build a client"
        return client

    context = AppContext(environ=app_env, client_factory=factory)
    process_env = {"COLUMNS": str(width), "NO_COLOR": "1", "KALSHI_DEBUG": "1" if debug else None}
    return CliRunner().invoke(app, args, obj=context, env=process_env, prog_name="kalshi")
