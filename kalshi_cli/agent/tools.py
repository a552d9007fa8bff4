"""Every tool an assistant reaches through `kalshi mcp`, as a plain method returning JSON values.

The tools work through the `Access` the command hands them (the CLI's settings, client, state
file and `OrderService`), so a tool does what the command of the same name does, through the same
code. `agent/server.py` registers them; a `KalshiError` reaches the assistant as one line,
`NAME CODE: what is wrong (what to do)`.

Writes go through the order service only: a `preview_*` tool reads the account's fills, asks the
daily circuit breaker, runs `OrderService.prepare`, the risk engine's limit rules and the day's
budget (`gate.py`, `ledger.py`), and hands back a single-use token; `execute` redeems it, checks
everything again and sends, asking the budget once more in the transaction that writes the
intent, so two `kalshi mcp` processes never both spend its last order. The assistant's orders
carry `agent.strategy` as their strategy; amend, decrease and cancel touch only those. The kill
switch and halt need no preview. Every write call, refused or not, is a row of `agent_audit`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, TypeVar

import msgspec
from pydantic import BeforeValidator, Field

from kalshi_cli.agent.gate import Charge, Pending, Spent, WriteGate
from kalshi_cli.agent.ledger import FeesUnread, spent_today, unbooked_in
from kalshi_cli.agent.settings import AgentConfig
from kalshi_cli.vocabulary.clock import Clock, utc_day
from kalshi_cli.vocabulary.errors import (
    KalshiError,
    OrderOutcomeUnknown,
    UsageError,
    ValidationError,
)
from kalshi_cli.vocabulary.models import ZERO, fmt_count, fmt_dollars
from kalshi_cli.vocabulary.units import fmt_exact_dollars

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.agent.own_part import OwnBooks
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.pacing import TierSetting
    from kalshi_cli.config import Settings
    from kalshi_cli.risk.budget import Budget, Owned
    from kalshi_cli.services.orders.amend import PreparedAmend
    from kalshi_cli.services.orders.place import OrderService, PreparedOrder
    from kalshi_cli.store import Store
    from kalshi_cli.store.audit import AuditRecord
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.models import FeeModel, Order

_T = TypeVar("_T")

SOURCE = "kalshi mcp"  # who the trading state's rows say set it, when the assistant did
KILL_SWITCH_TOOLS = ("cancel_all", "halt")  # the tools that act on the account's own state file
KILL_DEADLINE_S = 30.0  # the kill switch's proof, as `kalshi cancel-all` gives it by default
LIST_MAX = 200  # the most rows a listing tool returns
TEXT_MAX = 200  # the longest ticker, id or word an argument may be
DIGITS_MAX = 16  # the most digits of a count or a price

# every tool's arguments, as its input schema describes and bounds them (the SDK reads these
# from the signatures): an argument past its bound is refused before the tool runs
Text = Annotated[str, Field(max_length=TEXT_MAX)]
Ticker = Annotated[Text, Field(description="a market's ticker")]
AnyTicker = Annotated[Text | None, Field(description="a market's ticker (none: every market)")]
Series = Annotated[Text | None, Field(description="a series' ticker (none: every series)")]
OrderId = Annotated[Text, Field(description="an order's id, as the orders tool shows it")]
Limit = Annotated[int, Field(ge=1, le=LIST_MAX, description=f"the most rows, 1 to {LIST_MAX}")]
# a number as its text, read by the order's terms as `kalshi order place` reads it (`1_0` or a
# full-width digit refused there, where a Decimal would read them as numbers)
Number = Annotated[
    str,
    BeforeValidator(lambda v: v if isinstance(v, (str, bool)) else str(v)),
    Field(max_length=DIGITS_MAX, json_schema_extra={"type": ["string", "number"]}),
]
Count = Annotated[Number, Field(description="contracts, a number or its text: 5")]
Price = Annotated[Number, Field(description="dollars a contract of the side traded: 0.55")]
Status = Annotated[
    Literal["unopened", "open", "paused", "closed", "settled"] | None,
    Field(description="the status to list; null: every status"),
]


class Access(Protocol):
    """What the tools are handed: the command line's own wiring (cli/mcp_cmd.py)."""

    @property
    def environ(self) -> Mapping[str, str]: ...

    def settings(self) -> Settings: ...

    def client(self, *, auth: bool = False) -> KalshiClient: ...

    def kill_switch_client(self) -> KalshiClient: ...

    def open_store(self) -> Store: ...

    def open_audit_store(self) -> Store: ...

    def open_kill_switch_store(self, say: Callable[[str], None]) -> Store: ...

    def kill_switch_state(self) -> Path: ...

    def order_service(self, store: Store) -> OrderService: ...

    def tier(self) -> TierSetting: ...


def one_line(exc: KalshiError) -> str:
    """A refusal as the assistant reads it: the exit code's name, the rule's code when there is
    one, then the line a person would read."""
    code = getattr(exc, "code", None)
    head = exc.exit_code.name if not code or code == "invalid" else f"{exc.exit_code.name} {code}"
    return f"{head}: {exc.one_line()}"


@dataclass(frozen=True)
class _Written:
    """A write's answer."""

    document: dict[str, Any]


@dataclass(frozen=True)
class _CheckedOrder:
    """An order with every check passed: what would be sent, what it spends of the day's
    budget, the checks as the preview shows them, what the day had spent before it, and the
    fees of the markets that was priced at."""

    prepared: PreparedOrder
    charge: Charge
    checks: dict[str, Any]
    spent: Spent
    fees: dict[str, FeeModel]


@dataclass(frozen=True)
class _CheckedAmend:
    """An amend with every check passed, as `_CheckedOrder` is."""

    prepared: PreparedAmend
    charge: Charge
    spent: Spent
    fees: dict[str, FeeModel]


@dataclass(frozen=True)
class _RiskChecked:
    """The account's risk limits passed: their codes, and what the preview shows of them."""

    passed: list[str]
    document: dict[str, Any]


def _number(value: Decimal | None) -> str | None:
    """A limit as the config writes it (`500`, `0.5`; None: no limit)."""
    return None if value is None else format(value.normalize(), "f")


