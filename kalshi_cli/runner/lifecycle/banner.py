"""What a `kalshi trade` run says before it starts: the banner (configuration, strategies,
subaccount, order group, every risk rule and budget) and the write budget's first-orders line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from kalshi_cli.risk.budget import Budget
from kalshi_cli.runner.assembly import resolve_lineup
from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import contracts_limit
from kalshi_cli.runner.lifecycle.session_group import wants_group
from kalshi_cli.runner.loop.lineup import Lineup
from kalshi_cli.runner.loop.summary import risk_lines
from kalshi_cli.strategy_api import params_text
from kalshi_cli.vocabulary.units import fmt_money

if TYPE_CHECKING:
    from kalshi_cli.client.pacing import Pacing


def describe(
    env: str,
    options: TradeOptions,
    config: TradeConfig,
    selection: Selection,
    log_path: Path | None,
    *,
    restriction: tuple[int | None] | None = None,
    pacing: Pacing | None = None,
) -> list[str]:
    """The start banner; `restriction`: what `key_subaccount` found, when it asked; `pacing`:
    what the client paces by (`client.pacing.pace_by_account`)."""
    lineup = resolve_lineup(options, config)
    limits = config.limits
    mode = "dry run (nothing is sent)" if options.dry_run else "live orders"
    if options.paper:
        balance = fmt_money(options.paper_balance)
        netting = "on" if config.settings.venue_netting else "off"
        mode = (
            f"PAPER: live market data, orders filled locally from {balance}, netting {netting} "
            "(nothing is sent)"
        )
    if options.once:
        bound = "one pass"
    else:
        bound = (
            ", ".join(
                x
                for x in (
                    f"{options.duration_s:g}s" if options.duration_s else "",
                    f"{options.max_ticks} ticks" if options.max_ticks else "",
                )
                if x
            )
            or "until stopped (SIGTERM / Ctrl-C)"
        )
    return [
        f"kalshi trade: env {env}, {mode}, {bound}",
        *_strategy_lines(lineup),
        f"markets         {selection.describe()}",
        f"subaccount      {_subaccount_text(options, restriction)}",
        *([f"rate limits     {pacing.describe()}"] if pacing is not None else []),
        f"log file        {log_path}",
        f"order group     {_group_text(options, config)}",
        f"state file      intent writes {config.settings.state_durability}"
        + ("" if config.settings.state_durability == "full" else " (no fsync: see docs/safety.md)"),
        "risk rules:",
        *risk_lines(limits),
        *_budget_lines(lineup, config),
    ]


def _budget_lines(lineup: Lineup, config: TradeConfig) -> list[str]:
    """Each running strategy's own budget (`trade.strategies` entries, `--budget`), a risk rule."""
    lines = []
    for name in lineup.names:
        budget = config.settings.budgets.get(name)
        values = (
            [f"{k}={getattr(budget, k) or '-'}" for k in Budget.__struct_fields__]
            if budget
            else ["-"]
        )
        what = "its own, inside the account's" if budget else "the account's limits alone"
        lines.append(f"  {'budget ' + name:<16} {', '.join(values):<52} {what}")
    return lines


def _strategy_lines(lineup: Lineup) -> list[str]:
    label = "strategy" if len(lineup) == 1 else "strategies"
    return [
        f"{label if n == 0 else '':<16}{m.name}{_origin_text(m.strategy)} ({params_text(m.params)})"
        for n, m in enumerate(lineup)
    ]


def _origin_text(strategy: Any) -> str:
    return "" if strategy.origin == "built-in" else f" [{strategy.origin}: {strategy.spec}]"


def _subaccount_text(options: TradeOptions, restriction: tuple[int | None] | None) -> str:
    n = options.subaccount
    where = "the paper venue's" if options.paper else "the account's"
    if restriction is not None and restriction[0] is None:
        return (
            "unknown (GET /api_keys did not tell this API key's restriction; not trading: "
            "--subaccount N names the subaccount to trade)"
        )
    if restriction is not None and restriction[0]:
        n = restriction[0]
        return (
            f"{n} (this API key is restricted to subaccount {n}: every order, read and "
            f"position limit of this loop is {n}'s)"
        )
    if n is None:
        return f"0 ({where} primary, the exchange's default; --subaccount N for another)"
    return f"{n} ({where}: every order, read and position limit of this loop is {n}'s)"


def _group_text(options: TradeOptions, config: TradeConfig) -> str:
    if not wants_group(options):
        if options.paper:
            return "none (paper: orders are filled locally)"
        return "none (--no-order-group)" if not options.dry_run else "none (dry run)"
    limit = contracts_limit(config)
    return f"one per shard traded, each {limit} contracts per 15 s on the exchange"


def write_budget_lines(pacing: Pacing, options: TradeOptions, markets: int) -> list[str]:
    """The start-up line when the markets take the write budget a while to quote (none for a
    dry run, which sends nothing)."""
    slow = None if options.dry_run else pacing.first_orders_text(markets)
    return [] if slow is None else [f"write budget    {slow}"]


def print_lines(lines: list[str], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    for line in lines:
        out.write(line + "\n")
    out.flush()
