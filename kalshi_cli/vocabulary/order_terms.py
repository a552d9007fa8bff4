"""An order's terms, checked in one place: `order place`'s flags, the assistant's arguments, a row
of `order batch`'s file and `OrderService.prepare` all go through the rules here.

`order_request` builds an `OrderRequest` from its fields as the sender has them, typed (`order
place`'s `Side`, a bool) or as text (a count flag, the assistant's `"0.55"`), each read by its
field's rule and every problem reported at once; `read_terms` hands it a file's row. It ends with
`check_terms`: the rules a typed order meets whatever the market (count and price precision and
range, time in force, expiry), which `OrderService.prepare` starts with; the market's tick grid
(`check_price`) is checked once the market is read. Every problem names its field in the file's
words (`count`); the command line shows the same message under the flag (`--count`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeGuard
from uuid import uuid4

from kalshi_cli.vocabulary.clock import in_dates, parse_iso
from kalshi_cli.vocabulary.decode import PLAIN_DECIMAL, too_large
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.models import price_bounds, price_on_grid
from kalshi_cli.vocabulary.units import (
    ZERO,
    Action,
    BookSide,
    Side,
    TimeInForce,
    book_side_of,
    dollars_to_cents,
    is_fraction,
    to_book,
)

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.models import Market

REDUCE_ONLY_NEEDS_IOC = "REDUCE_ONLY_NEEDS_IOC"
FIELDS = (
    "ticker",
    "side",
    "action",
    "count",
    "price",
    "tif",
    "post_only",
    "reduce_only",
    "expires",
    "client_order_id",
)
REQUIRED = FIELDS[:5]

_TIFS = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0", "")
_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_DURATION = re.compile(r"^\+?(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class OrderRequest:
    """An order in the trader's terms: the side bought or sold and that side's price."""

    ticker: str
    side: Side
    action: Action
    count: Decimal
    price: Decimal
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    expiration_time: int | None = None
    client_order_id: str | None = None
    strategy: str | None = None
    model_fair: Decimal | None = None
    reason: str | None = None

    @property
    def book_side(self) -> BookSide:
        return book_side_of(self.side, self.action)

    @property
    def summary(self) -> str:
        """`yes buy 10 TICKER @ 0.55`: the order in one line, as a person confirms it."""
        return f"{self.side.value} {self.action.value} {self.count} {self.ticker} @ {self.price}"

    @property
    def yes_price(self) -> Decimal:
        return to_book(self.side, self.action, self.price).yes_price


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of an order."""

    field: str
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    @property
    def flag(self) -> str:
        """The field as `order place` spells its flag."""
        return f"--{self.field.replace('_', '-')}"


