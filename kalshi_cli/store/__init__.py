"""The state file (see `store.py` for how it is laid out, `connection.py` for its durability and
transaction rules, and `docs/state-file.md` for its tables)."""

from kalshi_cli.store.connection import state_file_at
from kalshi_cli.store.errors import (
    AccountStateUnknown,
    CancelNotRecorded,
    DuplicateIntentError,
    InvalidTransition,
    NotAStateFile,
    OrderNotFound,
    OrderNotRecorded,
    StateFileLocked,
    StateFileMismatch,
    StateFileMissing,
    StoreError,
)
from kalshi_cli.store.records import (
    AmendRecord,
    ExchangeBinding,
    FillRecord,
    HeartbeatRecord,
    IntentRecord,
    SettlementRecord,
    TradingStateRecord,
)
from kalshi_cli.store.retention import PruneReport, RetentionPolicy
from kalshi_cli.store.store import Store

__all__ = [
    "AccountStateUnknown",
    "AmendRecord",
    "CancelNotRecorded",
    "DuplicateIntentError",
    "ExchangeBinding",
    "FillRecord",
    "HeartbeatRecord",
    "IntentRecord",
    "InvalidTransition",
    "NotAStateFile",
    "OrderNotFound",
    "OrderNotRecorded",
    "PruneReport",
    "RetentionPolicy",
    "SettlementRecord",
    "StateFileLocked",
    "StateFileMismatch",
    "StateFileMissing",
    "Store",
    "StoreError",
    "TradingStateRecord",
    "state_file_at",
]
