"""What we send (strict) and what order writes return (tolerant): `CreateOrder` refuses a bad
price, count or combination when it is built, before anything leaves the machine, and writes
exactly the V2 request body; the results decode the V2 write answers, and a field a safety
decision rests on has no default, so an answer without it is an unknown outcome, looked up. See
docs/library.md "The client" and "Errors and answers".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import uuid4

import msgspec

from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.models import Answer
from kalshi_cli.vocabulary.order_terms import (
    TermsError,
    check_dollars,
    check_ticker,
    combination_problems,
)
from kalshi_cli.vocabulary.order_terms import check_count as check_count  # noqa: PLC0414
from kalshi_cli.vocabulary.units import (
    ZERO,
    BookSide,
    SelfTradePrevention,
    TimeInForce,
    fmt_count,
    fmt_dollars,
)

check_price = check_dollars


def _enum(enum_type: type[Any], value: object, what: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise ValidationError(
            f"{what} {value!r} is not one of {allowed}", code="bad_enum"
        ) from None


@dataclass(frozen=True)
class CreateOrder:
    """One limit order in V2 terms: `book_side` bid buys YES, ask sells YES; `price` in YES
    dollars. Build it from trader terms with `units.to_book()`."""

    ticker: str
    book_side: BookSide
    price: Decimal
    count: Decimal
    time_in_force: TimeInForce = TimeInForce.GTC
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS
    client_order_id: str = field(default_factory=lambda: str(uuid4()))
    post_only: bool = False
    reduce_only: bool = False
    expiration_time: int | None = None  # unix seconds, good_till_canceled only
    order_group_id: str | None = None  # the order group to place it in (client/order_groups.py)

    def __post_init__(self) -> None:
        check_ticker(self.ticker)
        # enums may arrive as their wire strings; store the enum either way
        object.__setattr__(self, "book_side", _enum(BookSide, self.book_side, "book side"))
        object.__setattr__(
            self, "time_in_force", _enum(TimeInForce, self.time_in_force, "time in force")
        )
        object.__setattr__(
            self,
            "self_trade_prevention",
            _enum(SelfTradePrevention, self.self_trade_prevention, "self-trade prevention"),
        )
        check_price(self.price)
        check_count(self.count)
        if not isinstance(self.client_order_id, str) or not self.client_order_id.strip():
            raise ValidationError("client_order_id must be a non-empty string", code="bad_coid")
        if self.expiration_time is not None:
            if isinstance(self.expiration_time, bool) or not isinstance(self.expiration_time, int):
                raise ValidationError(
                    "expiration_time must be unix seconds (an int)", code="bad_expiration"
                )
            if self.expiration_time <= 0:
                raise ValidationError("expiration_time must be positive", code="bad_expiration")
        if self.order_group_id is not None and (
            not isinstance(self.order_group_id, str) or not self.order_group_id.strip()
        ):
            raise ValidationError("order_group_id must be a non-empty string", code="bad_group")
        # the options' rules are the order terms' own, so no request can say what they refuse
        problems = combination_problems(
            self.time_in_force,
            post_only=self.post_only,
            reduce_only=self.reduce_only,
            expiring=self.expiration_time is not None,
        )
        if problems:
            raise TermsError(problems)

    def to_api(self) -> dict[str, Any]:
        """The `CreateOrderV2Request` body."""
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "client_order_id": self.client_order_id,
            "side": self.book_side.value,
            "count": fmt_count(self.count),
            "price": fmt_dollars(self.price),
            "time_in_force": self.time_in_force.value,
            "self_trade_prevention_type": self.self_trade_prevention.value,
            "post_only": self.post_only,
            "reduce_only": self.reduce_only,
        }
        if self.expiration_time is not None:
            body["expiration_time"] = self.expiration_time
        if self.order_group_id is not None:
            body["order_group_id"] = self.order_group_id
        return body


@dataclass(frozen=True)
class AmendOrder:
    """An amend's new terms in V2 terms (`AmendOrderV2Request`): `count` is the new total,
    filled so far plus what should rest; `expiration_time` (unix seconds) None keeps the expiry,
    0 removes it. What the client sends and what the local venue applies (venue/venue.py)."""

    ticker: str
    book_side: BookSide
    price: Decimal
    count: Decimal
    updated_client_order_id: str | None = None
    expiration_time: int | None = None

    def to_api(self) -> dict[str, Any]:
        """The `AmendOrderV2Request` body."""
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "side": BookSide(self.book_side).value,
            "price": fmt_dollars(self.price),
            "count": fmt_count(self.count),
        }
        if self.updated_client_order_id:
            body["updated_client_order_id"] = self.updated_client_order_id
        if self.expiration_time is not None:
            body["expiration_time"] = self.expiration_time
        return body


class CreateOrderResult(Answer, frozen=True, kw_only=True):
    """`CreateOrderV2Response`. The counts have no default: an answer without them, or with
    them garbled, does not decode (module docstring)."""

    order_id: str
    client_order_id: str | None = None
    fill_count: Decimal
    remaining_count: Decimal
    average_fill_price: Decimal | None = None
    average_fee_paid: Decimal | None = None
    ts_ms: int = 0


_IMMEDIATE = (TimeInForce.IOC, TimeInForce.FOK)


def create_answer_problem(result: CreateOrderResult, request: CreateOrder) -> str | None:
    """Why a create answer cannot settle what became of `request`, or None when it can: its counts
    must be whole hundredths, not negative, together not above the order's count, and a GTC
    order's must account for all of it. An answer that fails this is an unknown outcome, looked
    up."""
    fill, rest = result.fill_count, result.remaining_count
    for name, value in (("fill_count", fill), ("remaining_count", rest)):
        if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
            return f"the answer's {name} {value} is not a count of contracts"
    if fill + rest > request.count:
        return (
            f"the answer's fill_count {fmt_count(fill)} and remaining_count {fmt_count(rest)} "
            f"are more than the order's {fmt_count(request.count)}"
        )
    if request.time_in_force not in _IMMEDIATE and fill + rest != request.count:
        return (
            f"the answer says the good-till-canceled order is neither filled nor resting "
            f"(fill_count {fmt_count(fill)}, remaining_count {fmt_count(rest)} of "
            f"{fmt_count(request.count)})"
        )
    return None


class AmendResult(Answer, frozen=True, kw_only=True):
    """`AmendOrderV2Response`: the counts and averages only when the amend filled or changed
    what rests (the exchange sends them null or not at all otherwise)."""

    order_id: str
    client_order_id: str | None = None
    remaining_count: Decimal | None = None
    fill_count: Decimal | None = None
    average_fill_price: Decimal | None = None
    average_fee_paid: Decimal | None = None
    ts_ms: int | None = None


class DecreaseResult(Answer, frozen=True, kw_only=True):
    """`DecreaseOrderV2Response`. What rests now has no default: an answer without it is an
    unknown outcome, never "nothing left"."""

    order_id: str
    client_order_id: str | None = None
    remaining_count: Decimal
    ts_ms: int | None = None


class CancelResult(msgspec.Struct, frozen=True):
    order_id: str
    reduced_by: Decimal
    error: str | None = None
    # answered only after an earlier send's answer was lost (`may_have_acted`), or its own
    # request's answer lost: its `error` (`not_found`) may be that lost cancel's own doing, or
    # a fill's meanwhile
    after_lost_answer: bool = False


class _CancelAnswer(msgspec.Struct, frozen=True):
    """A cancel's answer, or one item of a batch cancel's, before it is judged."""

    order_id: str
    reduced_by: Any = None
    error: Any = None


def after_lost_answer(results: list[CancelResult]) -> list[CancelResult]:
    """`results` of a cancel sent again after its answer was lost: each refused one marked so."""
    return [
        msgspec.structs.replace(r, after_lost_answer=True) if r.error is not None else r
        for r in results
    ]


def decode_cancel_result(data: Mapping[str, Any]) -> CancelResult:
    """An answer that names no error but does not say what it took off is no confirmed
    cancel: it comes back as an error of its own, never as a cancel of nothing."""
    answer = msgspec.convert(data, _CancelAnswer)
    error = _error_text(answer.error)
    reduced_by = ZERO
    if error is None:
        try:
            reduced_by = msgspec.convert(answer.reduced_by, Decimal)
        except msgspec.ValidationError:
            shown = "missing" if "reduced_by" not in data else repr(answer.reduced_by)
            error = (
                f"the answer did not say what was cancelled (reduced_by {shown}); "
                "the order must be looked up"
            )
    return CancelResult(order_id=answer.order_id, reduced_by=reduced_by, error=error)


def _error_text(error: Any) -> str | None:
    if not error:
        return None
    if isinstance(error, dict) and isinstance(error.get("error"), dict):
        error = error["error"]  # the nested shape Kalshi uses for most errors
    if isinstance(error, dict):
        said = [str(error[k]) for k in ("code", "message", "details") if error.get(k)]
        return ": ".join(said) or "error"
    return str(error)
