"""Crypto markets shaped like Kalshi's: hourly and 15-minute events on a reference index, listed
ahead and opened, closed and settled on schedule, quoted by a market maker around the fair value.

A scenario's `crypto:` section names the series; each lists, for its current period and the next,
one event with Kalshi's tickers and strikes centred on the index (REFERENCE.md "Strikes"). A market
settles by Kalshi's crypto rule (`vocabulary.reference_index`) when its index's tick of the close
second arrives. The market maker is the scenario's `LiquidityProvider` around
`reference_index.probability_yes`. docs/simulator.md "Crypto markets".
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kalshi_cli.sim.core import indices
from kalshi_cli.sim.core.participants import LiquidityProvider, PricePath, QuoteLadder
from kalshi_cli.sim.core.records import SimEvent, SimMarket, SimSeries
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES
from kalshi_cli.vocabulary.reference_index import (
    WINDOW_S,
    Volatility,
    probability_yes,
    settlement_value,
    settles_yes,
)
from kalshi_cli.vocabulary.request_ranges import SHARD_MAX
from kalshi_cli.vocabulary.units import CENT

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange

log = logging.getLogger("kalshi_cli.sim.core.crypto")

PERIODS = {"hourly": 3600, "15min": 900}
KINDS = ("above", "below", "range")
NEW_YORK = ZoneInfo("America/New_York")
EXPIRATION_PLACES = Decimal("0.00000001")
FAIR_PLACES = Decimal("0.0001")
MAKER_KEY = "sim-crypto-market-maker"


@dataclass(frozen=True)
class CryptoSeries:
    ticker: str  # KXBTCD
    index_id: str  # BRTI
    name: str  # Bitcoin
    period_s: int  # 3600 or 900
    kind: str  # above, below or range
    strikes: int  # markets of an above/below event; buckets of a range event
    step: Decimal  # the strikes' spacing, dollars

    @property
    def frequency(self) -> str:
        return "hourly" if self.period_s == PERIODS["hourly"] else "15min"


@dataclass(frozen=True)
class Strike:
    suffix: str  # the market ticker's last part
    strike_type: str
    floor: Decimal | None
    cap: Decimal | None
    label: str  # yes_sub_title


def _text(x: Decimal) -> str:
    return format(x.normalize(), "f") if x == x.to_integral_value() else format(x, "f")


def _dollars(x: Decimal) -> str:
    return f"${x:,.2f}" if x != x.to_integral_value() else f"${int(x):,}"


def strikes(series: CryptoSeries, spot: Decimal) -> list[Strike]:
    """The markets of one event of `series` listed with the index at `spot`."""
    step = series.step
    center = (spot / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step
    if series.kind == "range":
        low = center - (series.strikes // 2) * step
        out = [Strike(f"T{_text(low - CENT)}", "less", None, low, f"{_dollars(low)} or below")]
        for i in range(series.strikes):
            floor = low + i * step
            cap = floor + step - CENT
            mid = floor + step / 2
            label = f"{_dollars(floor)} to {_dollars(cap)}"
            out.append(Strike(f"B{_text(mid)}", "between", floor, cap, label))
        high = low + series.strikes * step - CENT
        out.append(Strike(f"T{_text(high)}", "greater", high, None, f"{_dollars(high)} or above"))
        return out
    out = []
    for i in range(series.strikes):
        k = center + (i - series.strikes // 2) * step
        if series.kind == "above":
            out.append(
                Strike(f"T{_text(k - CENT)}", "greater", k - CENT, None, f"{_dollars(k)} or above")
            )
        else:
            out.append(Strike(f"T{_text(k)}", "less", None, k, f"below {_dollars(k)}"))
    return out


def event_ticker(series: CryptoSeries, close_s: int) -> str:
    """`SERIES-YYMONDDHH` (New York time of the close; 15-minute series add the minute)."""
    at = datetime.fromtimestamp(close_s, NEW_YORK)
    code = at.strftime("%y%b%d%H").upper()
    if series.period_s != PERIODS["hourly"]:
        code += at.strftime("%M")
    return f"{series.ticker}-{code}"


@dataclass(eq=False)
class FairValue:
    """A `PricePath` of one market's YES fair value (read with the exchange's time: the maker
    is built with origin 0 and speed 1)."""

    markets: CryptoMarkets
    market: SimMarket
    index_id: str

    def at(self, t: float) -> Decimal:
        feed = self.markets.feed
        spot = feed.latest(self.index_id)
        if spot is None:
            return Decimal("0.5")
        volatility = self.markets.volatility(self.index_id, t)
        if volatility.returns == 0:
            return Decimal("0.5")  # no return yet: nothing says how far the index may move
        close = int(self.market.close_time)
        observed = [float(v) for v in feed.values(self.index_id, close - WINDOW_S, close)]
        p = probability_yes(
            self.market.strike_type,
            self.market.floor_strike,
            self.market.cap_strike,
            spot=float(spot),
            sigma=volatility.sigma,
            seconds_to_close=close - t,
            observed=observed,
            dof=volatility.dof,
        )
        return Decimal(repr(p)).quantize(FAIR_PLACES)


class CryptoMarkets:
    """The crypto series of one exchange: lists on the exchange's tick, settles on the index
    feed's ticks, and feeds the market maker's books (see the module docstring)."""

    def __init__(
        self,
        exchange: Exchange,
        feed: indices.SimIndexFeed,
        series: list[CryptoSeries],
        *,
        maker: LiquidityProvider | None = None,
        quote: QuoteLadder | None = None,
        halflife_s: float = 300.0,
        exchange_index: int = 0,
    ) -> None:
        self.exchange = exchange
        self.feed = feed
        self.series = series
        self.maker = maker
        self.quote = quote
        self.halflife_s = halflife_s
        self.exchange_index = exchange_index  # the shard its series, events and markets are on
        self._by_ticker = {s.ticker: s for s in series}
        self._volatility: dict[str, tuple[int, Volatility]] = {}
        # index id -> markets not settled yet, found again from the exchange after a restart
        self._pending: dict[str, dict[str, SimMarket]] = {}
        for market in exchange.reference.markets.values():
            s = self._by_ticker.get(market.series_ticker)
            if s is not None and market.status != "settled":
                self._track(s, market)
        feed.add_listener(self.on_index)

    def _track(self, series: CryptoSeries, market: SimMarket) -> None:
        self._pending.setdefault(series.index_id, {})[market.ticker] = market
        if self.maker is not None and self.quote is not None:
            path: PricePath = FairValue(self, market, series.index_id)
            self.maker.books[market.ticker] = (path, self.quote)

    def volatility(self, index_id: str, now: float) -> Volatility:
        """The index's per-second volatility and what it is worth, estimated once a second
        from the retained whole-second values."""
        second = math.floor(now)
        cached = self._volatility.get(index_id)
        if cached is not None and cached[0] == second:
            return cached[1]
        value = Volatility(self.halflife_s).update(self.feed.points(index_id))
        self._volatility[index_id] = (second, value)
        return value

    # listing --------------------------------------------------------------------------------

    def __call__(self, now: float) -> None:
        for series in self.series:
            spot = self.feed.latest(series.index_id)
            if spot is None:
                continue  # nothing to centre the strikes on yet
            current = (math.floor(now) // series.period_s + 1) * series.period_s
            for close in (current, current + series.period_s):
                if event_ticker(series, close) not in self.exchange.reference.events:
                    self._list(series, close, spot, now)

    def _list(self, series: CryptoSeries, close: int, spot: Decimal, now: float) -> None:
        if series.ticker not in self.exchange.reference.series:
            self.exchange.reference.add_series(
                SimSeries(
                    ticker=series.ticker,
                    title=f"{series.name} price",
                    category="Crypto",
                    frequency=series.frequency,
                    tags=["Crypto", series.name],
                    exchange_index=self.exchange_index,
                )
            )
        ticker = event_ticker(series, close)
        when = _when(close)
        kind = "range" if series.kind == "range" else "above or below"
        self.exchange.reference.add_event(
            SimEvent(
                event_ticker=ticker,
                series_ticker=series.ticker,
                title=f"{series.name} price {kind} on {when}?",
                sub_title=f"At {when}",
                mutually_exclusive=series.kind == "range",
                exchange_index=self.exchange_index,
            )
        )
        opens = close - series.period_s
        for strike in strikes(series, spot):
            market = SimMarket(
                ticker=f"{ticker}-{strike.suffix}",
                event_ticker=ticker,
                series_ticker=series.ticker,
                title=f"{series.name} price on {when}?",
                yes_sub_title=strike.label,
                no_sub_title=strike.label,
                status="open" if opens <= now else "unopened",
                price_level_structure="linear_cent",
                price_ranges=PRICE_STRUCTURES["linear_cent"],
                open_time=float(opens),
                close_time=float(close),
                latest_expiration_time=float(close + 7 * 86_400),
                created_time=now,
                updated_time=now,
                rules_primary=_rules(series, strike, when),
                rules_secondary=(
                    "The settlement value is the mean of the index's 60 one-second values"
                    " before the close, the highest 12 and the lowest 12 left out."
                ),
                strike_type=strike.strike_type,
                floor_strike=strike.floor,
                cap_strike=strike.cap,
            )
            self.exchange.add_market(market)
            self._track(series, market)

    # settlement -----------------------------------------------------------------------------

    def on_index(self, tick: indices.SimIndexTick) -> None:
        """Settle the index's markets whose close this whole-second tick has reached."""
        if not tick.whole_second:
            return
        pending = self._pending.get(tick.index_id)
        if not pending:
            return
        second = tick.ts_ms // 1000
        due = [m for m in pending.values() if m.close_time <= second]
        for market in sorted(due, key=lambda m: (m.close_time, m.ticker)):
            del pending[market.ticker]
            if self.maker is not None:
                self.maker.books.pop(market.ticker, None)
            self._settle(market, tick.index_id)

    def _settle(self, market: SimMarket, index_id: str) -> None:
        if market.status == "settled":
            return
        close = int(market.close_time)
        values = self.feed.values(index_id, close - WINDOW_S, close)
        if market.status != "closed":
            self.exchange.settlement.set_market_status(market.ticker, "closed")
        if not values:
            log.warning("%s: no %s value in its settlement window", market.ticker, index_id)
            return
        value = settlement_value(values)
        yes = settles_yes(market.strike_type, market.floor_strike, market.cap_strike, value)
        expiration = str(value.quantize(EXPIRATION_PLACES))
        self.exchange.settlement.settle(market.ticker, "yes" if yes else "no", expiration)


