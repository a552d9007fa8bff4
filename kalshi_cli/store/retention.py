"""Retention: what leaves the state file, and when (the config's `retention:`).

Each family of rows that grows with time has an age past which it goes, and each rule keeps what
something still reads:

- a finished order (executed, canceled or rejected), with its history, once unchanged for
  `unfilled_orders_s` or `filled_orders_s` (some filled), and only when the file holds fills for
  every contract the row says filled. Never an order that may still rest, one rejected only
  because the exchange did not list it (`NOT_ON_EXCHANGE`), nor one of the assistant's
  (`agent.strategy`) placed or amended today: its daily budget counts them (agent/ledger.py);
- a finished order's history rows after `order_history_s`;
- the entry log after `events_s` (except a quarantined fill), the alert log after
  `alert_log_s`, risk trips after `risk_trips_s` (except today's), the trading state's history
  after `trading_state_history_s` (except the states since trading was last ACTIVE), the
  assistant's audit after `agent_audit_s`;
- fills and settlements never: `kalshi pnl` replays them, and reconciliation copies fills by id,
  so a fill removed and listed again would count twice.

Every rule removes at most `batch_rows` rows per short transaction and sleeps `pause_s` between
batches, so a loop pruning in the background never holds the write lock for long. SQLite reuses
the freed pages (no `VACUUM`: it rewrites the file under the write lock). docs/state-file.md
"Retention".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from kalshi_cli.store.connection import Database
from kalshi_cli.store.records import FINISHED_STATUSES, NOT_ON_EXCHANGE, REJECTED
from kalshi_cli.vocabulary.clock import day_start, utc_day
from kalshi_cli.vocabulary.decode import decode_config

Age = Annotated[float, msgspec.Meta(gt=0)]  # seconds
DAY_S = 86_400.0

# entries that stay whatever their age: a quarantined fill is the only record of that fill
KEPT_EVENTS = ("fill_quarantined",)
TABLES = (
    "orders",
    "order_history",
    "events",
    "alert_log",
    "alerts",
    "risk_trips",
    "trading_state_history",
    "agent_audit",
)


class RetentionPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The config's `retention:` section: each age in seconds (null keeps those rows for
    good), and how the trade loop prunes in the background. Decoded by
    `vocabulary.decode.decode_config`."""

    unfilled_orders_s: Age | None = 7_200.0
    filled_orders_s: Age | None = 30 * DAY_S
    order_history_s: Age | None = DAY_S
    events_s: Age | None = 90 * DAY_S
    alert_log_s: Age | None = 90 * DAY_S
    risk_trips_s: Age | None = 90 * DAY_S
    trading_state_history_s: Age | None = 365 * DAY_S
    agent_audit_s: Age | None = 365 * DAY_S
    in_loop: bool = True  # `kalshi trade` prunes in the background
    interval_s: Age = 3_600.0  # how often it does
    batch_rows: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    pause_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.05

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> RetentionPolicy:
        """The `retention:` section, decoded (a refusal names its file and line when it came
        from the config file); None or empty: every default."""
        return decode_config(cls, raw, where="retention")

    def to_json(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__struct_fields__}


@dataclass
class PruneReport:
    """Rows removed per table (or that would be, on a dry run), in how many batches."""

    dry_run: bool
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    batches: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def to_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "removed": dict(self.removed),
            "total": self.total,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
        }


def _cutoff(now: float, age: float | None) -> float:
    """Rows at or after this time stay; -inf (nothing old enough) when kept for good."""
    return -math.inf if age is None else now - age


