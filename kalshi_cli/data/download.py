"""`kalshi data download`: Kalshi's REST history (markets, public trades, candlesticks, the
account's settlements) into a data set, from the live and the historical tier.

Each market is read where its data is: trades from both tiers, each once, candlesticks and the
market from the tier that holds it (a live 404 means archived). Rows are staged in
`DIR/.download/KIND/TICKER.ndjson` with a checkpoint after each fsynced page, and the data set is
built from the staged rows alone, so a resumed run writes the bytes an uninterrupted one would. One
download runs in a directory at a time (its lock, `lock.py`). docs/data.md "Downloads".
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kalshi_cli.data.lock import hold_directory, is_locked
from kalshi_cli.data.manifest import FORMAT, read_manifest, write_manifest
from kalshi_cli.data.reference import save_reference
from kalshi_cli.data.segments import FRAMES_DIR, REST_DIR, SegmentWriter, held_data_set
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.errors import (
    DataWriteError,
    KalshiError,
    NoDataError,
    NotFoundError,
    UsageError,
)
from kalshi_cli.vocabulary.files import write_whole

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.vocabulary.models import Market

KINDS = ("trades", "candles", "markets", "settlements")
PERIODS = {"1m": 1, "1h": 60, "1d": 1440}
STAGE_DIR = ".download"
# why a download that found nothing failed: its manifest holds no data set (`_check_destination`)
NO_DATA_IN_RANGE = "no data in the range"
# candlesticks asked for per request: a long range is read in windows of this many periods
CANDLES_PER_REQUEST = 5000
NS = 1_000_000_000
# trades asked for per page (Kalshi's largest); a test asks for fewer to cut a market mid-way
PAGE_SIZE = 1000
# the kinds read page by page, resumable inside a market
PAGED = ("trades", "candles")


@dataclass(frozen=True)
class DownloadRequest:
    kind: str
    tickers: tuple[str, ...] = ()
    series: str | None = None
    event: str | None = None
    from_ts: int | None = None
    to_ts: int | None = None
    period: str = "1h"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tickers": list(self.tickers),
            "series": self.series,
            "event": self.event,
            "from_ts": self.from_ts,
            "to_ts": self.to_ts,
            "period": self.period if self.kind == "candles" else None,
        }


@dataclass
class DownloadSummary:
    root: Path
    kind: str
    markets: int = 0
    rows: int = 0
    fetched: list[str] = field(default_factory=list)  # markets read from the exchange this run
    resumed: list[str] = field(default_factory=list)  # markets already staged by an earlier run
    tiers: dict[str, int] = field(default_factory=lambda: {"live": 0, "historical": 0})
    files: list[str] = field(default_factory=list)
    # markets fetched this run from a checkpoint an earlier run left inside them
    continued: list[str] = field(default_factory=list)
    # what of the reference data the exchange could not answer (the command warns of each)
    reference_missing: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.root),
            "kind": self.kind,
            "markets": self.markets,
            "rows": self.rows,
            "rows_by_tier": dict(self.tiers),
            "fetched": self.fetched,
            "resumed": self.resumed,
            "continued": self.continued,
            "files": self.files,
        }


@dataclass(frozen=True)
class MarketDone:
    """One market's rows are staged: what progress output says."""

    kind: str
    ticker: str
    index: int  # from 1
    total: int
    rows: int
    resumed: bool  # staged by an earlier run


@dataclass(frozen=True)
class PageDone:
    """One page of a market's rows is written and checkpointed."""

    kind: str
    ticker: str
    index: int  # the market's, from 1
    total: int
    rows: int  # the market's rows so far, those of earlier runs included
    new_rows: int  # rows this page added


Progress = Callable[[MarketDone | PageDone], None]


