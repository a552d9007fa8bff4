"""Browsing market data: `events`, `event`, `series`, `trades`, `candles`, `search`.

Each body is parse -> one client call -> render, into the shapes of docs/output.md. Listings that
page show progress on stderr. Kalshi's API has no text search, so `search` matches the series and
open events it lists.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    LimitOpt,
    MarketStatus,
    Period,
    PeriodOpt,
    TickerArg,
    identifier_argument,
    narrowing,
    parse_since,
    series_option,
    time_option,
)
from kalshi_cli.cli._output import Column, Output
from kalshi_cli.vocabulary.clock import iso_utc

if TYPE_CHECKING:
    from kalshi_cli.client.markets import Candle, Ohlc
    from kalshi_cli.vocabulary.models import Trade


# how far back `candles` looks without --from: 2 hours of minutes, a week of hours, 90 days
DEFAULT_SPAN_S = {Period.MINUTE: 2 * 3600, Period.HOUR: 7 * 86_400, Period.DAY: 90 * 86_400}
PERIOD_S = {Period.MINUTE: 60, Period.HOUR: 3600, Period.DAY: 86_400}


# --------------------------------------------------------------------------------------------
# kalshi events / event / series


def events_command(
    *,
    series: Annotated[str | None, series_option("Only this series.")] = None,
    status: Annotated[
        MarketStatus | None,
        typer.Option(help="Only events with a market in this state.", case_sensitive=False),
    ] = None,
    with_markets: Annotated[
        bool, typer.Option("--with-markets", help="Include each event's markets.")
    ] = False,
    limit: LimitOpt = 200,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """List events, with their markets on request.

    Pages through the exchange's listing, with progress on stderr.

    Example: kalshi events --series KXBTCD --status open --with-markets
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    with out.progress("fetching events") as progress:
        found = list(
            app.client().markets.iter_events(
                limit=limit,
                status=status.value if status else None,
                series_ticker=series,
                with_nested_markets=with_markets,
                on_page=progress,
            )
        )
    render_events(out, found, with_markets=with_markets)


EVENT_COLUMNS = (
    Column("event_ticker", "event", identifier=True),
    Column("series_ticker", "series", identifier=True),
    Column("markets", "markets", numeric=True),
    Column("title", "title"),
)


def event_json(event: dict[str, Any]) -> dict[str, Any]:
    from kalshi_cli.vocabulary.documents import market_summary_json
    from kalshi_cli.vocabulary.models import Market, decode_answer

    document = {
        "event_ticker": event.get("event_ticker"),
        "series_ticker": event.get("series_ticker"),
        "title": event.get("title"),
        "sub_title": event.get("sub_title"),
        "mutually_exclusive": event.get("mutually_exclusive"),
        # MECNET, DIRECNET or "" (no collateral-return netting in this event)
        "collateral_return_type": event.get("collateral_return_type"),
        "fee_type_override": event.get("fee_type_override"),
        "fee_multiplier_override": event.get("fee_multiplier_override"),
        # the exchange shard every market of the event lives on
        "exchange_index": event.get("exchange_index"),
    }
    if "markets" in event:
        document["markets"] = [
            market_summary_json(decode_answer(Market, m)) for m in event.get("markets") or []
        ]
    return document


def render_events(out: Output, events: list[dict[str, Any]], *, with_markets: bool) -> None:
    rows = [
        {
            "event_ticker": str(e.get("event_ticker", "")),
            "series_ticker": str(e.get("series_ticker", "")),
            "markets": str(len(e.get("markets") or [])) if with_markets else "",
            "title": str(e.get("title", "")),
        }
        for e in events
    ]
    columns = (
        EVENT_COLUMNS if with_markets else tuple(c for c in EVENT_COLUMNS if c.key != "markets")
    )
    document = {"events": [event_json(e) for e in events], "count": len(events)}
    out.table(columns, rows, document=document)


