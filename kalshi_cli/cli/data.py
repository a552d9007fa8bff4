"""`kalshi record` and `kalshi data ls|info|export|import|download`: market data kept on disk.

Thin commands over kalshi_cli/data/ (see docs/data.md). pyarrow is imported only by
`data export --format parquet`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from kalshi_cli.cli._context import begin, current, stream_access
from kalshi_cli.cli._options import (
    DurationOpt,
    EnvOpt,
    JsonOpt,
    Period,
    PeriodOpt,
    TickersOpt,
    event_option,
    index_option,
    parse_since,
    series_option,
    time_option,
)
from kalshi_cli.cli._output import Column, is_tty, no_color
from kalshi_cli.cli.app import command_group
from kalshi_cli.vocabulary.names import names_in

if TYPE_CHECKING:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.data.download import MarketDone, PageDone
    from kalshi_cli.vocabulary.models import Market


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class ExportTable(StrEnum):
    BOOK = "book"
    TRADES = "trades"


class ImportFormat(StrEnum):
    JSONL = "jsonl"


data_app = command_group("data")


OutDirOpt = Annotated[Path, typer.Option("--out", help="Directory of the data set.")]
DirArg = Annotated[Path, typer.Argument(help="A data set directory.")]


# --------------------------------------------------------------------------------------------
# kalshi record


def record_command(
    *,
    out: OutDirOpt,
    tickers: TickersOpt = None,
    series: Annotated[
        str | None,
        series_option("Every open market of this series."),
    ] = None,
    all_open: Annotated[bool, typer.Option("--all-open", help="Every open market.")] = False,
    index: Annotated[
        str | None,
        index_option(
            "Comma-separated CF Benchmarks index IDs to record too (e.g. BRTI); those "
            "the markets' rules name are recorded anyway.",
        ),
    ] = None,
    duration: DurationOpt = None,
    env: EnvOpt = None,
) -> None:
    """Record orderbook, trade, ticker and lifecycle frames raw, with receive times, to hourly
    compressed segments; runs until --duration, SIGTERM or Ctrl-C.

    On a sequence gap the book is resnapshotted and the gap marked; a dropped connection is
    made again and resubscribed. Segments and the manifest are flushed once a second, so a
    crash loses at most the last second. See docs/data.md.

    Example: kalshi record --tickers KXBTCD-SIM-T97000 --out recordings/kx --duration 5
    """
    from kalshi_cli.data.recorder import make_directory
    from kalshi_cli.vocabulary.errors import UsageError

    if sum(1 for given in (tickers, series, all_open) if given) != 1:
        raise UsageError("give exactly one of --tickers, --series and --all-open")
    app, _ = begin(env)
    make_directory(out)  # a place that cannot be written fails before the exchange is asked
    markets = _record_markets(app, tickers, series)
    wanted = names_in(index)
    _record(app, out, markets, duration, index_ids=wanted)


def _record(
    app: AppContext,
    out: Path,
    markets: list[Market],
    duration: float | None,
    *,
    index_ids: list[str],
) -> None:
    """The recorder over the feed until --duration or a stop signal, with the markets'
    reference data beside the frames, and its summary on stderr. The reference indices the
    markets' rules name are recorded too, with those of `index_ids`."""
    import signal
    import threading

    from kalshi_cli.data.recorder import Recorder
    from kalshi_cli.data.reference import refresh_markets, save_reference
    from kalshi_cli.feed.index import channels_for
    from kalshi_cli.vocabulary.errors import KalshiError
    from kalshi_cli.vocabulary.process import signal_handlers
    from kalshi_cli.vocabulary.reference_index import index_for_market

    ws_url, auth = stream_access(app)
    named = [i for m in markets if (i := index_for_market(m.raw)) is not None]
    tickers = [m.ticker for m in markets]
    indices = channels_for([*named, *index_ids])
    recorder = Recorder(out, tickers, ws_url=ws_url, auth=auth, indices=indices)
    # the markets' fees, tick grids and rules beside the frames (data/reference.py), read
    # again at the end for the results of those that settled meanwhile
    try:
        save_reference(app.client(), out, tickers)
    except BaseException:
        recorder.close()
        raise
    stop = threading.Event()
    followed = ", ".join(recorder.indices.get("cfbenchmarks_value", []))
    also = f" and the indices {followed}" if followed else ""
    typer.echo(f"recording {len(markets)} markets{also} to {out}", err=True)
    stopping = dict.fromkeys((signal.SIGTERM, signal.SIGINT), lambda *_: stop.set())
    with signal_handlers(stopping):
        summary = recorder.run(duration_s=duration, stop=stop)
    try:
        missing = refresh_markets(app.client(), out, tickers)
    except KalshiError as exc:
        missing = [f"the reference data at the end ({exc}); the one read at the start stands"]
    _warn_unreferenced(missing)
    typer.echo(
        f"recorded {summary.frames} frames of {summary.markets} markets in {summary.segments} "
        f"segments; {summary.gaps} gaps, {summary.reconnects} reconnects",
        err=True,
    )