def download(
    client: KalshiClient,
    request: DownloadRequest,
    root: Path,
    *,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
) -> DownloadSummary:
    _check_request(request)
    fresh = _check_destination(root, request)
    summary = DownloadSummary(root, request.kind)
    # the markets before anything is written: a ticker no tier knows (a typo) or a series with
    # no market leaves no manifest holding the bad request, which would refuse the corrected
    # command into the same directory as another download
    staged_markets = root / STAGE_DIR / "markets.json"
    looked_up = (
        _look_up_markets(client, request, root) if fresh or not staged_markets.exists() else None
    )
    with contextlib.ExitStack() as held:
        try:
            root.mkdir(parents=True, exist_ok=True)
            held.callback(os.close, _hold(root, request))
            # the staged markets as they are now, under the lock: a run in between may have
            # staged them, or cleared them (a download that found nothing) before this looked
            if staged_markets.exists():
                looked_up = None
            elif looked_up is None:
                looked_up = _look_up_markets(client, request, root)
            stage = root / STAGE_DIR / request.kind
            stage.mkdir(parents=True, exist_ok=True)
            write_manifest(root, _manifest(request, "downloading"))
            markets = _markets(staged_markets, looked_up)
            summary.markets = len(markets)
            for i, (tier, market) in enumerate(markets, 1):
                staged = stage / f"{stage_name(market['ticker'])}.ndjson"
                resumed = staged.exists()
                if resumed:
                    summary.resumed.append(market["ticker"])
                elif request.kind in PAGED:
                    place = _Place(
                        request, stage, str(market["ticker"]), index=i, total=len(markets),
                        progress=progress,
                    )  # fmt: skip
                    if place.continued:
                        summary.continued.append(place.ticker)
                    if request.kind == "trades":
                        _fetch_trades(client, request, place, page_size)
                    else:
                        _fetch_candles(client, request, tier, market, place)
                    place.finish(staged)
                    summary.fetched.append(market["ticker"])
                else:
                    rows = list(_fetch(client, request, tier, market))
                    write_whole(staged, b"".join(_line(r) for r in rows))
                    summary.fetched.append(market["ticker"])
                if progress is not None:
                    count = _count_lines(staged)
                    ticker = str(market["ticker"])
                    progress(MarketDone(request.kind, ticker, i, len(markets), count, resumed))
            _build(request, root, markets, summary)
            # the markets' fees, tick grids, rules and results, for the replay's venue
            summary.reference_missing = save_reference(
                client, root, [str(m["ticker"]) for _, m in markets],
                known={str(m["ticker"]): m for _, m in markets},
            )  # fmt: skip
        except OSError as exc:
            _mark_failed(root, request, str(exc))
            raise DataWriteError(
                f"cannot write the download into {root}: {exc}",
                hint="free space or choose another directory; run it again to resume",
            ) from exc
        if not summary.rows:
            _mark_failed(root, request, NO_DATA_IN_RANGE)
            raise NoDataError(
                f"no {request.kind} for {_named(request)} in the range asked for",
                hint="widen --from/--to, or check the markets with `kalshi markets`",
            )
    return summary


def _check_request(request: DownloadRequest) -> None:
    if request.kind not in KINDS:
        raise UsageError(f"download one of {', '.join(KINDS)}, not {request.kind!r}")
    if request.kind == "candles" and request.period not in PERIODS:
        raise UsageError(f"--period is one of {', '.join(PERIODS)}")
    if not (request.tickers or request.series or request.event):
        raise UsageError("name the markets: --tickers, --series or --event")
    if (
        request.from_ts is not None
        and request.to_ts is not None
        and request.to_ts < request.from_ts
    ):
        raise UsageError("--to is before --from")


def _named(request: DownloadRequest) -> str:
    return _named_json(request.to_json())


def _named_json(asked: dict[str, Any]) -> str:
    """The markets a request (`DownloadRequest.to_json`, as its manifest keeps it) names."""
    if asked.get("tickers"):
        return ", ".join(str(t) for t in asked["tickers"])
    if asked.get("series"):
        return f"series {asked['series']}"
    return f"event {asked.get('event')}"


