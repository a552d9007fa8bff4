"""A data set recorded from one of the simulator's scenarios, without a network: the exchange core
runs in-process on a manual clock, and every book change, trade and lifecycle event is written as
the WebSocket frame the simulator would have sent (each channel with its own sequence), in the
recording format of docs/data.md, with `reference.json` beside it and the reference indices the
markets name as `kalshi record` keeps them.

Each frame is built by the simulator's own builders (`sim.core.serialize`: `ws_frame` and the
messages), so a recording holds what a subscriber of the served simulator would have received.
The backtest's tests and benchmarks/bench_backtest.py replay it; `settle` settles markets at
given times.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.data.manifest import FORMAT, write_manifest
from kalshi_cli.data.segments import SegmentWriter, frame_line
from kalshi_cli.feed.index import CFB, CFB_5HZ, channels_for
from kalshi_cli.sim.core import indices
from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import BookChanged, MarketLifecycle, SimNotice, TradeHappened
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.reference_index import index_for_market

_SIDS = {
    "orderbook_delta": 1,
    "trade": 2,
    "market_lifecycle_v2": 3,
    CFB: 4,
    CFB_5HZ: 5,
}


class _ScenarioWriter:
    def __init__(self, root: Path, exchange: Exchange, clock: ManualClock) -> None:
        self.exchange = exchange
        self.clock = clock
        self.segments = SegmentWriter(root, fsync=False, flush_every_s=3600.0)
        self.seq = dict.fromkeys(_SIDS.values(), 0)
        self.frames: dict[str, int] = {}
        self.first_ns = 0
        self.last_ns = 0

    def ns(self) -> int:
        return round(self.clock.wall() * 1e9)

    def emit(self, kind: str, channel: str, msg: dict[str, Any], ticker: str) -> None:
        sid = _SIDS[channel]
        self.seq[sid] += 1
        frame = ser.ws_frame(kind, sid, self.seq[sid], msg)
        ns = self.ns()
        self.first_ns = self.first_ns or ns
        self.last_ns = ns
        raw = json.dumps(frame, separators=(",", ":")).encode()
        self.segments.write(ns, frame_line(ns, raw))
        if ticker:
            self.frames[ticker] = self.frames.get(ticker, 0) + 1

    def snapshot(self, ticker: str) -> None:
        # NO-leg prices, as a subscriber that did not ask for `use_yes_price` gets them
        msg = ser.ws_snapshot_msg(self.exchange.engine, ticker, yes_priced=False)
        self.emit("orderbook_snapshot", "orderbook_delta", msg, ticker)

    def __call__(self, notice: SimNotice) -> None:
        if isinstance(notice, BookChanged):
            msg = ser.ws_delta_msg(notice, self.clock.wall(), yes_priced=False)
            self.emit("orderbook_delta", "orderbook_delta", msg, notice.ticker)
        elif isinstance(notice, TradeHappened):
            self.emit("trade", "trade", ser.ws_trade_msg(notice.trade), notice.trade.ticker)
        elif isinstance(notice, MarketLifecycle):
            market = self.exchange.reference.markets.get(notice.ticker)
            if market is not None:
                msg = ser.ws_lifecycle_msg(market, notice.event_type, notice.ts)
                self.emit("market_lifecycle_v2", "market_lifecycle_v2", msg, notice.ticker)


def record_scenario(
    scenario: str | Path,
    out: Path,
    *,
    seconds: float,  # simulated duration
    step_s: float = 0.1,  # how often the scenario's participants move
    start: float = 1_767_225_600.0,  # 2026-01-01T00:00Z
    settle: Mapping[str, tuple[float, str]] | None = None,  # ticker -> (at s, result)
    tickers: list[str] | None = None,
    series: list[str] | None = None,
) -> Path:
    """Run `scenario` for `seconds` of simulated time and write it to the data set `out`: the
    markets `tickers` names, else those of the `series` named, else every market; a market
    listed during the run (a crypto series lists its next period's) is followed from its
    creation, its book snapshotted empty then."""
    clock = ManualClock(start)
    exchange = build_exchange(scenario, clock=clock)

    def wanted(ticker: str) -> bool:
        if tickers:
            return ticker in tickers
        market = exchange.reference.markets.get(ticker)
        return series is None or (market is not None and market.series_ticker in series)

    chosen = [t for t in (tickers or list(exchange.reference.markets)) if wanted(t)]
    out.mkdir(parents=True, exist_ok=True)
    writer = _ScenarioWriter(out, exchange, clock)
    for ticker in chosen:
        writer.snapshot(ticker)
    followed = _indices_named(exchange, chosen)

    def listen(notice: SimNotice) -> None:
        ticker = getattr(notice, "ticker", None) or getattr(
            getattr(notice, "trade", None), "ticker", None
        )
        if (
            isinstance(notice, MarketLifecycle)
            and notice.event_type == "created"
            and ticker not in chosen
            and wanted(notice.ticker)
        ):
            chosen.append(notice.ticker)
            writer.snapshot(notice.ticker)
            for channel, ids in _indices_named(exchange, [notice.ticker]).items():
                known = followed.setdefault(channel, [])
                known.extend(i for i in ids if i not in known)
        if ticker in chosen:
            writer(notice)

    exchange.reference.add_listener(listen)

    def index_tick(tick: indices.SimIndexTick) -> None:
        channel = CFB if tick.whole_second else CFB_5HZ
        wanted = followed.get(CFB, [])
        if tick.source == "cfbenchmarks" and tick.index_id in wanted:
            writer.emit(channel, channel, ser.ws_index_msg(channel, tick), "")
            if channel == CFB and tick.index_id in followed.get(CFB_5HZ, []):
                # the 5 Hz channel carries the whole second too
                writer.emit(CFB_5HZ, CFB_5HZ, ser.ws_index_msg(CFB_5HZ, tick), "")

    indices.of(exchange).add_listener(index_tick)
    pending = dict(settle or {})
    steps = int(seconds / step_s)
    for _ in range(steps):
        clock.advance(step_s)
        exchange.tick()
        elapsed = clock.wall() - start
        for ticker, (at, result) in list(pending.items()):
            if elapsed >= at:
                exchange.settlement.settle(ticker, "yes" if result == "yes" else "no")
                del pending[ticker]
    writer.segments.close()
    write_manifest(
        out,
        {
            "format": FORMAT,
            "source": "scenario",
            "status": "complete",
            "error": None,
            "started_ns": writer.first_ns,
            "ended_ns": writer.last_ns,
            "channels": [c for c in _SIDS if c not in (CFB, CFB_5HZ) or c in followed],
            "skipped": {},
            "segments": writer.segments.segments,
            "markets": {
                t: {"ranges": [[writer.first_ns, writer.last_ns]], "gaps": [], "frames": n}
                for t, n in writer.frames.items()
            },
            "gaps": [],
        },
    )
    _write_reference(out, exchange, chosen)
    return out


def _indices_named(exchange: Exchange, tickers: list[str]) -> dict[str, list[str]]:
    """The index channels and ids `kalshi record` follows for these markets (their rules')."""
    return channels_for(
        i
        for t in tickers
        if (i := index_for_market(ser.market_json(exchange.engine, exchange.reference.markets[t])))
        is not None
    )


def _write_reference(out: Path, exchange: Exchange, tickers: list[str]) -> None:
    markets = [exchange.reference.markets[t] for t in tickers]
    events = {m.event_ticker for m in markets}
    series = {exchange.reference.events[e].series_ticker for e in events}
    reference = {
        "series": [
            ser.series_json(exchange.reference.series[s], exchange.reference.fees.series_fees(s))
            for s in series
        ],
        "events": [
            ser.event_json(
                exchange.reference.events[e],
                exchange.reference.series.get(exchange.reference.events[e].series_ticker),
                None,
            )
            for e in events
        ],
        # as listed before trading: the result comes from the recording, not from here
        "markets": [
            {**ser.market_json(exchange.engine, m), "result": "", "status": "active"}
            for m in markets
        ],
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=1, default=_plain))


def _plain(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)
