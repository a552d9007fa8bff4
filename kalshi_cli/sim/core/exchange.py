"""The simulated exchange: markets, books, matching, accounts, fees and settlement. No I/O
except the optional journal (sim/core/journal.py); time comes from the injected clock.

`Exchange` *has* its parts, each with its own state and handed only the parts it needs:
`Reference` (series, events, markets, fees, and the clock, ids, listeners and journal they
share), `Ledger` (accounts.py: cash, positions, collateral), `MatchingEngine` (matching.py: the
books, planning and applying orders, reaching the accounts only through `EngineAccounts`),
`OrderDesk` (order_desk.py: the order requests and their checks), `History` (history.py: every
order, fill and trade, live and archived), `SettlementDesk`, `OrderGroups` and `Subaccounts`.
The routes reach the order requests, the history, the order groups and the subaccounts at
their parts (`exchange.desk`, `.history`, `.groups`, `.subaccounts`), as the venue reaches
them at its `core`; `Exchange` forwards the reference and account reads, and adds what only a
served exchange has: the journal's snapshot and replay,
the tick (expiry, the market schedule, the hooks of a scenario's participants), RFQs and API
keys. The local venue (kalshi_cli/venue) holds the same parts without it. The conventions (YES
prices, one book of bids and asks, netted positions), refusals, lifecycle and the conservation
the property tests check are in docs/simulator.md "Conventions of the core"."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from kalshi_cli.sim.core.accounts import AccountState
from kalshi_cli.sim.core.book import Book, BookSideLevels
from kalshi_cli.sim.core.client_ids import IdColumn, UsedClientIds
from kalshi_cli.sim.core.communications import Communications, SimQuote, SimRfq
from kalshi_cli.sim.core.history import History
from kalshi_cli.sim.core.journal import Journal, JournalError, read_snapshot, write_snapshot
from kalshi_cli.sim.core.order_desk import OrderDesk
from kalshi_cli.sim.core.order_groups import OrderGroups, SimOrderGroup
from kalshi_cli.sim.core.parts import CoreParts
from kalshi_cli.sim.core.records import (
    Account,
    BookChanged,
    EventCreated,
    EventFeeUpdated,
    ExchangeError,
    FeeOverride,
    FillHappened,
    Listener,
    MarketLifecycle,
    MarketStatus,
    OrderChanged,
    OrderGroupChanged,
    PlaceRequest,
    PlaceResult,
    PositionChanged,
    SimEvent,
    SimEventFeeChange,
    SimEventT,
    SimFeeChange,
    SimFill,
    SimMarket,
    SimOrder,
    SimPosition,
    SimSeries,
    SimSettlement,
    SimTrade,
    TradeHappened,
    not_found,
)
from kalshi_cli.sim.core.reference import (
    market_from_record,
)
from kalshi_cli.sim.core.subaccounts import (
    Keyring,
    SimApiKey,
    SimTransfer,
    Subaccounts,
    UserAccounts,
)
from kalshi_cli.sim.core.trade_archive import SNAPSHOT_TYPES as ARCHIVE_SNAPSHOT_TYPES
from kalshi_cli.sim.core.volume_window import VolumeWindow
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import (
    BookSide,
    FeeCharge,
    FeeModel,
    FeeType,
    PriceRange,
    SelfTradePrevention,
    TimeInForce,
)
from kalshi_cli.vocabulary.units import Action, OrderStatus, Side

__all__ = [
    "Account",
    "BookChanged",
    "EventCreated",
    "EventFeeUpdated",
    "Exchange",
    "ExchangeError",
    "FeeOverride",
    "FillHappened",
    "Listener",
    "MarketLifecycle",
    "MarketStatus",
    "OrderChanged",
    "OrderGroupChanged",
    "PlaceRequest",
    "PlaceResult",
    "PositionChanged",
    "SimEvent",
    "SimEventFeeChange",
    "SimEventT",
    "SimFeeChange",
    "SimFill",
    "SimMarket",
    "SimOrder",
    "SimOrderGroup",
    "SimPosition",
    "SimSeries",
    "SimSettlement",
    "SimTrade",
    "TradeHappened",
    "not_found",
]

# Every class whose objects the persisted state holds (`Exchange._PERSISTED`): a snapshot
# names no other, and reading one creates no other (sim/core/journal.py).
_SNAPSHOT_TYPES: tuple[type, ...] = (
    Account,
    AccountState,
    Book,
    BookSideLevels,
    IdColumn,
    UsedClientIds,
    VolumeWindow,
    Keyring,
    UserAccounts,
    SimApiKey,
    SimTransfer,
    SimSeries,
    SimFeeChange,
    SimEvent,
    SimEventFeeChange,
    SimMarket,
    SimOrder,
    SimFill,
    SimTrade,
    SimPosition,
    SimSettlement,
    SimOrderGroup,
    SimRfq,
    SimQuote,
    FeeModel,
    FeeCharge,
    FeeType,
    PriceRange,
    BookSide,
    Side,
    Action,
    TimeInForce,
    SelfTradePrevention,
    OrderStatus,
    *ARCHIVE_SNAPSHOT_TYPES,
)


class Exchange:
    def __init__(
        self,
        clock: Clock,
        *,
        fees: FeeModel | None,
        journal: Path | None = None,
        fsync: bool = False,
        snapshot_every: int = 100_000,
    ) -> None:
        """`fees`: what a series that sets none of its own charges (a scenario's `fees`), or
        None for no such default, when every series must set its own; required, so no
        exchange charges a fee nobody chose. `journal`: when given, every state change is
        persisted there (and replayed on construction) so a restarted simulator keeps accounts,
        orders, positions and history, even after a kill -9 (no acknowledged order may be
        lost). `fsync` also forces each record to disk (survives a power cut; much slower).
        After `snapshot_every` records, `tick()` compacts the journal into a snapshot so a
        restart stays fast."""
        self._parts = parts = CoreParts.build(clock, fees)
        # each part by the name `_PERSISTED` and the forwarders below know it by
        self._ref, self._ledger, self._engine = parts.reference, parts.accounts, parts.engine
        self._settlement, self._subaccounts = parts.settlement, parts.subaccounts
        self._history, self._groups, self._desk = parts.history, parts.groups, parts.desk
        self._tick_hooks: list[Callable[[float], None]] = []
        # (scheduled_ts, id) of event fee changes not yet announced (`event_fee_update`)
        self._event_fees_due: list[tuple[float, str]] = []
        self.rfqs: dict[str, SimRfq] = {}  # RFQs and quotes: sim/core/communications.py
        self.quotes: dict[str, SimQuote] = {}
        self.communications = Communications(self)
        self.restored = False
        """True when state was restored from an existing journal."""
        self._generation = 0
        self._snapshot_every = snapshot_every
        if journal is not None:
            opened = Journal(journal, fsync=fsync)
            try:
                self._open_journal(opened)
            except BaseException:
                opened.close()  # refused: no file of it is left open
                raise

    # listeners and hooks --------------------------------------------------------------------

    def add_tick_hook(self, hook: Callable[[float], None]) -> None:
        """`hook(now)` runs on every `tick()`, after expiries and the market schedule (the
        scenario's background participants are such hooks)."""
        self._tick_hooks.append(hook)

    # the parts the exchange has, at its facade ----------------------------------------------
    # (the routes, the WebSocket and the tests call these; each forwards to the part that
    # owns it)

    @property
    def default_fees(self) -> FeeModel | None:
        """The fee model of every series that sets none of its own; None: none, each sets its
        own."""
        return self._ref.default_fees

    @property
    def history(self) -> History:
        """Every order, fill and trade, live and archived: its reads and archiving."""
        return self._history

    @property
    def desk(self) -> OrderDesk:
        """The order requests: placing, cancelling, amending, decreasing, and the queue."""
        return self._desk

    @property
    def groups(self) -> OrderGroups:
        """The accounts' order groups: creating, triggering, resetting, limiting, deleting."""
        return self._groups

    @property
    def subaccounts(self) -> Subaccounts:
        """The users' subaccounts, their transfers and netting, and the API keys."""
        return self._subaccounts

    @property
    def created_time(self) -> float:
        return self._ref.created_time

    @property
    def fees_collected(self) -> Decimal:
        return self._engine.fees_collected

    def add_market(self, market: SimMarket) -> None:
        self._parts.add_market(market)

    # Reference (reference.py) -----------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._ref.add_listener(listener)

    def add_series(self, series: SimSeries) -> None:
        self._ref.add_series(series)

    def series_fees(self, series_ticker: str, at: float | None = None) -> FeeModel:
        return self._ref.series_fees(series_ticker, at)

    def fee_changes(self, series_ticker: str | None = None) -> list[SimFeeChange]:
        return self._ref.fee_changes(series_ticker)

    def event_fee_override(self, event_ticker: str, at: float | None = None) -> FeeOverride | None:
        return self._ref.event_fee_override(event_ticker, at)

    def event_fee_changes(self, event_ticker: str | None = None) -> list[SimEventFeeChange]:
        return self._ref.event_fee_changes(event_ticker)

    def fee_model(self, ticker: str, at: float | None = None) -> FeeModel:
        return self._ref.fee_model(ticker, at)

    def add_event(self, event: SimEvent) -> None:
        self._ref.add_event(event)

    @property
    def series(self) -> dict[str, SimSeries]:
        return self._ref.series

    @property
    def events(self) -> dict[str, SimEvent]:
        return self._ref.events

    @property
    def markets(self) -> dict[str, SimMarket]:
        return self._ref.markets

    # Ledger (accounts.py) ---------------------------------------------------

    def create_account(self, *, key_id: str, public_key_pem: str, cash_cents: int) -> Account:
        return self._ledger.create_account(
            key_id=key_id, public_key_pem=public_key_pem, cash_cents=cash_cents
        )

    def account(self, account_id: str) -> Account:
        return self._ledger.account(account_id)

    @property
    def accounts(self) -> list[Account]:
        return self._ledger.accounts

    def resting_collateral_cents(self, account_id: str) -> int:
        return self._ledger.resting_collateral_cents(account_id)

    def portfolio_value_cents(self, account_id: str) -> int:
        return self._ledger.portfolio_value_cents(account_id)

    def cash_dollars(self, account_id: str) -> Decimal:
        return self._ledger.cash_dollars(account_id)

    def held_dollars(self, account_id: str) -> Decimal:
        return self._ledger.held_dollars(account_id)

    @property
    def deposited(self) -> Decimal:
        return self._ledger.deposited

    def open_interest(self) -> Decimal:
        return self._ledger.open_interest()

    # MatchingEngine (matching.py) -------------------------------------------

    def book(
        self, ticker: str, depth: int = 0
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return self._engine.book(ticker, depth)

    def best_bids(self, ticker: str) -> tuple[Decimal | None, Decimal | None]:
        return self._engine.best_bids(ticker)

    # SettlementDesk (settlement.py) -----------------------------------------

    def set_market_status(self, ticker: str, status: MarketStatus) -> SimMarket:
        return self._settlement.set_market_status(ticker, status)

    def settle(
        self, ticker: str, result: Literal["yes", "no"], expiration_value: str = ""
    ) -> SimMarket:
        return self._settlement.settle(ticker, result, expiration_value)

    # History (history.py) and the accounts' reads ---------------------------------------------

    def order(self, account_id: str, order_id: str) -> SimOrder:
        return self._history.order(account_id, order_id)

    def orders(self, account_id: str, *, since: float | None = None) -> list[SimOrder]:
        return self._history.orders(account_id, since=since)

    def resting_orders(self, account_id: str, ticker: str | None = None) -> list[SimOrder]:
        return self._ledger.resting_orders(account_id, ticker)

    def fills(self, account_id: str, *, since: float | None = None) -> list[SimFill]:
        return self._history.fills(account_id, since=since)

    def positions(self, account_id: str) -> list[SimPosition]:
        return self._ledger.positions(account_id)

    def settlements(self, account_id: str) -> list[SimSettlement]:
        return self._ledger.settlements(account_id)

    def trades(self, ticker: str | None = None, *, since: float | None = None) -> list[SimTrade]:
        return self._history.trades(ticker, since=since)

    # time -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance to the clock's now: expire orders past their expiration_time, move the
        background participants along their price paths, open/close markets on schedule,
        execute the confirmed RFQ quotes whose execution timer has run out."""
        now = self._ref.clock.wall()
        self._desk.expire_due(now)
        for market in self._ref.markets.values():
            if market.status == "unopened" and market.open_time <= now < market.close_time:
                self.set_market_status(market.ticker, "open")
            elif market.status in ("open", "paused") and market.close_time <= now:
                self.set_market_status(market.ticker, "closed")
            self._engine.roll_volume(market, now)
        self.communications.execute_due(now)  # after the schedule: a closed market refuses
        while self._event_fees_due and self._event_fees_due[0][0] <= now:
            _, change_id = heapq.heappop(self._event_fees_due)
            self._ref.announce_event_fee(change_id)
        for hook in self._tick_hooks:
            hook(now)
        if self._ref.journal is not None and self._ref.since_snapshot >= self._snapshot_every:
            self.compact()

    # scheduled fee changes ------------------------------------------------------------------

    def schedule_fee_change(
        self, series_ticker: str, fee_type: str, fee_multiplier: str, scheduled_ts: float
    ) -> SimFeeChange:
        """Schedule a change of a series' fees (GET /series/fee_changes lists it): fills at or
        after `scheduled_ts` (unix seconds) pay the new fees, fills before it the old. The maker
        reserve of every market of the series is the highest maker rate among its own fees and
        all its changes, so it covers the fills on either side of a change; scheduling a change
        that raises it re-holds the resting orders of the series' markets at the new rate."""
        change = self._ref.schedule_fee_change(
            series_ticker, fee_type, fee_multiplier, scheduled_ts
        )
        self._ledger.rebuild_reserves(series_ticker)
        return change

    def schedule_event_fee_change(
        self,
        event_ticker: str,
        fee_type_override: str | None,
        fee_multiplier_override: str | None,
        scheduled_ts: float,  # unix seconds
    ) -> SimEventFeeChange:
        """Schedule a change of an event's fee override (GET /events/fee_changes lists it):
        fills in the event's markets at or after `scheduled_ts` pay the override (each half
        None falls back to the series' own, both None clear it: `FeeModel.from_api`). It is
        announced on `market_lifecycle_v2` as an `event_fee_update` when it takes effect.
        Resting orders of the event's markets are re-held when the change raises their maker
        reserve."""
        change = self._ref.schedule_event_fee_change(
            event_ticker, fee_type_override, fee_multiplier_override, scheduled_ts
        )
        self._ledger.rebuild_reserves(change.series_ticker)
        if change.scheduled_ts <= self._ref.now():
            self._ref.announce_event_fee(change.id)
        else:
            heapq.heappush(self._event_fees_due, (change.scheduled_ts, change.id))
        return change

    # journal --------------------------------------------------------------------------------

    # The persisted state: each snapshot key (the name the state had when the exchange was one
    # object, kept so an existing snapshot still reads) and the part that owns it, by the
    # part's attribute here ("" for the exchange itself) and its own attribute name. Each value
    # has exactly one owner, and no part keeps another's, so a snapshot is restored by setting
    # each value in its one place.
    _PERSISTED: ClassVar[dict[str, tuple[str, str]]] = {
        "_series": ("_ref", "_series"),
        "_series_fees": ("_ref", "_series_fees"),
        "_fee_changes": ("_ref", "_fee_changes"),
        "_event_fee_changes": ("_ref", "_event_fee_changes"),
        "_event_fees_due": ("", "_event_fees_due"),
        "_events": ("_ref", "_events"),
        "_markets": ("_ref", "_markets"),
        "_books": ("_engine", "books"),
        "_accounts": ("_ledger", "states"),
        "_by_key": ("_ledger", "by_key"),
        "_orders": ("_history", "live"),
        "_order_groups": ("_groups", "groups"),
        "_trades": ("_engine", "trades"),
        "_trades_by_ticker": ("_engine", "trades_by_ticker"),
        "_volume_window": ("_engine", "volume_window"),
        "_holders": ("_ledger", "holders"),
        "_expiries": ("_engine", "expiries"),
        "_fees_collected": ("_engine", "fees_collected"),
        "_deposited": ("_ledger", "_deposited"),
        "_seq": ("_ref", "seq"),
        "created_time": ("_ref", "created_time"),
        "_users": ("_subaccounts", "users"),
        "_keyring": ("_subaccounts", "keyring"),
        "rfqs": ("", "rfqs"),
        "quotes": ("", "quotes"),
        "_trade_archive": ("_history", "trade_archive"),
        "_fill_archives": ("_history", "fill_archives"),
        "_order_archives": ("_history", "order_archives"),
    }

    def _owner(self, part: str) -> object:
        return getattr(self, part) if part else self

    def close(self) -> None:
        """Close the journal (every record is already flushed); the exchange is done with."""
        if self._ref.journal is not None:
            self._ref.journal.close()
            self._ref.journal = None

    def compact(self) -> None:
        """Write a snapshot of the whole state and start the journal afresh (see journal.py)."""
        if self._ref.journal is None:
            return
        generation = self._generation + 1
        state = {
            key: getattr(self._owner(part), name) for key, (part, name) in self._PERSISTED.items()
        }
        write_snapshot(
            self._ref.journal.path, {"generation": generation, "state": state}, _SNAPSHOT_TYPES
        )
        self._ref.journal.restart(self._init_record(generation))
        self._generation = generation
        self._ref.since_snapshot = 0

    def _init_record(self, generation: int) -> dict[str, Any]:
        return {
            "op": "init",
            "ts": self._ref.created_time,
            "salt": format(self._ref.salt, "x"),
            "generation": generation,
        }

    def _open_journal(self, journal: Journal) -> None:
        records = journal.records()
        first = next(records, None)
        snapshot = read_snapshot(journal.path, _SNAPSHOT_TYPES)
        if first is None:
            if snapshot is not None:
                raise JournalError(f"{journal.path}: empty, but a snapshot exists beside it")
            journal.append(self._init_record(0))
            self._ref.journal = journal
            return
        if first.get("op") != "init":
            raise JournalError(f"{journal.path}: does not start with an init record")
        self._ref.set_salt(int(first["salt"], 16))
        self._ref.created_time = float(first["ts"])  # unix seconds
        self._generation = int(first.get("generation", 0))
        skip = False
        if snapshot is not None:
            ahead = int(snapshot["generation"]) - self._generation
            if ahead not in (0, 1):
                raise JournalError(f"{journal.path}: snapshot and journal do not belong together")
            for key, value in snapshot["state"].items():
                part, name = self._PERSISTED[key]
                setattr(self._owner(part), name, value)
            self.restored = True
            skip = ahead == 1  # crashed after the snapshot, before the journal restarted
        for record in records:
            if skip:
                continue
            self._replay(record)
            self.restored = True
            self._ref.since_snapshot += 1
        self._ref.replay_ts = None
        self._ref.journal = journal
        if skip:
            self._generation += 1
            journal.restart(self._init_record(self._generation))

    def _replay(self, rec: dict[str, Any]) -> None:
        """Apply one journal record again, at its time: the core's own kinds (`_REPLAYS`), then
        those of the parts the core has (order groups, subaccounts, RFQs and quotes)."""
        self._ref.replay_ts = float(rec["ts"])  # unix seconds
        op = rec["op"]
        try:
            replay = _REPLAYS.get(op)
            if replay is not None:
                replay(self, rec)
            elif op.startswith("order_group_"):
                self._groups.replay(rec)
            elif self._subaccounts.replay(rec):
                pass
            elif op in Communications.OPS:
                self.communications.replay(rec)
            else:
                raise JournalError(f"unknown journal record {op!r}")
        except ExchangeError as exc:
            raise JournalError(
                f"journal record {op} at {rec['ts']} no longer applies: {exc}"
            ) from exc

    def _replay_place(self, rec: dict[str, Any]) -> None:
        self._desk.place_order(rec["account_id"], PlaceRequest.from_journal(rec))

    def _replay_amend(self, rec: dict[str, Any]) -> None:
        self._desk.amend_order(
            rec["account_id"],
            rec["order_id"],
            ticker=rec["ticker"],
            book_side=BookSide(rec["book_side"]),
            price=Decimal(rec["price"]),
            count=Decimal(rec["count"]),
            updated_client_order_id=rec["updated_client_order_id"],
            expiration_time=rec.get("expiration_time"),
        )

    def _replay_fee_change(self, rec: dict[str, Any]) -> None:
        self.schedule_fee_change(
            rec["series_ticker"],
            rec["fee_type"],
            rec["fee_multiplier"],
            float(rec["scheduled_ts"]),  # unix seconds
        )

    def _replay_event_fee_change(self, rec: dict[str, Any]) -> None:
        self.schedule_event_fee_change(
            rec["event_ticker"],
            rec["fee_type_override"],
            rec["fee_multiplier_override"],
            float(rec["scheduled_ts"]),  # unix seconds
        )

    def _replay_account(self, rec: dict[str, Any]) -> None:
        self.create_account(
            key_id=rec["key_id"],
            public_key_pem=rec["public_key_pem"],
            cash_cents=int(rec["cash_cents"]),
        )

    # RFQs and quotes --------------------------------------------------------------------------

    @contextmanager
    def journaled(self, op: str, **fields: Any) -> Iterator[float]:
        """One journal record for a write made outside the core (sim/core/communications.py), some
        of them made of several core calls (a confirmed quote places two orders). The record is
        written first; inside the block the core journals nothing of its own and its time stands
        still at the record's, as it will when the record is replayed (which runs the same block
        again). Yields that time."""
        if self._ref.replay_ts is not None:  # replaying, or inside another such block
            yield self._ref.replay_ts
            return
        now = self._ref.clock.wall()
        if self._ref.journal is not None:
            self._ref.journal.append({"op": op, "ts": now, **fields})
            self._ref.since_snapshot += 1
        self._ref.replay_ts = now
        try:
            yield now
        finally:
            self._ref.replay_ts = None


# The core's own kinds of journal record, each replayed through the call that wrote it.
_REPLAYS: dict[str, Callable[[Exchange, dict[str, Any]], object]] = {
    "series": lambda ex, rec: ex.add_series(SimSeries(**rec["series"])),
    "event": lambda ex, rec: ex.add_event(SimEvent(**rec["event"])),
    "fee_change": Exchange._replay_fee_change,
    "event_fee_change": Exchange._replay_event_fee_change,
    "market": lambda ex, rec: ex.add_market(market_from_record(rec["market"])),
    "status": lambda ex, rec: ex.set_market_status(rec["ticker"], rec["status"]),
    "settle": lambda ex, rec: ex.settle(
        rec["ticker"], rec["result"], rec.get("expiration_value", "")
    ),
    "account": Exchange._replay_account,
    "place": Exchange._replay_place,
    "cancel": lambda ex, rec: ex.desk.cancel_order(rec["account_id"], rec["order_id"]),
    "cancel_all": lambda ex, rec: ex.desk.cancel_all(rec["account_id"], ticker=rec["ticker"]),
    "amend": Exchange._replay_amend,
    "decrease": lambda ex, rec: ex._desk.cut(
        ex._history.live[rec["order_id"]], Decimal(rec["cut"])
    ),
    "expire": lambda ex, rec: ex._desk.expire(rec["order_id"]),
    "to_back": lambda ex, rec: ex.desk.to_back_of_queue(rec["account_id"], rec["order_id"]),
}