def event_command(
    event_ticker: Annotated[str, identifier_argument("Event ticker, e.g. KXBTCD-25DEC31.")],
    *,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show one event and its markets.

    Example: kalshi event KXBTCD-SIM-H17 --json
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    render_event(out, app.client().markets.get_event(event_ticker))


def render_event(out: Output, body: dict[str, Any]) -> None:
    from kalshi_cli.cli.markets import render_markets
    from kalshi_cli.vocabulary.models import Market, decode_answer

    event = dict(body.get("event") or {})
    event["markets"] = body.get("markets") or []
    if out.as_json:
        out.json(event_json(event))
        return
    override_type = event.get("fee_type_override")
    multiplier = event.get("fee_multiplier_override")
    fields = [
        ("event", str(event.get("event_ticker", ""))),
        ("series", str(event.get("series_ticker", ""))),
        ("title", str(event.get("title", ""))),
        ("subtitle", str(event.get("sub_title", ""))),
        ("mutually exclusive", "yes" if event.get("mutually_exclusive") else "no"),
        ("collateral return", _collateral_return(event.get("collateral_return_type"))),
        ("shard", "-" if event.get("exchange_index") is None else str(event["exchange_index"])),
    ]
    if override_type is not None or multiplier is not None:
        # each half of an override stands alone, a null one the series' (FeeModel.from_api)
        shown_type = "series type" if override_type is None else override_type
        shown_multiplier = "series" if multiplier is None else multiplier
        fields.append(("fee override", f"{shown_type} x {shown_multiplier}"))
    out.record([(k, v) for k, v in fields if v], document=None)
    out.line()
    render_markets(out, [decode_answer(Market, m) for m in event["markets"]], strikes=True)


def _collateral_return(kind: object) -> str:
    """The event's `collateral_return_type` as a trader reads it."""
    if kind is None:
        return "not given"
    return f"{kind} (netted with netting on)" if kind else "none (never netted)"


def series_command(
    *,
    category: Annotated[
        str | None, typer.Option("--category", parser=narrowing, help="Only this category.")
    ] = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """List series, with their fee type and multiplier.

    Example: kalshi series --category Crypto
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    render_series(out, app.client().markets.list_series(category=category))


SERIES_COLUMNS = (
    Column("ticker", "series", identifier=True),
    Column("category", "category"),
    Column("frequency", "frequency"),
    Column("fees", "fees"),
    Column("title", "title"),
)


def series_json(s: dict[str, Any]) -> dict[str, Any]:
    return {
        key: s.get(key)
        for key in (
            "ticker",
            "title",
            "category",
            "frequency",
            "fee_type",
            "fee_multiplier",
            "tags",
        )
    }


def render_series(out: Output, series: list[dict[str, Any]]) -> None:
    rows = [
        {
            "ticker": str(s.get("ticker", "")),
            "category": str(s.get("category", "")),
            "frequency": str(s.get("frequency", "")),
            "fees": f"{s.get('fee_type', '')} x {s.get('fee_multiplier', '')}",
            "title": str(s.get("title", "")),
        }
        for s in series
    ]
    document = {"series": [series_json(s) for s in series], "count": len(series)}
    out.table(SERIES_COLUMNS, rows, document=document)


# --------------------------------------------------------------------------------------------
# kalshi trades TICKER


def trades_command(
    ticker: TickerArg,
    *,
    since: Annotated[
        str | None,
        time_option(
            "--since",
            "Only trades at or after this time (Unix seconds, 2026-01-31, 2026-01-31T14:00Z).",
        ),
    ] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """The trades tape of one market, newest first.

    Each trade's time, YES price, count and the side the taker bought.

    Example: kalshi trades KXBTCD-SIM-T97000 --since 2026-01-31 --limit 50
    """
    min_ts = parse_since(since, "--since") if since else None
    app, out = begin(env, as_json=as_json, fmt=fmt)
    with out.progress("fetching trades") as progress:
        tape = list(
            app.client().markets.iter_trades(
                ticker=ticker, limit=limit, min_ts=min_ts, on_page=progress
            )
        )
    render_trades(out, tape)


TRADE_COLUMNS = (
    Column("time", "time (UTC)"),
    Column("price", "yes price", numeric=True, money=True),
    Column("count", "count", numeric=True),
    Column("taker", "taker"),
)


def render_trades(out: Output, tape: list[Trade]) -> None:
    from kalshi_cli.vocabulary.documents import taker_side, trade_json
    from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars

    rows = [
        {
            "time": t.created_time,
            "price": fmt_dollars(t.yes_price),
            "count": fmt_count(t.count),
            "taker": f"bought {side}" if (side := taker_side(t)) else "",
        }
        for t in tape
    ]
    out.table(
        TRADE_COLUMNS, rows, document={"trades": [trade_json(t) for t in tape], "count": len(tape)}
    )


# --------------------------------------------------------------------------------------------
# kalshi candles TICKER


def candles_command(
    ticker: TickerArg,
    *,
    period: PeriodOpt = Period.HOUR,
    start: Annotated[
        str | None,
        time_option(
            "--from",
            "First candle's time (Unix seconds, a date or an ISO 8601 time); default: "
            "2 hours, 7 days or 90 days back for 1m, 1h, 1d.",
        ),
    ] = None,
    end: Annotated[
        str | None,
        time_option("--to", "Last candle's time; default: the period in progress.", end=True),
    ] = None,
    chart: Annotated[
        bool, typer.Option("--chart", help="Draw the candles in the terminal instead of a table.")
    ] = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Candlesticks of one market, as a table or a chart.

    Per period: OHLC of the best YES bid, the best YES ask and the traded price, the volume and
    the open interest. A period without trades has no price (its bid and ask still show).

    Example: kalshi candles KXBTCD-SIM-T97000 --period 1m --chart
    """
    seconds = PERIOD_S[period]
    # by default up to the end of the period in progress, so the current candle shows
    to_ts = parse_since(end, "--to") if end else -(-int(time.time()) // seconds) * seconds
    from_ts = parse_since(start, "--from") if start else to_ts - DEFAULT_SPAN_S[period]
    if from_ts > to_ts:
        raise typer.BadParameter("--from is after --to", param_hint="--from")
    app, out = begin(env, as_json=as_json, fmt=fmt)
    candles = app.client().markets.market_candles(
        ticker, start_ts=from_ts, end_ts=to_ts, period=period.value
    )
    render_candles(out, ticker, period, candles, chart=chart)


CANDLE_COLUMNS = (
    Column("end", "end (UTC)"),
    Column("open", "open", numeric=True, money=True),
    Column("high", "high", numeric=True, money=True),
    Column("low", "low", numeric=True, money=True),
    Column("close", "close", numeric=True, money=True),
    Column("bid", "yes bid", numeric=True, money=True),
    Column("ask", "yes ask", numeric=True, money=True),
    Column("volume", "volume", numeric=True),
    Column("open_interest", "open int.", numeric=True),
)


def _ohlc_json(o: Ohlc) -> dict[str, str | None]:
    from kalshi_cli.vocabulary.units import fmt_dollars

    return {
        name: None if value is None else fmt_dollars(value)
        for name, value in (("open", o.open), ("high", o.high), ("low", o.low), ("close", o.close))
    }


def candle_json(c: Candle) -> dict[str, Any]:
    from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars

    return {
        "end_ts": c.end_ts,
        "end": iso_utc(c.end_ts),
        "yes_bid": _ohlc_json(c.yes_bid),
        "yes_ask": _ohlc_json(c.yes_ask),
        "price": _ohlc_json(c.price),
        "previous_price": None if c.previous_price is None else fmt_dollars(c.previous_price),
        "volume": fmt_count(c.volume),
        "open_interest": fmt_count(c.open_interest),
    }


def render_candles(
    out: Output, ticker: str, period: Period, candles: list[Candle], *, chart: bool
) -> None:
    import shutil

    from kalshi_cli.cli._chart import candle_chart

    document = {
        "ticker": ticker,
        "period": period.value,
        "candles": [candle_json(c) for c in candles],
    }
    if chart and not out.as_json:
        width = shutil.get_terminal_size((80, 24)).columns
        for text in candle_chart(candles, width=width):
            out.line(text)
        if candles:
            first, last = iso_utc(candles[0].end_ts), iso_utc(candles[-1].end_ts)
            out.line(f"{'':>9}{first} .. {last}, {period.value}")
        return
    rows = []
    for c in candles:
        data = candle_json(c)
        rows.append(
            {
                "end": data["end"],
                **{k: data["price"][k] or "" for k in ("open", "high", "low", "close")},
                "bid": data["yes_bid"]["close"] or "",
                "ask": data["yes_ask"]["close"] or "",
                "volume": data["volume"],
                "open_interest": data["open_interest"],
            }
        )
    out.table(CANDLE_COLUMNS, rows, document=document, title=f"{ticker} {period.value}")


# --------------------------------------------------------------------------------------------
# kalshi search TEXT


def search_command(
    words: Annotated[list[str], typer.Argument(help="Words to look for in tickers and titles.")],
    *,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Find series and open events by words in their title.

    A match holds every one of WORDS in its ticker or title.

    Kalshi's API has no text search: this lists the series and the open events and matches
    them here (case-insensitive), series first.

    Example: kalshi search bitcoin price
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    with out.progress("searching events") as progress:
        matches = app.client().markets.search_listings(
            " ".join(words), limit=limit, on_page=progress
        )
    render_matches(out, matches)


MATCH_COLUMNS = (
    Column("kind", "kind"),
    Column("ticker", "ticker", identifier=True),
    Column("title", "title"),
)


def render_matches(out: Output, matches: list[dict[str, str]]) -> None:
    out.table(MATCH_COLUMNS, matches, document={"matches": matches, "count": len(matches)})
