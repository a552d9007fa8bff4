"""The limits and budgets every order is held to, read from the config file: the account's
`risk:` limits (with the deprecated `limits:` folded in) and the strategies' own budgets
(`trade.budgets`), each checked as the trade loop checks them. The trade loop, `kalshi order`
and the assistant read them here, and whether an order's event must be read follows from them
alone (`event_limited`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.risk.budget import Budget
from kalshi_cli.risk.rules import Code

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.risk.rules import Rule


class _Budgets(msgspec.Struct, frozen=True, kw_only=True):
    """The `trade:` section's budgets; its other keys are the trade loop's to check."""

    budgets: dict[str, Budget] = msgspec.field(default_factory=dict)


def load_risk_limits(path: Path | None) -> RiskLimits:
    """The account's risk limits from the config file (`risk:` with the deprecated `limits:`
    folded in, `config.risk_section`), checked as the loop checks them: what every order is
    held to, the loop's, `kalshi order`'s and the assistant's."""
    from kalshi_cli.config import read_sections, risk_section
    from kalshi_cli.risk.engine import RiskLimits

    return RiskLimits.from_config(risk_section(read_sections(path)))


def load_budgets(path: Path | None) -> dict[str, Budget]:
    """The strategies' own budgets from the config file (`trade.budgets`, each key checked as
    the loop checks it, refusals at the file and line of the key), for the orders placed
    outside a loop under a strategy's name (the assistant's, `kalshi mcp`)."""
    from kalshi_cli.config import lineup_entries, read_sections, section
    from kalshi_cli.vocabulary.decode import decode_config

    # the section whole, with its lines: its other keys are left to the loop's own reading
    trade = section(lineup_entries(read_sections(path)), "trade")
    return dict(decode_config(_Budgets, trade, where="trade").budgets)


def event_limited(limits: RiskLimits, budgets: Iterable[Budget | None] = ()) -> bool:
    """Whether an order's event must be read: a limit on an event's loss is set, the
    account's (`risk.max_event_loss`) or a strategy's own (`trade.budgets.NAME.max_event_loss`).
    The one place that asks it."""
    if limits.max_event_loss is not None:
        return True
    return any(b is not None and b.max_event_loss is not None for b in budgets)


def refusing_rules(
    rules: Iterable[Rule], limits: RiskLimits, budgets: Collection[Budget]
) -> tuple[Rule, ...]:
    """The rules of `rules` that can refuse an order under these limits and budgets (every
    budget an order can be held to), chosen once as they are loaded: a limit that is not set
    refuses nothing (`max_order_cost`; a limit on an event's loss, the account's or a
    budget's: `event_limited`; `stop_loss_share` 0, the stop-loss off), nor does a strategy's
    budget where no strategy has one, so their rules are not asked."""
    idle = set()
    if limits.max_order_cost is None:
        idle.add(Code.MAX_ORDER_COST)
    if not event_limited(limits, budgets):
        idle.add(Code.EVENT_LOSS)
    if not budgets:
        idle.add(Code.STRATEGY_BUDGET)
    if limits.stop_loss_share == 0:
        idle.add(Code.STOP_LOSS_AT_ENTRY)
    return tuple(rule for rule in rules if rule.code not in idle)
