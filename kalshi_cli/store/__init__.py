"""The state file (see `store.py` for how it is laid out, `connection.py` for its durability and
transaction rules, and `docs/state-file.md` for its tables)."""

from kalshi_cli.store.errors import (
    DuplicateIntentError,
    InvalidTransition,
    NotAStateFile,
    OrderNotFound,
    StateFileMismatch,
    StateFileMissing,
    StoreError,
)
from kalshi_cli.store.records import (
    OPEN_STATUSES,
    ORDER_STATUSES,
    SENT_STATUSES,
    TRADING_STATES,
    AlertLogRecord,
    AlertStateRecord,
    EventRecord,
    ExchangeBinding,
    FillRecord,
    HeartbeatRecord,
    IntentRecord,
    MigrationReport,
    OrderHistoryRecord,
    RiskTripRecord,
    SettlementRecord,
    TradingStateRecord,
)
from kalshi_cli.store.store import Store

__all__ = [
    "OPEN_STATUSES",
    "ORDER_STATUSES",
    "SENT_STATUSES",
    "TRADING_STATES",
    "AlertLogRecord",
    "AlertStateRecord",
    "DuplicateIntentError",
    "EventRecord",
    "ExchangeBinding",
    "FillRecord",
    "HeartbeatRecord",
    "IntentRecord",
    "InvalidTransition",
    "MigrationReport",
    "NotAStateFile",
    "OrderHistoryRecord",
    "OrderNotFound",
    "RiskTripRecord",
    "SettlementRecord",
    "StateFileMismatch",
    "StateFileMissing",
    "Store",
    "StoreError",
    "TradingStateRecord",
]
