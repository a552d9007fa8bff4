"""Every exit code the `kalshi` command uses, in one place. Scripts branch on these, so they never
change meaning (docs/exit-codes.md; tests/vocabulary/test_exit_codes.py pins each). `kalshi
check` uses the Nagios codes instead (`kalshi_cli.checks`).
"""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # an unexpected error; run again with KALSHI_DEBUG=1 for the traceback
    USAGE = 2  # a bad flag or argument (Click's own code for usage errors)
    CONFIG = 3  # the configuration file or an environment variable is malformed
    CREDENTIALS = 4  # no key, or the key file is missing, unreadable, not a PEM or encrypted
    AUTH = 5  # the exchange refused the credentials (401): wrong key or wrong environment
    NOT_FOUND = 6  # an unknown ticker, event or order id
    UNREACHABLE = 7  # the exchange could not be reached (DNS, connect, timeout)
    RATE_LIMITED = 8  # still rate limited after every retry
    REJECTED = 9  # the exchange or a local check refused the request; nothing changed
    OUTCOME_UNKNOWN = 10  # an order may or may not exist; run `kalshi reconcile`
    NOT_PROVEN = 11  # the kill switch, or a trade loop's stop, could not prove no order is left
    CHECK_FAILED = 12  # health-check: at least one check failed
    HALTED = 13  # trading is halted or in safe mode; `kalshi resume` lifts it
    EXCHANGE_ERROR = 14  # the exchange answered 5xx after every retry
    ALREADY_RUNNING = 15  # another trade loop holds this state file or this account
    FORBIDDEN = 16  # the exchange refused the request (403): the key may not do this
    BAD_STATE_FILE = 17  # the state file exists but is not one: empty, not SQLite, or foreign
    DATA_WRITE_FAILED = 18  # record/import/export: disk full or directory unwritable
    NO_DATA = 19  # the data directory or import file holds nothing readable
    STATE_MISMATCH = 20  # the state file belongs to another exchange endpoint or account
    STATE_WRITE_FAILED = 21  # trade: the state file stopped taking writes; the loop stopped
    EXECUTOR_FAILED = 22  # backtest sweep: a worker died, or the Dask scheduler was unreachable
    STRATEGY_FAILED = 23  # backtest: a failed run: its strategy failed decisions, or SAFE_MODE
    FILL_QUARANTINED = 24  # reconcile, pnl: a fill listed without a field it needs, not applied
    TRANSFER_SHORT = 25  # shard move: a transfer ended with its money short of where it was sent
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # the reader of the output went away (`| head`): 128 + SIGPIPE, quietly