def _warn_unreferenced(missing: Iterable[str]) -> None:
    """What a recording or a download could not put in its reference data, a line each."""
    for what in missing:
        typer.echo(f"warning: not in the reference data: {what}", err=True)


def _record_markets(app: AppContext, tickers: str | None, series: str | None) -> list[Market]:
    from kalshi_cli.vocabulary.errors import UsageError

    if tickers:
        from kalshi_cli.data.watch import check_tickers

        named = names_in(tickers)
        # before the feed: it would wait on nothing
        found = {m.ticker: m for m in check_tickers(app.client().markets, named)}
        return [found[t] for t in named]
    client = app.client()
    found_open = list(client.markets.iter_markets(status="open", series_ticker=series))
    if not found_open:
        raise UsageError(f"no open market{f' in series {series}' if series else ''}")
    return found_open


# --------------------------------------------------------------------------------------------
# kalshi data ...


@data_app.command("ls")
def ls_command(
    root: Annotated[Path, typer.Argument(help="A data set, or a directory of data sets.")],
    as_json: JsonOpt = False,
) -> None:
    """List the data sets at DIR or under it: source, status, time range, markets, bytes.

    Example: kalshi record --tickers KXBTCD-SIM-T97000 --out recordings/kx --duration 1 &&
    kalshi data ls recordings
    """
    from kalshi_cli.data.catalog import list_data_sets

    sets = [d.summary() for d in list_data_sets(root)]
    # every cell its summary's value as text, the times as people read them
    rows = [
        {**{k: str(v) for k, v in s.items()}, "from": _iso(s["from_ns"]), "to": _iso(s["to_ns"])}
        for s in sets
    ]
    columns = [
        Column(key, key, numeric=key in ("markets", "bytes"))
        for key in ("path", "source", "status", "from", "to", "markets", "bytes")
    ]
    current().output(as_json=as_json).table(
        columns, rows, document={"data_sets": sets, "count": len(sets)}
    )


@data_app.command("info")
def info_command(root: DirArg, as_json: JsonOpt = False) -> None:
    """Describe a data set: per market its rows, covered ranges and gaps; what a reader skips.

    Example: kalshi record --tickers KXBTCD-SIM-T97000 --out recordings/kx --duration 1 &&
    kalshi data info recordings/kx
    """
    from kalshi_cli.data.catalog import describe

    info = describe(root)
    out = current().output(as_json=as_json)
    if as_json:
        out.json(info)
        return
    for name in ("path", "source", "status", "segments", "bytes", "records"):
        out.line(f"{name:<9} {info[name]}")
    out.line(f"{'range':<9} {_iso(info['from_ns'])} .. {_iso(info['to_ns'])}")
    if info["error"]:
        out.line(f"{'error':<9} {info['error']}")
    out.line(f"{'skipped':<9} {_counts(info['skipped'])}")
    if info["import_skipped"]:
        out.line(f"{'import':<9} {_counts(info['import_skipped'])}")
    out.line(f"{'gaps':<9} {len(info['feed_gaps'])} of the feed")
    for market in info["market_list"]:
        covered = sum(b - a for a, b in market["ranges"]) / 1e9
        out.line(
            f"  {market['ticker']}: {market['rows']} rows, {len(market['ranges'])} ranges "
            f"({covered:.0f} s covered), {len(market['gaps'])} gaps"
        )