def _when(close: int) -> str:
    """`Nov 23, 2026 at 5:00 PM EST`: the close in New York time, as Kalshi's titles."""
    at = datetime.fromtimestamp(close, NEW_YORK)
    half = "AM" if at.hour < 12 else "PM"
    return f"{at:%b %d, %Y} at {at.hour % 12 or 12}:{at:%M} {half} {at:%Z}"


def _rules(series: CryptoSeries, strike: Strike, when: str) -> str:
    if strike.strike_type == "between":
        where = f"between {strike.floor} and {strike.cap}, both included"
    elif strike.strike_type == "greater":
        where = f"above {strike.floor}"
    else:
        where = f"below {strike.cap}"
    return (
        f"If the {series.index_id} settlement value for {when} is {where}, then the market"
        " resolves to Yes."
    )


# the scenario file's section ----------------------------------------------------------------


class CryptoSpecError(ValueError):
    """A `crypto:` section that cannot be used; the message names the field."""


def series_from(data: Any) -> list[CryptoSeries]:
    out = []
    for n, s in enumerate(data or []):
        what = f"crypto.series[{n}]"
        if not isinstance(s, dict):
            raise CryptoSpecError(f"{what}: a series is a mapping")
        unknown = set(s) - {"ticker", "index", "name", "period", "kind", "strikes", "step"}
        if unknown:
            raise CryptoSpecError(f"{what}: unknown key(s) {sorted(unknown)}")
        try:
            period = PERIODS[str(s["period"])]
            kind = str(s["kind"])
            step = Decimal(str(s["step"]))
            series = CryptoSeries(
                str(s["ticker"]),
                str(s["index"]),
                str(s.get("name", s["ticker"])),
                period,
                kind,
                int(s["strikes"]),
                step,
            )
        except KeyError as exc:
            raise CryptoSpecError(f"{what}: needs {exc} (period: hourly or 15min)") from exc
        except ArithmeticError as exc:
            raise CryptoSpecError(f"{what}: step is a number of dollars") from exc
        if kind not in KINDS:
            raise CryptoSpecError(f"{what}: kind is one of {', '.join(KINDS)}")
        if series.strikes < 1 or step <= 0:
            raise CryptoSpecError(f"{what}: strikes and step must be positive")
        out.append(series)
    return out


