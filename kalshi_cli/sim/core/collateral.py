"""Two components of the simulated exchange's accounts (`accounts.Ledger` has one of each): the
collateral returned across an event to a netting subaccount (`CollateralReturn`), and the maker
fee reserve a resting order holds per contract (`FeeReserve`). docs/simulator.md "Accounts:
money, fees and collateral".
"""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.sim.core.account_state import AccountState
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.vocabulary.event_outcomes import EventLeg, MarketStrike, event_outcomes
from kalshi_cli.vocabulary.models import FEE_QUANTUM, trading_fee
from kalshi_cli.vocabulary.units import COUNT_QUANTUM, ONE, ZERO


class CollateralReturn:
    """Which accounts net (their subaccount has netting enabled) and what was returned to each
    across an event (help.kalshi.com "Collateral return"); the returned money is in the
    account's cash already."""

    def __init__(self, reference: Reference) -> None:
        self._ref = reference
        # the ledger ids whose subaccount has netting enabled, and ledger id -> event -> what
        # was returned for the event
        self.netting: set[str] = set()
        self.returned: dict[str, dict[str, Decimal]] = {}

    def nets(self, account_id: str) -> bool:
        """Whether a trade of the account moves its collateral return: netting is enabled, or
        a return made while it was is still out."""
        return account_id in self.netting or account_id in self.returned

    def event_return(
        self, acct: AccountState, event_ticker: str, ticker: str = "", position: Decimal = ZERO
    ) -> Decimal:
        """What the account's positions in the event are sure to be paid at settlement, its
        position in `ticker` read as `position` (a plan's): with netting on, the collateral
        returned for the event, so what stays held is the event's worst-case loss (off, never
        more than was returned already). A settled market fixes its own result."""
        held = {t: p.position for t, p in acct.positions.items()}
        if ticker:
            held[ticker] = position
        legs = []
        for held_ticker, count in held.items():
            market = self._ref.markets[held_ticker]
            if market.event_ticker != event_ticker:
                continue
            strike = (
                MarketStrike(market.strike_type, market.floor_strike, market.cap_strike)
                if market.strike_type
                else None
            )
            legs.append(
                EventLeg(
                    held_ticker,
                    yes=count if count > ZERO else ZERO,
                    no=-count if count < ZERO else ZERO,
                    strike=strike,
                    floor=market.settlement_floor or ZERO,
                    result=market.result or None,
                )
            )
        event = self._ref.events[event_ticker]
        sure = ZERO
        if any(leg.yes or leg.no for leg in legs):
            sure = event_outcomes(event.collateral_return_type, legs).worst.pnl
        if acct.account.account_id not in self.netting:
            sure = min(sure, self.returned.get(acct.account.account_id, {}).get(event_ticker, ZERO))
        return sure

    def return_change(self, acct: AccountState, ticker: str, position: Decimal) -> Decimal:
        """How the account's cash would move were its position in `ticker` `position`: the
        change in the collateral returned for the market's event."""
        event_ticker = self._ref.markets[ticker].event_ticker
        if not self._ref.events[event_ticker].collateral_return_type:
            return ZERO
        returned = self.returned.get(acct.account.account_id, {}).get(event_ticker, ZERO)
        return self.event_return(acct, event_ticker, ticker, position) - returned

    def net_event(self, acct: AccountState, ticker: str) -> None:
        """Bring the collateral returned for `ticker`'s event up to date after a change of the
        account's positions there: the difference moves into (or out of) its cash. The caller
        syncs the balance."""
        event_ticker = self._ref.markets[ticker].event_ticker
        if not self._ref.events[event_ticker].collateral_return_type:
            return
        account_id = acct.account.account_id
        returned = self.returned.get(account_id, {})
        old = returned.get(event_ticker, ZERO)
        new = self.event_return(acct, event_ticker)
        if new == old:
            return
        shard = self._ref.events[event_ticker].exchange_index
        acct.cash[shard] = acct.cash.get(shard, ZERO) + new - old
        if new:
            self.returned.setdefault(account_id, returned)[event_ticker] = new
        else:
            returned.pop(event_ticker, None)
            if not returned:
                self.returned.pop(account_id, None)

    def netted(self, ticker: str) -> bool:
        """Whether the market's event has a collateral return (MECNET or DIRECNET)."""
        return bool(self._ref.events[self._ref.markets[ticker].event_ticker].collateral_return_type)

    def covers(self, acct: AccountState, ticker: str) -> bool:
        """Whether the account's position in `ticker` frees the orders that would close it from
        holding their cost. Not where it nets in a netting event: a closing fill pays $1 less
        its price but may take back up to $1 returned, so the order holds its price (the most
        its fill can take back)."""
        return not (self.nets(acct.account.account_id) and self.netted(ticker))

    def can_net(self, acct: AccountState) -> bool:
        """Whether the account's available cash on each shard covers what its resting orders
        in netting events there would hold with netting on (`covers`): their whole cost and
        reserve."""
        more: dict[int, Decimal] = {}
        for ticker, agg in acct.agg.items():
            if self.netted(ticker):
                shard = self._ref.markets[ticker].exchange_index
                extra = agg[0] + agg[2] + agg[4] - acct.held.get(ticker, ZERO)
                more[shard] = more.get(shard, ZERO) + extra
        return all(
            acct.cash.get(shard, ZERO) - acct.held_on.get(shard, ZERO) >= extra
            for shard, extra in more.items()
        )

    def returned_dollars(self, account_id: str, event_ticker: str) -> Decimal:
        return self.returned.get(account_id, {}).get(event_ticker, ZERO)


class FeeReserve:
    """The maker fee reserve per contract of a resting order, by market and own price, worked
    out once and kept (`cache`, read first on the matching engine's hot path)."""

    def __init__(self, reference: Reference) -> None:
        self._ref = reference
        # ticker -> own price -> the maker fee reserve per contract (`rate`)
        self.cache: dict[str, dict[Decimal, Decimal]] = {}
        # ticker -> the maker rate its reserve is held at (`FeeSchedules.reserve_fees`): the
        # same at every price, worked out once a market, not once a price
        self._maker: dict[str, Decimal] = {}

    def rate(self, ticker: str, own: Decimal) -> Decimal:
        """The fee reserve per contract of a resting order at `own`: per tradable unit, one
        unit's trade fee at the series' maker rate (a waiver ignored: it may expire while the
        order rests) plus $0.0001 when a unit's revenue has digits below $0.0001 (more than a
        rounding fee can be). Linear in the count, and never less than what fills charge."""
        rates = self.cache.get(ticker)
        rate = None if rates is None else rates.get(own)
        return self.new_rate(ticker, own) if rate is None else rate

    def new_rate(self, ticker: str, own: Decimal) -> Decimal:
        market = self._ref.markets[ticker]
        maker_rate = self._maker.get(ticker)
        if maker_rate is None:
            maker_rate = self._ref.fees.reserve_fees(market.series_ticker, market.event_ticker)
            self._maker[ticker] = maker_rate
        unit = COUNT_QUANTUM if market.fractional_trading_enabled else ONE
        per_unit = trading_fee(unit, own, maker_rate)
        if unit * own != (unit * own).quantize(FEE_QUANTUM):
            per_unit += FEE_QUANTUM  # rounding fees arise with or without a maker rate
        rate = per_unit / unit
        self.cache.setdefault(ticker, {})[own] = rate
        return rate

    def forget(self, tickers: list[str]) -> None:
        """Drop the rates kept for `tickers`, whose series' reserve rate may have changed."""
        for ticker in tickers:
            self.cache.pop(ticker, None)
            self._maker.pop(ticker, None)