class TermsError(ValidationError):
    """An order whose terms break a rule of this module; `problems` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)), code=problems[0].code)
        self.problems = problems


def _refuse(field: str, message: str, code: str) -> TermsError:
    return TermsError([Problem(field, message, code)])


# ------------------------------------------------------------------------------------ values


def parse_amount(text: str, field: str, *, allow_zero: bool = False) -> Decimal:
    """A count or a price as Decimal, written as plain ASCII decimal digits: `Decimal` also
    reads floats' disguises (nan, inf, 1e3), digit groups (`1_0` is 10) and other scripts'
    digits (a full-width `１`), none of which a person or a file means as an amount."""
    raw = text.strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _refuse(field, f"{text!r} is not a number", "NOT_A_NUMBER") from None
    if not PLAIN_DECIMAL.match(raw):
        raise _refuse(field, f"{text!r} is not a plain decimal number", "NOT_A_NUMBER")
    return _checked_amount(value, field, raw, allow_zero=allow_zero)


def _checked_amount(
    value: Decimal, field: str, raw: str | None = None, *, allow_zero: bool = False
) -> Decimal:
    """The rules an amount's value meets, read from text (`raw`, as a refusal quotes it) or
    typed (`check_count`): below `AMOUNT_LIMIT`, and positive (or zero, when allowed)."""
    if problem := too_large(value):
        raise _refuse(field, problem, "AMOUNT_TOO_LARGE")
    if value < 0 or (value == 0 and not allow_zero):
        code = f"{field.upper().replace(' ', '_')}_NOT_POSITIVE"  # `contracts limit`
        raise _refuse(
            field, f"must be positive, got {format(value, 'f') if raw is None else raw}", code
        )
    return value


def parse_cash(text: str, field: str = "balance", *, allow_zero: bool = False) -> Decimal:
    """A starting balance in dollars (`kalshi backtest --balance`, `kalshi trade
    --paper-balance`): a plain decimal above zero, in whole cents, the unit a local venue holds
    cash in, as the exchange does (`dollars_to_cents`): a fraction of a cent would be cut off
    while the report named the amount given."""
    value = parse_amount(text, field, allow_zero=allow_zero)
    try:
        dollars_to_cents(value)
    except ValueError:
        raise _refuse(field, f"{text.strip()} is finer than a cent", "CASH_PRECISION") from None
    return value


def parse_count(text: str, field: str = "count", *, allow_zero: bool = False) -> Decimal:
    value = parse_amount(text, field, allow_zero=allow_zero)
    _check_count(value, field)
    return value


def parse_price(text: str, field: str = "price") -> Decimal:
    value = parse_amount(text, field)
    _check_price(value, field)
    return value


def parse_expires(text: str, now: float, field: str = "expires") -> int:
    """`30m`, `2h`, `1d` from now, unix seconds, or an ISO 8601 time (UTC unless it says), in
    the future and no later than the last second a date-time can name (`clock.in_dates`)."""
    raw = text.strip()
    match = _DURATION.match(raw)
    try:
        if match:
            moment = now + int(match.group(1)) * _UNITS[match.group(2)]
        elif raw.isdigit():
            moment = int(raw)
        else:
            moment = parse_iso(raw).timestamp()
    except ValueError:
        raise _refuse(
            field,
            f"{text!r} is not a time: use 30m, 2h, 1d, unix seconds or ISO 8601",
            "BAD_EXPIRY",
        ) from None
    try:
        in_dates(moment, raw)
    except ValueError as exc:
        raise _refuse(field, str(exc), "BAD_EXPIRY") from None
    if moment <= now:
        raise _refuse(field, f"{raw} is not in the future", "EXPIRY_IN_THE_PAST")
    return int(moment)


_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.-]")
_OWNED_ID = re.compile(r"^([A-Za-z0-9_.-]{1,31}):([0-9a-f]{32})$")


def owned_client_order_id(owner: str) -> str:
    """A fresh client order id naming the strategy that sends the order, `OWNER:HEX` (the
    owner spelled in the id's alphabet, at most 31 characters): the exchange keeps it on the
    order, its fills and its updates, so whose an order is can be read back from the
    exchange's own copy (`owner_in`) when the state file does not know the order."""
    return f"{owner_spelling(owner)}:{uuid4().hex}"


def owner_in(client_order_id: str) -> str | None:
    """The strategy an `owned_client_order_id` names, as spelled there; None for any other
    id (a person's, another program's)."""
    match = _OWNED_ID.match(client_order_id)
    return match.group(1) if match else None


@lru_cache(maxsize=256)  # a loop's few owners, spelled for each of its orders
def owner_spelling(owner: str) -> str:
    """How `owned_client_order_id` spells `owner`: what `owner_in` gives back for its ids."""
    return _NOT_IN_ID.sub("-", owner)[:31] or "-"


def parse_client_order_id(text: str) -> str:
    if not _CLIENT_ORDER_ID.match(text):
        raise _refuse(
            "client_order_id", "use 1-64 letters, digits, '-', '_', '.' or ':'", "BAD_CLIENT_ID"
        )
    return text


def check_count(value: object, field: str = "count") -> Decimal:
    """A count already typed (a `Decimal`, as code builds it, never a float or an int): by the
    rules its text would meet, positive with at most 2 decimals. A finite one is checked as it
    is, not written out and read back (every order a strategy decides is checked)."""
    return _checked_as_typed(value, field, _check_count, parse_count)


def check_dollars(value: object, field: str = "price") -> Decimal:
    """A YES price already typed (a `Decimal`): by the rules its text would meet, inside (0, 1)
    with at most 4 decimals, a finite one as it is (`check_count`). The market's own range and
    grid are `check_price`'s."""
    return _checked_as_typed(value, field, _check_price, parse_price)


def _checked_as_typed(
    value: object,
    field: str,
    check: Callable[[Decimal, str], None],
    parse: Callable[[str, str], Decimal],
) -> Decimal:
    """A finite Decimal checked as it is by `check` (with the rules every amount meets); any
    other value, or one refused, goes through `parse` of its text, refused there in the text's
    own words."""
    if _finite(value):
        try:
            check(_checked_amount(value, field), field)
            return value
        except TermsError:
            pass
    return parse(_typed(value, field), field)


def _finite(value: object) -> TypeGuard[Decimal]:
    """A Decimal that is a number (whose text `PLAIN_DECIMAL` reads): not NaN or infinite."""
    return isinstance(value, Decimal) and value.is_finite()


def _typed(value: object, field: str) -> str:
    """A Decimal written out in full, for the text rules; anything else is refused as a type
    a price or count never has (a float's binary digits, an int that may be a bool)."""
    if not isinstance(value, Decimal):
        raise _refuse(field, f"must be a Decimal, got {value!r}", "NOT_A_NUMBER")
    return format(value, "f")


def _check_count(value: Decimal, field: str) -> None:
    if value != value.quantize(Decimal("0.01")):
        raise _refuse(field, f"{value} has more than 2 decimals", "COUNT_PRECISION")


def _check_price(value: Decimal, field: str) -> None:
    if not ZERO < value < 1:
        raise _refuse(
            field,
            f"{value} is not a price in dollars between 0 and 1 (e.g. 0.55)",
            "PRICE_OUT_OF_RANGE",
        )
    if value != value.quantize(Decimal("0.0001")):
        raise _refuse(field, f"{value} has more than 4 decimals", "PRICE_PRECISION")


def _choice(text: str, choices: Mapping[str, Any], field: str) -> Any:
    value = text.strip().lower()
    if value not in choices:
        raise _refuse(field, f"{text!r} is not one of {', '.join(choices)}", "BAD_CHOICE")
    return choices[value]


def _flag(text: bool | str, field: str) -> bool:
    if isinstance(text, bool):
        return text
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered not in _FALSE:
        raise _refuse(field, f"{text!r} is not true or false", "BAD_FLAG")
    return False


# ------------------------------------------------------------------------------------ rules


def terms_problems(request: OrderRequest, *, now: float | None = None) -> list[Problem]:
    """Every rule an order's terms must meet whatever the market; `now`, when given, also
    puts the expiry in the future."""
    problems = []
    # a typed count and price meet the rules their text would: written out in full, read back
    for reader, value in ((parse_count, request.count), (parse_price, request.price)):
        try:
            reader(format(value, "f"))
        except TermsError as exc:
            problems += exc.problems
    problems += combination_problems(
        request.time_in_force,
        post_only=request.post_only,
        reduce_only=request.reduce_only,
        expiring=request.expiration_time is not None,
    )
    if (
        request.expiration_time is not None
        and now is not None
        and request.expiration_time <= now
        and request.time_in_force is TimeInForce.GTC
    ):
        problems.append(
            Problem(
                "expires", f"{request.expiration_time} is not in the future", "EXPIRY_IN_THE_PAST"
            )
        )
    return problems


def combination_problems(
    tif: TimeInForce, *, post_only: bool, reduce_only: bool, expiring: bool
) -> list[Problem]:
    """The time in force each option needs: post-only and an expiry rest on the book (GTC);
    reduce-only is accepted by API 3.31.0 only with IOC. `CreateOrder`, the request the client
    sends, checks its options by these same rules."""
    problems = []
    if post_only and tif is not TimeInForce.GTC:
        problems.append(
            Problem(
                "post_only", "post-only orders rest on the book: use tif gtc", "POST_ONLY_NEEDS_GTC"
            )
        )
    if expiring and tif is not TimeInForce.GTC:
        problems.append(Problem("expires", "works only with tif gtc", "EXPIRY_NEEDS_GTC"))
    if reduce_only and tif is not TimeInForce.IOC:
        problems.append(
            Problem(
                "reduce_only",
                "works only with tif ioc (API 3.31.0 refuses any other)",
                REDUCE_ONLY_NEEDS_IOC,
            )
        )
    return problems


def check_terms(request: OrderRequest, *, now: float | None = None) -> OrderRequest:
    """`request`, or `terms_problems` raised as one `TermsError` naming them all."""
    problems = terms_problems(request, now=now)
    if problems:
        raise TermsError(problems)
    return request


def check_price(market: Market, price: Decimal, *, what: str = "price") -> None:
    """The price inside the market's range and on its tick grid."""
    low, high = price_bounds(market.price_ranges)
    if not low <= price <= high:
        raise ValidationError(
            f"{what} {price} is outside {market.ticker}'s range {low}..{high}",
            code="PRICE_OUT_OF_RANGE",
        )
    if not price_on_grid(price, market.price_ranges):
        steps = ", ".join(f"{r.step} from {r.start} to {r.end}" for r in market.price_ranges)
        raise ValidationError(
            f"{what} {price} is not on {market.ticker}'s tick grid ({steps})",
            code="PRICE_OFF_GRID",
        )


def check_whole_count(
    ticker: str, whole_contracts: bool | None, count: Decimal, *, what: str = "count"
) -> None:
    """A fractional count only where the market says it trades fractions. 3.31.0's market
    answer no longer says (`whole_contracts` is None): then the exchange decides."""
    if whole_contracts and is_fraction(count):
        raise ValidationError(
            f"{what} {count}: {ticker} trades whole contracts only",
            code="WHOLE_CONTRACTS",
            hint=f"give a whole number, e.g. {count.to_integral_value(rounding=ROUND_DOWN)}",
        )


# ------------------------------------------------------------------------------------ reading


def order_request(
    ticker: str,
    side: Side | str,
    action: Action | str,
    count: Decimal | str,
    price: Decimal | str,
    *,
    tif: str = "gtc",
    post_only: bool | str = False,
    reduce_only: bool | str = False,
    expires: str | None = None,
    client_order_id: str | None = None,
    strategy: str | None = None,
    now: float,
) -> OrderRequest:
    """An order from its fields as its sender has them: typed (a `Side`, a `Decimal`, a bool) or
    as text (a flag, a CSV cell, an assistant's `"0.55"`), each read by its field's rule; then the
    order held to `check_terms`. A `TermsError` names every problem, in `FIELDS`' order."""
    readers: dict[str, Callable[[], Any]] = {
        "ticker": lambda: check_ticker(ticker),
        "side": lambda: _choice(side, {s.value: s for s in Side}, "side"),
        "action": lambda: _choice(action, {a.value: a for a in Action}, "action"),
        "count": lambda: parse_count(count) if isinstance(count, str) else check_count(count),
        "price": lambda: parse_price(price) if isinstance(price, str) else check_dollars(price),
        "time_in_force": lambda: _choice(tif, _TIFS, "tif"),
        "post_only": lambda: _flag(post_only, "post_only"),
        "reduce_only": lambda: _flag(reduce_only, "reduce_only"),
        "expiration_time": lambda: None if expires is None else parse_expires(expires, now),
        "client_order_id": lambda: (
            None if client_order_id is None else parse_client_order_id(client_order_id)
        ),
    }
    fields: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, read in readers.items():
        try:
            fields[name] = read()
        except TermsError as exc:
            problems += exc.problems
    if problems:
        raise TermsError(problems)
    return check_terms(OrderRequest(**fields, strategy=strategy))


def read_terms(
    cells: Mapping[str, str], *, now: float, strategy: str | None = None
) -> OrderRequest:
    """An order from a file's row, its fields as text (`FIELDS`; a missing or empty optional one
    takes its default), or `TermsError` naming every problem."""
    problems = [Problem(name, "is missing", "MISSING") for name in REQUIRED if not cells.get(name)]
    if problems:
        raise TermsError(problems)
    given: dict[str, Any] = {name: cells[name] for name in FIELDS if cells.get(name)}
    return order_request(**given, strategy=strategy, now=now)


def check_ticker(text: object) -> str:
    """A market's ticker as an order names it: one word of text, no blank or space in or around
    it (an order built by code and one typed or read from a file meet the same rule)."""
    if not isinstance(text, str) or text.split() != [text]:
        raise _refuse("ticker", f"{text!r} is not a ticker", "BAD_TICKER")
    return text
