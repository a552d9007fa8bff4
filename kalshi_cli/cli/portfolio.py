"""Portfolio commands: `balance`, `positions`, `fills`, `settlements`.

`balance`, `fills` and `settlements` show the exchange's view; `positions` adds the state file's
costs and the books' marks (`kalshi_cli.services.positions`). All need credentials. The JSON shapes
are in docs/output.md; the models are imported inside the functions that use them.
"""

from __future__ import annotations

import enum
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    LimitOpt,
    MarketOpt,
    SubaccountOpt,
    event_option,
    parse_since,
    time_option,
)
from kalshi_cli.cli._output import Column

if TYPE_CHECKING:
    from kalshi_cli.cli._output import Output
    from kalshi_cli.services.positions import CaughtUp, EventRow, PositionsView
    from kalshi_cli.services.positions import PositionRow as MarkedPosition
    from kalshi_cli.vocabulary.models import Settlement


# --------------------------------------------------------------------------------------------


def balance_command(
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show the cash balance on each exchange shard, its total and the portfolio value.

    Each shard (matching engine) holds its own money, and an order is paid from the shard its
    market lives on (docs/shards.md); `kalshi shard move` moves money between them.

    Example: kalshi balance --json
    """
    from kalshi_cli.vocabulary.documents import balance_json
    from kalshi_cli.vocabulary.units import fmt_money, money_places

    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    balance = app.client(auth=True).portfolio.get_balance()
    document = balance_json(balance)
    shards = balance.breakdown or ()
    places = money_places([balance.balance, balance.portfolio_value, *(b.balance for b in shards)])
    per_shard = [(f"shard {b.exchange_index}", fmt_money(b.balance, places=places)) for b in shards]
    total = "balance, all shards" if balance.breakdown is not None else "balance"
    out.record(
        [
            *per_shard,
            (total, fmt_money(balance.balance, places=places)),
            ("portfolio value", fmt_money(balance.portfolio_value, "unknown", places)),
        ],
        document=document,
        csv_fields=[
            *(
                (f"shard {s['exchange_index']}", s["balance_dollars"])
                for s in document["shards"] or ()
            ),
            (total, document["balance"]),
            ("portfolio value", document["portfolio_value"]),
        ],
    )


# --------------------------------------------------------------------------------------------


def positions_command(
    *,
    ticker: MarketOpt = None,
    event: Annotated[str | None, event_option("Only this event.")] = None,
    by: Annotated[
        ByOpt | None,
        typer.Option(
            "--by",
            help="event: each event's markets together, their worst and best case at "
            "settlement beside the exchange's event_exposure_dollars.",
            case_sensitive=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """List open positions, marked to market.

    Per market: the side held, contracts, average entry and cost (from the state file's fills,
    average cost), the mark (the best bid the contracts could be sold into, and the mid),
    unrealized and realized P&L, fees, exposure (position plus resting orders) against
    risk.max_position_per_market, and the position's use of it (what `kalshi check
    positions` compares). Where the state file and the exchange disagree the row is flagged.
    Fills and settlements the state file lacks are brought in first.

    Example: kalshi positions --format csv > positions.csv
    """
    from kalshi_cli.services.positions import event_rows, mark_to_market, open_caught_up
    from kalshi_cli.services.pretrade.settings import load_risk_limits
    from kalshi_cli.store.paper import paper_note
    from kalshi_cli.vocabulary.clock import SystemClock

    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    settings = app.settings()
    client = app.client(auth=True)
    if by is not None:
        rows = event_rows(client, event_ticker=event)
        document = {"events": [r.to_json() for r in rows], "count": len(rows)}
        out.table(EVENT_COLUMNS, [event_row(r) for r in rows], document=document)
        return
    limit = load_risk_limits(settings.config_path).max_position_per_market
    state = open_caught_up(settings.state, client, now=SystemClock().wall())
    with state.store or nullcontext():
        view = mark_to_market(
            client, state.store, ticker=ticker, event_ticker=event, limit=limit, paper=state.paper
        )
    out.table(POSITION_COLUMNS, [position_row(r) for r in view.rows], document=view.to_json())
    if state.paper:
        out.warn(paper_note(settings.state))
    warn_of_differences(out, view, state)


def warn_of_differences(out: Output, view: PositionsView, state: CaughtUp | None) -> None:
    """Each figure the state file and the exchange disagree on, then what could close the gap
    (`CaughtUp.advice`): `positions` and `pnl` cross-check the same way."""
    for d in view.differences:
        out.warn(f"{d.ticker}: {d.what} is {d.ours} here but {d.exchange} on the exchange")
    if view.differences and state is not None:
        out.warn(state.advice())


class ByOpt(enum.StrEnum):
    event = "event"


EVENT_COLUMNS = (
    Column("event_ticker", "event", identifier=True),
    Column("collateral_return_type", "kind"),
    Column("markets", "markets held"),
    Column("cost", "cost", numeric=True, money=True),
    Column("worst_case", "worst case", numeric=True),
    Column("best_case", "best case", numeric=True),
    Column("event_exposure", "exchange's exposure", numeric=True, money=True),
)


def event_row(row: EventRow) -> dict[str, str]:
    """The money as every command shows it (`units.fmt_money`: `-$0.30`), the outcome named."""
    from kalshi_cli.vocabulary.documents import money_text
    from kalshi_cli.vocabulary.units import fmt_count, fmt_money

    worst, best = row.outcomes.worst, row.outcomes.best
    exposure = row.exchange_exposure
    return {
        "event_ticker": row.event_ticker,
        "collateral_return_type": row.collateral_return_type or row.outcomes.rule,
        "markets": ", ".join(f"{p.ticker} {fmt_count(p.position)}" for p in row.positions),
        "cost": money_text(row.cost),
        "worst_case": f"{fmt_money(worst.pnl)} ({worst.name})",
        "best_case": f"{fmt_money(best.pnl)} ({best.name})",
        "event_exposure": "-" if exposure is None else money_text(exposure),
    }


POSITION_COLUMNS = (
    Column("ticker", "ticker", identifier=True),
    Column("shard", "shard", numeric=True),
    Column("side", "side"),
    Column("contracts", "contracts", numeric=True),
    Column("average_entry", "avg entry", numeric=True, money=True),
    Column("cost", "cost", numeric=True, money=True),
    Column(
        "mark",
        "bid / mid",
        numeric=True,
        money=True,
        members=(Column("mark_bid", "mark bid"), Column("mark_mid", "mark mid")),
    ),
    Column("unrealized", "unrealized", numeric=True, money=True),
    Column("realized", "realized", numeric=True, money=True),
    Column("fees", "fees", numeric=True, money=True),
    Column(
        "exposure",
        "exposure / limit",
        numeric=True,
        members=(
            Column("exposure_count", "exposure"),
            Column("limit", "limit"),
            Column("over_limit", "over limit"),
            Column("differs", "differs from exchange"),
        ),
    ),
    Column(
        "risk",
        "use of risk limit",
        numeric=True,
        members=(Column("risk_use", "risk use"), Column("risk_limit", "risk limit")),
    ),
)


def position_row(row: MarkedPosition) -> dict[str, str]:
    from kalshi_cli.vocabulary.documents import money_text
    from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars

    limit = "-" if row.limit is None else fmt_count(row.limit)
    flags = (" OVER" if row.over_limit else "") + (" *" if row.differences else "")
    return {
        "ticker": row.ticker,
        "shard": "-" if row.exchange_index is None else str(row.exchange_index),
        "side": row.held_side.value if row.held_side else "",
        "contracts": fmt_count(row.contracts),
        "average_entry": "-" if row.average_entry is None else fmt_dollars(row.average_entry),
        "cost": money_text(row.cost),
        "unrealized": "-" if row.unrealized is None else money_text(row.unrealized),
        "realized": money_text(row.realized),
        "fees": money_text(row.fees),
        "exposure": f"{fmt_count(row.exposure)} / {limit}{flags}",
        "risk": "-"
        if row.risk_use is None
        else f"{row.risk_use * 100:.0f}% of {limit}" + (" OVER" if row.risk_use > 1 else ""),
        # one exact value each, for CSV
        "risk_use": "" if row.risk_use is None else f"{row.risk_use:.4f}",
        "risk_limit": "" if row.limit is None else fmt_count(row.limit),
        "mark_bid": "" if row.mark_bid is None else f"{row.mark_bid:f}",
        "mark_mid": "" if row.mark_mid is None else f"{row.mark_mid:f}",
        "exposure_count": fmt_count(row.exposure),
        "limit": "" if row.limit is None else fmt_count(row.limit),
        "over_limit": "true" if row.over_limit else "false",
        "differs": "true" if row.differences else "false",
    }


# --------------------------------------------------------------------------------------------


def fills_command(
    *,
    ticker: MarketOpt = None,
    since: Annotated[
        str | None,
        time_option(
            "--since",
            "Only fills at or after this date or time (today, 2026-01-31, 2026-01-31T14:00Z).",
        ),
    ] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """List your fills, newest first.

    Fills older than the exchange's historical cutoff are read from its historical tier.

    Example: kalshi fills --ticker KXBTCD-SIM-T97000 --since 2026-01-01
    """
    from kalshi_cli.client.historical import fills_with_history
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.documents import fill_intent, fill_json

    min_ts = None if since is None else parse_since(since)
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)

    client = app.client(auth=True)
    fills = list(
        fills_with_history(
            client.portfolio, client.historical, ticker=ticker, min_ts=min_ts, limit=limit
        )
    )
    with Store.open_readonly(app.settings().state) or nullcontext() as store:
        docs = [fill_json(f, fill_intent(f, store)) for f in fills]
    out.table(
        FILL_COLUMNS, [fill_row(d) for d in docs], document={"fills": docs, "count": len(docs)}
    )


# One row per fill in the trader's terms: what the trader did (`sell no`), at that side's price,
# and the amount that changed hands; the YES-book terms and the ids follow so a spreadsheet can
# join on them.
FILL_COLUMNS = (
    Column("time", "time"),
    Column("ticker", "ticker", identifier=True),
    Column("action", "action"),
    Column("side", "side"),
    Column("price", "price", numeric=True, money=True),
    Column("count", "count", numeric=True),
    Column("amount", "amount", numeric=True, money=True),
    Column("fee", "fee", numeric=True, money=True),
    Column("role", "role"),
    Column("book_side", "book side"),
    Column("yes_price", "YES price", numeric=True, money=True),
    Column("order_id", "order id", identifier=True),
    Column("fill_id", "fill id", identifier=True),
    Column("strategy", "strategy"),
)


def fill_row(doc: dict[str, Any]) -> dict[str, str]:
    return {
        "time": doc["created_time"] or "",
        **{k: doc[k] for k in ("ticker", "action", "side", "count", "book_side")},
        **{k: doc[k] for k in ("price", "amount", "fee", "yes_price")},
        "role": "taker" if doc["is_taker"] else "maker",
        **{k: doc[k] for k in ("order_id", "fill_id")},
        "strategy": doc["strategy"] or "",
    }


# --------------------------------------------------------------------------------------------


def settlements_command(
    *,
    ticker: MarketOpt = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """List settled markets you held, with what each paid.

    Example: kalshi settlements --limit 20 --format markdown
    """
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    settlements = list(app.client(auth=True).portfolio.iter_settlements(ticker=ticker, limit=limit))
    rows = [settlement_json(s) for s in settlements]
    out.table(SETTLEMENT_COLUMNS, rows, document={"settlements": rows, "count": len(rows)})


# a row is its document (`settlement_json`): a table reads only its columns' keys
SETTLEMENT_COLUMNS = (
    Column("settled_time", "settled"),
    Column("ticker", "ticker", identifier=True),
    Column("market_result", "result"),
    Column("yes_count", "YES", numeric=True),
    Column("no_count", "NO", numeric=True),
    Column("revenue", "revenue", numeric=True, money=True),
    Column("fee", "fee", numeric=True, money=True),
)


def settlement_json(s: Settlement) -> dict[str, Any]:
    from kalshi_cli.vocabulary.documents import money_text
    from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars

    return {
        "ticker": s.ticker,
        "event_ticker": s.event_ticker,
        "market_result": s.market_result,
        "yes_count": fmt_count(s.yes_count),
        "yes_total_cost": fmt_dollars(s.yes_total_cost),
        "no_count": fmt_count(s.no_count),
        "no_total_cost": fmt_dollars(s.no_total_cost),
        "revenue": money_text(s.revenue),
        "fee": fmt_dollars(s.fee),
        "settled_time": s.settled_time or None,
    }
