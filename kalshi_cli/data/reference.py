"""The reference data a data set carries (`reference.json`): Kalshi's REST bodies for its markets
(fees and their changes, tick grids, results), which neither frames nor trades say, so a backtest
charges and settles as Kalshi did. A failed read during `kalshi record` is not fatal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kalshi_cli.vocabulary.errors import DataWriteError, KalshiError, NotFoundError

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.vocabulary.models import Market

# the file the venue reads (venue/reference.py REFERENCE_FILE; a test pins that they agree: the
# data and venue services are peers and do not import each other)
REFERENCE_FILE = "reference.json"
MARKETS_PER_LIST = 100  # tickers per `GET /markets?tickers=` (the query stays a short URL)
# what a Market body says of its outcome: empty or absent until it is known
OUTCOME_FIELDS = ("result", "expiration_value", "settlement_value_dollars", "settlement_ts")
T = TypeVar("T")


@dataclass
class DataSetReference:
    """The REST bodies of a data set's markets, their events and series, and fee changes."""

    markets: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    series_fee_changes: list[dict[str, Any]] = field(default_factory=list)
    event_fee_changes: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be read, and why

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "events": self.events,
            "markets": self.markets,
            "series_fee_changes": self.series_fee_changes,
            "event_fee_changes": self.event_fee_changes,
        }


def collect_reference(
    client: KalshiClient,
    tickers: Iterable[str],
    *,
    known: dict[str, dict[str, Any]] | None = None,
) -> DataSetReference:
    """Read the reference data of `tickers`. `known` holds market bodies already read (a
    download resolved them with their tier): those are not read again."""
    ref = DataSetReference()
    ref.markets = read_markets(client, list(tickers), ref.missing, known=known)
    events: dict[str, None] = {}
    series: dict[str, None] = {}
    for market in ref.markets:
        event_ticker = str(market.get("event_ticker") or "")
        if not event_ticker or event_ticker in events:
            continue
        events[event_ticker] = None
        event = _read(ref, f"event {event_ticker}", partial(client.markets.get_event, event_ticker))
        body = (event or {}).get("event") or {}
        if not body:
            continue
        ref.events.append(body)
        series_ticker = str(body.get("series_ticker") or "")
        if not series_ticker or series_ticker in series:
            continue
        series[series_ticker] = None
        got = _read(
            ref, f"series {series_ticker}", partial(client.markets.get_series, series_ticker)
        )
        if got:
            ref.series.append(got)
    # every change, past and to come, in one list each, kept for the series and events held
    series_changes = _read(
        ref,
        "series fee changes",
        lambda: client.exchange.get_series_fee_changes(show_historical=True),
    )
    ref.series_fee_changes = [
        c for c in series_changes or [] if str(c.get("series_ticker")) in series
    ]
    event_changes = _read(
        ref, "event fee changes", lambda: list(client.exchange.iter_event_fee_changes())
    )
    ref.event_fee_changes = [c for c in event_changes or [] if str(c.get("event_ticker")) in events]
    return ref


def read_markets(
    client: KalshiClient,
    tickers: list[str],
    missing: list[str],
    *,
    known: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The markets' bodies in the order of `tickers`: those `known`, the live ones listed a
    hundred at a time (`GET /markets?tickers=`), the rest one by one, live or archived."""
    asked = set(tickers)
    found = {t: m for t, m in (known or {}).items() if t in asked}
    wanted = [t for t in tickers if t not in found]
    for i in range(0, len(wanted), MARKETS_PER_LIST):
        chunk = wanted[i : i + MARKETS_PER_LIST]
        listed = _read_into(missing, "markets", partial(_listed, client, chunk))
        for market in listed or []:
            if market.ticker in chunk:
                found[market.ticker] = market.raw
    for ticker in tickers:
        if ticker not in found:
            body = _market(client, ticker, missing)
            if body is not None:
                found[ticker] = body
    return [found[t] for t in tickers if t in found]


def _listed(client: KalshiClient, tickers: list[str]) -> list[Market]:
    return list(client.markets.iter_markets(tickers=tickers))


def refresh_markets(client: KalshiClient, root: Path, tickers: Iterable[str]) -> list[str]:
    """Read the markets of `root`'s reference data again for their status and outcome after a
    recording (`OUTCOME_FIELDS`), keeping its events, series and fee changes. A market's terms
    stay as read at the start: a replay begins there, and a close time or a strike that moved
    meanwhile would be known to its every decision (a close moves in time by the recording's
    own `close_date_updated` frames). What could not be read keeps its earlier body."""
    path = root / REFERENCE_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    missing: list[str] = []
    before = {str(m.get("ticker")): m for m in data.get("markets") or []}
    fresh = {str(m["ticker"]): m for m in read_markets(client, list(tickers), missing)}
    ref = DataSetReference(
        markets=[
            _outcome_of(before.get(t), fresh.get(t)) for t in tickers if t in fresh or t in before
        ],
        events=data.get("events") or [],
        series=data.get("series") or [],
        series_fee_changes=data.get("series_fee_changes") or [],
        event_fee_changes=data.get("event_fee_changes") or [],
        missing=missing,
    )
    write_reference(root, ref)
    return missing


def _outcome_of(start: dict[str, Any] | None, end: dict[str, Any] | None) -> dict[str, Any]:
    """The body read at the start with the status and outcome read at the end (either alone
    when the other read failed)."""
    if start is None or end is None:
        return start or end or {}
    return start | {k: end[k] for k in ("status", *OUTCOME_FIELDS) if k in end}


def save_reference(
    client: KalshiClient,
    root: Path,
    tickers: Iterable[str],
    *,
    known: dict[str, dict[str, Any]] | None = None,
) -> list[str]:
    """Read and write the reference data of `tickers` into `root`; what could not be read."""
    reference = collect_reference(client, tickers, known=known)
    write_reference(root, reference)
    return reference.missing


def write_reference(root: Path, reference: DataSetReference) -> None:
    """`root/reference.json`, written beside and renamed: whole or as it was."""
    from kalshi_cli.vocabulary.files import write_whole

    path = root / REFERENCE_FILE
    try:
        write_whole(path, json.dumps(reference.to_json(), indent=1, sort_keys=True), mode=0o644)
    except OSError as exc:
        raise DataWriteError(
            f"cannot write {path}: {exc}", hint="free space or choose another directory"
        ) from exc


def _market(client: KalshiClient, ticker: str, missing: list[str]) -> dict[str, Any] | None:
    try:
        return client.markets.get_market(ticker).raw
    except NotFoundError:
        pass
    except KalshiError as exc:
        missing.append(f"market {ticker}: {exc}")
        return None
    got = _read_into(
        missing, f"market {ticker}", lambda: client.historical.get_historical_market(ticker)
    )
    return None if got is None else got.raw


def _read(ref: DataSetReference, what: str, call: Callable[[], T]) -> T | None:
    return _read_into(ref.missing, what, call)


def _read_into(missing: list[str], what: str, call: Callable[[], T]) -> T | None:
    """`call()`, or None with `what` noted as missing when the exchange cannot answer."""
    try:
        return call()
    except KalshiError as exc:
        missing.append(f"{what}: {exc}")
        return None
