"""The state file (see `store.py` for its design and `docs/state-file.md` for its tables)."""

from kalshi_cli.store.records import (
    OPEN_STATUSES,
    ORDER_STATUSES,
    SENT_STATUSES,
    TRADING_STATES,
    AlertLogRecord,
    AlertStateRecord,
    EventRecord,
    FillRecord,
    HeartbeatRecord,
    IntentRecord,
    OrderHistoryRecord,
    RiskTripRecord,
    SettlementRecord,
    TradingStateRecord,
)
from kalshi_cli.store.store import (
    DuplicateIntentError,
    InvalidTransition,
    OrderNotFound,
    StateFileMissing,
    Store,
    StoreError,
)

__all__ = [
    "OPEN_STATUSES",
    "ORDER_STATUSES",
    "SENT_STATUSES",
    "TRADING_STATES",
    "AlertLogRecord",
    "AlertStateRecord",
    "DuplicateIntentError",
    "EventRecord",
    "FillRecord",
    "HeartbeatRecord",
    "IntentRecord",
    "InvalidTransition",
    "OrderHistoryRecord",
    "OrderNotFound",
    "RiskTripRecord",
    "SettlementRecord",
    "StateFileMissing",
    "Store",
    "StoreError",
    "TradingStateRecord",
]
