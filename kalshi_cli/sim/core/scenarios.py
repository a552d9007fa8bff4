"""Scenario files: the markets a simulator starts with and what moves them (docs/simulator.md
"Scenario files"; the builtin ones live in `sim/core/scenarios/`). `build_exchange` installs a
scenario only into a fresh exchange: with a journal that holds state, the exchange replays it
instead, so a restart duplicates nothing. Participants are attached every time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kalshi_cli.sim.core import crypto, indices
from kalshi_cli.sim.core.communications import EXECUTION_TIMER_S
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.fee_schedules import series_fees
from kalshi_cli.sim.core.historical import HistoryPolicy, HistoryPolicyError, policy_from
from kalshi_cli.sim.core.participants import (
    ComplementPath,
    DipWindow,
    DriftPath,
    FlatPath,
    LiquidityProvider,
    NoiseTrader,
    PricePath,
    QuoteLadder,
    SpikePath,
)
from kalshi_cli.sim.core.records import (
    ExchangeError,
    PlaceRequest,
    SimEvent,
    SimMarket,
    SimSeries,
    settlement_timer,
)
from kalshi_cli.sim.core.reference import exchange_shards
from kalshi_cli.sim.core.shard_transfers import DEFAULT_REBALANCE_S
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.decode import bounded_loader, did_you_mean, read_yaml_text
from kalshi_cli.vocabulary.errors import ConfigError
from kalshi_cli.vocabulary.models import (
    PRICE_STRUCTURES,
    FeeModel,
    FeeModelError,
    FeeType,
    check_fee_override,
    fractional_flag,
)
from kalshi_cli.vocabulary.request_ranges import SHARD_MAX
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce, parse_decimal

# What a scenario without `fees` charges a series that sets none of its own: Kalshi's standard
# fees (docs/simulator.md). The simulator's choice for the exchange it serves, named here once; a
# client never prices with it, it reads the fees the simulator serves for each series.
SCENARIO_STANDARD_FEES = FeeModel(FeeType.QUADRATIC, Decimal(1), None)


LP_KEY = "sim-liquidity-provider"
BOOK_MAKER_KEY = "sim-book-maker"
NOISE_KEY = "sim-noise-{n}"
_DEFAULT_CLOSE = 30 * 86_400


# what a scenario may hold at its top (docs/simulator.md "Scenario files"); a file with another
# key is no scenario (a config file given by mistake, a misspelt key)
SCENARIO_KEYS = (
    "description", "base", "fees", "liquidity_provider", "noise_traders", "historical", "rfq",
    "series", "indices", "crypto", "book_maker_cash_cents", "shards",
)  # fmt: skip


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


def _scenario_dir() -> Path:
    return Path(str(resources.files("kalshi_cli.sim.core") / "scenarios"))


def list_scenarios() -> list[str]:
    return sorted(p.stem for p in _scenario_dir().glob("*.yaml"))


def scenario_path(name: str) -> Path:
    path = _scenario_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ScenarioError(
            f"no builtin scenario {name!r}; choose one of {', '.join(list_scenarios())}"
        )
    return path


def load_scenario(scenario: str | Path | None) -> dict[str, Any]:
    """The scenario as plain data, `base` resolved. A name is a builtin; a path a file."""
    if scenario is None:
        scenario = "empty"
    path = (
        Path(scenario)
        if isinstance(scenario, Path) or scenario.endswith((".yaml", ".yml"))
        else scenario_path(scenario)
    )
    try:
        # read within the bounds of every YAML file a person writes (vocabulary/decode.py)
        text = read_yaml_text(path, "scenario")
        data = yaml.load(text, Loader=bounded_loader(path)) or {}  # noqa: S506
    except ConfigError as exc:
        raise ScenarioError(exc.message) from None
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path} is not a scenario: a scenario is a mapping")
    unknown = sorted(set(data).difference(SCENARIO_KEYS), key=str)
    if unknown:
        close = did_you_mean(str(unknown[0]), SCENARIO_KEYS)
        raise ScenarioError(
            f"{path} is not a scenario: unknown key `{unknown[0]}` "
            + (f"(did you mean `{close}`?)" if close else f"(known: {', '.join(SCENARIO_KEYS)})")
        )
    base = data.pop("base", None)
    if base is not None:
        merged = load_scenario(str(base))
        merged.update(data)
        return merged
    return data


@dataclass
class _MarketSpec:
    market: SimMarket
    path: dict[str, Any] | None
    quote: QuoteLadder | None
    book: dict[str, list[list[str]]]
    close_after: float
    fee_waiver: float | None = None


def build_exchange(
    scenario: str | Path | None,
    *,
    clock: Clock,
    journal: Path | None = None,
    speed: float = 1.0,
) -> Exchange:
    """An exchange with `scenario` installed (a builtin name, a YAML path, None = "empty"), its
    background participants driven by `exchange.tick()`; `speed` multiplies how fast the price
    paths advance. With a `journal` that already holds state, that state is restored instead
    of installing the scenario again."""
    if speed <= 0:
        raise ScenarioError("speed must be positive")
    data = load_scenario(scenario)
    fees = SCENARIO_STANDARD_FEES if data.get("fees") is None else _fees(data["fees"])
    specs = _market_specs(data)
    execution_timer_s = _execution_timer(data.get("rfq"))
    delay_s, rebalance_s = _shard_timing(data.get("shards"))
    exchange = Exchange(clock, fees=fees, journal=journal)
    exchange.communications.execution_timer_s = execution_timer_s
    exchange.shard_transfers.delay_s = delay_s
    exchange.shard_transfers.rebalance_s = rebalance_s
    if not exchange.restored:
        _install(exchange, data, specs, clock.wall())
    else:
        _install_gained(exchange, data, specs, clock.wall())
    _indices(exchange, data.get("indices") or [], _base_dir(scenario), clock.wall())
    if data.get("crypto") is not None:
        try:
            crypto.attach(exchange, data["crypto"])
        except crypto.CryptoSpecError as exc:
            raise ScenarioError(str(exc)) from exc
    _attach(exchange, data, specs, speed)
    return exchange


def _execution_timer(spec: Any) -> float:
    """`rfq: {execution_timer_seconds: N}`: how long a confirmed RFQ quote waits for its
    execution (sim/core/communications.py); the guide's standard 15 s when not set."""
    [timer] = _durations(spec, "rfq", {"execution_timer_seconds": EXECUTION_TIMER_S})
    return timer


