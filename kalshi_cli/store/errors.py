"""The state file's errors: one tree under StoreError, each class deciding the exit code."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeGuard

from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode


class StoreError(KalshiError):
    """The state file could not be used as asked."""


class StateFileUnwritable(StoreError):
    """The state file cannot take a write (read-only, the disk full or failing, the file or its
    directory cannot be opened): what needed the write did not happen. Trouble on the
    machine, not a bug: exit STATE_WRITE_FAILED, whichever command met it."""

    exit_code = ExitCode.STATE_WRITE_FAILED


class StateFileLocked(StateFileUnwritable):
    """Another connection holds the state file's lock (SQLite BUSY or LOCKED) past the wait:
    a writer exists, and it may be a trade loop about to record an intent (the kill switch
    proves nothing while one keeps HALTED out)."""


class StateFileMissing(StoreError):
    """A read-only command found no state file; it never creates one."""


class NotAStateFile(StoreError):
    """A file exists where the state file should be, but it is not one: empty, not SQLite, or
    a database without our migrations table. It is never rebuilt in place: an empty file is
    what a lost state file looks like, and a new one would forget HALTED and the day's trips."""

    exit_code = ExitCode.BAD_STATE_FILE


class StateFileMismatch(StoreError):
    """The state file is bound to another exchange endpoint or account: its orders, fills and
    trading state are not this account's, and nothing is sent on them."""

    exit_code = ExitCode.STATE_MISMATCH


class AccountStateUnknown(StoreError):
    """The kill switch was given a state file that is not the account's (a paper session's) and
    cannot tell the account's own from it: it cancels on the exchange all the same, but HALTED
    reaches no live trade loop, which may place again at once, so no listing is proof. Raised
    out of a halt (the assistant's), it exits as the kill switch does then: NOT_PROVEN."""

    exit_code = ExitCode.NOT_PROVEN


class DuplicateIntentError(StoreError):
    exit_code = ExitCode.REJECTED


class InvalidTransition(StoreError):
    """A `mark_*` call on an order whose outcome is already known: a bug in the caller."""


class OrderNotFound(StoreError):
    exit_code = ExitCode.NOT_FOUND


class OrderNotRecorded(StoreError):
    """An order request reached (or may have reached) the exchange, or a change was made, and the
    state file could not record the answer: the order exists, or may. `order_id` is None when the
    answer was lost too; `remaining` is what rests. The loop must still withdraw it; a person
    must not send it again. Exit STATE_WRITE_FAILED."""

    exit_code = ExitCode.STATE_WRITE_FAILED

    def __init__(
        self,
        message: str,
        *,
        hint: str,
        client_order_id: str,
        order_id: str | None,
        remaining: Decimal,
    ) -> None:
        super().__init__(message, hint=hint)
        self.client_order_id = client_order_id
        self.order_id = order_id
        self.remaining = remaining


class CancelNotRecorded(StoreError):
    """A cancel the exchange answered that the state file could not record: the order is
    cancelled, `reduced_by` contracts taken off; the row still says it rests until `kalshi
    reconcile`. `failure`: the state file's own error. Exit STATE_WRITE_FAILED."""

    exit_code = ExitCode.STATE_WRITE_FAILED

    def __init__(
        self, message: str, *, hint: str, order_id: str, reduced_by: Decimal, failure: StoreError
    ) -> None:
        super().__init__(message, hint=hint)
        self.order_id = order_id
        self.reduced_by = reduced_by
        self.failure = failure


def is_state_failure(exc: BaseException) -> TypeGuard[StoreError]:
    """A state file that failed as SQLite said (full, failing, read-only, locked), also under
    an answer it could not record (OrderNotRecorded): not one refused on opening with its own
    code (17, 20) nor a bug of ours in using it (those stay a crash, exit 1)."""
    return (
        isinstance(exc, StoreError)
        and exc.exit_code in (ExitCode.STATE_WRITE_FAILED, ExitCode.FAILURE)
        and not isinstance(exc, InvalidTransition)
    )
