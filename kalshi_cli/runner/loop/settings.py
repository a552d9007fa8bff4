"""The trade loop's settings (`LoopSettings`): what `kalshi trade` (runner/lifecycle/session.py) and
a backtest set, read by `TradeLoop` (runner/loop/trade_loop.py) and the components it hands them to.
Frozen: a change replaces them whole, and the loop hands the new ones on. The strategies and their
params are the loop's `Lineup` (runner/loop/lineup.py), not settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kalshi_cli.risk.budget import Budget
from kalshi_cli.runner.config import (
    STRATEGY_ERRORS_ALERT,
    STRATEGY_ERRORS_STOP,
    STRATEGY_ERRORS_WINDOW_S,
)
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S

# the most one call of the loop's client may spend retrying (the client's default is 20 s): the
# loop does not tick, and SIGTERM waits, while a call retries, and the loop's API error guard
# already backs off across ticks; `kalshi trade` builds its client with this budget. The start's
# reads (the account's limits, the reconcile, the markets, the fees, the positions compared) come
# before any tick and have the default budget (`client.retry.retry_budget`,
# runner/lifecycle/session.py), so a slow answer there does not refuse the start; a stop's
# cancels then have this one (runner/preflight.py)
CLIENT_RETRY_BUDGET_S = 3.0


@dataclass(frozen=True)
class LoopSettings:
    dry_run: bool = False
    status_interval_s: float = 60.0
    tick_interval_s: float = 1.0
    heartbeat_interval_s: float = 1.0
    # a `deadman` alert channel is pinged from the heartbeat at most this often (healthchecks'
    # shortest period is a minute; more often only costs requests)
    deadman_interval_s: float = 60.0
    fill_poll_s: float = 5.0
    # the account's orders are the loop's alone, each one's answer booked before the next tick
    # (a backtest's venue, in-process): with no position, no resting order and no fill told and
    # not read, no fill can come, and the timed fill read is not made (its schedule is kept)
    fills_of_its_orders_only: bool = False
    resolve_s: float = 1.0  # how often an order of unknown outcome is looked up
    poll_s: float = 0.001  # a feed without `wait_for_messages` is polled this often
    # the longest the idle loop waits for a feed message before it looks at `stop` again
    idle_wait_s: float = 0.05
    # the time a tick of `run` spends visiting markets before it goes back to the feed for
    # news (risk exits of held positions are not counted against it): docs/trade-loop.md
    tick_budget_s: float = 0.1
    # the longest an order that adds waits for others to join its batch before the batch goes
    # out anyway (runner/execution/outbox.py): a tick-to-order cost a trader would not notice, a
    # batch of the orders some twenty visits decide
    batch_wait_s: float = 0.02
    # the fairness bound: a market not visited for this long goes ahead of markets with news
    # (`trade.max_revisit_s`); a loop past it, or whose news waits longer, is behind
    max_revisit_s: float = 10.0
    # the one deadline of a stop: withdraw, prove and read the fills once more within it
    # (`trade.stop_deadline_s`; runner/loop/stop.py), inside the shipped unit's
    # TimeoutStopSec=30
    stop_deadline_s: float = 20.0
    # how long a read of orders may lag a write (`read_lag`): a stop's listing asked sooner
    # after the loop's last order may not show it, so its absence there proves nothing
    read_lag_s: float = DEFAULT_READ_LAG_S
    # seconds of mid history kept per market: the longest window of the loop's strategies
    # (build_loop sets it); a strategy without one reads no mids, so a minute is plenty
    history_s: float = 60.0
    pause_file: Path | None = None
    # a stop-loss whose close did not fill is sent again at once only if the held side's best
    # bid or the position changed; against the same book, only after this long
    stop_loss_retry_s: float = 2.0
    # a set of legs left broken during the run with sales back given up (nobody bid, one filled
    # short, the risk engine refused one) is unwound again after the first, each wait doubling
    # up to the second (runner/execution/leg_sets.py)
    set_again_s: tuple[float, float] = (5.0, 300.0)
    # a strategy's failed decisions in one market: in a row, an alert; within the window, the
    # strategy stopped (runner/loop/market_pass.py)
    strategy_errors_alert: int = STRATEGY_ERRORS_ALERT
    strategy_errors_stop: int = STRATEGY_ERRORS_STOP
    strategy_errors_window_s: float = STRATEGY_ERRORS_WINDOW_S
    # each `decide` on a worker under its deadline; False: on the loop's thread (a backtest)
    decide_deadline: bool = True
    # each strategy's own budget, by name (`trade.budgets`; services/pretrade/budgets.py)
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    # threads that make the loop's exchange calls off its deciding path
    # (runner/execution/dispatch.py); 0: each call made on the deciding thread, waited for (a
    # backtest, paper, a test)
    send_workers: int = 0
    # the longest a send worker waits for one call's answer once it left (`trade.call_timeout_s`;
    # None: the client's own timeout)
    call_timeout_s: float | None = None
    # a requote of one resting order of its own is an amend of it (`trade.amend_requotes`;
    # runner/execution/amends.py); False: a cancel, then a new order
    amend_requotes: bool = True
    # how often the exchange's announced maintenance windows are read again
    # (`trade.schedule_poll_s`)
    schedule_poll_s: float = 60.0
    # how often a loop asked for a series or an event lists its open markets again
    # (`trade.new_markets_poll_s`; runner/loop/new_markets.py)
    new_markets_poll_s: float = 60.0
    # how often each shard's status and balance are read again (`trade.shard_poll_s`)
    shard_poll_s: float = 10.0