def _shard_timing(spec: Any) -> tuple[float, float]:
    """`shards: {transfer_delay_seconds: N, rebalance_seconds: M}`: how long a cross-shard
    transfer stays pending (default 0: done at the next tick), and how often the target balance
    allocations are applied (default 60; 0: never) (sim/core/shard_transfers.py)."""
    delay, rebalance = _durations(
        spec, "shards", {"transfer_delay_seconds": 0.0, "rebalance_seconds": DEFAULT_REBALANCE_S}
    )
    return delay, rebalance


def _durations(spec: Any, section: str, defaults: dict[str, float]) -> list[float]:
    """A scenario section of durations in seconds (0 or more), in the order of `defaults`, each
    its default when not given (the whole section too)."""
    if spec is None:
        return list(defaults.values())
    first = next(iter(defaults))
    if not isinstance(spec, dict):
        raise ScenarioError(f"{section}: a mapping, e.g. {{{first}: {defaults[first]:g}}}")
    unknown = set(spec) - set(defaults)
    if unknown:
        raise ScenarioError(f"{section}: unknown key(s) {sorted(unknown)}")
    out = []
    for key, default in defaults.items():
        value = spec.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ScenarioError(f"{section}.{key}: a number of seconds, 0 or more, not {value!r}")
        out.append(float(value))
    return out


