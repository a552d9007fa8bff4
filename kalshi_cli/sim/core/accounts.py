"""The simulated exchange's accounts: cash, positions, collateral for resting orders, and how one
side of a fill moves an account. The matching engine is handed the `Ledger`.
What is kept for one account is an `AccountState` (sim/core/account_state.py); the maker fee
reserve and the collateral returned across an event to a netting subaccount are the ledger's
components (sim/core/collateral.py).

Cash is kept per exchange shard (`exchange_index`), as Kalshi keeps "a separate balance" on each:
an order's cost, fees and collateral are checked and taken on its market's shard alone, a
settlement pays there, and only a transfer moves money between shards. The account's balance is
the sum over its shards. docs/simulator.md "Accounts: money, fees and collateral".
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal

from kalshi_cli.sim.core.account_state import AccountState, floor_cents
from kalshi_cli.sim.core.collateral import CollateralReturn, FeeReserve
from kalshi_cli.sim.core.records import (
    Account,
    AccountRequest,
    ExchangeError,
    SimOrder,
    SimPosition,
    SimSettlement,
    bad_request,
    journal,
    own_price,
)
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.vocabulary.units import ONE, ZERO, BookSide, to_micro_dollars

EMPTY_AGG = (ZERO, ZERO, ZERO, ZERO, ZERO)
BID = BookSide.BID


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
            pos.cost_basis if closed == held else to_micro_dollars(pos.cost_basis * closed / held)
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


def agg_add(  # noqa: PLR0917 (a rest and a cancel run it: positional)
    agg: list[Decimal],
    reserves: FeeReserve,
    ticker: str,
    buy_yes: bool,
    own: Decimal,
    delta: Decimal,
) -> None:
    """Add `delta` contracts (negative: remove) at `own` to an account's aggregates of one
    market (`AccountState.agg`), with the maker fee reserve per contract at that price
    (`FeeReserve.rate`)."""
    rate = reserves.rate(ticker, own)
    i = 0 if buy_yes else 2
    agg[i] += own * delta
    agg[i + 1] += delta
    agg[4] += rate * delta


def agg_of(acct: AccountState, ticker: str) -> list[Decimal]:
    """The account's aggregates of one market (`AccountState.agg`), made empty for its first
    resting order there."""
    agg = acct.agg.get(ticker)
    if agg is None:
        agg = acct.agg[ticker] = list(EMPTY_AGG)
    return agg


class Ledger:
    """Accounts, their cash, positions and collateral (see the module docstring): the accounts
    the matching engine works on (`matching.MatchingEngine`). It has the maker fee reserve
    (`reserves`) and the collateral returned to netting subaccounts (`collateral`) as components
    (sim/core/collateral.py)."""

    def __init__(self, reference: Reference) -> None:
        self._ref = reference
        self.states: dict[str, AccountState] = {}  # ledger id -> everything kept for it
        self.by_key: dict[str, str] = {}  # the key an account was created with -> its id
        self.holders: dict[str, set[str]] = {}  # ticker -> accounts that ever held a position
        self._deposited = ZERO
        self.reserves = FeeReserve(reference)  # the maker fee reserve per contract
        self.collateral = CollateralReturn(reference)  # what netting returned, and to whom

    def open_market(self, ticker: str) -> None:
        self.holders[ticker] = set()

    def create_account(
        self, *, key_id: str, public_key_pem: str, cash_cents: int, shards: tuple[int, ...] = (0,)
    ) -> Account:
        """`open_account` of an account given as its terms."""
        request = AccountRequest(
            key_id=key_id, public_key_pem=public_key_pem, cash_cents=cash_cents, shards=shards
        )
        return self.open_account(request)

    def open_account(self, request: AccountRequest) -> Account:
        """An account with `cash_cents` on each of `shards` (a scenario's participants trade on
        every shard; a person's account starts with its money on shard 0)."""
        key_id, shards = request.key_id, request.shards
        if key_id in self.by_key:
            raise ExchangeError(409, "account_exists", f"key {key_id} already has an account")
        if request.cash_cents < 0:
            raise bad_request("cash_cents must not be negative")
        now = self._ref.log("account", **journal(request))
        cash = Decimal(request.cash_cents) / 100
        account = Account(
            self._ref.new_id(),
            key_id,
            request.public_key_pem,
            request.cash_cents * len(shards),
            cash * len(shards),
        )
        state = self.states[account.account_id] = AccountState(account, ZERO, now)
        state.cash = dict.fromkeys(shards, cash)
        state.sync(now)
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

    def balance_updated(self, account_id: str, shard: int | None = None) -> float:
        """When the account's balance (on `shard`, or on any) last changed: its `updated_ts`
        (`AccountState.updated`; the exchange's creation for data that did not keep it)."""
        return self.acct(account_id).updated(shard) or self._ref.created_time

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
                for event, v in self.collateral.returned.get(account_id, {}).items()
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

    def set_netting(self, account_id: str, enabled: bool, now: float) -> None:
        """Turn netting on or off for the account (`CollateralReturn.can_net` checked by the
        caller), and work out again the holds of its resting orders in netting events."""
        collateral = self.collateral
        (collateral.netting.add if enabled else collateral.netting.discard)(account_id)
        acct = self.acct(account_id)
        for ticker in list(acct.agg):
            if collateral.netted(ticker):
                self.rehold(acct, ticker, now)

    # collateral -----------------------------------------------------------------------------

    def track(self, order: SimOrder, before: Decimal, after: Decimal) -> None:
        """Keep the account's aggregates in step with a resting order's remaining count."""
        bid = order.book_side is BookSide.BID
        own = order.price if bid else ONE - order.price
        acct = self.states[order.account_id]
        agg_add(agg_of(acct, order.ticker), self.reserves, order.ticker, bid, own, after - before)

    def rebuild_reserves(self, series_ticker: str, now: float) -> None:
        """Recompute the aggregates and holds of the resting orders in a series' markets after
        its reserve rate may have changed."""
        tickers = [t for t, m in self._ref.markets.items() if m.series_ticker == series_ticker]
        self.reserves.forget(tickers)
        for acct in self.states.values():
            for ticker in tickers:
                if ticker not in acct.agg:
                    continue
                agg = list(EMPTY_AGG)
                for o in acct.resting.get(ticker, {}).values():
                    bid = o.book_side is BookSide.BID
                    agg_add(agg, self.reserves, ticker, bid, own_price(o), o.remaining_count)
                acct.agg[ticker] = agg
                self.rehold(acct, ticker, now)

    def rehold(self, acct: AccountState, ticker: str, now: float) -> None:
        agg = acct.agg.get(ticker)
        if agg is None:
            return
        pos = acct.positions.get(ticker)
        position = ZERO if pos is None else pos.position
        collateral = self.collateral
        if (
            position
            and (collateral.netting or collateral.returned)
            and not collateral.covers(acct, ticker)
        ):
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
        self.set_hold(acct, ticker, hold, now)

    def set_hold(self, acct: AccountState, ticker: str, hold: Decimal, now: float) -> None:
        """Hold `hold` for the account's resting orders in `ticker`, on the market's shard, after
        a change at `now`."""
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
        acct.sync(now)

    def position_record(self, acct: AccountState, ticker: str, now: float) -> SimPosition:
        """The account's position record in a market, made (flat) on its first fill."""
        pos = acct.positions.get(ticker)
        if pos is None:
            pos = acct.positions[ticker] = SimPosition(
                ticker, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, now
            )
            self.holders[ticker].add(acct.account.account_id)
        return pos
