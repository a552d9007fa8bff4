"""Market data commands: `markets`, `market`, `orderbook`.

Each body is parse -> one client call -> render, into the JSON shapes of docs/output.md. The models
are imported inside the functions and named in quotes in hints: the hints are evaluated with the
module (no `from __future__ import annotations`), since Typer would compile a text hint twice per
command (docs/benchmarks.md, "Cold starts").
"""

from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    MarketStatus,
    TickerArg,
    TickersOpt,
    event_option,
    number_option,
    series_option,
)
from kalshi_cli.cli._output import Column, Output, TableFormat
from kalshi_cli.vocabulary.names import names_in
from kalshi_cli.vocabulary.request_ranges import ORDERBOOK_DEPTH_MAX

if TYPE_CHECKING:
    from kalshi_cli.client.markets import MarketsApi
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Level, Market, Orderbook


PAGE_MAX = 1000  # the exchange's largest page of /markets


class MarketSort(StrEnum):
    VOLUME = "volume"
    CLOSE = "close"
    TICKER = "ticker"


# --------------------------------------------------------------------------------------------
# kalshi markets


def markets_command(
    *,
    status: Annotated[
        MarketStatus | None, typer.Option(help="Only markets in this state.", case_sensitive=False)
    ] = None,
    series: Annotated[str | None, series_option("Series ticker, e.g. KXBTCD.")] = None,
    event: Annotated[str | None, event_option("Event ticker.")] = None,
    tickers: TickersOpt = None,
    min_volume: Annotated[
        int | None,
        typer.Option("--min-volume", min=0, help="Only markets with at least this volume."),
    ] = None,
    sort: Annotated[
        MarketSort | None,
        typer.Option(
            help="Sort by volume (highest first), close time (soonest first) or ticker.",
            case_sensitive=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            help="Markets to fetch (one page: default 100, at most 1000). With --all: at most "
            "this many shown.",
        ),
    ] = None,
    fetch_all: Annotated[
        bool, typer.Option("--all", help="Page through every matching market (progress on stderr).")
    ] = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """List markets, filtered and sorted.

    Without --all, one page of --limit markets is fetched and then filtered by --min-volume and
    sorted; with --all every page is fetched first.

    Example: kalshi markets --status open --series KXBTCD --sort volume --limit 20
    """
    if not fetch_all and limit is not None and limit > PAGE_MAX:
        raise typer.BadParameter(
            f"at most {PAGE_MAX} without --all (one page)", param_hint="--limit"
        )
    filters = _market_filters(status, series, event, tickers)
    app, out = begin(env, as_json=as_json, fmt=fmt)
    found, cursor = _fetch(app.client().markets, out, filters, limit=limit, fetch_all=fetch_all)
    rows = select_markets(
        found,
        min_volume=None if min_volume is None else Decimal(min_volume),
        sort=sort,
        limit=limit if fetch_all else None,
    )
    render_markets(out, rows)
    _say_what_is_missing(out, rows, cursor, limit)


def _fetch(
    markets: "MarketsApi",
    out: Output,
    filters: dict[str, Any],
    *,
    limit: int | None,
    fetch_all: bool,
) -> "tuple[list[Market], str]":
    """Every matching market (with --all, progress on stderr), or one page and its cursor."""
    if not fetch_all:
        page, cursor = markets.get_markets_page(limit=limit or 100, **filters)
        return list(page), cursor
    with out.progress("fetching markets") as progress:
        return list(markets.iter_markets(on_page=progress, **filters)), ""


def _say_what_is_missing(out: Output, rows: "list[Market]", cursor: str, limit: int | None) -> None:
    """On stderr, so pipes and --json stay as they are: more markets match than one page
    (an empty listing says "nothing matched" itself: `Output.table`)."""
    if cursor:
        out.note(
            f"more markets match: this is one page of {limit or 100}; --all pages through "
            "every one (--limit caps what is shown)"
        )


def _market_filters(
    status: MarketStatus | None, series: str | None, event: str | None, tickers: str | None
) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if status is not None:
        filters["status"] = status.value
    if series:
        filters["series_ticker"] = series
    if event:
        filters["event_ticker"] = event
    if tickers:
        filters["tickers"] = names_in(tickers)
    return filters


def select_markets(
    markets: "Iterable[Market]",
    *,
    min_volume: Decimal | None = None,
    sort: MarketSort | None = None,
    limit: int | None = None,
) -> "list[Market]":
    """Client-side filtering and ordering; the exchange has no volume filter or sort."""
    chosen = [m for m in markets if min_volume is None or m.volume >= min_volume]
    if sort is MarketSort.VOLUME:
        chosen.sort(key=lambda m: (-m.volume, m.ticker))
    elif sort is MarketSort.CLOSE:
        # RFC 3339 UTC strings sort chronologically; a market without a close time goes last.
        chosen.sort(key=lambda m: (m.close_time == "", m.close_time, m.ticker))
    elif sort is MarketSort.TICKER:
        chosen.sort(key=lambda m: m.ticker)
    return chosen[:limit] if limit is not None else chosen


MARKET_COLUMNS = (
    Column("ticker", "ticker", identifier=True),
    Column("shard", "shard", numeric=True),
    Column("status", "status"),
    Column("yes_bid", "yes bid", numeric=True, money=True),
    Column("yes_ask", "yes ask", numeric=True, money=True),
    Column("last", "last", numeric=True, money=True),
    Column("volume", "volume", numeric=True),
    Column("close_time", "closes"),
    Column("title", "title"),
)


STRIKE_COLUMN = Column("strike", "strike")


def strike_text(m: "Market") -> str:
    """What a market pays on, from its strike fields: `> 97000`, `96000-96500`, or the type."""
    kind = str(m.raw.get("strike_type") or "")
    floor, cap = _strike(m.raw.get("floor_strike")), _strike(m.raw.get("cap_strike"))
    shown = {
        "greater": f"> {floor}",
        "greater_or_equal": f">= {floor}",
        "less": f"< {cap}",
        "less_or_equal": f"<= {cap}",
        "between": f"{floor}-{cap}",
    }
    return shown.get(kind, kind) if kind else ""


def _strike(value: object) -> str:
    """A strike as the wire's JSON number has it, without a float's trailing `.0`."""
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except ArithmeticError:
        return str(value)


def render_markets(out: Output, markets: "list[Market]", *, strikes: bool = False) -> None:
    """The markets as a table; `strikes`: with a column of what each pays on (an event's)."""
    from kalshi_cli.vocabulary.units import fmt_count

    rows = [
        {
            "ticker": m.ticker,
            "shard": _shard(m),
            "status": m.status,
            "yes_bid": _quote(m.yes_bid),
            "yes_ask": _quote(m.yes_ask),
            "last": _quote(m.last_price),
            "tick": _tick(m),
            "volume": fmt_count(m.volume),
            "close_time": m.close_time,
            "title": m.title,
            "strike": strike_text(m),
        }
        for m in markets
    ]
    from kalshi_cli.vocabulary.documents import market_summary_json

    document = {"markets": [market_summary_json(m) for m in markets], "count": len(markets)}
    columns = (
        (*MARKET_COLUMNS[:-1], STRIKE_COLUMN, MARKET_COLUMNS[-1]) if strikes else MARKET_COLUMNS
    )
    out.table(columns, rows, document=document)


# --------------------------------------------------------------------------------------------
# kalshi market TICKER


def market_command(
    ticker: TickerArg,
    *,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show one market: prices, tick structure, rules, times.

    The times are when the market opens, closes and expires (RFC 3339, UTC).

    Example: kalshi market KXBTCD-SIM-T97000 --json
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    market = app.client().markets.get_market(ticker)
    render_market(out, market)


def _shard(m: "Market") -> str:
    """The exchange shard the market lives on, or `-` when the answer did not say."""
    return "-" if m.exchange_index is None else str(m.exchange_index)


def _tick(m: "Market") -> str:
    """The market's finest tick: its prices are shown to that many digits."""
    from kalshi_cli.vocabulary.models import min_tick

    return f"{min_tick(m.price_ranges)}" if m.price_ranges else ""


def _quote(price: Decimal) -> str:
    """A market's bid, ask or last price for people (the exact decimal, as CSV keeps it), or
    `-` when there is none: the exchange's 0.0000 bid and 1.0000 ask of an empty side, and the
    0.0000 last price of a market never traded, read as prices (`models.quoted`). `--json`
    keeps the exchange's figures: its fields are strings."""
    from kalshi_cli.vocabulary.models import quoted
    from kalshi_cli.vocabulary.units import fmt_dollars

    return "-" if quoted(price) is None else fmt_dollars(price)


def render_market(out: Output, m: "Market") -> None:
    from kalshi_cli.vocabulary import documents
    from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars

    ranges = ", ".join(
        f"{fmt_dollars(r.start)}-{fmt_dollars(r.end)} step {fmt_dollars(r.step)}"
        for r in m.price_ranges
    )
    fields = [
        ("ticker", m.ticker),
        ("title", m.title),
        ("subtitle", m.yes_sub_title),
        ("event", m.event_ticker),
        ("shard", _shard(m)),
        ("status", m.status),
        ("result", m.result),
        ("yes bid / ask", f"{_quote(m.yes_bid)} / {_quote(m.yes_ask)}"),
        ("no bid / ask", f"{_quote(m.no_bid)} / {_quote(m.no_ask)}"),
        ("last price", _quote(m.last_price)),
        ("volume (24h)", f"{fmt_count(m.volume)} ({fmt_count(m.volume_24h)})"),
        ("open interest", fmt_count(m.open_interest)),
        ("tick structure", m.price_level_structure),
        ("price ranges", ranges),
        ("opens", m.open_time),
        ("closes", m.close_time),
        ("expires", m.latest_expiration_time),
        ("rules", m.rules_primary),
        ("more rules", m.rules_secondary),
    ]
    exact: dict[str, list[tuple[str, str | Decimal]]] = {
        "yes bid / ask": [("yes bid", _quote(m.yes_bid)), ("yes ask", _quote(m.yes_ask))],
        "no bid / ask": [("no bid", _quote(m.no_bid)), ("no ask", _quote(m.no_ask))],
        "volume (24h)": [("volume", m.volume), ("volume 24h", m.volume_24h)],
    }
    csv_fields = [
        (name, value if isinstance(value, str) else "" if value is None else f"{value:f}")
        for k, v in fields
        if v
        for name, value in exact.get(k, [(k, v)])
    ]
    out.record(
        [(k, v) for k, v in fields if v],
        document=documents.market_json(m),
        title=m.ticker,
        csv_fields=csv_fields,
    )


# --------------------------------------------------------------------------------------------
# kalshi orderbook TICKER


def orderbook_command(
    ticker: TickerArg,
    *,
    depth: Annotated[
        int,
        typer.Option(
            "--depth", "-d", min=0, max=ORDERBOOK_DEPTH_MAX, help="Levels per side (0 = all)."
        ),
    ] = 10,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[
        float,
        number_option("--interval", "Seconds between refreshes with --watch.", min=0.2),
    ] = 2.0,
    count: Annotated[
        int | None,
        typer.Option("--count", min=1, help="With --watch: stop after this many refreshes."),
    ] = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show the order book: bids, implied asks, spread, mid.

    YES and NO bids side by side, with the best bid and ask. Kalshi books hold bids only; a NO
    bid at p is a YES ask at 1 - p. With --watch the book is redrawn every --interval seconds
    (one JSON document per line with --json) until Ctrl-C.

    Example: kalshi orderbook KXBTCD-SIM-T97000 --depth 5 --watch
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client()
    if not watch:
        render_orderbook(out, client.markets.get_orderbook(ticker, depth=depth))
        return

    def refresh() -> None:
        book = client.markets.get_orderbook(ticker, depth=depth)
        out.clear()
        render_orderbook(out, book, compact=True)

    from kalshi_cli.vocabulary.clock import SystemClock

    try:
        watch_loop(refresh, interval=interval, count=count, clock=SystemClock())
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch is meant to end


def watch_loop(
    step: Callable[[], None], *, interval: float, count: int | None, clock: "Clock"
) -> int:
    """Run `step` every `interval` seconds, `count` times (forever when None); returns the
    number of steps run. The clock is injected so tests run it without waiting."""
    done = 0
    while count is None or done < count:
        step()
        done += 1
        if count is None or done < count:
            clock.sleep(interval)
    return done


BOOK_COLUMNS = (
    Column("yes_bid", "YES bid", numeric=True),
    Column("yes_size", "size", numeric=True, members=(Column("yes_size", "YES bid size"),)),
    Column("no_ask", "NO ask", numeric=True),
    Column("no_bid", "NO bid", numeric=True),
    Column("no_size", "size", numeric=True, members=(Column("no_size", "NO bid size"),)),
    Column("yes_ask", "YES ask", numeric=True),
)


def render_orderbook(out: Output, book: "Orderbook", *, compact: bool = False) -> None:
    from kalshi_cli.vocabulary.documents import orderbook_json
    from kalshi_cli.vocabulary.units import ONE, fmt_count, fmt_dollars

    document = orderbook_json(book)
    if out.as_json:
        out.json(document, compact=compact)
        return
    rows = []
    for i in range(max(len(book.yes_bids), len(book.no_bids))):
        yes = book.yes_bids[i] if i < len(book.yes_bids) else None
        no = book.no_bids[i] if i < len(book.no_bids) else None
        rows.append(
            {
                "yes_bid": fmt_dollars(yes[0]) if yes else "",
                "yes_size": fmt_count(yes[1]) if yes else "",
                "no_ask": fmt_dollars(ONE - yes[0]) if yes else "",
                "no_bid": fmt_dollars(no[0]) if no else "",
                "no_size": fmt_count(no[1]) if no else "",
                "yes_ask": fmt_dollars(ONE - no[0]) if no else "",
            }
        )
    out.table(BOOK_COLUMNS, rows, document=document, title=book.ticker)
    if out.format is not TableFormat.CSV:
        out.line(book_summary(book))


def book_summary(book: "Orderbook") -> str:
    from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars

    def show(level: "Level | None") -> str:
        return "none" if level is None else f"{fmt_dollars(level[0])} x {fmt_count(level[1])}"

    spread = "n/a" if book.spread is None else fmt_dollars(book.spread)
    mid = "n/a" if book.mid is None else fmt_dollars(book.mid)
    return (
        f"{book.ticker}: YES bid {show(book.best_yes_bid)}, YES ask {show(book.yes_ask)}, "
        f"spread {spread}, mid {mid}"
    )