def _base_dir(scenario: str | Path | None) -> Path:
    """Where a scenario's relative file names (an index's `replay`) are found: beside it."""
    if isinstance(scenario, Path) or (scenario or "").endswith((".yaml", ".yml")):
        return Path(str(scenario)).parent
    return _scenario_dir()


def _indices(exchange: Exchange, specs: list[Any], base: Path, now: float) -> None:
    """The scenario's reference indices (sim/core/indices.py), each a `walk` or a `replay`:

    indices:
      - id: BRTI                    # a CF Benchmarks index id, or a Pyth underlying
        source: cfbenchmarks        # or pyth
        walk: {start: "95000.00", volatility: "0.0001", jumps_per_hour: "2",
               jump_size: "0.003", seed: 1, places: "0.01"}
      - id: ETHUSD_RTI
        replay: eth.csv             # offset_s,value rows, beside the scenario file
    """
    feed = indices.of(exchange, origin_s=now)
    for spec in specs:
        if not isinstance(spec, dict) or "id" not in spec:
            raise ScenarioError("indices: each index is a mapping with an id")
        index_id = str(spec["id"])
        what = f"indices.{index_id}"
        unknown = set(spec) - {"id", "source", "walk", "replay"}
        if unknown:
            raise ScenarioError(f"{what}: unknown key(s) {sorted(unknown)}")
        source = spec.get("source", "cfbenchmarks")
        if source not in ("cfbenchmarks", "pyth"):
            raise ScenarioError(f"{what}: source is cfbenchmarks or pyth, not {source!r}")
        if ("walk" in spec) == ("replay" in spec):
            raise ScenarioError(f"{what}: give exactly one of walk and replay")
        path: indices.RandomWalk | indices.Replay
        try:
            if "replay" in spec:
                path = indices.Replay.read(base / str(spec["replay"]))
            else:
                path = _walk(spec["walk"], what)
            feed.add(index_id, source, path)
        except indices.IndexSpecError as exc:
            raise ScenarioError(f"{what}: {exc}") from exc


def _walk(w: Any, what: str) -> indices.RandomWalk:
    if not isinstance(w, dict) or "start" not in w or "volatility" not in w:
        raise ScenarioError(f"{what}.walk: needs start and volatility")
    unknown = set(w) - {"start", "volatility", "jumps_per_hour", "jump_size", "seed", "places"}
    if unknown:
        raise ScenarioError(f"{what}.walk: unknown key(s) {sorted(unknown)}")
    return indices.RandomWalk(
        _dec(w["start"], f"{what}.walk.start"),
        volatility=_dec(w["volatility"], f"{what}.walk.volatility"),
        jumps_per_hour=_dec(w.get("jumps_per_hour", "0"), f"{what}.walk.jumps_per_hour"),
        jump_size=_dec(w.get("jump_size", "0"), f"{what}.walk.jump_size"),
        seed=int(w.get("seed", 0)),
        places=_dec(w.get("places", "0.01"), f"{what}.walk.places"),
    )


def _fees(data: Any) -> FeeModel:
    """The scenario's default fee model, in the Series' own terms (`fee_type`, a multiplier),
    both given (a scenario without `fees` charges `SCENARIO_STANDARD_FEES`)."""
    if not isinstance(data, dict):
        raise ScenarioError('fees: a mapping, e.g. {fee_type: quadratic, fee_multiplier: "1"}')
    unknown = set(data) - {"fee_type", "fee_multiplier"}
    if unknown:
        raise ScenarioError(
            f"fees: unknown key(s) {sorted(unknown)}; fees take fee_type and fee_multiplier"
        )
    try:
        return FeeModel.from_api(data.get("fee_type"), data.get("fee_multiplier"))
    except FeeModelError as exc:
        raise ScenarioError(f"fees: {exc}") from exc


def _dec(value: Any, what: str) -> Decimal:
    try:
        return parse_decimal(value if not isinstance(value, int) else str(value), what=what)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{what}: {exc} (write numbers as quoted strings)") from exc


