"""The owners the state file keeps an order (and its fills) under that are no trade loop's
strategy: `kalshi order place`'s, `kalshi order batch`'s, an order placed elsewhere that
reconcile imported, the assistant's (`agent.strategy`'s default), and the stop-loss's closes
(the account's floor, no strategy's exit). A strategy may not take one
of these names (strategies/loader.py): a loop running it would own those orders, withdraw them
at its stop and build its part from their fills (docs/strategies.md "Several strategies in one
loop"). Kept apart from order_terms.py so that the P&L reports, which label fills of no strategy
`manual`, import nothing heavier.
"""

from __future__ import annotations

MANUAL = "manual"
BATCH = "batch"
EXTERNAL = "external"
AGENT = "agent"
STOP_LOSS = "stop-loss"
NOT_STRATEGIES = frozenset({MANUAL, BATCH, EXTERNAL, AGENT, STOP_LOSS})
