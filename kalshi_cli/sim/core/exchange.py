"""The simulated exchange: markets, books, matching, accounts, fees and settlement. No I/O except
the optional journal (sim/core/journal.py); time comes from the injected clock.

`Exchange` *has* its components (`CoreComponents`: `reference`, `accounts`, `engine`, `settlement`,
`desk`, `history`, `groups`, `subaccounts`), each handed only the components it needs; the local
venue holds the same components. `Exchange` adds what only a served exchange has: the journal's
snapshot and replay, the tick (expiry, the market schedule, a scenario's participants), RFQs and API
keys. Conventions, refusals, lifecycle and conservation: docs/simulator.md "Conventions of the
core".
"""

import functools
import heapq
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from kalshi_cli.sim.core.account_state import AccountState
from kalshi_cli.sim.core.book import Book, BookSideLevels
from kalshi_cli.sim.core.client_ids import IdColumn, UsedClientIds
from kalshi_cli.sim.core.communications import Communications, SimQuote, SimRfq
from kalshi_cli.sim.core.components import CoreComponents
from kalshi_cli.sim.core.journal import Journal, JournalError, afresh, read_snapshot, write_snapshot
from kalshi_cli.sim.core.order_groups import SimOrderGroup
from kalshi_cli.sim.core.records import (
    Account,
    AccountRequest,
    AmendRequest,
    ExchangeError,
    FeeChangeRequest,
    FeeOverrideChangeRequest,
    PlaceRequest,
    SimEvent,
    SimEventFeeChange,
    SimFeeChange,
    SimFill,
    SimMarket,
    SimOrder,
    SimPosition,
    SimSeries,
    SimSettlement,
    SimTrade,
    from_journal,
)
from kalshi_cli.sim.core.reference import market_from_record
from kalshi_cli.sim.core.shard_transfers import (
    INTRA_PREFIX,
    ShardTransferBook,
    ShardTransfers,
    SimShardTransfer,
)
from kalshi_cli.sim.core.subaccounts import Keyring, SimApiKey, SimTransfer, UserAccounts
from kalshi_cli.sim.core.trade_archive import SNAPSHOT_TYPES as ARCHIVE_SNAPSHOT_TYPES
from kalshi_cli.sim.core.volume_window import VolumeWindow
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import FeeCharge, FeeModel, FeeType, PriceRange
from kalshi_cli.vocabulary.units import (
    Action,
    BookSide,
    OrderStatus,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

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
    ShardTransferBook,
    SimShardTransfer,
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
        """`fees`: what a series that sets none of its own charges, or None when every series must
        set its own; required, so no exchange charges a fee nobody chose. `journal`: every state
        change is persisted there and replayed on construction, so a restart (even after kill -9)
        keeps every acknowledged order; `fsync` forces each record to disk. `tick()` compacts the
        journal into a snapshot after `snapshot_every` records."""
        self._components = components = CoreComponents.build(clock, fees)
        self.reference, self.accounts, self.engine = (
            components.reference,
            components.accounts,
            components.engine,
        )
        self.settlement, self.subaccounts = components.settlement, components.subaccounts
        self.history, self.groups, self.desk = (
            components.history,
            components.groups,
            components.desk,
        )
        self._tick_hooks: list[Callable[[float], None]] = []
        # (scheduled_ts, id) of event fee changes not yet announced (`event_fee_update`)
        self._event_fees_due: list[tuple[float, str]] = []
        self.rfqs: dict[str, SimRfq] = {}  # RFQs and quotes: sim/core/communications.py
        self.quotes: dict[str, SimQuote] = {}
        self.communications = Communications(self)
        self.shard_transfers = ShardTransfers(self.reference, self.accounts, self.subaccounts)
        self.restored = False
        """True when state was restored from an existing journal."""
        self._generation = 0
        self._snapshot_every = snapshot_every
        if journal is not None:
            try:
                opened = Journal(journal, fsync=fsync)
                try:
                    self._open_journal(opened)
                except BaseException:
                    opened.close()  # refused: no file of it is left open
                    raise
            except JournalError as exc:  # what is wrong, then what to do
                raise JournalError(f"{exc}; {afresh(journal)}") from None

    # listeners and hooks --------------------------------------------------------------------

    def add_tick_hook(self, hook: Callable[[float], None]) -> None:
        """`hook(now)` runs on every `tick()`, after expiries and the market schedule (the
        scenario's background participants are such hooks)."""
        self._tick_hooks.append(hook)

    def add_market(self, market: SimMarket) -> None:
        self._components.add_market(market)

    # time -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance to the clock's now: expire orders past their expiration_time, move the
        background participants along their price paths, open/close markets on schedule,
        settle the determined markets whose settlement timer ran out, execute the confirmed
        RFQ quotes whose execution timer has run out."""
        now = self.reference.clock.wall()
        self.desk.expire_due(now)
        for market in self.reference.markets.values():
            if market.status == "unopened" and market.open_time <= now < market.close_time:
                self.settlement.set_market_status(market.ticker, "open")
            elif market.status in ("open", "paused") and market.close_time <= now:
                self.settlement.set_market_status(market.ticker, "closed")
            self.history.roll_day(market, now)
        self.settlement.settle_due(now)  # a determined market whose settlement timer ran out
        self.communications.execute_due(now)  # after the schedule: a closed market refuses
        while self._event_fees_due and self._event_fees_due[0][0] <= now:
            _, change_id = heapq.heappop(self._event_fees_due)
            self.reference.fees.announce_event_fee(change_id)
        for hook in self._tick_hooks:
            hook(now)
        if (
            self.reference.journal is not None
            and self.reference.since_snapshot >= self._snapshot_every
        ):
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
        request = FeeChangeRequest(
            series_ticker=series_ticker, fee_type=fee_type, fee_multiplier=str(fee_multiplier),
            scheduled_ts=float(scheduled_ts),
        )  # fmt: skip
        return self.schedule_fees(request)

    def schedule_fees(self, request: FeeChangeRequest) -> SimFeeChange:
        """`schedule_fee_change` of a change as one value, the one the journal writes and
        replays."""
        now = self.reference.now()
        change = self.reference.fees.schedule(request, now)
        self.accounts.rebuild_reserves(request.series_ticker, now)
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
        request = FeeOverrideChangeRequest(
            event_ticker=event_ticker, fee_type_override=fee_type_override,
            fee_multiplier_override=fee_multiplier_override, scheduled_ts=float(scheduled_ts),
        )  # fmt: skip
        return self.schedule_event_fees(request)

    def schedule_event_fees(self, request: FeeOverrideChangeRequest) -> SimEventFeeChange:
        """`schedule_event_fee_change` of a change as one value, the one the journal writes and
        replays."""
        now = self.reference.now()
        change = self.reference.fees.schedule_event(request, now)
        self.accounts.rebuild_reserves(change.series_ticker, now)
        if change.scheduled_ts <= now:
            self.reference.fees.announce_event_fee(change.id)
        else:
            heapq.heappush(self._event_fees_due, (change.scheduled_ts, change.id))
        return change

    # journal --------------------------------------------------------------------------------

    # The persisted state: each snapshot key (the name the state had when the exchange was one
    # object, kept so an existing snapshot still reads) and the part that owns it, by the
    # part's attribute path here ("" for the exchange itself) and its own attribute name. Each
    # value has exactly one owner, and no part keeps another's, so a snapshot is restored by
    # setting each value in its one place.
    _PERSISTED: ClassVar[dict[str, tuple[str, str]]] = {
        "_series": ("reference", "_series"),
        "_series_fees": ("reference.fees", "_series_fees"),
        "_fee_changes": ("reference.fees", "_fee_changes"),
        "_event_fee_changes": ("reference.fees", "_event_fee_changes"),
        "_event_fees_due": ("", "_event_fees_due"),
        "_events": ("reference", "_events"),
        "_markets": ("reference", "_markets"),
        "_books": ("engine", "books"),
        "_accounts": ("accounts", "states"),
        "_by_key": ("accounts", "by_key"),
        "_orders": ("history", "live"),
        "_order_groups": ("groups", "groups"),
        "_trades": ("engine", "trades"),
        "_trades_by_ticker": ("engine", "trades_by_ticker"),
        "_volume_window": ("engine", "volume_window"),
        "_holders": ("accounts", "holders"),
        "_expiries": ("engine", "expiries"),
        "_fees_collected": ("engine", "fees_collected"),
        "_deposited": ("accounts", "_deposited"),
        "_netting": ("accounts.collateral", "netting"),
        "_returned": ("accounts.collateral", "returned"),
        "_seq": ("reference", "seq"),
        "created_time": ("reference", "created_time"),
        "_users": ("subaccounts", "users"),
        "_keyring": ("subaccounts", "keyring"),
        "_shard_transfers": ("shard_transfers", "book"),
        "rfqs": ("", "rfqs"),
        "quotes": ("", "quotes"),
        "_trade_archive": ("history", "trade_archive"),
        "_fill_archives": ("history", "fill_archives"),
        "_order_archives": ("history", "order_archives"),
    }

    def _owner(self, part: str) -> object:
        """The part a persisted value is kept by: a path of attributes ("" for the exchange)."""
        return functools.reduce(getattr, part.split("."), self) if part else self

    def close(self) -> None:
        """Close the journal (every record is already flushed); the exchange is done with."""
        if self.reference.journal is not None:
            self.reference.journal.close()
            self.reference.journal = None

    def compact(self) -> None:
        """Write a snapshot of the whole state and start the journal afresh (see journal.py)."""
        if self.reference.journal is None:
            return
        generation = self._generation + 1
        state = {
            key: getattr(self._owner(part), name) for key, (part, name) in self._PERSISTED.items()
        }
        write_snapshot(
            self.reference.journal.path, {"generation": generation, "state": state}, _SNAPSHOT_TYPES
        )
        self.reference.journal.restart(self._init_record(generation))
        self._generation = generation
        self.reference.since_snapshot = 0

    def _init_record(self, generation: int) -> dict[str, Any]:
        return {
            "op": "init",
            "ts": self.reference.created_time,
            "salt": format(self.reference.salt, "x"),
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
            self.reference.journal = journal
            return
        if first.get("op") != "init":
            raise JournalError(f"{journal.path}: does not start with an init record")
        self.reference.set_salt(int(first["salt"], 16))
        self.reference.created_time = float(first["ts"])  # unix seconds
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
            self.reference.since_snapshot += 1
        self.reference.replay_ts = None
        self.reference.journal = journal
        if skip:
            self._generation += 1
            journal.restart(self._init_record(self._generation))

    def _replay(self, rec: dict[str, Any]) -> None:
        """Apply one journal record again, at its time: the core's own kinds (`_REPLAYS`), then
        those of the components the core has (order groups, subaccounts, RFQs and quotes)."""
        self.reference.replay_ts = float(rec["ts"])  # unix seconds
        op = rec["op"]
        try:
            replay = _REPLAYS.get(op)
            if replay is not None:
                replay(self, rec)
            elif op.startswith("order_group_"):
                self.groups.replay(rec)
            elif self.subaccounts.replay(rec):
                self._adopt_intra_transfer(rec)
            elif self.shard_transfers.replay(rec):
                pass
            elif op in Communications.OPS:
                self.communications.replay(rec)
            else:
                raise JournalError(f"unknown journal record {op!r}")
        except ExchangeError as exc:
            raise JournalError(
                f"journal record {op} at {rec['ts']} no longer applies: {exc}"
            ) from exc

    def _adopt_intra_transfer(self, rec: dict[str, Any]) -> None:
        """A subaccount transfer an intra-exchange transfer within a shard made is listed
        among the intra-exchange transfers again (sim/core/shard_transfers.py)."""
        if rec["op"] == "transfer" and rec["client_transfer_id"].startswith(INTRA_PREFIX):
            user = rec["account_id"]
            made = self.subaccounts.transfers(user)[0]  # newest first: the one just replayed
            self.shard_transfers.adopt(user, made.transfer_id)

    def _replay_place(self, rec: dict[str, Any]) -> None:
        self.desk.place_order(rec["account_id"], from_journal(PlaceRequest, rec))

    # RFQs and quotes --------------------------------------------------------------------------

    @contextmanager
    def journaled(self, op: str, **fields: Any) -> Iterator[float]:
        """One journal record for a write made outside the core (sim/core/communications.py), some
        of them made of several core calls (a confirmed quote places two orders). The record is
        written first; inside the block the core journals nothing of its own and its time stands
        still at the record's, as it will when the record is replayed (which runs the same block
        again). Yields that time."""
        if self.reference.replay_ts is not None:  # replaying, or inside another such block
            yield self.reference.replay_ts
            return
        now = self.reference.clock.wall()
        if self.reference.journal is not None:
            self.reference.journal.append({"op": op, "ts": now, **fields})
            self.reference.since_snapshot += 1
        self.reference.replay_ts = now
        try:
            yield now
        finally:
            self.reference.replay_ts = None


def _result(call: Callable[..., SimMarket], rec: dict[str, Any]) -> SimMarket:
    """A `determine` (or an older `settle`) record replayed through `call`."""
    value = rec.get("value")
    return call(
        rec["ticker"],
        rec["result"],
        rec.get("expiration_value", ""),
        value=None if value is None else Decimal(value),
    )


# The core's own kinds of journal record, each replayed through the call that wrote it.
_REPLAYS: dict[str, Callable[[Exchange, dict[str, Any]], object]] = {
    "series": lambda ex, rec: ex.reference.add_series(SimSeries(**rec["series"])),
    "event": lambda ex, rec: ex.reference.add_event(SimEvent(**rec["event"])),
    "fee_change": lambda ex, rec: ex.schedule_fees(from_journal(FeeChangeRequest, rec)),
    "event_fee_change": lambda ex, rec: ex.schedule_event_fees(
        from_journal(FeeOverrideChangeRequest, rec)
    ),
    "market": lambda ex, rec: ex.add_market(market_from_record(rec["market"])),
    "status": lambda ex, rec: ex.settlement.set_market_status(rec["ticker"], rec["status"]),
    # a journal written before a market was determined apart from its settlement: both at once
    "settle": lambda ex, rec: _result(ex.settlement.settle, rec),
    "determine": lambda ex, rec: _result(ex.settlement.determine, rec),
    "pay_out": lambda ex, rec: ex.settlement.pay_out(rec["ticker"]),
    "account": lambda ex, rec: ex.accounts.open_account(from_journal(AccountRequest, rec)),
    "place": Exchange._replay_place,
    "cancel": lambda ex, rec: ex.desk.cancel_order(rec["account_id"], rec["order_id"]),
    "cancel_all": lambda ex, rec: ex.desk.cancel_all(rec["account_id"], ticker=rec["ticker"]),
    "amend": lambda ex, rec: ex.desk.amend(
        ex.desk.owned_resting(rec["account_id"], rec["order_id"]), from_journal(AmendRequest, rec)
    ),
    "decrease": lambda ex, rec: ex.desk.cut(ex.history.live[rec["order_id"]], Decimal(rec["cut"])),
    "expire": lambda ex, rec: ex.desk.expire(rec["order_id"]),
    "to_back": lambda ex, rec: ex.desk.to_back_of_queue(rec["account_id"], rec["order_id"]),
}
