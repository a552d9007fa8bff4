"""The `kalshi pnl` report: realized P&L from the state file by market, day or strategy, and, with
the exchange, unrealized P&L and a cross-check. `pnl_report()` is the command's one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.services.pnl import Bucket, PnlSummary
    from kalshi_cli.services.positions import CaughtUp, PositionsView
    from kalshi_cli.store import Store

GROUPINGS = ("market", "day", "strategy")

# What the exchange side needs, made only when it is asked for: the authenticated client and the
# per-market position limit (for the limit column of the positions it marks).
ExchangeAccess = Callable[[], "tuple[KalshiClient, Decimal | None]"]


@dataclass(frozen=True)
class PnlReport:
    summary: PnlSummary
    rows: list[dict[str, Any]]  # one per group, oldest key first, values as in `document`
    view: PositionsView | None  # None with no exchange (`--local`)
    document: dict[str, Any]  # the `--json` document
    state: CaughtUp | None = None  # the catch-up before it (what to advise on a difference)

    @property
    def unrealized(self) -> Decimal | None:
        return None if self.view is None else self.view.unrealized


def pnl_report(
    state: Path,
    *,
    since: str | None,
    since_ts: float | None,
    by: str,
    exchange: ExchangeAccess | None,
    subaccount: int | None = None,
) -> PnlReport:
    """Realized P&L from the state file at `state` since `since_ts` (`since` is how the person
    wrote it), grouped `by` one of GROUPINGS; with `exchange`, marked to market and compared.

    With `subaccount`, that subaccount's book only, marked and compared on the exchange's
    positions of that subaccount; without, the account's: every subaccount's book added, and
    each subaccount's positions marked and compared with its own book."""
    from kalshi_cli.services.owner_parts import Owners, realized_by_owner
    from kalshi_cli.services.pnl import FIXED, summarize_rows, summarize_store
    from kalshi_cli.store import Store
    from kalshi_cli.store.paper import is_paper_state
    from kalshi_cli.vocabulary.units import fmt_exact_dollars

    if by not in GROUPINGS:
        raise ValueError(f"P&L is grouped by one of {GROUPINGS}, not {by!r}")
    client, limit = exchange() if exchange is not None else (None, None)
    # with the exchange, what the state file lacks is brought in first; --local reads it as is
    # (and leaves out `positions`, with the order and reconcile modules it imports)
    caught_up: CaughtUp | None = None
    if client is None:
        store = Store.open_readonly(state)
    else:
        from kalshi_cli.services.positions import open_caught_up
        from kalshi_cli.vocabulary.clock import SystemClock

        caught_up = open_caught_up(state, client, now=SystemClock().wall())
        store = caught_up.store
    # a paper session's: its own fills alone, marked at the book, never compared with the
    # account (open_caught_up brings nothing into it)
    paper = is_paper_state(state)
    view: PositionsView | None = None
    # by strategy: what each strategy's own part of the positions realized (owner_parts.py),
    # the figure its daily loss limit reads
    rows: list[dict[str, Any]] = []
    try:
        if store is None:
            summary = summarize_rows([], [], since=since_ts)
        else:
            # the owners' parts are booked in the summary's own pass, which reads the whole
            # history with or without `since`; in Decimal (a value finer than its units), each
            # market from its last flat moment before `since`
            parts = partial(Owners, FIXED, by_day=True) if by == "strategy" else None
            summary = summarize_store(store, since=since_ts, subaccount=subaccount, parts=parts)
            if by == "strategy":
                owned = summary.by_owner
                if owned is None:
                    owned = realized_by_owner(store, since_ts, subaccount)
                rows = [{by: k, "realized": fmt_exact_dollars(v)} for k, v in owned.items()]
        if client is not None:
            view = _marked(client, store, summary, subaccount, limit, paper=paper)
    finally:
        if store is not None:
            store.close()
    if by != "strategy":
        rows = bucket_rows(summary.groups[by], by)
    unrealized = None if view is None else view.unrealized
    document: dict[str, Any] = {
        **summary.to_json(),
        "since": since,
        "by": by,
        "measure": "own_part" if by == "strategy" else "account",
        "rows": rows,
        "unrealized_pnl": None if unrealized is None else fmt_exact_dollars(unrealized),
        "total_pnl": None
        if unrealized is None
        else fmt_exact_dollars(summary.realized + unrealized),
        "cross_checked": view is not None and not paper,
        "paper": paper,
        "differences": [] if view is None else [d.to_json() for d in view.differences],
    }
    return PnlReport(summary, rows, view, document, caught_up)


def _marked(
    client: KalshiClient,
    store: Store | None,
    summary: PnlSummary,
    subaccount: int | None,
    limit: Decimal | None,
    *,
    paper: bool = False,
) -> PositionsView:
    """The positions marked to market: of `subaccount` (the client's, when it acts on one),
    else of every subaccount the account has, each against its own book, in one view. Each
    is read through a handle on its subaccount (`client.on_subaccount`), never by re-scoping
    `client`, which stays on its subaccount throughout."""
    from kalshi_cli.services.positions import PositionsView, mark_to_market

    number = subaccount if subaccount is not None else client.subaccount
    if paper:
        # the paper session's own books alone: the account's subaccounts are not its
        view = PositionsView(paper=True)
        for n in [number] if number is not None else sorted(summary.books) or [0]:
            one = mark_to_market(client, store, engine=summary.book(n), limit=limit, paper=True)
            view.rows += one.rows
        return view
    if number is not None:
        return mark_to_market(
            client.on_subaccount(number),
            store,
            engine=summary.book(number),
            limit=limit,
            include_flat=True,
        )
    numbers = sorted(
        set(summary.books) | {b.subaccount for b in client.subaccounts.subaccount_balances()}
    )
    view = PositionsView()
    for n in numbers or [0]:
        # positions answer for one subaccount (0 when none is named)
        one = mark_to_market(
            client.on_subaccount(n), store, engine=summary.book(n), limit=limit, include_flat=True
        )
        view.rows += one.rows
        view.flat_differences += one.flat_differences
    return view


def bucket_rows(buckets: dict[str, Bucket], by: str) -> list[dict[str, Any]]:
    """One row per group in key order; by day, with the running total."""
    from kalshi_cli.vocabulary.units import fmt_exact_dollars

    rows = []
    cumulative = Decimal(0)
    for key in sorted(buckets):
        bucket = buckets[key]
        cumulative += bucket.net
        row = {by: key, **bucket.to_json()}
        if by == "day":
            row["cumulative"] = fmt_exact_dollars(cumulative)
        rows.append(row)
    return rows