def _market_specs(
    data: dict[str, Any],
) -> list[tuple[SimSeries, list[tuple[SimEvent, list[_MarketSpec]]]]]:
    out = []
    try:
        for s in data.get("series") or []:
            multiplier = s.get("fee_multiplier")
            series = SimSeries(
                ticker=s["ticker"],
                title=s["title"],
                category=s.get("category", "Simulated"),
                frequency=s.get("frequency", "daily"),
                tags=list(s.get("tags") or []),
                fee_type=s.get("fee_type"),
                fee_multiplier=None if multiplier is None else str(multiplier),
                exchange_index=_shard(s.get("exchange_index", 0), f"series {s['ticker']}"),
            )
            try:
                series_fees(series.fee_type, series.fee_multiplier)
            except FeeModelError as exc:
                raise ScenarioError(f"series {series.ticker}: {exc}") from exc
            _fee_changes(s)
            # the default of the series' markets
            timer = _timer(s.get("settlement_timer_seconds", 0), f"series {series.ticker}")
            events = []
            for e in s.get("events") or []:
                multiplier = e.get("fee_multiplier_override")
                try:
                    event = SimEvent(
                        event_ticker=e["event_ticker"],
                        series_ticker=series.ticker,
                        title=e["title"],
                        sub_title=e.get("sub_title", ""),
                        mutually_exclusive=bool(e.get("mutually_exclusive", False)),
                        fee_type_override=e.get("fee_type_override"),
                        fee_multiplier_override=None if multiplier is None else str(multiplier),
                        collateral_return_type=str(e.get("collateral_return_type", "")),
                        exchange_index=_shard(
                            e.get("exchange_index", series.exchange_index),
                            f"event {e['event_ticker']}",
                        ),
                    )
                except ExchangeError as exc:
                    raise ScenarioError(f"event {e['event_ticker']}: {exc.message}") from exc
                _event_fee_override(
                    event.event_ticker, event.fee_type_override, event.fee_multiplier_override
                )
                _event_fee_changes(e)
                markets = [_market_spec(m, event, timer) for m in e.get("markets") or []]
                events.append((event, markets))
            out.append((series, events))
    except KeyError as exc:
        raise ScenarioError(f"scenario: missing field {exc}") from exc
    return out


def _shard(value: Any, what: str) -> int:
    """A series' or event's `exchange_index`: the shard it and its markets are on (an event
    takes its series' unless it names its own)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SHARD_MAX:
        raise ScenarioError(f"{what}: exchange_index is an integer from 0 to {SHARD_MAX}")
    return value


def _timer(value: Any, what: str) -> int:
    """A series' or market's `settlement_timer_seconds`, by the exchange's one rule."""
    try:
        return settlement_timer(value)
    except ExchangeError as exc:
        raise ScenarioError(f"{what}: {exc.message}") from exc


def _scheduled(changes: Any, what: str, first: str, second: str) -> Iterator[dict[str, Any]]:
    """A series' or an event's `fee_changes`, each checked, as it comes, to take its two terms
    (`first`, `second`) and `after_seconds`, and nothing else."""
    for c in changes or []:
        if set(c) - {first, second, "after_seconds"} or "after_seconds" not in c:
            raise ScenarioError(f"{what}: each takes {first}, {second} and after_seconds")
        yield c


def _fee_changes(s: dict[str, Any]) -> list[tuple[str, str, float]]:
    """A series' `fee_changes`: (fee_type, fee_multiplier, seconds after install) each."""
    out = []
    what = f"series {s['ticker']} fee_changes"
    for c in _scheduled(s.get("fee_changes"), what, "fee_type", "fee_multiplier"):
        try:
            fees = FeeModel.from_api(c.get("fee_type"), c.get("fee_multiplier"))
        except FeeModelError as exc:
            raise ScenarioError(f"{what}: {exc}") from exc
        out.append((fees.fee_type.value, str(fees.multiplier), float(c["after_seconds"])))  # s
    return out


