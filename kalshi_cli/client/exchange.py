"""The exchange itself (openapi.yaml 3.31.0, tags `exchange` and `account`): its status (each
exchange shard's too) and schedule (maintenance windows), the user-data timestamp, the scheduled
fee changes of series and events, this account's API limits, and the skew between its clock and
ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec

from kalshi_cli.client.connection import Area, Id, Rows, as_dict, flag_param
from kalshi_cli.client.ratelimit import BucketLimit, TierLimits, Tokens
from kalshi_cli.vocabulary.clock import as_utc, parse_http_date, parse_iso
from kalshi_cli.vocabulary.errors import KalshiError, ServerError
from kalshi_cli.vocabulary.models import ExchangeStatus, ShardStatus, decode_answer


class MaintenanceWindow(msgspec.Struct, frozen=True):
    start: datetime = msgspec.field(name="start_datetime")
    end: datetime = msgspec.field(name="end_datetime")

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            msgspec.structs.force_setattr(self, name, as_utc(getattr(self, name)))


class ExchangeSchedule(msgspec.Struct, frozen=True):
    """`GET /exchange/schedule`: the maintenance windows, by start, and the weekly standard
    hours (as sent, times in ET). The windows are required: an answer without them says
    nothing of maintenance, which is not "none"."""

    maintenance_windows: list[MaintenanceWindow]
    standard_hours: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        self.maintenance_windows.sort(key=lambda w: w.start)


class _ScheduleAnswer(msgspec.Struct, frozen=True):
    schedule: ExchangeSchedule


class UsageLevelGrant(msgspec.Struct, frozen=True):
    """`ApiUsageLevelGrant`: a usage level granted on one exchange lane."""

    exchange_instance: str
    level: str
    source: str
    expires_ts: int | None = None


class AccountLimits(msgspec.Struct, frozen=True):
    """`GET /account/limits`: the account's usage tier and its two token buckets, in either shape
    the exchange has used (3.31.0's `read`/`write` BucketLimits, 3.13's
    `read_limit`/`write_limit`). An answer with neither whole does not decode: nothing is paced
    by a guess."""

    usage_tier: str
    read: BucketLimit | None = None
    write: BucketLimit | None = None
    read_limit: Tokens | None = None
    write_limit: Tokens | None = None
    grants: list[UsageLevelGrant] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "usage_tier", self.usage_tier.strip().lower())
        if not self.usage_tier:
            raise ValueError("no usage_tier")
        self.limits()  # either shape is whole, or the answer is refused here

    def limits(self) -> TierLimits:
        """The two buckets the client paces by."""
        if self.read is not None and self.write is not None:
            return TierLimits(self.read, self.write)
        if self.read_limit is not None and self.write_limit is not None:
            return TierLimits(
                BucketLimit(self.read_limit, self.read_limit),
                BucketLimit(self.write_limit, self.write_limit),
            )
        raise ValueError("neither read and write buckets nor read_limit and write_limit")


class ExchangeApi(Area):
    """The exchange's status, schedule, fee changes and clock, and the account's limits."""

    def get_exchange_schedule(self) -> ExchangeSchedule:
        response = self._conn.request("GET", "/exchange/schedule")
        return self._conn.decode(
            response,
            lambda content: msgspec.json.decode(content, type=_ScheduleAnswer).schedule,
            "exchange schedule",
        )

    def get_user_data_timestamp(self) -> datetime:
        """When the exchange's portfolio reads (balance, orders, fills, positions) were last
        true: reads right after a write may show the state from before it."""
        text: str = self._conn.get_field(
            "/exchange/user_data_timestamp", "as_of_time", Id, "user data timestamp"
        )
        return self._conn.parse(parse_iso, text, "user data timestamp")

    def iter_event_fee_changes(
        self, *, event_ticker: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """`GET /events/fee_changes`: EventFeeChange (id, event_ticker, series_ticker,
        fee_type_override, fee_multiplier_override, scheduled_ts; both overrides null: the
        override is cleared)."""
        return self._conn.iterate(
            "/events/fee_changes",
            "event_fee_changes",
            as_dict,
            params={"event_ticker": event_ticker},
            limit=None,
            page_size=1000,
            auth=False,
            cursor_required=True,
        )

    def get_exchange_status(self) -> ExchangeStatus:
        """The exchange's status; also when it answers 500, 503 or 504 in the status's shape (the
        spec's for this endpoint: an exchange failing everything still says it is inactive)."""
        try:
            response = self._conn.request("GET", "/exchange/status")
        except ServerError as exc:
            body = exc.body
            # a status only where it says whether the exchange is active: the model defaults
            # both fields, so any error body would read as an inactive exchange
            if not (isinstance(body, dict) and isinstance(body.get("exchange_active"), bool)):
                raise
            try:
                return decode_answer(ExchangeStatus, body)
            except msgspec.ValidationError:
                raise exc from None
        return self._conn.answer(ExchangeStatus, response, "status")

    def get_shard_statuses(self) -> tuple[ShardStatus, ...]:
        """Each exchange shard's status (`exchange_index_statuses`), by index; shard 0's from
        the top-level fields when the exchange lists none (`ExchangeStatus.per_shard`)."""
        return self.get_exchange_status().per_shard()

    def get_series_fee_changes(
        self, *, series_ticker: str | None = None, show_historical: bool = False
    ) -> list[dict[str, Any]]:
        """`GET /series/fee_changes`: the scheduled changes of series' fees (SeriesFeeChange:
        id, series_ticker, fee_type, fee_multiplier, scheduled_ts), those still to come unless
        `show_historical`."""
        changes: Rows = self._conn.get_field(
            "/series/fee_changes",
            "series_fee_change_arr",
            Rows,
            "series fee changes",
            params={"series_ticker": series_ticker, "show_historical": flag_param(show_historical)},
        )
        return changes

    def get_account_limits(self) -> AccountLimits:
        response = self._conn.request("GET", "/account/limits", auth=True)
        return self._conn.answer(AccountLimits, response, "account limits")

    def clock_skew_seconds(self) -> float:
        """The exchange's clock minus ours, in seconds (positive: the exchange is ahead), from the
        `Date` header of an unsigned `GET /exchange/status`: good to about half a second plus
        half the round trip, enough to catch a clock that spoils signatures."""
        clock = self._conn.clock
        before = clock.wall()
        response = self._conn.request("GET", "/exchange/status", signed=False)
        after = clock.wall()
        date = response.headers.get("Date")
        if not date:
            raise KalshiError(
                f"{self._conn.host} sent no Date header, so the clock skew cannot be measured"
            )
        try:
            server = parse_http_date(date)
        except ValueError:
            raise KalshiError(
                f"{self._conn.host} sent an unreadable Date header: {date!r}"
            ) from None
        # the header truncates to the second: the exchange's clock read somewhere in [D, D + 1)
        return server + 0.5 - (before + after) / 2
