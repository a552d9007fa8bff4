"""The simulated exchange's accounts: cash, positions, collateral for resting orders, the maker fee
reserve, the collateral returned across an event to a netting subaccount, and how one side of a
fill moves an account. The matching engine reaches `Ledger` through `EngineAccounts`.

Cash is kept per exchange shard (`exchange_index`), as Kalshi keeps "a separate balance" on each:
an order's cost, fees and collateral are checked and taken on its market's shard alone, a
settlement pays there, and only a transfer moves money between shards. The account's balance is
the sum over its shards. docs/simulator.md "Accounts: money, fees and collateral".
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from kalshi_cli.sim.core.client_ids import UsedClientIds
from kalshi_cli.sim.core.records import (
    Account,
    ExchangeError,
    SimFill,
    SimOrder,
    SimPosition,
    SimSettlement,
    bad_request,
    own_price,
)
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.vocabulary.event_outcomes import EventLeg, MarketStrike, event_outcomes
from kalshi_cli.vocabulary.models import FEE_QUANTUM, trading_fee
from kalshi_cli.vocabulary.units import COUNT_QUANTUM, ONE, ZERO, BookSide

EMPTY_AGG = (ZERO, ZERO, ZERO, ZERO, ZERO)
BID = BookSide.BID
HUNDRED = Decimal(100)  # a Decimal times an int converts the int each time
_COST_QUANTUM = Decimal("0.000001")  # a count (2 places) times a price (4 places)


def floor_cents(dollars: Decimal) -> int:
    cents = dollars * 100
    whole = int(cents)  # exact, toward zero: one step down for a negative fraction
    return whole - 1 if cents < whole else whole


def ceil_cents(dollars: Decimal) -> int:
    return int((dollars * 100).to_integral_value(rounding=ROUND_CEILING))


def fill_cash(
    position: Decimal, buy_yes: bool, own_price: Decimal, count: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(cash change before fees, contracts closed, new position) for buying `count` contracts
    of YES (`buy_yes`) or NO at `own_price`. A closed contract redeems a YES/NO pair for $1."""
    # `min(count, ...)` without a call, and ZERO rather than 0 (a Decimal compared with an int
    # converts the int each time): the hot path
    if buy_yes:
        closed = (-position if -position < count else count) if position < ZERO else ZERO
        new_position = position + count
    else:
        closed = (position if position < count else count) if position > ZERO else ZERO
        new_position = position - count
    opened = count - closed
    return closed * (ONE - own_price) - opened * own_price, closed, new_position


def direction_hold(
    orders: Iterable[SimOrder],
    bids: bool,
    free: Decimal,
    extra: tuple[Decimal, Decimal] | None = None,
) -> Decimal:
    """Collateral for one direction's resting `orders` (bids: buying YES), with `extra` (own price,
    count) after them, when `free` of them would close the opposite position: the free ones are
    counted against the cheapest orders (worst case)."""
    # `own_price(o)` without a call: the direction says which price it is
    if bids:
        entries = [(o.price, o.remaining_count) for o in orders if o.book_side is BID]
    else:
        entries = [(ONE - o.price, o.remaining_count) for o in orders if o.book_side is not BID]
    if extra is not None:
        entries.append(extra)
    entries.sort()
    # (once a separate `_covered_hold`) the free contracts against the cheapest first,
    # then each order left pays its own price for what free ones did not cover
    hold = ZERO
    for price, count in entries:
        if free >= count:
            free -= count
            continue
        hold += price * (count - free)
        free = ZERO
    return hold