def _event_fee_override(what: str, fee_type: Any, multiplier: str | None) -> None:
    """Each half of an event's override on its own: either may be null (the series' own)."""
    try:
        check_fee_override(fee_type, multiplier)
    except FeeModelError as exc:
        raise ScenarioError(f"event {what}: {exc}") from exc


def _event_fee_changes(e: dict[str, Any]) -> list[tuple[str | None, str | None, float]]:
    """An event's `fee_changes`: (fee_type_override, fee_multiplier_override, seconds after
    install) each; a null half falls back to the series' own, both null clear the
    override."""
    out = []
    what = f"{e['event_ticker']} fee_changes"
    terms = ("fee_type_override", "fee_multiplier_override")
    for c in _scheduled(e.get("fee_changes"), f"event {what}", *terms):
        raw = c.get("fee_multiplier_override")
        multiplier = None if raw is None else str(raw)
        _event_fee_override(what, c.get("fee_type_override"), multiplier)
        fee_type = c.get("fee_type_override")
        out.append(
            (
                None if fee_type is None else str(fee_type),
                multiplier,
                float(c["after_seconds"]),
            )
        )
    return out


def _market_spec(m: dict[str, Any], event: SimEvent, series_timer: int) -> _MarketSpec:
    """A market of the scenario; `series_timer`: its series' `settlement_timer_seconds`, taken
    unless it sets its own."""
    structure = m.get("price_level_structure", "linear_cent")
    if structure not in PRICE_STRUCTURES:
        raise ScenarioError(f"{m['ticker']}: unknown price_level_structure {structure!r}")
    close_after = float(m.get("close_after_seconds", _DEFAULT_CLOSE))
    market = SimMarket(
        ticker=m["ticker"],
        event_ticker=event.event_ticker,
        series_ticker=event.series_ticker,
        title=m.get("title", event.title),
        yes_sub_title=m.get("yes_sub_title", ""),
        no_sub_title=m.get("no_sub_title", ""),
        status="open",
        price_level_structure=structure,
        price_ranges=PRICE_STRUCTURES[structure],
        open_time=0.0,  # the times are set at install
        close_time=0.0,
        latest_expiration_time=0.0,
        created_time=0.0,
        updated_time=0.0,
        rules_primary=m.get("rules_primary", ""),
        rules_secondary=m.get("rules_secondary", ""),
        fractional_trading_enabled=bool(fractional_flag(m)),
        strike_type=str(m.get("strike_type", "")),
        floor_strike=None
        if m.get("floor_strike") is None
        else _dec(m["floor_strike"], "floor_strike"),
        cap_strike=None if m.get("cap_strike") is None else _dec(m["cap_strike"], "cap_strike"),
        settlement_timer_seconds=_timer(
            m.get("settlement_timer_seconds", series_timer), str(m["ticker"])
        ),
    )
    quote = None
    if "quote" in m:
        q = m["quote"]
        quote = QuoteLadder(
            half_spread=_dec(q["half_spread"], f"{market.ticker}.quote.half_spread"),
            size=_dec(q["size"], f"{market.ticker}.quote.size"),
            levels=int(q.get("levels", 2)),
            step=_dec(q.get("step", "0.01"), f"{market.ticker}.quote.step"),
        )
    waiver = m.get("fee_waiver_seconds")
    return _MarketSpec(
        market,
        m.get("path"),
        quote,
        m.get("book") or {},
        close_after,
        None if waiver is None else float(waiver),
    )


def _all_markets(specs: list[Any]) -> list[_MarketSpec]:
    return [ms for _, events in specs for _, markets in events for ms in markets]


def _install(exchange: Exchange, data: dict[str, Any], specs: list[Any], now: float) -> None:
    """Put a scenario on a new exchange, one section at a time, in this order: its reference
    data, its scheduled fee changes, its participants' accounts, the books it starts with."""
    _install_reference(exchange, specs, now)
    _install_fee_changes(exchange, data, now)
    markets = _all_markets(specs)
    _install_participants(exchange, data, markets)
    _install_books(exchange, data, markets)


