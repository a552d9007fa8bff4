"""The simulated exchange's market lifecycle and settlement: opening, pausing (cancelling the orders
placed with `cancel_order_on_pause`), closing, determining and settling. A market is determined
first (its result known, resting orders cancelled, lifecycle `determined`), then settled
`settlement_timer_seconds` later (openapi `Market`: "The amount of time after determination
that the market settles"): each contract pays its side's value ($1.00 to the winner, or a
settlement floor's split), in whole cents, what rounding leaves a settlement fee (lifecycle
`settled`). `settle` does both at once.
"""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.matching import MatchingEngine
from kalshi_cli.sim.core.records import (
    ExchangeError,
    MarketLifecycle,
    MarketStatus,
    PositionChanged,
    SimMarket,
    SimOrder,
    SimSettlement,
    bad_request,
)
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.vocabulary.event_outcomes import settlement_paid
from kalshi_cli.vocabulary.models import MarketResult, is_market_result
from kalshi_cli.vocabulary.units import ONE, ZERO

_LIFECYCLE_EVENT = {
    "open": "activated",
    "paused": "deactivated",
    "closed": "deactivated",
    "unopened": "deactivated",
}


class SettlementDesk:
    """Market status changes and settlement (see the module docstring)."""

    def __init__(self, reference: Reference, ledger: Ledger, engine: MatchingEngine) -> None:
        self._ref = reference
        self._ledger = ledger
        self._engine = engine

    def set_market_status(self, ticker: str, status: MarketStatus) -> SimMarket:
        """Closing or pausing cancels nothing by itself (as Kalshi), except that pausing
        cancels the resting orders placed with `cancel_order_on_pause`; orders cannot be placed
        unless the market is open."""
        market = self._ref.market(ticker)
        if market.status in ("determined", "settled"):
            raise ExchangeError(409, "market_already_settled", f"{ticker} is {market.status}")
        if status not in _LIFECYCLE_EVENT:
            raise bad_request(f"cannot set status {status!r}")
        if status == market.status:
            return market
        now = self._ref.log("status", ticker=ticker, status=status)
        if market.status == "unopened" and status == "open":
            # opened before its scheduled time: `open_time` is when it opened
            market.open_time = min(market.open_time, now)
        market.status = status
        market.updated_time = now
        if self._ref.listeners:
            self._ref.emit(
                MarketLifecycle(ticker, _LIFECYCLE_EVENT[status], {"status": status}, now)
            )
        if status == "paused":
            self._engine.cancel([o for o in self._resting(ticker) if o.cancel_order_on_pause], now)
        return market

    def settle(
        self,
        ticker: str,
        result: MarketResult,
        expiration_value: str = "",
        *,
        at: float | None = None,  # unix seconds
        value: Decimal | None = None,
    ) -> SimMarket:
        """Determines the market (`determine`) and settles it (`pay_out`) at once, whatever its
        settlement timer; a market determined already is settled now, with the result it was
        determined (another result is a 409). `at`: the settlement's time when it is not the
        clock's now (a local venue stamps a settlement after the fills it follows: venue.py
        `LocalVenue.settle`)."""
        market = self._ref.market(ticker)
        if market.status != "determined":
            self.determine(ticker, result, expiration_value, at=at, value=value)
        elif (result, value) != (market.result, market.scalar_value):
            raise ExchangeError(
                409, "market_determined", f"{ticker} is determined {market.result} already"
            )
        return self.pay_out(ticker, at=at)

    def determine(
        self,
        ticker: str,
        result: MarketResult,
        expiration_value: str = "",
        *,
        at: float | None = None,  # unix seconds
        value: Decimal | None = None,
    ) -> SimMarket:
        """The market's result is known: its resting orders are cancelled, it trades no more,
        and it reads `determined` with its `result` until it is settled (`pay_out`),
        `settlement_timer_seconds` later (`settle_due`): nothing is paid before. Each contract is
        then paid its side's value ($1.00 to the winning side; on a floored market a NO result
        still pays YES the floor and NO the rest; a `scalar` result pays YES its `value`, from
        $0 to $1, and NO the rest). `expiration_value`: the value the result was read from (a
        crypto market's index value), served as the market's `expiration_value`."""
        market = self._ref.market(ticker)
        if not is_market_result(result):
            raise bad_request("result must be yes, no or scalar")
        if (result == "scalar") != (value is not None) or not ZERO <= (value or ZERO) <= ONE:
            raise bad_request("a scalar result, and it alone, takes a value from 0 to 1")
        if market.status in ("determined", "settled"):
            raise ExchangeError(409, "market_already_settled", f"{ticker} is {market.status}")
        now = self._ref.now() if at is None else at
        logged = {"expiration_value": expiration_value} if expiration_value else {}
        if value is not None:
            logged["value"] = str(value)
        self._ref.log_at(now, "determine", ticker=ticker, result=result, **logged)
        self._engine.cancel(self._resting(ticker), now)
        market.result = result
        market.scalar_value = value
        market.expiration_value = expiration_value
        market.status = "determined"
        market.determined_time = now
        market.updated_time = now
        if self._ref.listeners:
            self._ref.emit(MarketLifecycle(ticker, "determined", {"result": result}, now))
        return market

    def pay_out(self, ticker: str, *, at: float | None = None) -> SimMarket:
        """Settle a determined market: each holder paid its side's value, the settlement
        recorded, the market `settled` (`finalized` on the wire)."""
        market = self._ref.market(ticker)
        if market.status != "determined":
            raise ExchangeError(409, "market_not_determined", f"{ticker} is {market.status}")
        now = self._ref.now() if at is None else at
        self._ref.log_at(now, "pay_out", ticker=ticker)
        market.status = "settled"
        market.settled_time = now
        market.updated_time = now
        for account_id in self._ledger.holders[ticker]:
            self._pay(market, account_id, now)
        market.open_interest = ZERO
        if self._ref.listeners:
            self._ref.emit(MarketLifecycle(ticker, "settled", {"result": market.result}, now))
        return market

    def settle_due(self, now: float) -> None:
        """Settle every determined market whose settlement timer has run out, at the time it
        ran out."""
        for market in list(self._ref.markets.values()):
            due = market.settles_at
            if due is not None and due <= now:
                self.pay_out(market.ticker, at=due)

    def _resting(self, ticker: str) -> list[SimOrder]:
        """Every resting order of the market, account by account."""
        return [
            o
            for acct in self._ledger.states.values()
            for o in acct.resting.get(ticker, {}).values()
        ]

    def _pay(self, market: SimMarket, account_id: str, now: float) -> None:
        """Pay an account's position in a settled market its side's value, on the market's
        shard, and record the settlement."""
        ticker = market.ticker
        acct = self._ledger.states[account_id]
        pos = acct.positions[ticker]
        if pos.position == 0:
            return
        yes = pos.position > 0
        value = market.yes_settlement_value if yes else ONE - market.yes_settlement_value
        payout = abs(pos.position) * value
        # payout and settlement fee add up to the value before rounding (`settlement_paid`,
        # the one rule, which the collateral returned early counts too)
        paid = settlement_paid(payout)
        fee = payout - paid
        acct.settlements.append(
            SimSettlement(
                ticker=ticker,
                event_ticker=market.event_ticker,
                market_result=market.result,
                yes_count=pos.position if yes else ZERO,
                yes_total_cost=pos.cost_basis if yes else ZERO,
                no_count=ZERO if yes else -pos.position,
                no_total_cost=ZERO if yes else pos.cost_basis,
                revenue_cents=int(paid * 100),
                fee_cost=fee,
                settled_time=now,
                yes_value=market.yes_settlement_value,
            )
        )
        shard = market.exchange_index
        acct.cash[shard] = acct.cash.get(shard, ZERO) + paid
        # as a fill's: the P&L before fees, the fee beside it
        pos.realized_pnl += payout - pos.cost_basis
        pos.fees_paid += fee
        pos.cost_basis = ZERO
        pos.position = ZERO
        pos.last_updated = now
        collateral = self._ledger.collateral
        if collateral.nets(account_id):
            # what was returned early is no longer paid here (help.kalshi.com "Collateral
            # return": the positions "receive $1 ... and $0 if one of them is")
            collateral.net_event(acct, ticker)
        acct.sync(now)
        if self._ref.listeners:
            self._ref.emit(PositionChanged(account_id, ticker))