def attach(exchange: Exchange, section: dict[str, Any]) -> CryptoMarkets:
    """The crypto series of a scenario's `crypto:` section, with its market maker (an account
    made once: a restored exchange finds it by key)."""
    series = series_from(section.get("series"))
    shard = section.get("exchange_index", 0)
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard <= SHARD_MAX:
        raise CryptoSpecError(f"crypto.exchange_index: an integer from 0 to {SHARD_MAX}")
    feed = indices.of(exchange)
    maker_spec = section.get("market_maker")
    maker = quote = None
    if maker_spec is not None:
        account = exchange.subaccounts.account_by_key(MAKER_KEY)
        if account is None:
            account = exchange.accounts.create_account(
                key_id=MAKER_KEY,
                public_key_pem="",
                cash_cents=int(maker_spec.get("cash_cents", 100_000_000)),
                shards=(shard,),
            )
        quote = QuoteLadder(
            half_spread=Decimal(str(maker_spec.get("half_spread", "0.02"))),
            size=Decimal(str(maker_spec.get("size", "25"))),
            levels=int(maker_spec.get("levels", 2)),
            step=Decimal(str(maker_spec.get("step", "0.01"))),
        )
        maker = LiquidityProvider(
            exchange,
            account.account_id,
            {},
            origin=0.0,  # the fair value reads the exchange's own time
            refresh=float(maker_spec.get("refresh_seconds", 1.0)),
        )
    markets = CryptoMarkets(
        exchange,
        feed,
        series,
        maker=maker,
        quote=quote,
        halflife_s=float(section.get("volatility_halflife_s", 300.0)),
        exchange_index=shard,
    )
    exchange.add_tick_hook(markets)  # after the index feed's: the values are in
    if maker is not None:
        exchange.add_tick_hook(maker)
    return markets
