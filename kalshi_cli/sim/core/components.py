"""The exchange core's components, built and wired in one place, each handed the components it
needs. The served `Exchange` and the local venue each hold one `CoreComponents`, so the two cannot
be wired differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.history import History
from kalshi_cli.sim.core.matching import MatchingEngine
from kalshi_cli.sim.core.order_desk import OrderDesk
from kalshi_cli.sim.core.order_groups import OrderGroups
from kalshi_cli.sim.core.records import SimMarket
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.sim.core.settlement import SettlementDesk
from kalshi_cli.sim.core.subaccounts import Subaccounts
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import FeeModel


@dataclass(frozen=True, slots=True)
class CoreComponents:
    reference: Reference  # series, events, markets, fees; the clock, ids, listeners, journal
    accounts: Ledger  # cash, positions, collateral
    engine: MatchingEngine  # the books, matching, trades
    settlement: SettlementDesk  # market status, settlement
    subaccounts: Subaccounts
    history: History  # every order, fill and trade, live and archived
    groups: OrderGroups
    desk: OrderDesk  # the order requests and their checks, expiry

    @classmethod
    def build(cls, clock: Clock, fees: FeeModel | None) -> CoreComponents:
        """`fees`: the default of every series that sets none of its own (`Reference`)."""
        reference = Reference(clock, fees)
        accounts = Ledger(reference)
        engine = MatchingEngine(reference, accounts)
        subaccounts = Subaccounts(reference, accounts)
        history = History(reference, accounts, engine, subaccounts)
        groups = OrderGroups(reference, accounts, engine, history.live_order)
        return cls(
            reference=reference,
            accounts=accounts,
            engine=engine,
            settlement=SettlementDesk(reference, accounts, engine),
            subaccounts=subaccounts,
            history=history,
            groups=groups,
            desk=OrderDesk(reference, accounts, engine, groups, history),
        )

    def add_market(self, market: SimMarket) -> None:
        """List a market: each part that keeps something per market opens it, then it is
        announced."""
        self.reference.add_market(market)
        self.engine.open_market(market.ticker)
        self.accounts.open_market(market.ticker)
        self.reference.announce_market(market)