def book_fill(  # noqa: PLR0917 (the hot path: positional, no re-computation)
    acct: AccountState,
    shard: int,
    pos: SimPosition,
    own: Decimal,
    count: Decimal,
    fee: Decimal,
    now: float,
    cash: tuple[Decimal, Decimal, Decimal],
    traded: Decimal,
) -> Decimal:
    """Move one side of a fill into the account's cash on `shard` (the market's): `pos` is its
    position record in the market, `cash` what `fill_cash` gave for this fill from that
    position, `traded` the caller's `count * own` (exact, so the same digits whichever side
    computes it). Returns the change in open interest."""
    old = pos.position
    delta, closed, new = cash
    if closed:
        held = abs(old)
        removed = (
            pos.cost_basis
            if closed == held
            else (pos.cost_basis * closed / held).quantize(_COST_QUANTUM)
        )
        pos.realized_pnl += closed * (ONE - own) - removed
        pos.cost_basis -= removed
    pos.cost_basis += (count - closed) * own
    pos.position = new
    pos.fees_paid += fee
    pos.total_traded += traded
    pos.volume += count
    pos.last_updated = now
    purse = acct.cash
    purse[shard] = purse.get(shard, ZERO) + delta - fee
    return (ZERO if new < ZERO else new) - (ZERO if old < ZERO else old)  # max(x, ZERO)


def agg_add(
    agg: list[Decimal], buy_yes: bool, own: Decimal, delta: Decimal, reserve: Decimal
) -> None:
    """Add `delta` contracts (negative: remove) at `own` to an account's aggregates of one
    market (`AccountState.agg`); `reserve` is the maker fee reserve per contract at that price
    (`Ledger.reserve_rate`)."""
    i = 0 if buy_yes else 2
    agg[i] += own * delta
    agg[i + 1] += delta
    agg[4] += reserve * delta


class AccountState:
    """Everything the exchange keeps for one account."""

    __slots__ = (
        "account",
        "agg",
        "cash",
        "client_ids",
        "fills",
        "held",
        "held_on",
        "orders",
        "positions",
        "resting",
        "settlements",
    )

    # a snapshot of 0.2.0 (one shard) holds `cash` as one amount and `held_total`
    snapshot_former_slots: ClassVar[tuple[str, ...]] = ("held_total",)

    def __init__(self, account: Account, cash: Decimal) -> None:
        self.account = account
        # shard -> exact dollars there, including what is held there for resting orders; `cash`
        # starts on shard 0
        self.cash: dict[int, Decimal] = {0: cash}
        self.held: dict[str, Decimal] = {}  # ticker -> what is held for it
        self.held_on: dict[int, Decimal] = {}  # shard -> `held` over its markets
        self.positions: dict[str, SimPosition] = {}
        self.orders: list[SimOrder] = []  # oldest first
        self.client_ids = UsedClientIds()  # every id any order had (sim/core/client_ids.py)
        self.fills: list[SimFill] = []
        self.settlements: list[SimSettlement] = []
        self.resting: dict[str, dict[str, SimOrder]] = {}  # ticker -> order id -> order
        # ticker -> [YES bids' cost, YES bids' count, NO bids' cost, NO bids' count, maker fee
        # reserve] over the resting orders, kept up to date so a hold is O(1) in the usual case
        self.agg: dict[str, list[Decimal]] = {}

    @staticmethod
    def snapshot_upgrade(read: dict[str, Any]) -> dict[str, Any]:
        """The attributes of a snapshot of 0.2.0 as this version keeps them: its cash and its
        holds were shard 0's (journal.py `_Reader._schema`)."""
        if isinstance(read.get("cash"), Decimal):
            read["cash"] = {0: read["cash"]}
        if "held_total" in read:
            total = read.pop("held_total")
            read["held_on"] = {0: total} if total else {}
        return read

    def available(self, shard: int) -> Decimal:
        """What the account may spend on `shard`: its cash there less what is held there,
        floored to $0.0001."""
        cash = self.cash.get(shard, ZERO) - self.held_on.get(shard, ZERO)
        return cash.quantize(FEE_QUANTUM, ROUND_FLOOR)

    def balances(self) -> dict[int, Decimal]:
        """What is available on each shard the account ever had money on (`available`): the
        balance breakdown."""
        return {shard: self.available(shard) for shard in sorted(self.cash)}

    def move(self, shard: int, amount: Decimal) -> None:
        """Add `amount` (negative: take it) to the cash on `shard`; the caller has checked what
        is available there."""
        self.cash[shard] = self.cash.get(shard, ZERO) + amount
        self.sync()

    def sync(self) -> None:
        """The account's balance: what is available on each shard, summed (so the per-shard
        breakdown adds up to it)."""
        held_on = self.held_on
        total = ZERO
        for shard, cash in self.cash.items():
            total += (cash - held_on.get(shard, ZERO)).quantize(FEE_QUANTUM, ROUND_FLOOR)
        self.account.balance = total
        self.account.cash_cents = floor_cents(total)


