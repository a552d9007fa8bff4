"""The config's `agent:` section: what an assistant connected through `kalshi mcp` may do. Every
default is the safe one (no writes until the config says so, prod a switch of its own, a small
daily budget), read once at start; no tool writes the config.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import msgspec

from kalshi_cli.vocabulary.decode import Range, decode_config
from kalshi_cli.vocabulary.owners import AGENT

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.config import Located

Positive = Annotated[float, msgspec.Meta(gt=0)]  # seconds, or megabytes


class AgentWrites(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which environments an assistant may write in (place, amend, decrease, cancel, resume).
    The kill switch and halt are always allowed: they only ever take risk away."""

    sim: bool = False
    demo: bool = False
    prod: bool = False  # real money: its own switch, never implied by the others

    def allowed(self, env: str) -> bool:
        return bool(getattr(self, env, False))


class AgentBudget(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the assistant may place in a UTC day, whatever the assistant asks and however many
    `kalshi mcp` processes it runs: spent as the state file's records of its orders say
    (agent/ledger.py)."""

    max_orders: Annotated[int, msgspec.Meta(ge=0)] = 10
    max_contracts: Annotated[Decimal, Range(ge=0)] = Decimal(100)
    max_dollars: Annotated[Decimal, Range(ge=0)] = Decimal(50)  # most the orders could cost


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The `agent:` section, decoded by `vocabulary.decode` (unknown keys refused at their line)."""

    strategy: Annotated[str, msgspec.Meta(min_length=1)] = (
        AGENT  # the strategy name the assistant's orders are placed under
    )
    writes: AgentWrites = msgspec.field(default_factory=AgentWrites)
    budget: AgentBudget = msgspec.field(default_factory=AgentBudget)
    token_ttl_s: Positive = 120.0  # how long a preview's token may be executed
    http_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8765
    # the bearer token `kalshi mcp --http` requires: read from this environment variable, or
    # written here (the variable wins); without either, HTTP is refused
    http_token_env: str = "KALSHI_MCP_TOKEN"  # noqa: S105 (a variable's name)
    http_token: str | None = None
    backtest_max_s: Positive = 300.0  # a backtest tool call is stopped after this long
    backtest_max_mb: Positive = 512.0  # and refused on a data set larger than this


def agent_config(document: Located) -> AgentConfig:
    """The `agent:` section, its `strategy` read by the rule the trade loop and retention read
    it by (`config.agent_strategy`): the assistant changes the orders placed under that name
    alone, so under another owner's it could amend and cancel a person's orders or a loop's
    quotes."""
    from kalshi_cli.config import agent_strategy, section
    from kalshi_cli.strategies import strategy_names

    agent_strategy(document, strategies=strategy_names())
    return decode_config(AgentConfig, section(document, "agent"), where="agent")


def load_agent_config(config_path: Path) -> AgentConfig:
    from kalshi_cli.config import read_sections

    return agent_config(read_sections(config_path))
