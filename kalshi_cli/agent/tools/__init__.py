"""Every tool an assistant reaches through `kalshi mcp`, as a plain method returning JSON values,
one module per area: `reads` (the exchange's and the account's), `orders` (previews, `execute`
and the day's budget, checked by `order_checks`) and `kill_switch` (`cancel_all`, `halt`);
`common` is what they share. `AgentTools` has one of each.

The tools work through the `Access` the command hands them (the CLI's settings, client, state
file and `OrderService`), so a tool does what the command of the same name does, through the same
code. `agent/server.py` registers them; a `KalshiError` reaches the assistant as one line,
`NAME CODE: what is wrong (what to do)`.

Writes go through the order service only: a `preview_*` tool reads the account's fills, asks the
daily circuit breaker, runs `OrderService.prepare`, the risk engine's limit rules and the day's
budget (`gate.py`, `ledger.py`), and hands back a single-use token; `execute` redeems it, checks
everything again and sends, asking the budget once more in the transaction that writes the
intent, so two `kalshi mcp` processes never both spend its last order. The assistant's orders
carry `agent.strategy` as their strategy; amend, decrease and cancel touch only those. The kill
switch and halt need no preview. Every write call, refused or not, is a row of `agent_audit`.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

from kalshi_cli.agent.gate import WriteGate
from kalshi_cli.agent.tools.common import ToolAudit
from kalshi_cli.agent.tools.kill_switch import KillSwitchTools
from kalshi_cli.agent.tools.order_checks import OrderChecks
from kalshi_cli.agent.tools.orders import OrderTools
from kalshi_cli.agent.tools.reads import ReadTools

if TYPE_CHECKING:
    from kalshi_cli.agent.settings import AgentConfig
    from kalshi_cli.agent.tools.common import Access
    from kalshi_cli.vocabulary.clock import Clock


class AgentTools:
    """The tools of one `kalshi mcp` session (one process), by area: its tokens live here; its
    budget is the day's, read from the state file."""

    def __init__(
        self, access: Access, config: AgentConfig, *, clock: Clock, session: str | None = None
    ) -> None:
        self.access = access
        self.config = config
        self.clock = clock
        gate = WriteGate(config.budget, clock, config.token_ttl_s)
        audit = ToolAudit(access, session or uuid.uuid4().hex[:12])
        # the CLI's client and its lazy construction are one per process and not meant for
        # several threads at once; the SDK runs each call on a worker thread
        exchange = threading.Lock()
        self.reads = ReadTools(access, clock, exchange)
        checks = OrderChecks(access, config, clock, gate, exchange)
        self.orders = OrderTools(
            access, config, clock, gate, checks, audit, exchange, executing=threading.Lock()
        )
        self.kill_switch = KillSwitchTools(access, clock, audit, exchange)