def _install_gained(exchange: Exchange, data: dict[str, Any], specs: list[Any], now: float) -> None:
    """Into a restored exchange, the scenario's series, events and markets it lacks (the
    scenario gained them since the state was written, as the builtin `default` did after
    0.2.0), listed and given their books as a fresh install would, and journaled: a restart
    restores them. Without this, the scenario's participants trade markets the exchange does
    not list."""
    ref = exchange.reference
    gained = []
    for series, events in specs:
        new_events = []
        for event, markets in events:
            new = [ms for ms in markets if ms.market.ticker not in ref.markets]
            if new or event.event_ticker not in ref.events:
                new_events.append((event, new))
        if new_events or series.ticker not in ref.series:
            gained.append((series, new_events))
    if gained:
        _install_reference(exchange, gained, now)
        _install_books(exchange, data, _all_markets(gained))


def _install_reference(exchange: Exchange, specs: list[Any], now: float) -> None:
    """The series, events and markets (a series or event listed already is kept), each
    market's times set from `now`."""
    ref = exchange.reference
    for series, events in specs:
        if series.ticker not in ref.series:
            ref.add_series(series)
        for event, markets in events:
            if event.event_ticker not in ref.events:
                ref.add_event(event)
            for ms in markets:
                m = ms.market
                m.open_time = now - 60
                m.created_time = m.updated_time = now
                m.close_time = now + ms.close_after
                m.latest_expiration_time = m.close_time + 7 * 86_400
                if ms.fee_waiver is not None:
                    m.fee_waiver_expiration_time = now + ms.fee_waiver
                exchange.add_market(m)


def _install_fee_changes(exchange: Exchange, data: dict[str, Any], now: float) -> None:
    """The series' and events' fee changes, scheduled from `now`."""
    for s in data.get("series") or []:
        for fee_type, multiplier, after in _fee_changes(s):
            exchange.schedule_fee_change(s["ticker"], fee_type, multiplier, now + after)
        for e in s.get("events") or []:
            for override, override_multiplier, after in _event_fee_changes(e):
                exchange.schedule_event_fee_change(
                    e["event_ticker"], override, override_multiplier, now + after
                )


def _install_participants(
    exchange: Exchange, data: dict[str, Any], markets: list[_MarketSpec]
) -> None:
    """The accounts of the liquidity provider (when a market is quoted) and the noise
    traders, each with its cash on every shard the scenario's markets are on."""
    shards = tuple(exchange_shards(exchange.reference))
    lp = data.get("liquidity_provider")
    if lp is not None and any(ms.quote for ms in markets):
        exchange.accounts.create_account(
            key_id=LP_KEY,
            public_key_pem="",
            cash_cents=int(lp.get("cash_cents", 100_000_000)),
            shards=shards,
        )
    noise = data.get("noise_traders")
    if noise is not None:
        for n in range(int(noise.get("count", 1))):
            exchange.accounts.create_account(
                key_id=NOISE_KEY.format(n=n + 1),
                public_key_pem="",
                cash_cents=int(noise.get("cash_cents", 10_000_000)),
                shards=shards,
            )


def _install_books(exchange: Exchange, data: dict[str, Any], markets: list[_MarketSpec]) -> None:
    """The books the markets start with, rested by the book maker's account (made only when
    a market has one)."""
    if not any(ms.book for ms in markets):
        return
    maker = exchange.subaccounts.account_by_key(BOOK_MAKER_KEY) or (
        exchange.accounts.create_account(
            key_id=BOOK_MAKER_KEY,
            public_key_pem="",
            cash_cents=int(data.get("book_maker_cash_cents", 100_000_000)),
            shards=tuple(exchange_shards(exchange.reference)),
        )
    )
    for ms in markets:
        for side_name, book_side in (("yes_bids", BookSide.BID), ("no_bids", BookSide.ASK)):
            for price, size in ms.book.get(side_name, []):
                own = _dec(price, f"{ms.market.ticker}.book.{side_name}")
                exchange.desk.place_order(
                    maker.account_id,
                    PlaceRequest(
                        ticker=ms.market.ticker,
                        book_side=book_side,
                        price=own if book_side is BookSide.BID else 1 - own,
                        count=_dec(size, f"{ms.market.ticker}.book.{side_name}"),
                        time_in_force=TimeInForce.GTC,
                        self_trade_prevention=SelfTradePrevention.MAKER,
                    ),
                )