_FINISHED = f"({', '.join(repr(s) for s in FINISHED_STATUSES)})"
# An order old enough to go, as far as its own row tells (its fills are counted apart): its
# parameters are the cutoffs of unfilled and filled orders, REJECTED and NOT_ON_EXCHANGE, then
# the assistant's strategy and the start of the day (placed or amended since: its budget's; an
# order never amended has no `amend_sent_at`, and a NULL compared here would keep it for good).
_ORDER_GOES = (
    f"(o.status IN {_FINISHED} "
    "AND o.updated_at < (CASE WHEN o.filled = '0' THEN ? ELSE ? END) "
    "AND NOT (o.status = ? AND o.order_id IS NULL AND o.error LIKE ? || '%') "
    "AND NOT (o.strategy IS ? "
    "AND MAX(o.created_at, IFNULL(o.amend_sent_at, o.created_at)) >= ?))"
)
_ORDER_CANDIDATES = (
    "SELECT o.rowid, o.client_order_id, o.order_id, o.filled FROM orders o "  # noqa: S608
    f"WHERE o.rowid > ? AND {_ORDER_GOES} ORDER BY o.rowid LIMIT ?"
)
# the candidates are read before the write lock is taken: each delete asks the row again under
# it, so an order the exchange's news changed meanwhile stays (fills are only ever added, so
# what covered an order still does)
_DELETE_ORDER_HISTORY = (
    "DELETE FROM order_history WHERE client_order_id = ? AND EXISTS "  # noqa: S608
    f"(SELECT 1 FROM orders o WHERE o.client_order_id = ? AND {_ORDER_GOES})"
)
_DELETE_ORDER = (
    "DELETE FROM orders WHERE rowid IN "  # noqa: S608
    f"(SELECT o.rowid FROM orders o WHERE o.client_order_id = ? AND {_ORDER_GOES})"
)
# history rows of finished orders past the history's age, each with whether its order goes too
_STAYING_ORDER = (
    f"o.client_order_id = h.client_order_id AND o.status IN {_FINISHED} AND o.updated_at < ?"
)
_HISTORY_CANDIDATES = (
    f"SELECT h.id, o.order_id, o.filled, {_ORDER_GOES} FROM order_history h "  # noqa: S608
    f"JOIN orders o ON {_STAYING_ORDER} WHERE h.id > ? AND h.at < ? ORDER BY h.id LIMIT ?"
)
_DELETE_HISTORY = (
    "DELETE FROM order_history WHERE id IN (SELECT h.id FROM order_history h "  # noqa: S608
    f"JOIN orders o ON {_STAYING_ORDER} WHERE h.id = ?)"
)


@dataclass(frozen=True)
class _OrderCutoffs:
    """The times before which a finished order unchanged since goes: one with nothing filled,
    one with some (-inf: kept for good); and the assistant's strategy, whose orders placed or
    amended from `today` on stay: as `_ORDER_GOES`'s parameters."""

    unfilled: float
    filled: float
    agent_strategy: str
    today: float

    @classmethod
    def of(cls, policy: RetentionPolicy, now: float, agent_strategy: str) -> _OrderCutoffs:
        return cls(
            _cutoff(now, policy.unfilled_orders_s),
            _cutoff(now, policy.filled_orders_s),
            agent_strategy,
            day_start(utc_day(now)),
        )

    @property
    def any(self) -> bool:
        return self.unfilled > -math.inf or self.filled > -math.inf

    @property
    def params(self) -> tuple[object, ...]:
        return (
            self.unfilled,
            self.filled,
            REJECTED,
            NOT_ON_EXCHANGE,
            self.agent_strategy,
            self.today,
        )


@dataclass(frozen=True)
class _AgeRule:
    """Rows of `table` whose `column` is older than the policy's `age` and that meet
    `condition` (with `params`); `before_today`: and whose `day` is before the UTC day of the
    prune (a row of today stays whatever its age)."""

    table: str
    column: str
    age: str
    condition: str = "1"
    params: tuple[object, ...] = ()
    before_today: bool = False


_BY_AGE = (
    _AgeRule(
        "events",
        "at",
        "events_s",
        f"kind NOT IN ({', '.join('?' * len(KEPT_EVENTS))})",
        KEPT_EVENTS,
    ),
    _AgeRule("alert_log", "at", "alert_log_s"),
    _AgeRule("alerts", "updated_at", "alert_log_s", "status = 'resolved'"),
    # today's trips stay: the daily circuit breaker holds the day on them once its P&L is back
    # above the limit, and, finding none, would lift the day's REDUCING as a previous day's
    _AgeRule("risk_trips", "at", "risk_trips_s", before_today=True),
    # the states since trading was last ACTIVE (and that ACTIVE) stay, however old: they say
    # who stopped trading (`states_since_active`), and `kalshi mcp` lifts only a halt all of
    # whose states are the assistant's: a person's kill switch pruned from under its own halt
    # would be the assistant's to lift
    _AgeRule(
        "trading_state_history",
        "at",
        "trading_state_history_s",
        "id < (SELECT COALESCE(MAX(id), 0) FROM trading_state_history WHERE state = 'ACTIVE')",
    ),
    _AgeRule("agent_audit", "at", "agent_audit_s"),
)