@data_app.command("export")
def export_command(
    root: DirArg,
    *,
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="csv, or parquet (needs pyarrow).", case_sensitive=False),
    ] = ExportFormat.CSV,
    table: Annotated[
        ExportTable,
        typer.Option(
            "--table", help="book (snapshots and deltas) or trades.", case_sensitive=False
        ),
    ] = ExportTable.BOOK,
) -> None:
    """Export a data set as a table: book levels and deltas, or public trades.

    Example: kalshi record --tickers KXBTCD-SIM-T97000 --out recordings/kx --duration 1 &&
    kalshi data export recordings/kx --format csv --out recordings/book.csv
    """
    from kalshi_cli.data.export import export

    summary = export(root, out, table=table.value, fmt=fmt.value)
    typer.echo(
        f"wrote {summary.rows} rows to {summary.path}; skipped: {_counts(summary.skipped)}",
        err=True,
    )


@data_app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(help="The file to import.")],
    *,
    out: Annotated[Path, typer.Option("--out", help="Directory of the new data set.")],
    from_: Annotated[
        ImportFormat,
        typer.Option(
            "--from", help="jsonl: one frame (or wrapped frame) a line.", case_sensitive=False
        ),
    ] = ImportFormat.JSONL,
    as_json: JsonOpt = False,
) -> None:
    """Import WebSocket frames another recorder kept as a data set.

    One JSON object a line: a raw frame, or a frame wrapped with its receive time (the shapes
    are listed in docs/data.md). A frame with no receive time takes its own timestamp
    (msg.ts_ms, msg.ts, ...); the summary says where each frame's time came from.

    Example: kalshi watch orderbook --tickers KXBTCD-SIM-T97000 --max-events 1 >
    recordings/book.jsonl && kalshi data import recordings/book.jsonl --out recordings/imported
    """
    from kalshi_cli.data.importer import import_jsonl

    summary = import_jsonl(source, out)
    if as_json:
        current().output(as_json=True).json(
            {
                "out": str(summary.root),
                "lines": summary.lines,
                "frames": summary.frames,
                "markets": summary.markets,
                "skipped": summary.skipped,
                "times": summary.times,
            }
        )
        return
    typer.echo(
        f"imported {summary.frames} frames of {summary.markets} markets from {summary.lines} "
        f"lines into {summary.root}; times from: {_counts(summary.times)}; "
        f"skipped: {_counts(summary.skipped)}",
        err=True,
    )


class DownloadKind(StrEnum):
    TRADES = "trades"
    CANDLES = "candles"
    MARKETS = "markets"
    SETTLEMENTS = "settlements"