def _path(spec: dict[str, Any], ticker: str, paths: dict[str, PricePath]) -> PricePath:
    kind = spec.get("kind")
    try:
        if kind == "flat":
            return FlatPath(_dec(spec["price"], f"{ticker}.path.price"))
        if kind == "drift":
            return DriftPath(
                _dec(spec["low"], f"{ticker}.path.low"),
                _dec(spec["high"], f"{ticker}.path.high"),
                float(spec["period"]),
            )
        if kind == "spike":
            return SpikePath(
                _dec(spec["base"], f"{ticker}.path.base"),
                _dec(spec["peak"], f"{ticker}.path.peak"),
                float(spec["period"]),
                float(spec.get("start", 0)),
                float(spec["rise"]),
                float(spec["hold"]),
                float(spec["revert"]),
            )
        if kind == "complement":
            other = paths[spec["of"]]
            path: PricePath = ComplementPath(other)
            if "dip" in spec:
                path = DipWindow(
                    path,
                    _dec(spec["dip"], f"{ticker}.path.dip"),
                    float(spec["period"]),
                    float(spec.get("start", 0)),
                    float(spec["duration"]),
                )
            return path
    except KeyError as exc:
        raise ScenarioError(f"{ticker}: path {kind} needs {exc}") from exc
    raise ScenarioError(f"{ticker}: unknown path kind {kind!r}")


def _attach(exchange: Exchange, data: dict[str, Any], specs: list[Any], speed: float) -> None:
    markets = _all_markets(specs)
    paths: dict[str, PricePath] = {}
    for ms in markets:  # in file order, so a complement names a market defined before it
        if ms.path is not None:
            paths[ms.market.ticker] = _path(ms.path, ms.market.ticker, paths)
    lp_account = exchange.subaccounts.account_by_key(LP_KEY)
    quoted = {
        ms.market.ticker: (paths[ms.market.ticker], ms.quote)
        for ms in markets
        if ms.quote is not None and ms.market.ticker in paths
    }
    if lp_account is not None and quoted:
        lp = data.get("liquidity_provider") or {}
        exchange.add_tick_hook(
            LiquidityProvider(
                exchange,
                lp_account.account_id,
                quoted,
                origin=exchange.reference.created_time,
                speed=speed,
                refresh=float(lp.get("refresh_seconds", 1.0)),
            )
        )
    noise = data.get("noise_traders")
    if noise is not None:
        tickers = list(quoted) or [ms.market.ticker for ms in markets]
        seed = int(noise.get("seed", 0))
        for n in range(int(noise.get("count", 1))):
            account = exchange.subaccounts.account_by_key(NOISE_KEY.format(n=n + 1))
            if account is None:
                continue
            exchange.add_tick_hook(
                NoiseTrader(
                    exchange,
                    account.account_id,
                    tickers,
                    rng=random.Random(seed + n),
                    mean_interval=float(noise.get("mean_interval_seconds", 8.0)),
                    max_size=int(noise.get("max_size", 5)),
                )
            )


def scenario_history(scenario: str | Path | None) -> HistoryPolicy:
    """The historical tier's lag a scenario sets (`historical: {lag_seconds: N,
    position_buffer_seconds: M}`, sim/core/historical.py); the defaults when it sets none."""
    try:
        return policy_from(load_scenario(scenario).get("historical"))
    except HistoryPolicyError as exc:
        raise ScenarioError(f"historical: {exc}") from exc