def _check_destination(root: Path, request: DownloadRequest, *, holding: bool = False) -> bool:
    """One data set per directory (`held_data_set`): a recording or import is refused, and so
    is another download; the same download again resumes (or rebuilds) it. A download running
    there is refused whatever it asks for (two would write the same staged files), unless
    `holding`: this one holds the directory's lock. True when the directory holds a download
    that found no data: it holds no data set, and its staging area is to be cleared."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    manifest = held_data_set(root, "download", hint="download into a new one")
    if not holding and is_locked(root):
        raise _running(root)
    if manifest is not None and _found_nothing(manifest):
        return True
    if manifest is not None and manifest.get("request") != request.to_json():
        raise UsageError(
            f"{root} holds another download ({manifest.get('request')})",
            hint="the same request resumes it; another one goes in another directory",
        )
    return False


def _hold(root: Path, request: DownloadRequest) -> int:
    """The directory's lock, for the download's life, and the destination asked again under it
    (another command may have written there since `_check_destination` looked)."""
    fd = hold_directory(root)
    if fd is None:  # another writer took it since
        raise _running(root)
    try:
        if _check_destination(root, request, holding=True):
            # a download that found no data holds none: the command its error hints at (a
            # wider --from/--to) takes the directory, its markets read again
            shutil.rmtree(root / STAGE_DIR, ignore_errors=True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _running(root: Path) -> UsageError:
    """The refusal of a directory whose lock a live writer holds, naming what it writes: the
    lock says a writer is alive, its manifest what it is (a manifest saying `downloading`
    without the lock held is a download that was killed, resumed by the same command)."""
    manifest = read_manifest(root) or {}
    asked = manifest.get("request")
    if manifest.get("source") not in (None, "download"):
        running = f"a recorder is writing to {root}"  # the only other writer that locks it
    elif isinstance(asked, dict) and asked.get("kind"):
        running = f"a download is running in {root}: {asked['kind']} of {_named_json(asked)}"
    else:
        running = f"a download is running in {root}"
    return UsageError(running, hint="wait for it or stop it, or choose another --out")


def _found_nothing(manifest: dict[str, Any]) -> bool:
    return manifest.get("status") == "failed" and manifest.get("error") == NO_DATA_IN_RANGE


def _manifest(request: DownloadRequest, status: str, error: str | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "source": "download",
        "status": status,
        "error": error,
        "request": request.to_json(),
        "channels": [],
    }


def _mark_failed(root: Path, request: DownloadRequest, error: str) -> None:
    try:
        write_manifest(root, _manifest(request, "failed", error))
    except OSError:
        return


def stage_name(ticker: object) -> str:
    """A ticker as a file name inside the staging directory: every character but letters, digits,
    `-` and `_` is percent-encoded (`.` too), so no answer can place a file outside `--out`, an
    ordinary ticker keeps its name, and two tickers are two names."""
    return quote(str(ticker), safe="-_").replace(".", "%2E").replace("~", "%7E")


def _line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _read_staged(path: Path) -> list[Any]:
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


# --------------------------------------------------------------------------------------------
# which markets, from which tier


def _markets(
    staged: Path, looked_up: list[tuple[str, dict[str, Any]]] | None
) -> list[tuple[str, dict[str, Any]]]:
    """(tier, market as sent) per market, by ticker; resolved once (`_look_up_markets`) and
    staged, so a resumed run reads the same markets even if the cutoff moved meanwhile (a
    market archived since is asked for its tier again where its tier's route no longer has it:
    `_fetch_candles`)."""
    if looked_up is None:
        return [(m["tier"], m["market"]) for m in json.loads(staged.read_text(encoding="utf-8"))]
    write_whole(
        staged, json.dumps([{"tier": t, "market": m} for t, m in looked_up]).encode() + b"\n"
    )
    return looked_up


def _look_up_markets(
    client: KalshiClient, request: DownloadRequest, root: Path
) -> list[tuple[str, dict[str, Any]]]:
    """The request's markets, from both tiers; NotFoundError for a ticker no tier knows and
    NoDataError for a series or event with no market, saying nothing was written to `root`."""
    nothing_written = f"nothing was written to {root}"
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    if request.tickers:
        for ticker in request.tickers:
            try:
                found[ticker] = _one_market(client, ticker)
            except NotFoundError:
                raise NotFoundError(
                    f"no market {ticker}, live or historical",
                    status=404,
                    hint=f"`kalshi markets` lists them; {nothing_written}",
                ) from None
    else:
        live = client.markets.iter_markets(series_ticker=request.series, event_ticker=request.event)
        for market in live:
            found.setdefault(market.ticker, ("live", market.raw))
        archived = client.historical.iter_historical_markets(
            series_ticker=request.series if request.event is None else None,
            event_ticker=request.event,
        )
        for market in archived:
            found.setdefault(market.ticker, ("historical", market.raw))
        if not found:
            raise NoDataError(
                f"no market in {_named(request)}, live or historical", hint=nothing_written
            )
    return [found[t] for t in sorted(found)]


def _one_market(client: KalshiClient, ticker: str) -> tuple[str, dict[str, Any]]:
    """(tier, market as sent): live first, a 404 there means archived; NotFoundError when
    neither tier has it."""
    market: Market
    try:
        market = client.markets.get_market(ticker)
        return "live", market.raw
    except NotFoundError:
        pass
    market = client.historical.get_historical_market(ticker)
    return "historical", market.raw


# --------------------------------------------------------------------------------------------
# one market's rows


def _fetch(
    client: KalshiClient, request: DownloadRequest, tier: str, market: dict[str, Any]
) -> Iterator[Any]:
    ticker = str(market["ticker"])
    if request.kind == "markets":
        yield {"tier": tier, "market": market}
    elif request.kind == "settlements":
        # the account's settlements are not partitioned by the cutoff: always live
        for settlement in client.portfolio.iter_settlements(ticker=ticker):
            yield {"tier": "live", "settlement": settlement.raw}
    else:  # pragma: no cover - trades and candles are read page by page (`PAGED`)
        raise AssertionError(request.kind)


class _Place:
    """Where a market's paged download stands: its partial rows and its checkpoint (see the
    module docstring). Opening one cuts the partial file back to the checkpoint."""

    def __init__(
        self,
        request: DownloadRequest,
        stage: Path,
        ticker: str,
        *,
        index: int,
        total: int,
        progress: Progress | None,
    ) -> None:
        self.kind = request.kind
        self.ticker = ticker
        self.index, self.total = index, total
        self._progress = progress
        self.partial = stage / f"{stage_name(ticker)}.partial.ndjson"
        self.checkpoint_path = stage / f"{stage_name(ticker)}.checkpoint.json"
        self.checkpoint: dict[str, Any] = {}
        if self.checkpoint_path.exists():
            self.checkpoint = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        length = int(self.checkpoint.get("bytes", 0))
        if length and (not self.partial.exists() or self.partial.stat().st_size < length):
            self.checkpoint, length = {}, 0  # rows it counted are gone: start the market again
        self.continued = bool(self.checkpoint)
        with self.partial.open("ab") as handle:
            handle.truncate(length)  # drop a page written after the last checkpoint
        self.rows: list[dict[str, Any]] = _read_staged(self.partial) if length else []

    def page(self, rows: list[dict[str, Any]], checkpoint: dict[str, Any]) -> None:
        """Append one page's rows durably, then record where the next page starts."""
        with self.partial.open("ab") as handle:
            handle.write(b"".join(_line(r) for r in rows))
            handle.flush()
            os.fsync(handle.fileno())
            length = handle.tell()
        self.rows.extend(rows)
        self.checkpoint = {**checkpoint, "bytes": length}
        write_whole(self.checkpoint_path, json.dumps(self.checkpoint).encode())
        if self._progress is not None:
            self._progress(
                PageDone(self.kind, self.ticker, self.index, self.total, len(self.rows), len(rows))
            )

    def finish(self, staged: Path) -> None:
        """The market is complete: its rows, in their order, staged whole; the partial state
        goes."""
        rows = sorted(self.rows, key=_trade_order) if self.kind == "trades" else self.rows
        write_whole(staged, b"".join(_line(r) for r in rows))
        self.checkpoint_path.unlink(missing_ok=True)
        self.partial.unlink(missing_ok=True)


