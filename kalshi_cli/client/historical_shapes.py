"""The historical cutoff as `client/historical.py` returns it (`HistoricalCutoff`), re-exported by
that module and loaded on first use, so a client that never asks for it does not generate its
dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kalshi_cli.clock import parse_iso


@dataclass(frozen=True)
class HistoricalCutoff:
    """The boundary between the tiers, as unix seconds (GetHistoricalCutoffResponse)."""

    market_settled_ts: float  # unix seconds
    trades_created_ts: float  # unix seconds
    orders_updated_ts: float  # unix seconds
    market_positions_last_updated_ts: float | None  # unix seconds; optional field

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> HistoricalCutoff:
        def ts(name: str) -> float:
            return parse_iso(str(data[name])).timestamp()

        positions = data.get("market_positions_last_updated_ts")
        return cls(
            market_settled_ts=ts("market_settled_ts"),
            trades_created_ts=ts("trades_created_ts"),
            orders_updated_ts=ts("orders_updated_ts"),
            market_positions_last_updated_ts=None
            if positions is None
            else ts("market_positions_last_updated_ts"),
        )