class AgentTools:
    """The tools of one `kalshi mcp` session (one process): its tokens live here; its budget
    is the day's, read from the state file."""

    def __init__(
        self, access: Access, config: AgentConfig, *, clock: Clock, session: str | None = None
    ) -> None:
        self.access = access
        self.config = config
        self.clock = clock
        self.session = session or uuid.uuid4().hex[:12]
        self.gate = WriteGate(config.budget, clock, config.token_ttl_s)
        # the CLI's client and its lazy construction are one per process and not meant for
        # several threads at once; the SDK runs each call on a worker thread
        self._exchange = threading.Lock()
        # one execute at a time: its budget check and its spending are one step
        self._executing = threading.Lock()

    # ---------------------------------------------------------------------- exchange reads

    def exchange_status(self) -> dict[str, Any]:
        """Whether the exchange and trading are active, and its schedule (maintenance)."""
        with self._exchange:
            client = self.access.client()
            return {
                "environment": self.access.settings().env,
                "status": msgspec.to_builtins(client.exchange.get_exchange_status()),
                "schedule": msgspec.to_builtins(client.exchange.get_exchange_schedule()),
            }

    def markets(
        self,
        status: Status = "open",
        series: Series = None,
        event: Annotated[Text | None, Field(description="an event's ticker")] = None,
        tickers: Annotated[
            list[Text] | None, Field(max_length=LIST_MAX, description="only these")
        ] = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Markets by status (open, closed, settled, unopened; default open), series, event or
        tickers, at most `limit` (1 to 200), as `kalshi markets --json` lists them."""
        from kalshi_cli.vocabulary.documents import market_summary_json

        with self._exchange:
            found = list(
                self.access.client().markets.iter_markets(
                    limit=limit,
                    status=status,
                    series_ticker=series,
                    event_ticker=event,
                    tickers=tickers,
                )
            )
        return {"markets": [market_summary_json(m) for m in found], "count": len(found)}

    def search(
        self, text: Annotated[Text, Field(description="words to find")], limit: Limit = 20
    ) -> dict[str, Any]:
        """Series and open events whose ticker or title holds every word of `text`."""
        with self._exchange:
            found = self.access.client().markets.search_listings(text, limit=limit)
        return {"matches": found}

    def events(
        self, status: Status = "open", series: Series = None, limit: Limit = 50
    ) -> dict[str, Any]:
        """Events by status and series, as the exchange sends them."""
        with self._exchange:
            found = list(
                self.access.client().markets.iter_events(
                    limit=limit, status=status, series_ticker=series
                )
            )
        return {"events": found, "count": len(found)}

    def series(
        self, category: Annotated[Text | None, Field(description="Economics, Crypto...")] = None
    ) -> dict[str, Any]:
        """Every series (of one category), with its fee type and settlement sources."""
        with self._exchange:
            return {"series": self.access.client().markets.list_series(category=category)}

    def market(self, ticker: Ticker) -> dict[str, Any]:
        """One market with its rules, and the settlement sources its series names."""
        from kalshi_cli.vocabulary.documents import market_json

        with self._exchange:
            markets = self.access.client().markets
            found = markets.get_market(ticker)
            event = markets.get_event(found.event_ticker).get("event") or {}
            series_ticker = event.get("series_ticker")
            series = markets.get_series(series_ticker) if series_ticker else {}
        return market_json(found) | {
            "series_ticker": series_ticker,
            "settlement_sources": series.get("settlement_sources") or [],
        }

    def orderbook(
        self,
        ticker: Ticker,
        depth: Annotated[int, Field(ge=0, le=LIST_MAX, description="levels a side; 0: all")] = 0,
    ) -> dict[str, Any]:
        """Bids of both sides, the implied asks (a YES ask is 1 - the best NO bid), spread, mid."""
        from kalshi_cli.vocabulary.documents import orderbook_json

        with self._exchange:
            return orderbook_json(self.access.client().markets.get_orderbook(ticker, depth))

    def trades(self, ticker: Ticker, limit: Limit = 50) -> dict[str, Any]:
        """The market's trades tape, newest first, as `kalshi trades --json`."""
        from kalshi_cli.vocabulary.documents import trade_json

        with self._exchange:
            found = self.access.client().markets.iter_trades(ticker=ticker, limit=limit)
            return {"trades": [trade_json(t) for t in found]}

    def candles(
        self,
        ticker: Ticker,
        period: Annotated[Literal["1m", "1h", "1d"], Field(description="a candle's span")] = "1h",
        hours: Annotated[int, Field(ge=1, le=24 * 366, description="back from now")] = 24,
    ) -> dict[str, Any]:
        """The market's candlesticks of `period` over the last `hours`."""
        end = int(self.clock.wall())
        with self._exchange:
            found = self.access.client().markets.market_candles(
                ticker, start_ts=end - hours * 3600, end_ts=end, period=period
            )
        return {"ticker": ticker, "period": period, "candles": msgspec.to_builtins(found)}

    # -------------------------------------------------------------- the account's reads

    def balance(self) -> dict[str, Any]:
        """Cash and portfolio value of the configured account, in dollars, as `kalshi balance`."""
        from kalshi_cli.vocabulary.documents import balance_json

        with self._exchange:
            return balance_json(self.access.client(auth=True).portfolio.get_balance())

    def positions(self) -> dict[str, Any]:
        """Open positions marked to market (the bid and the mid), as `kalshi positions`."""
        from kalshi_cli.runner.config import load_risk_limits
        from kalshi_cli.services.positions import mark_to_market, open_caught_up

        settings = self.access.settings()
        limit = load_risk_limits(settings.config_path).max_position_per_market
        with self._exchange:
            client = self.access.client(auth=True)
            state = open_caught_up(settings.state, client, now=self.clock.wall())
            try:
                view = mark_to_market(client, state.store, limit=limit, paper=state.paper)
            finally:
                if state.store is not None:
                    state.store.close()
        return view.to_json()

    def orders(
        self,
        status: Annotated[
            Literal["resting", "executed", "canceled"], Field(description="the orders' status")
        ] = "resting",
        ticker: AnyTicker = None,
    ) -> dict[str, Any]:
        """The exchange's orders, each with the strategy that placed it (the state file's), as
        `kalshi order list --json`: a field the exchange did not send is null, never a default."""
        with self._exchange, self.access.open_store() as store:
            found = self.access.client(auth=True).orders.iter_orders(
                status=status, ticker=ticker, limit=LIST_MAX
            )
            listed = [_order(store, o) for o in found]
        return {"orders": listed, "count": len(listed)}

    def fills(self, ticker: AnyTicker = None, limit: Limit = 50) -> dict[str, Any]:
        """The account's fills (of one market), newest first, as `kalshi fills --json`."""
        from kalshi_cli.vocabulary.documents import fill_json, traded

        with self._exchange, self.access.open_store() as store:
            found = self.access.client(auth=True).portfolio.iter_fills(ticker=ticker, limit=limit)
            return {"fills": [fill_json(f, traded(f, store)) for f in found]}

    def pnl(
        self,
        by: Annotated[
            Literal["strategy", "market", "day"], Field(description="one line for each")
        ] = "strategy",
    ) -> dict[str, Any]:
        """Realized P&L grouped by strategy, market or day, marked to market, as `kalshi pnl`."""
        from kalshi_cli.runner.config import load_risk_limits
        from kalshi_cli.services.pnl_report import pnl_report

        settings = self.access.settings()

        def exchange() -> tuple[KalshiClient, Decimal | None]:
            limit = load_risk_limits(settings.config_path).max_position_per_market
            return self.access.client(auth=True), limit

        with self._exchange:
            report = pnl_report(settings.state, since=None, since_ts=None, by=by, exchange=exchange)
        return report.document

    def loop_status(self) -> dict[str, Any]:
        """The trading state and why, the trade loop's heartbeat and lag, as `kalshi status`."""
        from kalshi_cli.services.orders.status import trading_status

        status = trading_status(self.access.settings().state, self.clock.wall())
        return {
            "state": status.state,
            "reason": status.reason,
            "source": status.source,
        } | status.details()

    def checks(self, limit: Limit = 20) -> dict[str, Any]:
        """The last results of `kalshi check` as the state file's alert log keeps them."""
        from kalshi_cli.store import Store

        store = Store.open_readonly(self.access.settings().state)
        if store is None:
            return {"checks": []}
        with store:
            rows = store.alerts.alert_log(limit=limit)
        return {
            "checks": [
                {
                    "check": r.fingerprint,
                    "status": r.status,
                    "severity": r.severity,
                    "summary": r.summary,
                    "at": r.at,
                }
                for r in rows
            ]
        }

    def audit(self, limit: Limit = 50) -> dict[str, Any]:
        """The write tool calls of every session, newest last. On a paper session's state file,
        with the `cancel_all` and `halt` calls its account's own state file records (each row
        then names its `state_file`), and a note that says where they are."""
        from kalshi_cli.store.paper import is_paper_state

        state = self.access.settings().state
        rows = [r.to_json() for r in _audit_rows(state, limit=limit)]
        if not is_paper_state(state):
            return {"audit": rows}
        # `cancel_all` and `halt` act on the account, so they halt and record in the file the
        # kill switch halts (`cancel_all`): a paper session's are there, not in its own file,
        # with every other session's of the account (the rest of that file's rows are theirs)
        try:
            account = self.access.kill_switch_state()
        except KalshiError:
            note = (
                f"{state} is a paper session's state file, and the account's own state file "
                "cannot be told from it: a cancel_all or halt of a session on it records its row "
                "nowhere, and none is shown"
            )
            return {"audit": rows, "notes": [note]}
        kills = [
            r.to_json() | {"state_file": str(account)}
            for r in _audit_rows(account, tools=KILL_SWITCH_TOOLS, limit=limit)
        ]
        merged = sorted(rows + kills, key=lambda row: float(row["at"]))[-limit:]
        note = (
            f"{state} is a paper session's state file: cancel_all and halt act on the account, "
            f"and are recorded in the account's own, {account}; its rows of them (every "
            "session's) are shown with their state_file"
        )
        return {"audit": merged, "notes": [note]}

    # ----------------------------------------------------------------------- writes

    def preview_order(
        self,
        ticker: Ticker,
        *,
        side: Annotated[Literal["yes", "no"], Field(description="the side traded")],
        action: Annotated[Literal["buy", "sell"], Field(description="buy or sell that side")],
        count: Count,
        price: Price,
        time_in_force: Annotated[
            Literal["gtc", "ioc", "fok"], Field(description="rest, fill now or cancel, all or none")
        ] = "gtc",
        post_only: Annotated[bool, Field(description="only rest, never take (gtc)")] = False,
        expires: Annotated[
            Text | None, Field(description="gtc until: 30m, 2h, unix seconds or ISO time")
        ] = None,
    ) -> dict[str, Any]:
        """Preview a limit order (price in dollars of the side traded, count in contracts): what
        would be sent, the most it could cost, the checks it passed (or the one it fails, by its
        code), and a single-use token for `execute`."""
        arguments = {name: value for name, value in locals().items() if name != "self"}
        return self._audited("preview_order", arguments, partial(self._preview_order, arguments))

    def preview_amend(
        self,
        order_id: OrderId,
        price: Annotated[
            Number | None, Field(description="the new price of the side traded")
        ] = None,
        count: Annotated[Number | None, Field(description="the new total count")] = None,
    ) -> dict[str, Any]:
        """Preview a new price (of the side traded) and/or total count of one of the assistant's
        resting orders: what it adds to the budget, and a token for `execute`."""
        arguments = {"order_id": order_id, "price": price, "count": count}
        return self._audited("preview_amend", arguments, partial(self._preview_amend, arguments))

    def preview_decrease(
        self,
        order_id: OrderId,
        by: Annotated[Number | None, Field(description="contracts to take off")] = None,
        to: Annotated[Number | None, Field(description="contracts to leave")] = None,
    ) -> dict[str, Any]:
        """Preview taking contracts off one of the assistant's resting orders (`by` so many, or
        down `to` so many), and a token for `execute`."""
        arguments = {"order_id": order_id, "by": by, "to": to}
        return self._audited(
            "preview_decrease",
            arguments,
            partial(self._preview_change, "preview_decrease", arguments),
        )

    def preview_cancel(self, order_id: OrderId) -> dict[str, Any]:
        """Preview cancelling one of the assistant's resting orders, and a token for `execute`."""
        arguments = {"order_id": order_id}
        return self._audited(
            "preview_cancel", arguments, partial(self._preview_change, "preview_cancel", arguments)
        )

    def preview_resume(self) -> dict[str, Any]:
        """Lift a halt of the assistant's own (its halt, its cancel_all): a write like an
        order, previewed, then executed. A state a person, the trade loop or its risk rules set
        is theirs: only `kalshi resume` lifts it."""

        def preview() -> _Written:
            self._check_writes()
            from kalshi_cli.services.orders.status import trading_status

            with self.access.open_store() as store:
                self._check_own_halt(store)
            status = trading_status(self.access.settings().state, self.clock.wall())
            return self._ticket("preview_resume", {}, {"state_now": status.state})

        return self._audited("preview_resume", {}, preview)

    def execute(
        self, token: Annotated[Text, Field(description="a preview's token")]
    ) -> dict[str, Any]:
        """Send the write a preview's token stands for, once."""
        holder: dict[str, Any] = {"token": token[:6] + "..."}

        def run() -> _Written:
            self._check_writes()
            with self._executing:
                pending = self.gate.redeem(token)
                holder.update({"previewed_by": pending.tool, **pending.arguments})
                return self._execute(pending)

        return self._audited("execute", holder, run)

    def cancel_all(
        self,
        ticker: AnyTicker = None,
        event: Annotated[Text | None, Field(description="an event's ticker")] = None,
    ) -> dict[str, Any]:
        """The kill switch: halt, cancel every resting order (of a market or event), prove none
        is left. Always allowed, no preview. Trading stays HALTED until a resume."""
        arguments = {"ticker": ticker, "event": event}
        # the state file the kill switch halts, records its cancels and this call in: the
        # account's own, as `kalshi cancel-all` halts it (given a paper session's file, the one
        # it is named beside), whatever file the assistant's other tools write to
        notes: list[str] = []
        opener = partial(self.access.open_kill_switch_store, notes.append)

        def run() -> _Written:
            from kalshi_cli.client.pacing import pace_by_account
            from kalshi_cli.risk.state import halt
            from kalshi_cli.services.killswitch.switch import run_kill_switch
            from kalshi_cli.services.orders.context import refuse_an_unknown_scope

            if ticker is not None or event is not None:  # aimed: a typo is refused, nothing halted
                with self._exchange:
                    markets = self.access.kill_switch_client().markets
                    refuse_an_unknown_scope(
                        markets, self.clock, ticker=ticker, event_ticker=event, say=notes.append
                    )
            # the kill switch's first step, taken before waiting for the client another tool
            # may hold on a slow exchange: a running trade loop stops placing now. Best effort:
            # the kill switch halts again, says what the state file refused, and cancels anyway
            with suppress(KalshiError), opener() as store:
                halt(store.trading, reason="kill switch: the assistant's cancel_all", source=SOURCE)
            with self._exchange:
                client = self.access.kill_switch_client()
                report = run_kill_switch(
                    client,
                    opener,
                    self.clock,
                    deadline_s=KILL_DEADLINE_S,
                    read_lag_s=self.access.settings().read_lag,
                    ticker=ticker,
                    event_ticker=event,
                    source=SOURCE,
                    communications=client.communications,
                    pace=partial(pace_by_account, client, self.access.tier()),
                )
            document = report.to_json() | report.state_json()
            if notes:
                document["notes"] = list(dict.fromkeys(notes))
            if not report.proven:
                document["next"] = "not proven: run `kalshi cancel-all` and read `kalshi status`"
            return _Written(document)

        return self._audited("cancel_all", arguments, run, opener)

    def halt(
        self,
        reason: Annotated[
            Text, Field(description="why, as status shows")
        ] = "halted by the assistant",
    ) -> dict[str, Any]:
        """Stop every new order (a running trade loop's too) without cancelling anything.
        Always allowed."""
        arguments = {"reason": reason}
        # the state file the kill switch halts (`cancel_all`): the account's own, also given a
        # paper session's file; one that cannot be told is refused, nothing halted
        notes: list[str] = []
        opener = partial(self.access.open_kill_switch_store, notes.append)

        def run() -> _Written:
            from kalshi_cli.risk.state import halt

            # the state file alone, not behind a call to the exchange another tool is making
            # (a slow or failing exchange is a reason to halt)
            with opener() as store:
                halt(store.trading, reason=reason, source=SOURCE)
                row = store.trading.trading_state()
            document: dict[str, Any] = {
                "state": row.state,
                "reason": row.reason,
                "source": row.source,
            }
            if notes:
                document["notes"] = list(dict.fromkeys(notes))
            return _Written(document)

        return self._audited("halt", arguments, run, opener)

    def budget(self) -> dict[str, Any]:
        """What the assistant may still place today (UTC), and whether writes are on here."""
        from kalshi_cli.store import Store

        env = self.access.settings().env
        store = Store.open_readonly(self.access.settings().state)
        if store is None:
            spent = Spent()
        else:
            with self._exchange, store:
                spent = self._spent(store, self._fees(store))
        return {
            "environment": env,
            "writes_enabled": self.config.writes.allowed(env),
            "remaining": self.gate.remaining(spent),
            "per": "UTC day",
            "strategy": self.config.strategy,
            "token_ttl_s": self.config.token_ttl_s,
            "tokens_held": self.gate.held(),
        }

    # ----------------------------------------------------------------------- the steps

    def _audited(
        self,
        tool: str,
        arguments: dict[str, Any],
        run: Callable[[], _Written],
        opener: Callable[[], Store] | None = None,
    ) -> dict[str, Any]:
        """Run a write tool and record the call, whatever came of it. A write made is answered even
        when the audit cannot take its row (the answer says so). A write whose answer was lost or
        not recorded is `unknown`, never `refused`. `opener`: the state file the row goes to,
        when not the tools' own."""
        from kalshi_cli.store import OrderNotRecorded

        record = partial(self._record, tool, arguments, opener=opener)
        try:
            written = run()
        except (OrderOutcomeUnknown, OrderNotRecorded) as exc:
            record("unknown", {"error": one_line(exc)})
            raise
        except KalshiError as exc:
            record("refused", {"error": one_line(exc)})
            raise
        except Exception as exc:
            record("failed", {"error": f"{type(exc).__name__}: {exc}"})
            raise
        # the token is the assistant's to use, not the audit's to keep
        kept = {k: v for k, v in written.document.items() if k != "token"}
        missed = record("ok", kept)
        if missed is not None:
            return written.document | {"audit": f"not recorded: {missed}"}
        return written.document

    def _record(
        self,
        tool: str,
        arguments: dict[str, Any],
        outcome: str,
        detail: Any,
        *,
        opener: Callable[[], Store] | None = None,
    ) -> str | None:
        """Append the audit row (to `opener`'s state file, else the tools' own, a paper
        session's too: a row is no act on the account); None, or why it could not be
        written."""
        try:
            with (opener or self.access.open_audit_store)() as store:
                store.audit.record(
                    session=self.session,
                    tool=tool,
                    arguments=arguments,
                    outcome=outcome,
                    detail=detail,
                )
        except KalshiError as exc:
            return exc.one_line()
        return None

    def _check_writes(self) -> None:
        env = self.access.settings().env
        if not self.config.writes.allowed(env):
            raise ValidationError(
                f"writes through `kalshi mcp` are off for env {env}",
                code="WRITES_DISABLED",
                hint=f"a person sets agent.writes.{env}: true in the config; "
                "reads, halt and cancel_all need nothing",
            )

    def _check_breaker(self, store: Store) -> None:
        """The trade loop's daily circuit breaker (`risk.daily_loss_limit`), asked as the loop
        asks it: today's trip, or today's realized P&L at the limit (which trips it, as the
        loop would), refuses an order or an amend of the assistant's (CIRCUIT_BREAKER) for the
        rest of the UTC day, even after a `kalshi resume`; a cancel and a decrease still go."""
        from kalshi_cli.risk import CircuitBreaker, log_event
        from kalshi_cli.runner.config import load_risk_limits

        limit = load_risk_limits(self.access.settings().config_path).daily_loss_limit
        day = utc_day(self.clock.wall())
        if CircuitBreaker(store.trading, limit, log_event).tripped(day):
            raise ValidationError(
                f"the daily circuit breaker tripped on {day}: no new orders or amends until "
                "the next UTC day",
                code="CIRCUIT_BREAKER",
                hint="`kalshi status` shows why; cancels and decreases still go",
            )

    @staticmethod
    def _check_own_halt(store: Store) -> None:
        """Refuse (NOT_THE_AGENTS_HALT) to lift a state another set: every state since trading
        was last ACTIVE must be the assistant's, so its own halt on top of a person's kill
        switch, the API error guard's SAFE_MODE or the circuit breaker's REDUCING does not make
        theirs its to lift."""
        others = [r for r in store.trading.states_since_active() if r.source != SOURCE]
        if others:
            first = others[0]
            raise ValidationError(
                f"trading is stopped by {first.source} ({first.state}: {first.reason}); the "
                "assistant lifts only a halt of its own",
                code="NOT_THE_AGENTS_HALT",
                hint="a person reads `kalshi status` and runs `kalshi resume`",
            )

    def _ticket(
        self,
        tool: str,
        arguments: dict[str, Any],
        document: dict[str, Any],
        charge: Charge | None = None,
        spent: Spent | None = None,
    ) -> _Written:
        token, expires_at = self.gate.issue(tool, arguments, charge or Charge(), spent or Spent())
        return _Written(
            document
            | {
                "token": token,
                "expires_in_s": round(expires_at - self.clock.wall(), 3),
                "next": "execute(token) sends it once; the token expires unused otherwise",
            }
        )

    def _prepare(self, arguments: Mapping[str, Any]) -> _CheckedOrder:
        """The checks of an order, each as the code that owns it asks it: the fills brought in,
        the daily circuit breaker, the order service's (and its market reads), the account's
        risk limits, then the day's budget."""
        from kalshi_cli.services.orders.limits import committed_price, most_cost
        from kalshi_cli.vocabulary.decisions import Intent
        from kalshi_cli.vocabulary.order_terms import order_request, owned_client_order_id

        request = order_request(
            arguments["ticker"],
            arguments["side"],
            arguments["action"],
            arguments["count"],
            arguments["price"],
            tif=arguments["time_in_force"],
            post_only=arguments["post_only"],
            expires=arguments["expires"],
            # the id the preview showed, so the order sent is the order previewed; it names
            # the assistant, as a loop's names its strategy, so a state file rebuilt from the
            # exchange (`kalshi reconcile`) still knows whose the order is
            client_order_id=arguments.get("client_order_id")
            or owned_client_order_id(self.config.strategy),
            strategy=self.config.strategy,
            now=self.clock.wall(),
        )
        with self._exchange, self.access.open_store() as store:
            self._catch_up(store)
            self._check_breaker(store)
            service = self.access.order_service(store)
            prepared = service.prepare(request)
            intent = Intent(
                ticker=request.ticker,
                side=request.side,
                action=request.action,
                price=request.price,
                count=request.count,
                model_fair=request.price,  # the assistant names no fair value: no edge rule
                reason="the assistant's order",
                strategy=self.config.strategy,
                post_only=request.post_only,
                time_in_force=request.time_in_force,
            )
            risk = self._check_risk(store, service, intent)
            fees = self._fees(store, request.ticker)
            spent = self._spent(store, fees)
        create = prepared.create
        most = most_cost(
            request.count, committed_price(create.book_side, create.price), fees[request.ticker]
        )
        charge = Charge(1, request.count, most)
        self.gate.check(charge, spent)
        checks = {
            "passed": [
                "order terms",
                "trading state",
                "CIRCUIT_BREAKER",
                "market open",
                "price on the tick grid",
                "count",
                *risk.passed,
                "INSUFFICIENT_BALANCE",
                "BUDGET_ORDERS",
                "BUDGET_CONTRACTS",
                "BUDGET_DOLLARS",
            ],
            **risk.document,
            "worst_case_position_after": fmt_count(prepared.exposure_after),
        }
        return _CheckedOrder(prepared, charge, checks, spent, fees)

    def _catch_up(self, store: Store) -> None:
        """The account's fills since the last catch-up, and its settlements, into the state
        file before anything reads them (the daily circuit breaker's P&L, the assistant's own
        part of a position, what its orders spent today), as `kalshi reconcile`'s fill step
        and `kalshi positions` bring them in: an order's answer carries no fill."""
        from kalshi_cli.services.reconcile import catch_up

        catch_up(self.access.client(auth=True), store, now=self.clock.wall())

    def _fees(self, store: Store, *tickers: str) -> dict[str, FeeModel]:
        """The fees in effect of the markets `tickers` and of those where the assistant's
        orders of today have contracts left to fill (`ledger.unbooked_in`), read from the
        exchange (the series' multiplier, an event's override): what the day's budget prices a
        taker's fill at. Read under the exchange's lock, as every call of the client is."""
        return self._read_fees({*tickers, *unbooked_in(store, self.config.strategy)})

    def _read_fees(self, tickers: set[str]) -> dict[str, FeeModel]:
        """`_fees` of `tickers` alone; refused (FEES_UNPRICED) for a market whose fees the
        model cannot price: the budget is never spent at a guessed fee."""
        from kalshi_cli.services.fees import load_fee_models
        from kalshi_cli.vocabulary.models import FeeModelError

        if not tickers:
            return {}
        client = self.access.client(auth=True)
        markets = [client.markets.get_market(ticker) for ticker in sorted(tickers)]
        try:
            return load_fee_models(client, markets)
        except FeeModelError as exc:
            raise ValidationError(
                f"cannot price the fees of {exc}",
                code="FEES_UNPRICED",
                hint="the assistant's budget counts the taker fee; trade another market",
            ) from exc

    def _check_risk(self, store: Store, service: OrderService, intent: Intent) -> _RiskChecked:
        """The risk engine's own limit rules (`risk.limit_rules`, from the config's `risk:` and
        a budget of the assistant's name in `trade.budgets`) over the whole account as the
        exchange shows it (`PreTradeChecks.account_views`): a denial refuses the order, by its
        code, as it would refuse the loop's."""
        from kalshi_cli.agent.own_part import own_books
        from kalshi_cli.risk import RiskContext, current_state, limit_rules
        from kalshi_cli.runner.config import load_budgets, load_risk_limits
        from kalshi_cli.services.orders.context import order_subaccount
        from kalshi_cli.vocabulary.decisions import PositionView

        config_path = self.access.settings().config_path
        limits = load_risk_limits(config_path)
        budget = load_budgets(config_path).get(self.config.strategy)
        views = service.checks.account_views()
        view = views.get(intent.ticker) or PositionView(intent.ticker)
        subaccount = order_subaccount(service.client) or 0
        # a budget counts every market; the own part, the order's market alone
        books = own_books(
            store,
            self.config.strategy,
            subaccount,
            account=views,
            ticker=None if budget is not None else intent.ticker,
        )
        context = RiskContext(
            now=self.clock.wall(),
            state=current_state(store.trading),
            position=view,
            total_exposure=sum((v.exposure() for v in views.values()), ZERO),
            owned=None if budget is None else self._owned(books, intent, budget),
        )
        rules = limit_rules(limits)
        # a denial names the key that sets its limit: a person may raise it, the assistant not
        denials = [(r, v) for r in rules if not (v := r.check(intent, context)).allowed]
        if denials:
            rule, verdict = denials[0]
            raise ValidationError(
                "; ".join(f"{v.detail} ({r.about.keys})" for r, v in denials),
                code=str(verdict.code),
                hint=rule.about.hint,
            )
        self._check_own_part(books, intent)
        after = view.after(intent)
        return _RiskChecked(
            passed=[
                *(str(rule.code) for rule in rules if budget or rule.code != "STRATEGY_BUDGET"),
                "NOT_THE_AGENTS_CONTRACTS",
            ],
            document={
                "risk_limits": {
                    name: _number(getattr(limits, name))
                    for rule in rules
                    for name in rule.about.limits
                },
                "strategy_budget": None if budget is None else msgspec.to_builtins(budget),
                "account_after": {
                    "worst_case_position": fmt_count(after.worst_case(intent.book_side)),
                    "total_exposure": fmt_exact_dollars(
                        context.total_exposure - view.exposure() + after.exposure()
                    ),
                },
            },
        )

    def _owned(self, books: OwnBooks, intent: Intent, budget: Budget) -> Owned:
        """What the assistant owns, for its budget in `trade.budgets`, counted as a loop counts
        a strategy's (runner/books/budgets.py): its part of each position, built by its own fills in
        the state file; its own orders there that rest, and those pending or of unknown
        outcome (they may land); and whether its own realized loss today stopped it."""
        from kalshi_cli.runner.books.budgets import Budgets

        name = self.config.strategy
        budgets = Budgets({name: budget}, books.portfolio, lambda o: o.strategy)
        budgets.check_day(self.clock.wall())
        owned = budgets.owned(intent, books.queued)
        assert owned is not None  # a budget of its name was given
        return owned

    def _check_own_part(self, books: OwnBooks, intent: Intent) -> None:
        """Refuse an order (or an amend) that would close contracts the assistant does not own
        (agent/own_part.py): Kalshi nets YES and NO, so beyond its own part a sale of YES or a
        buy of NO sells a running strategy's contracts or a person's."""
        from kalshi_cli.agent.own_part import may_take

        allowed = may_take(books, intent)
        if allowed >= intent.count:
            return
        held = books.account_held(intent.ticker)
        side = "YES" if held > 0 else "NO"
        raise ValidationError(
            f"the account holds {fmt_count(abs(held))} {side} in {intent.ticker}, "
            f"{fmt_count(abs(books.held(intent.ticker, books.name)))} of them the assistant's: "
            f"an order that takes from them closes them first (Kalshi nets YES and NO), so it "
            f"may be for at most {fmt_count(allowed)} with the assistant's own orders counted, "
            f"not {fmt_count(intent.count)}",
            code="NOT_THE_AGENTS_CONTRACTS",
            hint="the assistant trades its own contracts; a person sells others' by hand "
            "(`kalshi order place`)",
        )

    def _preview_order(self, arguments: dict[str, Any]) -> _Written:
        self._check_writes()
        ready = self._prepare(arguments)
        prepared = ready.prepared
        expiry = prepared.create.expiration_time
        document = {
            "would_send": prepared.describe() | {"expiration_time": expiry},
            "most_it_could_cost": fmt_exact_dollars(ready.charge.dollars),
            "strategy": self.config.strategy,
            "checks": ready.checks,
        }
        # `execute` reads the order's terms again: the id and the expiry as this preview fixed
        # them, so the order sent is the order previewed. An expiry given from now (`30m`) read
        # again would be 30 minutes from the execute, and an order previewed to be gone by
        # then would still be placed; as unix seconds it is the same moment, refused once past
        sent = arguments | {
            "client_order_id": prepared.create.client_order_id,
            "expires": None if expiry is None else str(expiry),
        }
        return self._ticket("preview_order", sent, document, ready.charge, ready.spent)

    def _agents_order(self, order_id: str) -> Any:
        """The exchange's order `order_id`, if the assistant placed it (else refused)."""
        with self._exchange, self.access.open_store() as store:
            owner = self._owner(store, order_id)
            order = self.access.client(auth=True).orders.get_order(order_id)
        if owner != self.config.strategy:
            raise ValidationError(
                f"order {order_id} was not placed by the assistant (strategy {owner or 'unknown'})",
                code="NOT_THE_AGENTS_ORDER",
                hint="the assistant changes its own orders; cancel_all stops everything",
            )
        return order

    def _prepare_amend(
        self, arguments: Mapping[str, Any], *, previewed: Mapping[str, str] | None = None
    ) -> _CheckedAmend:
        """The checks of an amend of the assistant's order as of a new order (with the amended order
        in place of the resting one), then the day's budget for what it adds (agent/ledger.py).
        `previewed`: the order's terms as its preview read them; refused (ORDER_CHANGED) when
        they are no longer the order's."""
        from kalshi_cli.agent.ledger import day_orders, order_terms, worst_share
        from kalshi_cli.vocabulary.decisions import Intent
        from kalshi_cli.vocabulary.order_terms import parse_count, parse_price
        from kalshi_cli.vocabulary.units import from_book

        price, count = arguments["price"], arguments["count"]
        if price is None and count is None:
            raise UsageError("give a new price, a new count or both")
        new_price = None if price is None else parse_price(str(price), "price")
        new_count = None if count is None else parse_count(str(count), "count")
        self._agents_order(arguments["order_id"])
        with self._exchange, self.access.open_store() as store:
            self._catch_up(store)
            self._check_breaker(store)
            service = self.access.order_service(store)
            service.amends.await_earlier(str(arguments["order_id"]))  # never two in the network
            prepared = service.amends.prepare(
                str(arguments["order_id"]), price=new_price, count=new_count
            )
            order = prepared.order
            if previewed is not None and _order_terms(order) != previewed:
                raise ValidationError(
                    f"order {order.order_id} changed since the amend was previewed (then "
                    f"{_terms_text(previewed)}, now {_terms_text(_order_terms(order))}): the "
                    "amend previewed is not the one that would be sent",
                    code="ORDER_CHANGED",
                    hint="preview it again: the amend is checked as the order is now",
                )
            action, side_price = from_book(order.book_side, prepared.yes_price, prepared.side)
            amended = Intent(
                ticker=order.ticker,
                side=prepared.side,
                action=action,
                price=side_price,
                count=prepared.total - order.fill_count,  # what rests after it
                model_fair=side_price,
                reason="the assistant's amend",
                strategy=self.config.strategy,
                replaces=(order.order_id,),
            )
            self._check_risk(store, service, amended)
            fees = self._fees(store, order.ticker)
            spent = self._spent(store, fees)
            fills = store.fills.of_orders([order.order_id])
            today = {i.client_order_id for i, _ in day_orders(store, self.config.strategy)}
            local = prepared.local
            in_flight = store.orders.amends_of([local.client_order_id] if local else [])
        market_fees = fees[order.ticker]
        terms = []
        if local is not None:
            terms = order_terms(local, in_flight.get(local.client_order_id, ()))
        before = (ZERO, ZERO)
        if local is not None and local.client_order_id in today:
            before = worst_share(order.book_side, terms, fills, market_fees)
        terms.append((prepared.yes_price, prepared.total))
        after = worst_share(order.book_side, terms, fills, market_fees)
        charge = Charge(0, max(after[0] - before[0], ZERO), max(after[1] - before[1], ZERO))
        self.gate.check(charge, spent)
        return _CheckedAmend(prepared, charge, spent, fees)

    def _preview_amend(self, arguments: dict[str, Any]) -> _Written:
        self._check_writes()
        checked = self._prepare_amend(arguments)
        prepared, charge = checked.prepared, checked.charge
        document = {
            "would_send": {
                "order_id": prepared.order.order_id,
                "ticker": prepared.order.ticker,
                "side": prepared.side.value,
                "price": fmt_dollars(prepared.price),
                "count": fmt_count(prepared.total),
            },
            "most_it_could_cost_more": fmt_exact_dollars(charge.dollars),
        }
        # an amend sends the order's whole terms: the total an amend of the price alone keeps,
        # and the price an amend of the count alone keeps, are the order's as read here.
        # `execute` reads the order again; changed since (a person's decrease, another amend),
        # the amend it would send is not this one, and sending this one would undo the change:
        # it is refused, as an order's expiry is fixed by its preview
        sent = arguments | {"order_at_preview": _order_terms(prepared.order)}
        return self._ticket("preview_amend", sent, document, charge, checked.spent)

    def _preview_change(self, tool: str, arguments: dict[str, Any]) -> _Written:
        """Decrease and cancel take risk away: no budget, but writes on and the order the
        assistant's."""
        self._check_writes()
        if tool == "preview_decrease":
            _decrease_amounts(arguments)
        order = self._agents_order(arguments["order_id"])
        document = {
            "would_send": {"order_id": order.order_id, "ticker": order.ticker, **arguments},
            "remaining_now": fmt_count(order.remaining_count),
        }
        return self._ticket(tool, arguments, document)

    def _execute(self, pending: Pending) -> _Written:
        if pending.tool == "preview_order":
            # checked again as it is now: the day's spending, the account, the state
            checked = self._prepare(pending.arguments)
            prepared = checked.prepared
            with self._exchange, self.access.open_store() as store:
                service = self.access.order_service(store)
                outcome = self._within_budget(
                    store, checked.charge, checked.fees, partial(service.place, prepared)
                )
                spent = self._spent(store, checked.fees)
            return _Written(
                {
                    "order": prepared.describe(),
                    "status": outcome.status,
                    "order_id": outcome.order_id,
                    "client_order_id": outcome.client_order_id,
                    "fill_count": fmt_count(outcome.fill_count),
                    "remaining_count": fmt_count(outcome.remaining_count),
                    "average_fill_yes_price": None
                    if outcome.average_fill_price is None
                    else fmt_dollars(outcome.average_fill_price),
                    "note": outcome.note,
                    "budget_remaining": self.gate.remaining(spent),
                }
            )
        if pending.tool == "preview_resume":
            from kalshi_cli.risk.state import resume

            with self._exchange, self.access.open_store() as store, store.transaction():
                self._check_own_halt(store)  # as it is now: a person may have halted since
                before = resume(store.trading, source=SOURCE)
                row = store.trading.trading_state()
            return _Written({"lifted": str(before), "state": row.state})
        arguments = pending.arguments
        order_id = str(arguments["order_id"])
        if pending.tool == "preview_amend":
            # checked again as it is now (filled meanwhile, the state changed), as an order is,
            # and refused when the order's terms are no longer those the preview read
            amend = self._prepare_amend(arguments, previewed=arguments["order_at_preview"])
            with self._exchange, self.access.open_store() as store:
                service = self.access.order_service(store)
                amended = self._within_budget(
                    store, amend.charge, amend.fees, partial(service.amends.submit, amend.prepared)
                )
                return _Written({"order": _order(store, amended.order), "note": amended.note})
        self._agents_order(order_id)  # still the assistant's, and still there
        with self._exchange, self.access.open_store() as store:
            service = self.access.order_service(store)
            if pending.tool == "preview_cancel":
                taken = service.cancels.cancel(order_id)
                return _Written({"order_id": order_id, "contracts_cancelled": fmt_count(taken)})
            by, to = _decrease_amounts(arguments)
            decreased = service.cancels.decrease(order_id, by=by, to=to)
            return _Written({"order": _order(store, decreased.order), "note": decreased.note})

    def _within_budget(
        self,
        store: Store,
        charge: Charge,
        fees: dict[str, FeeModel],
        write: Callable[..., _T],
    ) -> _T:
        """`write(check=...)`, the day's budget asked once more inside the transaction that writes
        the intent or the amend, under the write lock, so another `kalshi mcp` process's write
        counts. When the day's orders name a market whose fees were not read, nothing is written:
        its fees are read outside the transaction and the write is asked again."""

        def check() -> None:
            self.gate.check(charge, spent_today(store, self.config.strategy, fees))

        while True:
            try:
                return write(check=check)
            except FeesUnread as unread:
                fees.update(self._read_fees(unread.tickers))

    def _spent(self, store: Store, fees: dict[str, FeeModel]) -> Spent:
        """What the day spent (`spent_today`), first reading into `fees` those of any market
        another session placed in since they were read."""
        while True:
            try:
                return spent_today(store, self.config.strategy, fees)
            except FeesUnread as unread:
                fees.update(self._read_fees(unread.tickers))

    @staticmethod
    def _owner(store: Store, order_id: str) -> str | None:
        intent = store.orders.intent_by_order_id(order_id)
        return None if intent is None else intent.strategy


def _order(store: Store, order: Order) -> dict[str, Any]:
    """An order as the orders tool and `kalshi order show --json` show it."""
    from kalshi_cli.vocabulary.documents import order_json

    return order_json(order, store.orders.intent_by_order_id(order.order_id))


def _order_terms(order: Order) -> dict[str, str]:
    """What an amend's preview read of the order it amends: its total (filled and resting: a
    fill leaves it as it was) and its YES price, as text a token's arguments keep."""
    return {
        "total": fmt_count(order.fill_count + order.remaining_count),
        "yes_price": fmt_dollars(order.yes_price),
    }


def _terms_text(terms: Mapping[str, str]) -> str:
    return f"{terms['total']} at YES {terms['yes_price']}"


def _audit_rows(
    state: Path, *, tools: Sequence[str] | None = None, limit: int
) -> list[AuditRecord]:
    """The last `limit` rows of the state file's audit (of the `tools` named), oldest first;
    none when the file does not exist (a read creates none)."""
    from kalshi_cli.store import Store

    store = Store.open_readonly(state)
    if store is None:
        return []
    with store:
        return store.audit.entries(tools=tools, limit=limit)


def _decrease_amounts(arguments: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """A decrease's `by` or `to` as counts, read alike by its preview and its execute, so a
    preview hands no token for one that could not be sent."""
    from kalshi_cli.vocabulary.order_terms import parse_count

    by, to = arguments["by"], arguments["to"]
    if (by is None) == (to is None):
        raise UsageError("give exactly one of by or to")
    if by is not None:
        return parse_count(str(by), "by"), None
    return None, parse_count(str(to), "to", allow_zero=True)
