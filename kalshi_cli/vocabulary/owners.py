"""The owners the state file keeps an order (and its fills) under that are no trade loop's strategy:
`kalshi order place`'s, `kalshi order batch`'s, a foreign order's, the assistant's, and the
stop-loss's. No strategy may take one of these names (strategies/loader.py). Kept apart from
order_terms.py so the P&L reports import nothing heavier.
"""

from __future__ import annotations

import re

MANUAL = "manual"
BATCH = "batch"
EXTERNAL = "external"
AGENT = "agent"
STOP_LOSS = "stop-loss"
NOT_STRATEGIES = frozenset({MANUAL, BATCH, EXTERNAL, AGENT, STOP_LOSS})
# the owners whose fills build no part of a position (services/owner_parts.py `Owners`): a
# person's orders (the contracts a person holds are nobody's part) and the stop-loss's closes
# (the account's floor, which cuts the parts it sells). Every other owner is a strategy, of
# this loop or not, or the assistant: its fills build its part whoever reads the state file
NO_PART = frozenset({MANUAL, BATCH, EXTERNAL, STOP_LOSS})

# what a strategy's name may be (strategies/loader.py, runner/loop/lineup.py, and the
# assistant's `agent.strategy`): the client order id carries it whole
# (`order_terms.owned_client_order_id` keeps 31 characters of [A-Za-z0-9_.-]), so an order the
# state file does not know, one reconcile imports after a lost state file, is recorded under
# the very name its loop owns orders by, and no two names are spelled alike there
OWNER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,31}$")
OWNER_NAME_RULE = "use at most 31 ASCII letters, digits, - and _"
