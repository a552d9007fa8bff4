"""The exchange shards' own switches: trading and intra-exchange transfers paused on one shard alone
(the admin API's `POST /sim/v1/shards/{index}`), which `GET /exchange/status` reports per shard in
`exchange_index_statuses` ("True if trading is currently permitted on this exchange index. False
outside exchange hours or during pauses"). An order written to a paused shard is refused 503
`exchange_unavailable`, as a maintenance window refuses it on the whole exchange
(sim/server/schedule.py), and the orders resting there with `cancel_order_on_pause` are cancelled.
Kept in memory, as maintenance windows are. docs/simulator.md "Exchange shards".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.sim.core.reference import check_shard, exchange_shards

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange
    from kalshi_cli.sim.server.faults import Faults

SHARD_DESCRIPTION = "simulated event-contract exchange, shard {index}"


class ShardPaused(ExchangeError):
    """A write to a shard whose trading or transfers are paused: a 503 answered flat, as the
    whole exchange's maintenance refusal is (sim/server/schedule.py)."""

    def __init__(self, what: str, index: int) -> None:
        super().__init__(503, "exchange_unavailable", f"{what} on exchange_index {index} paused")


class ShardSwitches:
    """Which shards have trading or transfers paused (see the module docstring)."""

    def __init__(self) -> None:
        self.trading_paused: set[int] = set()
        self.transfers_paused: set[int] = set()

    def set(
        self, exchange: Exchange, index: int, *, trading: bool | None, transfers: bool | None
    ) -> None:
        """Pause (False) or resume (True) trading and transfers on shard `index`; None leaves
        one as it is. Pausing trading cancels the shard's `cancel_order_on_pause` orders."""
        check_shard(exchange.reference, index)
        if transfers is not None:
            (self.transfers_paused.discard if transfers else self.transfers_paused.add)(index)
        if trading is None:
            return
        if trading:
            self.trading_paused.discard(index)
            return
        self.trading_paused.add(index)
        markets = exchange.reference.markets
        for account in exchange.accounts.accounts:
            for order in exchange.accounts.resting_orders(account.account_id):
                if order.cancel_order_on_pause and markets[order.ticker].exchange_index == index:
                    exchange.desk.cancel_order(account.account_id, order.order_id)

    def check_trading(self, index: int) -> None:
        if index in self.trading_paused:
            raise ShardPaused("trading is", index)

    def check_transfers(self, index: int) -> None:
        if index in self.transfers_paused:
            raise ShardPaused("intra-exchange transfers are", index)

    def statuses(self, exchange: Exchange, *, active: bool) -> list[dict[str, object]]:
        """`exchange_index_statuses`: each shard's own status; `active` is the whole exchange's
        (False during a maintenance window)."""
        return [
            {
                "exchange_index": index,
                "description": SHARD_DESCRIPTION.format(index=index),
                "exchange_active": active,
                "trading_active": active and index not in self.trading_paused,
                "intra_exchange_transfers_active": active and index not in self.transfers_paused,
            }
            for index in exchange_shards(exchange.reference)
        ]


def run_transfers_on_tick(exchange: Exchange, faults: Faults) -> None:
    """Run the cross-shard transfers as they fall due, on the exchange's tick, each failing at
    the step the fault control `intra_transfer_fail_step` names (0: none); then rebalance by
    the target balance allocations when the interval has passed."""

    def run(now: float) -> None:  # unix seconds
        exchange.shard_transfers.run_due(now, faults.settings.intra_transfer_fail_step)
        exchange.shard_transfers.rebalance_due(now)

    exchange.add_tick_hook(run)
