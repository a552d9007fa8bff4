"""The reference data a data set carries: what Kalshi says of the markets it holds.

A recording holds WebSocket frames and a download public trades: neither says what a fill cost
(the series' `fee_type` and `fee_multiplier`, an event's override, a fee waiver, the changes
scheduled for either), which prices were allowed (the tick grid) or how a market settled (its
result, settlement value and rules). `kalshi record` and `kalshi data download` keep them in
the data set's `reference.json`, as Kalshi's REST bodies (`GET /markets/{t}` or
`/historical/markets/{t}`, `/events/{t}`, `/series/{t}`, `/series/fee_changes` and
`/events/fee_changes` with every change, past and to come), which the replay's venue reads
(`venue/reference.py`): a backtest then charges the fees Kalshi would have charged and settles
as Kalshi settled.

`kalshi record` writes the file when it starts and again when it stops (a market that settled
meanwhile then has its result); a reading that fails is not fatal to the recording: the file
from the start stands, and the command says which objects it could not read. Each series and
event is read once however many markets share it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.errors import DataWriteError, KalshiError, NotFoundError

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient

# the file the venue reads (venue/reference.py REFERENCE_FILE; a test pins that they agree: the
# data and venue services are peers and do not import each other)
REFERENCE_FILE = "reference.json"


@dataclass
class Reference:
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
) -> Reference:
    """Read the reference data of `tickers`. `known` holds market bodies already read (a
    download resolved them with their tier): those are not read again."""
    ref = Reference()
    events: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, Any]] = {}
    for ticker in tickers:
        market = (known or {}).get(ticker) or _market(client, ticker, ref)
        if market is None:
            continue
        ref.markets.append(market)
        event_ticker = str(market.get("event_ticker") or "")
        if not event_ticker or event_ticker in events:
            continue
        event = _read(ref, f"event {event_ticker}", lambda e=event_ticker: client.get_event(e))
        events[event_ticker] = body = (event or {}).get("event") or {}
        if not body:
            continue
        ref.events.append(body)
        changes = _read(
            ref,
            f"event fee changes of {event_ticker}",
            lambda e=event_ticker: list(client.iter_event_fee_changes(event_ticker=e)),
        )
        ref.event_fee_changes += changes or []
        series_ticker = str(body.get("series_ticker") or "")
        if not series_ticker or series_ticker in series:
            continue
        got = _read(ref, f"series {series_ticker}", lambda s=series_ticker: client.get_series(s))
        series[series_ticker] = got or {}
        if got:
            ref.series.append(got)
            fee_changes = _read(
                ref,
                f"fee changes of series {series_ticker}",
                lambda s=series_ticker: client.get_series_fee_changes(
                    series_ticker=s, show_historical=True
                ),
            )
            ref.series_fee_changes += fee_changes or []
    return ref


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


def write_reference(root: Path, reference: Reference) -> None:
    """`root/reference.json`, written beside and renamed: whole or as it was."""
    path = root / REFERENCE_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(reference.to_json(), indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise DataWriteError(
            f"cannot write {path}: {exc}", hint="free space or choose another directory"
        ) from exc


def _market(client: KalshiClient, ticker: str, ref: Reference) -> dict[str, Any] | None:
    try:
        return client.get_market(ticker).raw
    except NotFoundError:
        pass
    except KalshiError as exc:
        ref.missing.append(f"market {ticker}: {exc}")
        return None
    got = _read(ref, f"market {ticker}", lambda: client.get_historical_market(ticker))
    return None if got is None else got.raw


def _read(ref: Reference, what: str, call: Any) -> Any:
    """`call()`, or None with `what` noted as missing when the exchange cannot answer."""
    try:
        return call()
    except KalshiError as exc:
        ref.missing.append(f"{what}: {exc}")
        return None
