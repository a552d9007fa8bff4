"""One exception tree for the whole toolkit, rooted at `KalshiError`; the class decides what
happens next (each carries its exit code), and an order sent without a clear answer is
`OrderOutcomeUnknown`: reconciled, never re-sent. The tree: docs/library.md "Errors and
answers".
"""

from __future__ import annotations

from typing import Any, NoReturn

from kalshi_cli.vocabulary.exit_codes import ExitCode


class KalshiError(Exception):
    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """What is wrong and what to do, on one line, for a person."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(KalshiError):
    exit_code = ExitCode.USAGE


class ConfigError(KalshiError):
    exit_code = ExitCode.CONFIG


class CredentialsError(KalshiError):
    exit_code = ExitCode.CREDENTIALS


class ValidationError(KalshiError):
    """A request refused before sending; `code` is a stable machine-readable reason."""

    exit_code = ExitCode.REJECTED

    def __init__(self, message: str, *, code: str = "invalid", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class TradingHaltedError(KalshiError):
    exit_code = ExitCode.HALTED


class RequestWithdrawn(KalshiError):
    """A request its caller withdrew before it left (`client.connection.withdrawn_when`: the
    trade loop's stop began while it waited its turn): nothing reached the exchange."""


class DataWriteError(KalshiError):
    """A data set could not be written (disk full, directory unwritable)."""

    exit_code = ExitCode.DATA_WRITE_FAILED


class NoDataError(KalshiError):
    """Nothing readable where data was expected."""

    exit_code = ExitCode.NO_DATA


class TransportError(KalshiError):
    exit_code = ExitCode.UNREACHABLE


class NotSentPastDeadline(TransportError):
    """Nothing was sent: the deadline the request runs under had passed before it could leave
    (a wait that overran it on a loaded machine). A `TransportError`, so a caller's "never sent"
    rules hold. It says nothing of the exchange: the API error guard does not count it toward
    SAFE_MODE, it is never tried again, and a run of tries that ends with it reports the failure
    before it (`raise_reported`)."""


class CutShortByDeadline(TransportError):
    """Sent, and not answered within what was left of the deadline the request runs under, which
    was shorter than its own timeout: the deadline cut the wait short, so it says nothing of the
    exchange. A `TransportError` like any other timeout (a write's outcome is unknown); a run of
    tries that ends with it reports the failure before it (`raise_reported`)."""


class TurnPastDeadline(NotSentPastDeadline):
    """The client's own rate limiter would let the request out only after the deadline it runs
    under: the backlog is the client's, not the exchange's."""


class OrderOutcomeUnknown(TransportError):
    exit_code = ExitCode.OUTCOME_UNKNOWN

    def __init__(self, message: str, *, client_order_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "run `kalshi reconcile` to resolve it")
        self.client_order_id = client_order_id


def answered_code(error: BaseException) -> str | None:
    """The exchange's error code in its answer to a call that raised `error`: an `ApiError`'s
    own, or, for a write whose outcome that answer left unknown (a 5xx), the answer's, which
    `Connection.write` raises it from; None when no answer named one."""
    for exc in (error, error.__cause__):
        if isinstance(exc, ApiError):
            return exc.code
    return None


def answered(error: BaseException) -> bool:
    """Whether the exchange answered the call that raised `error`: every failure but a
    `TransportError` (no answer at all, or none in time) is an answer, and so is a
    `TransportError` raised from one: the doubt of a write answered with a 5xx or an answer
    that cannot be read, or whose retry was refused after an earlier try's answer was lost
    (`retry.resent`). The one rule of when the kill switch says the exchange could not be
    reached."""
    if not isinstance(error, TransportError):
        return True
    return isinstance(error.__cause__, ApiError | AnswerUnreadable)


class AmendOutcomeUnknown(OrderOutcomeUnknown):
    """An amend was sent and no clear answer came back: the order may have its old or its new
    price and count. Look it up; never amend again blindly."""

    def __init__(self, message: str, *, order_id: str, hint: str | None = None) -> None:
        super().__init__(
            message,
            client_order_id="",
            hint=hint or f"`kalshi order show {order_id}` shows what the exchange has",
        )
        self.order_id = order_id


class AnswerUnreadable(KalshiError):
    """An answer came, but it cannot be read: a body that is no JSON (a proxy's page, a body cut
    short), a shape that does not decode, a list or cursor the spec requires missing. It says
    nothing of what the exchange holds, and may read fine when asked again."""


class ApiError(KalshiError):
    """The exchange answered with an error status and (usually) Kalshi's error body."""

    exit_code = ExitCode.FAILURE

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        details: str | None = None,
        exchange_message: str | None = None,
        hint: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code  # Kalshi's error code (e.g. "order_already_exists"), None if it sent none
        self.details = details
        self.exchange_message = exchange_message  # the exchange's own words, unprefixed
        self.body = body  # the answer's JSON as decoded (None: none, or not JSON)

    @classmethod
    def from_response(cls, status: int, body: Any, *, what: str = "request") -> ApiError:
        """Build the right subclass from a status and a Kalshi error body, in any shape Kalshi
        answers (REFERENCE.md "Observed on the real wire"):

        - nested `{"error": {"code", "message", "details"?, "service"?}}`: most 4xx (Kalshi
          removed `service` on 2026-08-06; an answer with or without it reads the same);
        - flat `{"code", "message", "details"}` (the spec's ErrorResponse): a body that did
          not decode;
        - bare `{"msg": "Parameter validation failed for ..."}`: a query parameter refused;
          it has no code;
        - `{"error": "too many requests"}`: the documented 429.
        """
        code, message, details = _error_fields(body)
        klass = _class_for_status(status)
        text = f"{what} failed: HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if details and details != message:
            text += f" ({details})"
        return klass(
            text,
            status=status,
            code=code,
            details=details,
            exchange_message=message,
            hint=klass.default_hint,
            body=body,
        )

    default_hint: str | None = None


class BadRequestError(ApiError):
    exit_code = ExitCode.REJECTED


class AuthError(ApiError):
    exit_code = ExitCode.AUTH
    default_hint = (
        "check the key id, the private key and that they belong to the chosen --env; "
        "`kalshi health-check` tests them"
    )


class ForbiddenError(AuthError):
    """403: the credentials are good, but this key may not do this (its scopes, a key locked
    to another subaccount). A clear refusal: nothing was done."""

    exit_code = ExitCode.FORBIDDEN
    default_hint = (
        "the exchange refused this key the request: check the key's scopes and subaccount "
        "in the exchange's API key settings"
    )


class NotFoundError(ApiError):
    exit_code = ExitCode.NOT_FOUND


class ConflictError(ApiError):
    exit_code = ExitCode.REJECTED


def order_exists(code: object) -> bool:
    """An error code saying an order under the client order id sent exists (409): every id is
    this toolkit's, written before it is sent, so the order is ours: looked up, never refused."""
    return str(code or "").lower() == "order_already_exists"


class RateLimitedError(ApiError):
    exit_code = ExitCode.RATE_LIMITED
    default_hint = "the exchange kept answering 429; wait and try again, or lower the request rate"


class RedirectedError(ApiError):
    """A 3xx answer: whatever answers at `api_base` sends requests elsewhere, and acted on none
    (a redirect is not the outcome of a request, and the client never follows one: a signed
    order sent on to another host is not an order it means to send)."""

    exit_code = ExitCode.CONFIG
    default_hint = (
        "api_base points at something that redirects, not at the exchange's API: set it to "
        "the address the exchange documents (`kalshi config show` prints it)"
    )


class ServerError(ApiError):
    exit_code = ExitCode.EXCHANGE_ERROR
    default_hint = "the exchange kept failing; check `kalshi health-check` and try again later"


# The failures that may pass when the same read or cancel is asked again a little later: the
# exchange throttling (429) or failing (5xx), no answer at all, and an answer that came but cannot
# be read (a proxy's page, a body cut short). The one rule of what the kill switch and the trade
# loop's stop try again within their deadline, and of what the API error guard counts; any other
# failure is an answer that asking again will not change. None of them says anything of what
# the exchange holds: never proof.
MAY_PASS: tuple[type[KalshiError], ...] = (
    RateLimitedError,
    ServerError,
    TransportError,
    AnswerUnreadable,
)


def refuses_the_key(exc: BaseException) -> bool:
    """A 401: the exchange refuses the key itself, so it would refuse every other request too
    and going on to the next order is no use (a 403 refuses this key this request alone). The
    one rule of when the kill switch and `kalshi order cancel-all` stop sending cancels."""
    return isinstance(exc, AuthError) and not isinstance(exc, ForbiddenError)


def reported(failed: KalshiError, before: KalshiError | None) -> KalshiError:
    """What a run of tries that ended with `failed` reports: the failure `before` it when
    `failed` is only a try its deadline kept from going out or cut short, which says nothing of
    the exchange (a 503, a garbled page, no answer in a try's own time is what a person can act
    on)."""
    if isinstance(failed, NotSentPastDeadline | CutShortByDeadline) and before is not None:
        return before
    return failed


def raise_reported(failed: KalshiError, before: KalshiError | None) -> NoReturn:
    """Raise what a run of tries that ended with `failed` reports (`reported`), as it is: its
    cause (the answer a write's error is raised from) kept."""
    raise reported(failed, before)


def _class_for_status(status: int) -> type[ApiError]:
    if status == 400:
        return BadRequestError
    if status == 401:
        return AuthError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    if 300 <= status < 400:
        return RedirectedError
    return BadRequestError if 400 <= status < 500 else ApiError


def _error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """(code, message, details) of an error body in any of Kalshi's shapes."""
    if not isinstance(body, dict):
        return None, None, None
    inner = body.get("error", body)
    if isinstance(inner, str):
        return None, inner, None
    if not isinstance(inner, dict):
        return None, None, None
    message = _str_or_none(inner.get("message"))
    if message is None and inner is body:
        message = _str_or_none(body.get("msg"))
    return _str_or_none(inner.get("code")), message, _str_or_none(inner.get("details"))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
