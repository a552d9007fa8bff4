"""The exchange's schedule: standard hours (the simulator trades around the clock) and the
maintenance windows a test or scenario sets through the admin API, during which the exchange
status reports inactive, order creates and amends are refused 503, cancels go through, and
orders placed with `cancel_order_on_pause` are cancelled. Windows live in memory, not in the
journal. See docs/simulator.md "Market history, the schedule and maintenance".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kalshi_cli.sim.core.records import ExchangeError, bad_request
from kalshi_cli.vocabulary.clock import iso_utc

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange

# The writes that place orders, which a maintenance window refuses 503 and the faults
# `write_503_rate` and `write_503_after_commit_rate` answer 503 (and the network fault
# `hold_request_s` holds, whatever they carry): the two the spec documents 503 on, and the batch
# create that places orders the same way.
ORDER_WRITES = frozenset(
    {
        "POST /portfolio/events/orders",
        "POST /portfolio/events/orders/{order_id}/amend",
        "POST /portfolio/events/orders/batched",
    }
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FOREVER = "9999-12-31T23:59:59Z"  # the end of a weekly schedule that never stops applying


@dataclass(frozen=True)
class SimMaintenanceWindow:
    start: float  # unix seconds
    end: float  # unix seconds

    def covers(self, now: float) -> bool:  # unix seconds
        return self.start <= now < self.end


class SimSchedule:
    def __init__(self) -> None:
        self._windows: list[SimMaintenanceWindow] = []
        self._swept: set[SimMaintenanceWindow] = set()
        self._exchange: Exchange | None = None

    def attach(self, exchange: Exchange) -> None:
        """Sweep `cancel_order_on_pause` orders when a window begins (on the exchange's tick)."""
        self._exchange = exchange
        exchange.add_tick_hook(self.on_tick)

    def add(self, start: float, end: float) -> SimMaintenanceWindow:  # unix seconds
        if end <= start:
            raise bad_request("end_ts must be after start_ts")
        window = SimMaintenanceWindow(float(start), float(end))  # unix seconds
        self._windows.append(window)
        self._windows.sort(key=lambda w: w.start)
        return window

    def clear(self) -> None:
        self._windows.clear()
        self._swept.clear()

    def current(self, now: float) -> SimMaintenanceWindow | None:  # unix seconds
        """The window the exchange is in at `now` (the one ending last, if they overlap)."""
        covering = [w for w in self._windows if w.covers(now)]
        return max(covering, key=lambda w: w.end) if covering else None

    def pending(self, now: float) -> list[SimMaintenanceWindow]:  # unix seconds
        """The windows not over yet, by start."""
        return [w for w in self._windows if w.end > now]

    def on_tick(self, now: float) -> None:  # unix seconds
        window = self.current(now)
        if window is None or window in self._swept or self._exchange is None:
            return
        self._swept.add(window)
        exchange = self._exchange
        for account in exchange.accounts.accounts:
            for order in exchange.accounts.resting_orders(account.account_id):
                if order.cancel_order_on_pause:
                    exchange.desk.cancel_order(account.account_id, order.order_id)

    def refusal(self, endpoint: str, now: float) -> ExchangeError | None:  # unix s
        """The 503 an order write meets during a window, else None."""
        if endpoint not in ORDER_WRITES:
            return None
        window = self.current(now)
        if window is None:
            return None
        return ExchangeError(
            503,
            "exchange_unavailable",
            f"the exchange is under maintenance until {iso_utc(window.end)}",
        )

    def schedule_json(self, created: float, now: float) -> dict[str, object]:
        """GetExchangeScheduleResponse: open around the clock since the simulator's creation."""
        # midnight to midnight, as the real schedule writes a whole day (never "24:00")
        every_day = [{"open_time": "00:00", "close_time": "00:00"}]
        weekly: dict[str, object] = {"start_time": iso_utc(created), "end_time": FOREVER}
        weekly.update({day: list(every_day) for day in WEEKDAYS})
        return {
            "schedule": {
                "standard_hours": [weekly],
                "maintenance_windows": [
                    {"start_datetime": iso_utc(w.start), "end_datetime": iso_utc(w.end)}
                    for w in self.pending(now)
                ],
            }
        }