@data_app.command("download")
def download_command(
    kind: Annotated[
        DownloadKind,
        typer.Argument(help="trades, candles, markets or settlements.", case_sensitive=False),
    ],
    *,
    out: OutDirOpt,
    tickers: TickersOpt = None,
    series: Annotated[str | None, series_option("Every market of this series.")] = None,
    event: Annotated[str | None, event_option("Every market of this event.")] = None,
    from_: Annotated[str | None, time_option("--from", "From this date or time (UTC).")] = None,
    to: Annotated[
        str | None, time_option("--to", "Up to this date or time (UTC).", end=True)
    ] = None,
    period: PeriodOpt = Period.HOUR,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Download markets, trades, candlesticks or settlements from the live and historical tiers.

    Data older than the exchange's historical cutoff is read from its historical tier. An
    interrupted download run again with the same options continues where it stopped, never
    duplicating rows. Progress goes to stderr.

    Example: kalshi data download trades --tickers KXBTCD-SIM-T97000 --out recordings/dl
    """
    from kalshi_cli.data.download import DownloadRequest, download

    app, output = begin(env, as_json=as_json)
    request = DownloadRequest(
        kind=kind.value,
        tickers=tuple(names_in(tickers)),
        series=series,
        event=event,
        from_ts=None if from_ is None else parse_since(from_),
        to_ts=None if to is None else parse_since(to),
        period=period.value,
    )

    with closing(DownloadDisplay(sys.stderr)) as display:
        summary = download(app.client(), request, out, progress=display)
    _warn_unreferenced(summary.reference_missing)
    if output.as_json:
        output.json(summary.to_json())
        return
    tiers = summary.tiers
    output.line(
        f"{summary.rows} {kind.value} of {summary.markets} markets into {summary.root} "
        f"(live {tiers['live']}, historical {tiers['historical']}; "
        f"{len(summary.resumed)} markets resumed)"
    )


class DownloadDisplay:
    """A download's progress on stderr. On a terminal, a rich progress bar: markets done of the
    total, rows (those of markets already downloaded included), the market being read, and the
    rate of rows fetched this run. Otherwise plain lines, so a cron log stays readable: one per
    market (`download: [2/5] TICKER: 1234 trades`), and inside a long market one
    (`... so far (N rows/s)`) at most every `PLAIN_EVERY_S` seconds. Nothing goes to stdout."""

    PLAIN_EVERY_S = 60.0

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._done_rows = 0  # rows of the markets complete
        self._fetched = 0  # rows fetched this run
        self._bar: Any = None
        self._task: Any = None
        self._tty = is_tty(stream)

    def __call__(self, event: MarketDone | PageDone) -> None:
        from kalshi_cli.data.download import PageDone

        market_rows = event.rows
        if isinstance(event, PageDone):
            self._fetched += event.new_rows
        else:
            self._done_rows += event.rows
            market_rows = 0
        if self._tty:
            self._draw(event, self._done_rows + market_rows)
        elif isinstance(event, PageDone):
            now = self._clock()
            if now - self._last_line >= self.PLAIN_EVERY_S:
                self._last_line = now
                self._line(event, f" so far ({self._rate()} rows/s)")
        else:
            self._line(event, " (already downloaded)" if event.resumed else "")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _rate(self) -> int:
        elapsed = self._clock() - self._started
        return int(self._fetched / elapsed) if elapsed > 0 else 0

    def _line(self, event: MarketDone | PageDone, after: str) -> None:
        """A market's line: which of how many, its rows so far, then `after`."""
        self._stream.write(
            f"download: [{event.index}/{event.total}] {event.ticker}: {event.rows} "
            f"{event.kind}{after}\n"
        )
        self._stream.flush()

    def _draw(self, event: MarketDone | PageDone, rows: int) -> None:
        from kalshi_cli.data.download import MarketDone

        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            console = Console(
                file=self._stream,
                force_terminal=True,
                color_system=None if no_color() else "auto",
                highlight=False,
            )
            self._bar = Progress(
                TextColumn(f"download {event.kind}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("markets  {task.fields[rows]:,} rows  {task.fields[rate]:,} rows/s"),
                TextColumn("{task.fields[ticker]}"),
                console=console,
                get_time=self._clock,
                refresh_per_second=4,
            )
            self._bar.start()
            self._task = self._bar.add_task("download", total=event.total, rows=0, rate=0,
                                            ticker="")  # fmt: skip
        done = event.index if isinstance(event, MarketDone) else event.index - 1
        self._bar.update(
            self._task, completed=done, rows=rows, rate=self._rate(), ticker=event.ticker
        )


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.items()) or "nothing"


def _iso(ns: Any) -> str:
    if not isinstance(ns, int) or ns <= 0:
        return "-"
    from kalshi_cli.vocabulary.clock import iso_utc

    return iso_utc(ns / 1e9)  # a display time
