"""Where the core keeps every order, fill and trade: the live ones as objects, and those a
minute old compactly (trade_archive.py), read back equal and in order by the listings. `History`
owns the index of live orders by id and the archives; the accounts (accounts.py) keep each
account's live lists, the engine (matching.py) the live trades. The memory rule it serves:
docs/simulator.md "Running it" (the memory paragraphs).
"""

from __future__ import annotations

import math
from collections.abc import Collection

from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.matching import DAY, MatchingEngine
from kalshi_cli.sim.core.record_views import NewestFirst, OrdersNewestFirst, TradeTimeline
from kalshi_cli.sim.core.records import SimFill, SimMarket, SimOrder, SimTrade, not_found
from kalshi_cli.sim.core.records import owner as owner_of_ledger
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.sim.core.subaccounts import Subaccounts
from kalshi_cli.sim.core.trade_archive import (
    FillArchive,
    OrderArchive,
    TradeArchive,
    id_counter,
    merge_by_counter,
)


class History:
    """Every order, fill and trade of the core, live and archived (the module docstring)."""

    def __init__(
        self,
        reference: Reference,
        ledger: Ledger,
        engine: MatchingEngine,
        subaccounts: Subaccounts,
    ) -> None:
        """`subaccounts`: whose keys say which accounts a client can read (`_keyless`)."""
        self._ref = reference
        self._ledger = ledger
        self._engine = engine
        self._subaccounts = subaccounts
        self.live: dict[str, SimOrder] = {}  # order id -> every live order
        self.trade_archive = TradeArchive()  # trades a minute old (archive_trades)
        self.fill_archives: dict[str, FillArchive] = {}  # account -> fills a minute old
        self.order_archives: dict[str, OrderArchive] = {}  # account -> finished orders, too
        self._fills_due = self._orders_due = -math.inf  # archive_fills, archive_orders

    # reads ----------------------------------------------------------------------------------

    def live_order(self, order_id: str) -> SimOrder | None:
        """The live order of that id (None once it is finished and archived)."""
        return self.live.get(order_id)

    def order(self, account_id: str, order_id: str) -> SimOrder:
        order = self.live.get(order_id)
        if order is None:
            order = self.archived_order(account_id, order_id)
        if order is None or order.account_id != account_id:
            raise not_found()
        return order

    def orders(self, account_id: str, *, since: float | None = None) -> list[SimOrder]:
        """All orders of the account, newest first (of those `archive_orders` moved out, with
        `since`, only the ones last updated at or after it, as `fills`)."""
        live = self._ledger.acct(account_id).orders[::-1]
        archived = self.order_archives.get(account_id)
        return merge_by_counter(live, archived.newest_first(since)) if archived else live

    def fills(self, account_id: str, *, since: float | None = None) -> list[SimFill]:
        """Newest first: the live ones, then those `archive_fills` moved out (of these, with
        `since`, only the ones made at or after it: a listing of the live tier asks for none
        older than its cutoff, so they are not rebuilt)."""
        live = self._ledger.acct(account_id).fills[::-1]
        archived = self.fill_archives.get(account_id)
        return live + list(archived.fills(since))[::-1] if archived else live

    def trades(self, ticker: str | None = None, *, since: float | None = None) -> list[SimTrade]:
        """Newest first: the live ones, then those `archive_trades` moved out (with `since`,
        only those made at or after it, as `fills`)."""
        live = self._live_trades(ticker)
        if not self.trade_archive:
            return live[::-1]
        return live[::-1] + list(self.trade_archive.trades(ticker, since))[::-1]

    def forget_finished_orders(self, account_id: str, keep: int) -> int:
        """Drop all but the newest `keep` finished orders of an account no client can sign for (a
        scenario's liquidity provider or noise trader), so a long run does not keep every
        replaced quote. No request can read such an account's orders, so nothing a client sees
        changes; of its fills only the newest `keep` stay. An order with an expiry or in a group
        is kept. Returns how many were dropped."""
        acct = self._ledger.acct(account_id)
        if not self._keyless(account_id):
            raise ValueError(f"account {account_id} has a key: its orders are readable")
        if len(acct.fills) > keep:
            del acct.fills[: len(acct.fills) - keep]  # oldest first: the newest `keep` stay
        resting = sum(len(orders) for orders in acct.resting.values())
        excess = len(acct.orders) - resting - keep
        if excess <= 0:
            return 0
        kept: list[SimOrder] = []
        dropped = 0
        for order in acct.orders:  # oldest first
            if (
                dropped < excess
                and order.status != "resting"
                and order.expiration_time is None
                and order.order_group_id is None
            ):
                del self.live[order.order_id]
                acct.client_ids.discard(order.client_order_id)
                dropped += 1
            else:
                kept.append(order)
        acct.orders = kept
        return dropped

    def archive_trades(self, before: float) -> int:
        """Move the trades made before `before` (oldest first, up to the first that is not) out
        of the live lists into the compact `TradeArchive` (sim/core/trade_archive.py); `trades()`
        still answers with them, equal and in order. A served exchange calls this on every tick
        (`historical.attach_retention`: records a minute old, or past the historical cutoff), so
        its lists of objects hold the last minute's trades only. Returns how many moved."""
        trades = self._engine.trades
        moved = 0
        while moved < len(trades) and trades[moved].ts < before:
            moved += 1
        if not moved:
            return 0
        per_ticker: dict[str, int] = {}
        for trade in trades[:moved]:
            self.trade_archive.append(trade)
            per_ticker[trade.ticker] = per_ticker.get(trade.ticker, 0) + 1
        del trades[:moved]
        for ticker, count in per_ticker.items():
            del self._engine.trades_by_ticker[ticker][:count]
        return moved

    def roll_day(self, market: SimMarket, now: float) -> None:
        """Bring the market's figures of a day ago to `now` (the served exchange's tick, the
        local venue's compaction): its `volume_24h`, and, once trades leave that day, its
        `previous_price`, the price of the last trade at least a day old (openapi `Market`
        `previous_price_dollars`: "Price for the last traded YES contract on this market a day
        ago")."""
        if self._engine.roll_volume(market, now):
            trades = self.trade_timeline(market.ticker)
            aged = trades.bisect_right(now - DAY)
            market.previous_price = trades.between(aged - 1, aged)[0].price

    def trade_timeline(self, ticker: str) -> TradeTimeline:
        """One market's trades oldest first, archived and live, read by position (candles read
        the window they need, not every trade)."""
        self._ref.market(ticker)
        return TradeTimeline(self.trade_archive, ticker, self._engine.trades_by_ticker[ticker])

    def trade_tiers(self) -> tuple[int, int]:
        """(trades held live, trades archived compactly)."""
        return len(self._engine.trades), len(self.trade_archive)

    def archive_fills(self, before: float, *, read_in_process: Collection[str] = ()) -> int:
        """As `archive_trades`, for the fills of every account a client can read (a key): each
        account's fills made before `before` move into its `FillArchive`; `fills()` still answers
        with them. A keyless participant's fills stay live (`forget_finished_orders` bounds
        them), except those `read_in_process` names (the local venue's trader). Returns how many
        moved.

        A call with nothing due returns at once: each pass notes the oldest fill it left live, and
        no account is looked at until `before` passes it. The note only delays a move: which tier
        serves a fill is `Archive`'s, by time."""
        if before <= self._fills_due:
            return 0
        due = self._ref.now()
        moved_all = 0
        for account_id, acct in self._ledger.states.items():
            fills = acct.fills
            if not fills:
                continue
            if fills[0].ts >= before:  # nothing to move (a keyless account only notes sooner)
                due = min(due, fills[0].ts)
                continue
            if self._unread(account_id, read_in_process):
                continue
            moved = 0
            while moved < len(fills) and fills[moved].ts < before:
                moved += 1
            if moved:
                archive = self.fill_archives.get(account_id)
                if archive is None:
                    archive = self.fill_archives[account_id] = FillArchive()
                for fill in fills[:moved]:
                    archive.append(fill)
                del fills[:moved]
                moved_all += moved
            if fills:
                due = min(due, fills[0].ts)
        self._fills_due = due
        return moved_all

    def archive_orders(self, before: float, *, read_in_process: Collection[str] = ()) -> int:
        """As `archive_fills`, for finished orders last updated before `before`: they leave the live
        list and the order index for the account's `OrderArchive` (their client ids stay used);
        `orders()` and `order()` still answer with them, in order. Returns how many moved."""
        if before <= self._orders_due:
            return 0
        due = self._ref.now()
        moved_all = 0
        for account_id, acct in self._ledger.states.items():
            if not acct.orders or self._unread(account_id, read_in_process):
                continue
            kept: list[SimOrder] = []
            moved: list[SimOrder] = []
            for order in acct.orders:  # oldest first
                if order.status == "resting" or id_counter(order.order_id) < 0:
                    kept.append(order)
                elif order.last_update_time < before:
                    moved.append(order)
                else:
                    kept.append(order)
                    due = min(due, order.last_update_time)
            if not moved:
                continue
            archive = self.order_archives.get(account_id)
            if archive is None:
                archive = self.order_archives[account_id] = OrderArchive()
            for order in moved:
                archive.append(order)
                del self.live[order.order_id]
            acct.orders = kept
            moved_all += len(moved)
        self._orders_due = due
        return moved_all

    def order_tiers(self, account_id: str) -> tuple[int, int]:
        """(the account's orders held live, its orders archived compactly)."""
        archived = self.order_archives.get(account_id)
        return len(self._ledger.acct(account_id).orders), len(archived) if archived else 0

    def archived_order(self, account_id: str, order_id: str) -> SimOrder | None:
        archived = self.order_archives.get(account_id)
        return archived.find(order_id) if archived else None

    def fill_tiers(self, account_id: str) -> tuple[int, int]:
        """(the account's fills held live, its fills archived compactly)."""
        archived = self.fill_archives.get(account_id)
        return len(self._ledger.acct(account_id).fills), len(archived) if archived else 0

    def trades_newest_first(self, ticker: str | None = None) -> NewestFirst[SimTrade]:
        """`trades(ticker)` as a view read by index: a page rebuilds only its own trades."""
        archive = self.trade_archive
        return NewestFirst(self._live_trades(ticker), _trade_id, archive.positions(ticker), archive)

    def _live_trades(self, ticker: str | None) -> list[SimTrade]:
        """The live trades (of one market, 404 for a market not listed), oldest first."""
        if ticker is None:
            return self._engine.trades
        self._ref.market(ticker)
        return self._engine.trades_by_ticker[ticker]

    def fills_newest_first(self, account_id: str) -> NewestFirst[SimFill]:
        """`fills(account_id)` as a view read by index, as `trades_newest_first`."""
        archived = self.fill_archives.get(account_id)
        positions = range(len(archived)) if archived else range(0)
        return NewestFirst(self._ledger.acct(account_id).fills, _fill_id, positions, archived)

    def order_store(self, account_id: str) -> tuple[list[SimOrder], OrderArchive | None]:
        """The account's live orders (oldest first; the list itself) and its archive of
        finished ones (append only): what the read replica copies and refers to."""
        return self._ledger.acct(account_id).orders, self.order_archives.get(account_id)

    def orders_newest_first(self, account_id: str) -> OrdersNewestFirst:
        """`orders(account_id)` walked from any order, as `trades_newest_first`."""
        archived = self.order_archives.get(account_id)
        return OrdersNewestFirst(self._ledger.acct(account_id).orders, archived)

    def _unread(self, account_id: str, read_in_process: Collection[str]) -> bool:
        """No client reads the account's records: it is keyless and its user is not one read
        in-process."""
        return self._keyless(account_id) and owner_of_ledger(account_id)[0] not in read_in_process

    def _keyless(self, account_id: str) -> bool:
        """No client can sign for the account: its user (the ledger's owner: a subaccount has
        no key of its own) has no public key and none added."""
        user = owner_of_ledger(account_id)[0]
        return not self._ledger.states[user].account.public_key_pem and not any(
            key.account_id == user for key in self._subaccounts.keyring.added.values()
        )


def _trade_id(trade: SimTrade) -> str:
    return trade.trade_id


def _fill_id(fill: SimFill) -> str:
    return fill.fill_id
