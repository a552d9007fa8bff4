"""`kalshi health-check`: is everything needed to trade in order?

Each check is a function `(HealthTarget) -> (Status, detail)` registered with
`@health_check(name)`, run in order, one line each, named by that name; a failure never stops the
others. The command exits CHECK_FAILED when any check fails. The state file's integrity check opens
it read-only (no file: skipped). `HealthTarget` builds the client once; with a broken key, the
network checks run anonymously and the credentials check reports the key's error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kalshi_cli.cli._context import AppContext, begin, refuse_a_missing_state_dir
from kalshi_cli.cli._options import EnvOpt, FormatOpt, JsonOpt, subaccount_option
from kalshi_cli.cli._output import Column
from kalshi_cli.vocabulary.errors import CredentialsError, KalshiError, TransportError
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.config import Settings

SKEW_WARN_SECONDS = 1.0
SKEW_FAIL_SECONDS = 5.0


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class HealthResult:
    name: str
    status: Status
    detail: str


class HealthTarget:
    """What the checks inspect; each piece is built on first use and shared."""

    def __init__(self, app: AppContext, subaccount: int | None = None) -> None:
        """`subaccount`: whose money the shards line grades (None: the primary's)."""
        self.app = app
        self.subaccount = subaccount
        self.settings: Settings = app.settings()
        self.credentials_error: CredentialsError | None = None
        self._client: KalshiClient | None = None

    def client(self) -> KalshiClient:
        if self._client is None:
            try:
                self._client = self.app.client(read_key=True)
            except CredentialsError as exc:
                self.credentials_error = exc
                self._client = self.app.client(anonymous=True)
        return self._client

    def require_subaccount(self) -> None:
        """`--subaccount N` names a subaccount the account has, refused (exit 6) before any
        check as every command refuses it; an account whose subaccounts cannot be listed (a
        key the exchange refuses) is left to the checks, which say why."""
        if self.subaccount is not None:
            self.client().subaccounts.require_subaccount(self.subaccount)

    def key_path(self) -> Path | None:
        """The key file in use: the simulator's own for the embedded simulator."""
        if self.settings.embedded_simulator:
            self.client()
            return self.app.connection(auth=False).private_key_path
        return None if self.settings.private_key else self.settings.private_key_path


# a check says how it went and why; the runner names its line by the name it registered under
HealthCheck = Callable[[HealthTarget], tuple[Status, str]]
CHECKS: list[tuple[str, HealthCheck]] = []


def health_check(name: str) -> Callable[[HealthCheck], HealthCheck]:
    """Register a check; `kalshi health-check` runs it after those registered before it."""

    def register_check(check: HealthCheck) -> HealthCheck:
        CHECKS.append((name, check))
        return check

    return register_check


def run_checks(target: HealthTarget) -> list[HealthResult]:
    """Run every check. An exchange that does not answer is reported once, by the first check
    that asked it; the others that needed it are skipped rather than repeating the same line."""
    results = []
    unreachable = False
    for name, check in CHECKS:
        try:
            results.append(HealthResult(name, *check(target)))
        except TransportError as exc:
            if unreachable:
                results.append(HealthResult(name, Status.SKIP, "the exchange did not answer"))
            else:
                unreachable = True
                results.append(HealthResult(name, Status.FAIL, failure_detail(exc)))
        except KalshiError as exc:
            results.append(HealthResult(name, Status.FAIL, failure_detail(exc)))
        except Exception as exc:
            results.append(
                HealthResult(name, Status.FAIL, f"unexpected {type(exc).__name__}: {exc}")
            )
    return results


def failure_detail(exc: KalshiError) -> str:
    # A hint to run `kalshi health-check` is no help inside it.
    if exc.hint and "kalshi health-check" in exc.hint:
        return exc.message
    return exc.one_line()


# --------------------------------------------------------------------------------------------
# The checks, in the order they print


@health_check("exchange")
def check_exchange(target: HealthTarget) -> tuple[Status, str]:
    client = target.client()
    status = client.exchange.get_exchange_status()
    where = client_label(target)
    if status.exchange_active and status.trading_active:
        return Status.OK, f"{where}: exchange and trading active"
    if status.exchange_active:
        return Status.WARN, f"{where}: exchange up, trading paused"
    return Status.FAIL, f"{where}: exchange inactive"


def client_label(target: HealthTarget) -> str:
    settings = target.settings
    if settings.embedded_simulator:
        return "embedded simulator"
    return f"{settings.env} {settings.api_base}"


@health_check("credentials")
def check_credentials(target: HealthTarget) -> tuple[Status, str]:
    client = target.client()
    if target.credentials_error is not None:
        return Status.FAIL, target.credentials_error.one_line()
    if not client.authenticated:
        return Status.FAIL, (
            f"no API credentials for env {target.settings.env} (set KALSHI_API_KEY_ID and "
            "KALSHI_PRIVATE_KEY_PATH)"
        )
    from kalshi_cli.config import mask
    from kalshi_cli.vocabulary.keys import key_type

    client.portfolio.get_balance()
    connection = target.app.connection(auth=True)
    key_id = connection.key_id or ""
    kind = (
        "" if connection.private_key is None else KEY_TYPE_NAMES[key_type(connection.private_key)]
    )
    return Status.OK, f"{kind} key {mask(key_id, partial=True)} accepted".lstrip()


KEY_TYPE_NAMES = {"rsa": "RSA", "ed25519": "Ed25519"}


@health_check("shards")
def check_shards(target: HealthTarget) -> tuple[Status, str]:
    """Each shard's status and balance beside the markets the config trades there: a shard
    they live on that holds nothing fails (no order there can be paid, as `kalshi check balance`
    is CRITICAL); one holding less than `risk.min_shard_balance`, not trading, or whose money
    the balance does not tell (`check balance`: UNKNOWN), a traded market of unknown shard
    (`graded_lines`), or a running trade loop holds short of money (its heartbeat: its orders
    there denied or refused for it), warns."""
    from kalshi_cli.runner.config import load_selection
    from kalshi_cli.services.orders.status import loop_short_text
    from kalshi_cli.services.pretrade.settings import load_risk_limits
    from kalshi_cli.services.shards import (
        describe_line,
        graded_lines,
        loop_money_not_graded,
        loop_shards_short,
        loose_text,
        paused_shards,
        shard_lines,
        short_shards,
        untold_shards,
    )
    from kalshi_cli.vocabulary.clock import SystemClock

    client = target.client()
    if not client.authenticated or target.credentials_error is not None:
        return Status.SKIP, "needs credentials"
    path = target.settings.config_path
    floor = load_risk_limits(path).shard_floor
    markets = load_selection(path).markets(client)
    sub = target.subaccount
    whose = client if sub is None else client.on_subaccount(sub)
    lines, loose = graded_lines(
        shard_lines(client.exchange.get_exchange_status(), whose.portfolio.get_balance(), markets),
        markets,
    )
    shown = ("" if sub is None else f"subaccount {sub}: ") + "; ".join(map(describe_line, lines))
    note = loop_money_not_graded(target.settings.state, sub)
    shown += "" if note is None else f"; {note}"
    move = "kalshi shard move" + ("" if sub is None else f" --subaccount {sub}")
    short = short_shards(lines, floor)
    paused = paused_shards(lines)
    untold = untold_shards(lines)
    held = loop_shards_short(target.settings.state, SystemClock().wall())
    if not short and not paused and not untold and not held and not loose:
        return Status.OK, shown
    problems = [loop_short_text(held)] if held else []
    problems += [loose_text(loose)] if loose else []
    problems += [
        f"what shard {line.exchange_index} holds is not told (the balance gives no split by shard)"
        for line in untold
    ]
    problems += [f"shard {line.exchange_index} trades nothing now" for line in paused]
    problems += [f"{s.text}; `{move}` funds it" for s in short]
    failed = any(s.empty for s in short)
    return Status.FAIL if failed else Status.WARN, f"{'; '.join(problems)} | {shown}"


@health_check("clock skew")
def check_clock_skew(target: HealthTarget) -> tuple[Status, str]:
    skew = target.client().exchange.clock_skew_seconds()
    text = f"{skew:+.2f} s against the exchange's clock"
    if abs(skew) >= SKEW_FAIL_SECONDS:
        return Status.FAIL, f"{text}; signed requests may be refused"
    if abs(skew) >= SKEW_WARN_SECONDS:
        return Status.WARN, f"{text}; check NTP"
    return Status.OK, text


@health_check("rate-limit tier")
def check_rate_tier(target: HealthTarget) -> tuple[Status, str]:
    """Unset, `tier` leaves the long runs to pace by the exchange's (client/pacing.py); set, it
    wins there, so one the exchange contradicts is worth a warning."""
    from kalshi_cli.config import Source

    client = target.client()
    if not client.authenticated:
        return Status.SKIP, "needs credentials"
    actual = client.exchange.get_account_limits().usage_tier
    settings = target.settings
    origin = settings.origins["tier"]
    if origin.source is Source.DEFAULT:
        return Status.OK, f"{actual} (the exchange's; `trade` and `cancel-all` pace by it)"
    if actual != settings.tier:
        return Status.WARN, (
            f"the exchange says {actual}, the config says {settings.tier} ({origin}), and the "
            f"config's wins (set tier: {actual} under `{settings.env}:`, or remove it)"
        )
    return Status.OK, actual


@health_check("state location")
def check_state_location(target: HealthTarget) -> tuple[Status, str]:
    from kalshi_cli.store import state_file_at

    # a --state or KALSHI_STATE in a directory that does not exist is refused by every command
    # that would use it (only the default state directory is made on first use)
    refuse_a_missing_state_dir(target.app.state, target.app.environ)
    path = target.settings.state
    # the rule every command opens it by: a link to nothing or a directory there fails this
    # check, naming it (NotAStateFile), and is never a file "created on first use"
    if state_file_at(path):
        if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
            return Status.OK, f"{path} (writable)"
        return Status.FAIL, f"{path} is not a writable file"
    # Never create anything here: find the directory the file would be created under.
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
        return Status.OK, f"{path} (created on first use)"
    return Status.FAIL, f"cannot create {path}: {ancestor} is not writable"


@health_check("key file")
def check_key_file(target: HealthTarget) -> tuple[Status, str]:
    if target.settings.private_key:
        return Status.SKIP, "key given as PEM text (KALSHI_PRIVATE_KEY)"
    path = target.key_path()
    if path is None:
        return Status.SKIP, "no key file configured"
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return Status.FAIL, f"{path} does not exist"
    if mode & 0o077:
        status = Status.FAIL if target.settings.money_env == "prod" else Status.WARN
        return status, f"{path} is readable by group or others (mode {mode:o}); chmod 600"
    return Status.OK, f"{path} (mode {mode:o})"


@health_check("state integrity")
def check_state_integrity(target: HealthTarget) -> tuple[Status, str]:
    from kalshi_cli.store import Store

    store = Store.open_readonly(target.settings.state)
    if store is None:
        return Status.SKIP, "no state file yet"
    with store:
        answer = store.integrity_check()
    if answer == "ok":
        return Status.OK, "PRAGMA integrity_check: ok"
    problems = answer.splitlines()
    return Status.FAIL, f"PRAGMA integrity_check found {len(problems)} problem(s): {problems[0]}"


# --------------------------------------------------------------------------------------------


COLUMNS = (Column("status", "status"), Column("check", "check"), Column("detail", "detail"))


def health_check_command(
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: Annotated[
        int | None,
        subaccount_option(
            "Grade the shards by this subaccount's money, that of a `kalshi trade --subaccount "
            "N`. Default: the primary account's."
        ),
    ] = None,
    env: EnvOpt = None,
) -> None:
    """Check everything needed to trade.

    Exchange status, credentials, each exchange shard's status and balance beside the markets
    the config trades there (one holding nothing fails, one short of risk.min_shard_balance
    warns), clock skew, rate-limit tier, state location, key file permissions and the state
    file's integrity, one line per check; exits 12 if any check fails (warnings do not).

    Example: kalshi health-check --json
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    target = HealthTarget(app, subaccount)
    target.require_subaccount()
    results = run_checks(target)
    failed = any(r.status is Status.FAIL for r in results)
    rows = [{"status": r.status.value, "check": r.name, "detail": r.detail} for r in results]
    document = {
        "env": target.settings.env,
        "ok": not failed,
        "checks": [{"name": r.name, "status": r.status.value, "detail": r.detail} for r in results],
    }
    out.table(COLUMNS, rows, document=document)
    if failed:
        raise typer.Exit(int(ExitCode.CHECK_FAILED))