class Ledger:
    """Accounts, their cash, positions and collateral (see the module docstring): the accounts
    the matching engine works on (`matching.EngineAccounts`)."""

    def __init__(self, reference: Reference) -> None:
        self._ref = reference
        self.states: dict[str, AccountState] = {}  # ledger id -> everything kept for it
        self.by_key: dict[str, str] = {}  # the key an account was created with -> its id
        self.holders: dict[str, set[str]] = {}  # ticker -> accounts that ever held a position
        self._deposited = ZERO
        # ticker -> own price -> the maker fee reserve per contract (`reserve_rate`)
        self.reserve_cache: dict[str, dict[Decimal, Decimal]] = {}
        # collateral return: the ledger ids whose subaccount has netting enabled, and ledger id
        # -> event -> what was returned for the event (in the account's cash already)
        self.netting: set[str] = set()
        self.returned: dict[str, dict[str, Decimal]] = {}

    def open_market(self, ticker: str) -> None:
        self.holders[ticker] = set()

    def create_account(
        self, *, key_id: str, public_key_pem: str, cash_cents: int, shards: tuple[int, ...] = (0,)
    ) -> Account:
        """An account with `cash_cents` on each of `shards` (a scenario's participants trade on
        every shard; a person's account starts with its money on shard 0)."""
        if key_id in self.by_key:
            raise ExchangeError(409, "account_exists", f"key {key_id} already has an account")
        if cash_cents < 0:
            raise bad_request("cash_cents must not be negative")
        more = {} if shards == (0,) else {"shards": list(shards)}
        self._ref.log(
            "account", key_id=key_id, public_key_pem=public_key_pem, cash_cents=cash_cents, **more
        )
        cash = Decimal(cash_cents) / 100
        account = Account(
            self._ref.new_id(), key_id, public_key_pem, cash_cents * len(shards), cash * len(shards)
        )
        state = self.states[account.account_id] = AccountState(account, ZERO)
        state.cash = dict.fromkeys(shards, cash)
        self.by_key[key_id] = account.account_id
        self._deposited += cash * len(shards)
        return account

    def account(self, account_id: str) -> Account:
        return self.acct(account_id).account

    def account_by_key(self, key_id: str) -> Account | None:
        account_id = self.by_key.get(key_id)
        return None if account_id is None else self.states[account_id].account

    @property
    def accounts(self) -> list[Account]:
        return [a.account for a in self.states.values()]

    def resting_collateral_cents(self, account_id: str) -> int:
        return ceil_cents(sum(self.acct(account_id).held_on.values(), ZERO))

    def portfolio_value_cents(self, account_id: str, shard: int | None = None) -> int:
        """The open positions (on `shard`, or all) marked at each market's last trade price (at
        cost before the first trade), less the collateral returned on them (help.kalshi.com
        "Collateral return": "mark down your position value by the returned $1"), floored to
        the cent."""
        events = self._ref.events
        value = -sum(
            (
                v
                for event, v in self.returned.get(account_id, {}).items()
                if shard is None or events[event].exchange_index == shard
            ),
            ZERO,
        )
        markets = self._ref.markets
        for ticker, pos in self.acct(account_id).positions.items():
            if pos.position == 0 or (shard is not None and markets[ticker].exchange_index != shard):
                continue
            last = self._ref.markets[ticker].last_price
            if last == 0:
                value += pos.cost_basis
            elif pos.position > 0:
                value += pos.position * last
            else:
                value += -pos.position * (ONE - last)
        return floor_cents(value)

    def positions(self, account_id: str) -> list[SimPosition]:
        """Every market the account has traded, flat ones included (the server filters)."""
        return list(self.acct(account_id).positions.values())

    def settlements(self, account_id: str) -> list[SimSettlement]:
        """Newest first."""
        return self.acct(account_id).settlements[::-1]

    def resting_orders(self, account_id: str, ticker: str | None = None) -> list[SimOrder]:
        """The account's resting orders (of one market when `ticker` is given), oldest first;
        cheap, unlike filtering the order listing."""
        resting = self.acct(account_id).resting
        if ticker is not None:
            return list(resting.get(ticker, {}).values())
        return [o for orders in resting.values() for o in orders.values()]

    # exact figures for audits and the conservation tests

    def cash_dollars(self, account_id: str) -> Decimal:
        """Exact cash over every shard, including what is held for resting orders."""
        return sum(self.acct(account_id).cash.values(), ZERO)

    def held_dollars(self, account_id: str) -> Decimal:
        return sum(self.acct(account_id).held_on.values(), ZERO)

    @property
    def deposited(self) -> Decimal:
        """All cash ever credited to accounts at creation."""
        return self._deposited

    def open_interest(self) -> Decimal:
        """Outstanding YES/NO pairs over all markets; each is $1.00 locked until settlement."""
        return sum((m.open_interest for m in self._ref.markets.values()), ZERO)

    # internals ------------------------------------------------------------------------------

    def acct(self, account_id: str) -> AccountState:
        acct = self.states.get(account_id)
        if acct is None:
            raise ExchangeError(404, "account_not_found", f"account {account_id} not found")
        return acct

    def position_of(self, acct: AccountState, ticker: str) -> Decimal:
        pos = acct.positions.get(ticker)
        return ZERO if pos is None else pos.position

    # collateral return (netting) ------------------------------------------------------------

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

    def can_net(self, account_id: str) -> bool:
        """Whether the account's available cash on each shard covers what its resting orders
        in netting events there would hold with netting on (`covers`): their whole cost and
        reserve."""
        acct = self.acct(account_id)
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

    def set_netting(self, account_id: str, enabled: bool) -> None:
        """Turn netting on or off for the account (`can_net` checked by the caller), and work
        out again the holds of its resting orders in netting events."""
        (self.netting.add if enabled else self.netting.discard)(account_id)
        acct = self.acct(account_id)
        for ticker in list(acct.agg):
            if self.netted(ticker):
                self.rehold(acct, ticker)

    def returned_dollars(self, account_id: str, event_ticker: str) -> Decimal:
        return self.returned.get(account_id, {}).get(event_ticker, ZERO)

    # collateral -----------------------------------------------------------------------------

    def reserve_rate(self, ticker: str, own: Decimal) -> Decimal:
        """The fee reserve per contract of a resting order at `own`: per tradable unit, one
        unit's trade fee at the series' maker rate (a waiver ignored: it may expire while the
        order rests) plus $0.0001 when a unit's revenue has digits below $0.0001 (more than a
        rounding fee can be). Linear in the count, and never less than what fills charge."""
        rate = self._reserve_rates(ticker).get(own)
        return self.new_reserve_rate(ticker, own) if rate is None else rate

    def _reserve_rates(self, ticker: str) -> dict[Decimal, Decimal]:
        return self.reserve_cache.setdefault(ticker, {})

    def new_reserve_rate(self, ticker: str, own: Decimal) -> Decimal:
        market = self._ref.markets[ticker]
        maker_rate = self._ref.fees.reserve_fees(market.series_ticker, market.event_ticker)
        unit = COUNT_QUANTUM if market.fractional_trading_enabled else ONE
        per_unit = trading_fee(unit, own, maker_rate)
        if unit * own != (unit * own).quantize(FEE_QUANTUM):
            per_unit += FEE_QUANTUM  # rounding fees arise with or without a maker rate
        rate = per_unit / unit
        self._reserve_rates(ticker)[own] = rate
        return rate

    def track(self, order: SimOrder, before: Decimal, after: Decimal) -> None:
        """Keep the account's aggregates in step with a resting order's remaining count."""
        # `agg_add` and `reserve_rate` inlined: this runs for every fill, rest and cancel
        acct = self.states[order.account_id]
        ticker = order.ticker
        agg = acct.agg.get(ticker)
        if agg is None:
            agg = acct.agg[ticker] = list(EMPTY_AGG)
        bid = order.book_side is BookSide.BID
        own = order.price if bid else ONE - order.price
        rates = self.reserve_cache.get(ticker)
        rate = None if rates is None else rates.get(own)
        if rate is None:
            rate = self.new_reserve_rate(ticker, own)
        delta = after - before
        i = 0 if bid else 2
        agg[i] += own * delta
        agg[i + 1] += delta
        agg[4] += rate * delta

    def rebuild_reserves(self, series_ticker: str) -> None:
        """Recompute the aggregates and holds of the resting orders in a series' markets after
        its reserve rate may have changed."""
        tickers = [t for t, m in self._ref.markets.items() if m.series_ticker == series_ticker]
        for ticker in tickers:
            self.reserve_cache.pop(ticker, None)
        for acct in self.states.values():
            for ticker in tickers:
                if ticker not in acct.agg:
                    continue
                agg = list(EMPTY_AGG)
                for o in acct.resting.get(ticker, {}).values():
                    own = own_price(o)
                    agg_add(
                        agg,
                        o.book_side is BookSide.BID,
                        own,
                        o.remaining_count,
                        self.reserve_rate(ticker, own),
                    )
                acct.agg[ticker] = agg
                self.rehold(acct, ticker)

    def rehold(self, acct: AccountState, ticker: str) -> None:
        agg = acct.agg.get(ticker)
        if agg is None:
            return
        pos = acct.positions.get(ticker)
        position = ZERO if pos is None else pos.position
        if position and (self.netting or self.returned) and not self.covers(acct, ticker):
            position = ZERO  # the closing orders hold their price
        # the aggregates alone give the hold unless the position covers part of one direction
        bid_cost, bid_count, ask_cost, ask_count, reserve = agg
        if position < ZERO and -position < bid_count:
            orders = acct.resting.get(ticker, {}).values()
            hold = reserve + ask_cost + direction_hold(orders, True, -position)
        elif ZERO < position < ask_count:
            orders = acct.resting.get(ticker, {}).values()
            hold = reserve + bid_cost + direction_hold(orders, False, position)
        elif position < ZERO:
            hold = reserve + ask_cost
        elif position > ZERO:
            hold = reserve + bid_cost
        else:
            hold = reserve + bid_cost + ask_cost
        self.set_hold(acct, ticker, hold)

    def set_hold(self, acct: AccountState, ticker: str, hold: Decimal) -> None:
        """Hold `hold` for the account's resting orders in `ticker`, on the market's shard."""
        old = acct.held.get(ticker, ZERO)
        held_on = acct.held_on
        if hold != old:
            shard = self._ref.markets[ticker].exchange_index
            held_on[shard] = held_on.get(shard, ZERO) + hold - old
            acct.cash.setdefault(shard, ZERO)  # the balance sums the shards with cash
            if hold:
                acct.held[ticker] = hold
            else:
                del acct.held[ticker]
        # `acct.sync()` with `floor_cents`, inline: this runs for every account an order touches
        # (the rounding given by position: a keyword to a C method costs a dict each call)
        available = ZERO
        for shard, cash in acct.cash.items():
            available += (cash - held_on.get(shard, ZERO)).quantize(FEE_QUANTUM, ROUND_FLOOR)
        account = acct.account
        account.balance = available
        cents = available * HUNDRED
        whole = int(cents)  # exact, toward zero: one step down for a negative fraction
        # (`is_signed` first: only a negative amount can have been truncated upwards, and a
        # Decimal compared with an int converts the int each time)
        account.cash_cents = whole - 1 if cents.is_signed() and cents < whole else whole

    def position_record(self, acct: AccountState, ticker: str, now: float) -> SimPosition:
        """The account's position record in a market, made (flat) on its first fill."""
        pos = acct.positions.get(ticker)
        if pos is None:
            pos = acct.positions[ticker] = SimPosition(
                ticker, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, now
            )
            self.holders[ticker].add(acct.account.account_id)
        return pos