def _fetch_trades(
    client: KalshiClient, request: DownloadRequest, place: _Place, page_size: int
) -> None:
    """A market's trades from both tiers, each once (by trade id), page by page: the live tier,
    then the historical one for what is older than the cutoff (as it was when the market
    started, or as it has moved since: `_archived_since`)."""
    state = place.checkpoint
    if not state:
        cutoff = client.historical.get_historical_cutoff().trades_created_ts
        tiers = []
        if request.to_ts is None or request.to_ts >= cutoff:
            tiers.append("live")
        if request.from_ts is None or request.from_ts < cutoff:
            tiers.append("historical")
        state = {"cutoff": cutoff, "tiers": tiers, "cursor": None}
    cutoff = float(state["cutoff"])  # unix seconds, as the API's cutoff
    seen = {str(row["trade"]["trade_id"]) for row in place.rows}
    tiers = list(state["tiers"])
    cursor: str | None = state["cursor"]
    cursors: set[str] = set()  # the tier's being read: a cursor belongs to its tier's listing
    while tiers:
        trades, following = client.historical.get_trades_page(
            historical=tiers[0] == "historical",
            ticker=place.ticker,
            min_ts=request.from_ts,
            max_ts=request.to_ts,
            cursor=cursor,
            limit=page_size,
        )
        rows = []
        for trade in trades:
            if trade.trade_id in seen:
                continue
            seen.add(trade.trade_id)
            tier = "historical" if _ts(trade.created_time) < cutoff else "live"
            rows.append({"tier": tier, "trade": trade.raw})
        if not following:
            done, tiers, cursor = tiers[0], tiers[1:], None
            if done == "live" and not tiers and _archived_since(client, request):
                tiers = ["historical"]
            cursors.clear()
        elif following in cursors:
            raise KalshiError(
                f"pagination cursor repeated while downloading the trades of {place.ticker}",
                hint="the exchange returned a page it already returned; try again later",
            )
        else:
            cursors.add(following)
            cursor = following
        place.page(rows, {"cutoff": cutoff, "tiers": tiers, "cursor": cursor})