class RetentionRepository:
    """`prune`: the policy applied to the state file, a batch at a time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def prune(
        self,
        policy: RetentionPolicy,
        *,
        agent_strategy: str,
        dry_run: bool = False,
        stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], object] = time.sleep,
    ) -> PruneReport:
        """Remove what `policy` lets go, as of the store's clock; on a dry run only count it.
        `agent_strategy`: the config's `agent.strategy`, whose orders of the day stay.
        `stop()` is asked between batches (a loop stopping ends the prune there: what went,
        went whole; the rest waits for the next run)."""
        started = time.monotonic()
        report = PruneReport(dry_run)
        now = self._db.clock.wall()
        orders = _OrderCutoffs.of(policy, now, agent_strategy)
        steps: list[Iterator[dict[str, int]]] = [
            self._orders(orders, policy.batch_rows, dry_run=dry_run),
            self._history(orders, policy, now, dry_run=dry_run),
        ]
        for rule in _BY_AGE:
            age = getattr(policy, rule.age)
            if age is not None:
                steps.append(self._by_age(rule, now, now - age, policy.batch_rows, dry_run=dry_run))
        for batches in steps:
            for removed in batches:
                for table, count in removed.items():
                    report.removed[table] += count
                report.batches += 1
                if stop():
                    report.seconds = time.monotonic() - started
                    return report
                if not dry_run and policy.pause_s:
                    sleep(policy.pause_s)
        report.seconds = time.monotonic() - started
        return report

    # ---------------------------------------------------------------------------- the rules

    def _orders(
        self, cutoffs: _OrderCutoffs, batch: int, *, dry_run: bool
    ) -> Iterator[dict[str, int]]:
        """Finished orders past their age whose fills the file holds, each with its history."""
        if not cutoffs.any:
            return
        for rows in self._batches(
            _ORDER_CANDIDATES, lambda after: (after, *cutoffs.params, batch), batch
        ):
            keys = [
                (str(coid),)
                for _, coid, order_id, done in rows
                if self._fills_cover(order_id, done)
            ]
            gone, history = len(keys), 0
            if dry_run:
                for key in keys:
                    [(n,)] = self._db.rows(
                        "SELECT COUNT(*) FROM order_history WHERE client_order_id = ?", key
                    )
                    history += int(n)
            elif keys:
                rule = cutoffs.params
                with self._db.transaction():
                    history = self._db.conn.executemany(
                        _DELETE_ORDER_HISTORY, [(k, k, *rule) for (k,) in keys]
                    ).rowcount
                    gone = self._db.conn.executemany(
                        _DELETE_ORDER, [(k, *rule) for (k,) in keys]
                    ).rowcount
            yield {"orders": gone, "order_history": history}

    def _fills_cover(self, order_id: str | None, filled: str) -> bool:
        """The file holds fills for every contract the order's row says filled."""
        wanted = Decimal(filled)
        if wanted == 0:
            return True
        if order_id is None:
            return False
        counts = self._db.rows("SELECT count FROM fills WHERE order_id = ?", (order_id,))
        return sum((Decimal(c) for (c,) in counts), Decimal(0)) >= wanted

    def _history(
        self, orders: _OrderCutoffs, policy: RetentionPolicy, now: float, *, dry_run: bool
    ) -> Iterator[dict[str, int]]:
        """The history rows of finished orders that stay, unchanged for `order_history_s`
        (those of an order that goes are counted with it)."""
        if policy.order_history_s is None:
            return
        cutoff = now - policy.order_history_s
        batch = policy.batch_rows
        for rows in self._batches(
            _HISTORY_CANDIDATES, lambda after: (*orders.params, cutoff, after, cutoff, batch), batch
        ):
            ids = [
                (int(i),)
                for i, order_id, filled, goes in rows
                if not (goes and self._fills_cover(order_id, filled))
            ]
            gone = len(ids)
            if ids and not dry_run:
                with self._db.transaction():
                    gone = self._db.conn.executemany(
                        _DELETE_HISTORY, [(cutoff, i) for (i,) in ids]
                    ).rowcount
            yield {"order_history": gone}

    def _by_age(
        self, rule: _AgeRule, now: float, cutoff: float, batch: int, *, dry_run: bool
    ) -> Iterator[dict[str, int]]:
        """The rows `rule` names older than `cutoff`, by rowid."""
        condition, params = rule.condition, rule.params
        if rule.before_today:
            condition, params = f"({condition}) AND day < ?", (*params, utc_day(now))
        select = (
            f"SELECT rowid FROM {rule.table} WHERE rowid > ? AND {rule.column} < ? "  # noqa: S608
            f"AND {condition} ORDER BY rowid LIMIT ?"
        )
        delete = f"DELETE FROM {rule.table} WHERE rowid = ?"  # noqa: S608
        for rows in self._batches(select, lambda after: (after, cutoff, *params, batch), batch):
            if not dry_run:
                with self._db.transaction():
                    self._db.conn.executemany(delete, [(int(i),) for (i,) in rows])
            yield {rule.table: len(rows)}

    def _batches(
        self, select: str, params: Callable[[int], tuple[object, ...]], batch: int
    ) -> Iterator[list[Any]]:
        """The rows `select` picks, at most `batch` at a time in the order of the key each
        starts with (a rowid or id): `params(after)` binds it to the rows past the last key
        read. The next batch is read only once the caller has dealt with this one."""
        after = 0
        while True:
            rows = self._db.rows(select, params(after))
            if not rows:
                return
            yield rows
            if len(rows) < batch:
                return
            after = int(rows[-1][0])