def _archived_since(client: KalshiClient, request: DownloadRequest) -> bool:
    """Whether the cutoff, read again now, has moved into a range that was read from the live
    tier alone (it began after the cutoff read when the market started: this run's start, or
    an earlier run's, days ago). Its trades older than the new cutoff were archived before the
    live pages reached them, and only the historical tier serves them now. Asked once the live
    tier is read to its end, so a trade archived after that had been read from it already."""
    moved = client.historical.get_historical_cutoff().trades_created_ts
    return request.from_ts is None or request.from_ts < moved


def _trade_order(row: dict[str, Any]) -> tuple[int, str]:
    return _ns(row["trade"]["created_time"]), str(row["trade"]["trade_id"])


def _ts(iso: str) -> float:  # unix seconds
    return parse_iso(iso).timestamp()


def _fetch_candles(
    client: KalshiClient,
    request: DownloadRequest,
    tier: str,
    market: dict[str, Any],
    place: _Place,
) -> None:
    """A market's candlesticks in windows of `CANDLES_PER_REQUEST` periods, one window a page
    (the checkpoint is the next window's start, and the tier read). A market the live route no
    longer has (404) is asked for its tier again: archived since it was resolved (the cutoff
    moved on while the download was stopped, or while it ran), it is on the historical route
    from then on."""
    ticker = place.ticker
    period = PERIODS[request.period]
    state = place.checkpoint
    if not state:
        start = request.from_ts if request.from_ts is not None else int(_ts(market["open_time"]))
        state = {"window": start, "series": None, "tier": tier}
    # the tier the last page was read from (a checkpoint from before it was kept: the staged one)
    tier = str(state.get("tier", tier))
    end = request.to_ts if request.to_ts is not None else int(_ts(market["close_time"]))
    series: str | None = state["series"]
    step = CANDLES_PER_REQUEST * period * 60
    seen = {int(row["candle"]["end_period_ts"]) for row in place.rows}
    window = int(state["window"])
    while window <= end:
        upto = min(end, window + step - 1)
        try:
            if tier == "live":
                if series is None:
                    event = client.markets.get_event(str(market["event_ticker"]))
                    series = str(event["event"]["series_ticker"])
                found = client.historical.get_live_candlesticks(
                    series, ticker, start_ts=window, end_ts=upto, period_interval=period
                )
            else:
                found = client.historical.get_historical_candlesticks(
                    ticker, start_ts=window, end_ts=upto, period_interval=period
                )
        except NotFoundError:
            if tier != "live" or _one_market(client, ticker)[0] != "historical":
                raise
            tier = "historical"
            continue
        rows = []
        for candle in found:
            end_ts = int(candle["end_period_ts"])
            if end_ts not in seen:  # windows meet at their ends: a candle is kept once
                seen.add(end_ts)
                rows.append(
                    {"market_ticker": ticker, "period_interval": period, "tier": tier,
                     "candle": candle}
                )  # fmt: skip
        window = upto + 1
        place.page(rows, {"window": window, "series": series, "tier": tier})


# --------------------------------------------------------------------------------------------
# the data set, built from the staged rows


def _build(
    request: DownloadRequest,
    root: Path,
    markets: list[tuple[str, dict[str, Any]]],
    summary: DownloadSummary,
) -> None:
    stage = root / STAGE_DIR / request.kind
    per_market: dict[str, list[Any]] = {
        str(m["ticker"]): _read_staged(stage / f"{stage_name(m['ticker'])}.ndjson")
        for _, m in markets
    }
    coverage: dict[str, dict[str, Any]] = {}
    segments: dict[str, dict[str, int]] = {}
    for ticker, rows in per_market.items():
        for row in rows:
            summary.tiers[str(row.get("tier", "live"))] += 1
        coverage[ticker] = {
            "ranges": [_range(request)] if rows else [],
            "gaps": [],
            "frames": len(rows),
        }
        summary.rows += len(rows)
    if request.kind == "trades":
        segments = _write_trade_frames(root, per_market)
        summary.files = [f"{FRAMES_DIR}/{name}" for name in sorted(segments)]
    else:
        name = f"{REST_DIR}/{request.kind}.ndjson.gz"
        lines = [_line(r) for t in sorted(per_market) for r in per_market[t]]
        (root / REST_DIR).mkdir(exist_ok=True)
        write_whole(root / name, gzip.compress(b"".join(lines), mtime=0))
        summary.files = [name]
    firsts = [s["first_ns"] for s in segments.values()]
    manifest = {
        **_manifest(request, "complete"),
        "started_ns": min(firsts) if firsts else None,
        "ended_ns": max((s["last_ns"] for s in segments.values()), default=None),
        "segments": segments,
        "markets": coverage,
        "gaps": [],
        "skipped": {},
        "rows_by_tier": dict(summary.tiers),
        "files": summary.files,
    }
    write_manifest(root, manifest)


def _range(request: DownloadRequest) -> list[int | None]:
    return [
        None if request.from_ts is None else request.from_ts * NS,
        None if request.to_ts is None else request.to_ts * NS,
    ]


def _write_trade_frames(root: Path, per_market: dict[str, list[Any]]) -> dict[str, dict[str, int]]:
    """Every market's trades as `trade` frames, in time order across markets, into fresh
    segments (a rebuild replaces the old ones whole)."""
    rows = sorted(
        (row["trade"] for market in per_market.values() for row in market),
        key=lambda t: (_ns(t["created_time"]), t["ticker"], t["trade_id"]),
    )
    building = root / f".{FRAMES_DIR}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    writer = SegmentWriter(building, fsync=False)
    for trade in rows:
        ns = _ns(trade["created_time"])
        record = {"recv_ns": ns, "frame": {"type": "trade", "msg": _trade_msg(trade, ns)}}
        writer.write(ns, _line({**record, "rest": trade}))
    writer.close()
    final = root / FRAMES_DIR
    shutil.rmtree(final, ignore_errors=True)
    os.replace(building / FRAMES_DIR, final)
    shutil.rmtree(building, ignore_errors=True)
    return writer.segments


def _ns(iso: str) -> int:
    moment = parse_iso(iso)
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


def _trade_msg(trade: dict[str, Any], ns: int) -> dict[str, Any]:
    """The WebSocket `trade` message (asyncapi `trade`) a REST Trade row corresponds to."""
    return {
        "trade_id": trade["trade_id"],
        "market_ticker": trade["ticker"],
        "yes_price_dollars": trade["yes_price_dollars"],
        "no_price_dollars": trade["no_price_dollars"],
        "count_fp": trade["count_fp"],
        "taker_side": trade.get("taker_side", trade.get("taker_outcome_side")),
        "taker_outcome_side": trade.get("taker_outcome_side"),
        "taker_book_side": trade.get("taker_book_side"),
        "is_block_trade": trade.get("is_block_trade", False),
        "ts": ns // NS,
        "ts_ms": ns // 1_000_000,
    }
