"""`kalshi check NAME`: the checks, and the framework they share (a result, its Nagios line, its
JSON, its alert).

A check looks once and returns a `CheckResult`: `local` checks read only the state file (no httpx or
cryptography, so a cron check starts fast), `remote` ones ask the exchange. The CLI prints
`format_nagios(result)`, exits with the Nagios code and hands the result to `dispatch()`, which
turns a non-OK result into an alert (fingerprint `check:NAME`) and an OK one into its clearing. A
check that cannot look is UNKNOWN, never OK (`guarded()`). This module imports nothing heavy; `run`
wires checks to their inputs, `thresholds` holds their numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import IntEnum
from typing import Any

from kalshi_cli.alerts.model import RUNBOOKS, Alert, AlertStateStore, Runbook, SendReport, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.units import MONEY_SHOWN

LOCAL_CHECKS = ("heartbeat", "feed", "orders", "pnl")
REMOTE_CHECKS = ("positions", "exposure", "api", "exchange", "balance")
# the checks `--subaccount` narrows to one subaccount (positions and exposure: whose positions;
# balance: whose money)
SCOPED_CHECKS = ("positions", "exposure", "balance")
CHECK_NAMES = (
    "positions",
    "pnl",
    "heartbeat",
    "orders",
    "exposure",
    "api",
    "feed",
    "exchange",
    "balance",
)

# Seconds one run may spend asking the exchange, all its checks together (`--deadline`,
# checks/run.py). The cron wrapper's timeout is 120 s, and after the deadline a run may still
# wait once for the alert state's lock and on its webhooks: this leaves them, and Python's start,
# room inside it.
DEFAULT_DEADLINE_S = 60.0

PREFIX = "KALSHI"
# The units the Nagios plugin guidelines allow; anything else breaks graphing tools.
PERF_UOMS = frozenset({"", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"})
_PERF_NUMBERS = ("value", "warn", "crit", "min", "max")  # a datum's numbers, in the line's order


class CheckStatus(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


Number = Decimal | int


@dataclass(frozen=True)
class PerfDatum:
    label: str
    value: Number
    warn: Number | None = None
    crit: Number | None = None
    min: Number | None = None
    max: Number | None = None
    uom: str = ""

    def __post_init__(self) -> None:
        if not self.label or "=" in self.label or "\n" in self.label:
            raise ValueError(f"perfdata label {self.label!r} is empty or contains '=' or newline")
        if self.uom not in PERF_UOMS:
            raise ValueError(f"perfdata unit {self.uom!r} is not one of {sorted(PERF_UOMS)}")
        for name in _PERF_NUMBERS:
            number = getattr(self, name)
            if isinstance(number, bool) or not (
                number is None or isinstance(number, int | Decimal)
            ):
                raise ValueError(f"perfdata {name} must be an int or a Decimal, got {number!r}")
            if isinstance(number, Decimal) and not number.is_finite():
                raise ValueError(f"perfdata {name} must be finite, got {number}")

    def render(self) -> str:
        label = self.label.replace("'", "''")
        fields = [f"{_num(self.value)}{self.uom}"] + [
            _num(x) for x in (self.warn, self.crit, self.min, self.max)
        ]
        while fields and fields[-1] == "":
            fields.pop()
        return f"'{label}'=" + ";".join(fields)

    def as_dict(self) -> dict[str, Any]:
        numbers = {name: _json_num(getattr(self, name)) for name in _PERF_NUMBERS}
        return {"label": self.label, **numbers, "uom": self.uom}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: CheckStatus
    summary: str
    perfdata: Sequence[PerfDatum] = field(default_factory=tuple)
    # more keys of the `--json` document (positions and exposure name each subaccount there)
    extra: Mapping[str, Any] = field(default_factory=dict)
    # what a breach covers (positions: the markets and subaccounts, exposure: the subaccounts),
    # without numbers: the alert is sent again at once when it changes (alerts.Alert.scope)
    scope: str | None = None
    # the subaccount `--subaccount` narrowed a check to: its verdict is that one's alone, so its
    # alert is its own (`check:NAME:subaccount:N`)
    narrowed_to: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "perfdata", tuple(self.perfdata))

    @property
    def exit_code(self) -> int:
        return int(self.status)

    @property
    def service(self) -> str:
        return f"{PREFIX} {self.name.upper()}"

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape: stable keys; numbers as ints, or strings when Decimal."""
        return {
            "name": self.name,
            "status": self.status.name,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "perfdata": [p.as_dict() for p in self.perfdata],
            "line": format_nagios(self),
            **self.extra,
        }


def format_nagios(result: CheckResult) -> str:
    """`KALSHI POSITIONS CRITICAL - 1 market over limit | 'over_limit'=1;0;0`"""
    summary = " ".join(result.summary.replace("|", "/").split())
    line = f"{result.service} {result.status.name} - {summary}"
    if result.perfdata:
        line += " | " + " ".join(p.render() for p in result.perfdata)
    return line


def to_json(result: CheckResult) -> str:
    return json.dumps(result.as_dict(), sort_keys=True)


UNKNOWN_SCOPE = "cannot tell"


def status_scope(status: CheckStatus) -> str:
    """A verdict as an item of an alert's scope: "cannot tell" is news after a WARNING, which
    shares its tier, and so is the look coming back."""
    return UNKNOWN_SCOPE if status is CheckStatus.UNKNOWN else status.name


def fingerprint_for(name: str, narrowed_to: int | None = None) -> str:
    """`check:NAME`; `check:NAME:subaccount:N` for a check narrowed to subaccount N."""
    return f"check:{name}" + ("" if narrowed_to is None else f":subaccount:{narrowed_to}")


def runbook_for(name: str) -> Runbook:
    return RUNBOOKS.get(f"check:{name}", Runbook.INDEX)


def alert_for(result: CheckResult) -> Alert | None:
    """The alert a non-OK result raises; None when the check is OK."""
    if result.status is CheckStatus.OK:
        return None
    # UNKNOWN is "cannot tell", which needs a look but is not yet a known breach.
    severity = Severity.CRITICAL if result.status is CheckStatus.CRITICAL else Severity.WARNING
    details = {"check": result.name}
    for p in result.perfdata:
        limits = ", ".join(
            f"{word} {_num(x)}" for word, x in (("warn", p.warn), ("crit", p.crit)) if x is not None
        )
        value = f"{_num(p.value)}{p.uom}"
        details[p.label] = f"{value} ({limits})" if limits else value
    # a check with no markets or problems to name has its status as its scope
    scope = status_scope(result.status) if result.scope is None else result.scope
    return Alert(
        fingerprint=fingerprint_for(result.name, result.narrowed_to),
        severity=severity,
        title=f"{result.service} {result.status.name}",
        summary=result.summary,
        runbook=str(runbook_for(result.name)),
        details=details,
        scope=scope,
    )


def dispatch(result: CheckResult, router: AlertRouter, state_store: AlertStateStore) -> SendReport:
    """Alert on a non-OK result, or announce the clearing of an earlier one. Never raises.

    The check's verdict does not depend on what this returns: print `report.problems` to stderr
    and exit with `result.exit_code` regardless.
    """
    alert = alert_for(result)
    if alert is not None:
        return router.notify(alert, state_store)
    return router.resolve(
        fingerprint_for(result.name, result.narrowed_to),
        state_store,
        title=f"{result.service} OK",
        summary=result.summary,
        runbook=str(runbook_for(result.name)),
    )


def clear_alone(line: CheckResult, router: AlertRouter, state_store: AlertStateStore) -> SendReport:
    """Announce the clearing of what `check all`'s summary `line` alerted alone, now that its
    checks were graded each under its own name (they alert for themselves): the line is
    alerted only when no check looked (a subaccount the account did not have yet, `run_named`),
    and that alert would otherwise stay firing beside theirs. Never raises."""
    return router.resolve(
        fingerprint_for(line.name, line.narrowed_to),
        state_store,
        title=f"{line.service} graded check by check",
        summary=f"each check graded and alerted on its own: {line.summary}",
        runbook=str(runbook_for(line.name)),
    )


def guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """Run a check; if it cannot finish, it is UNKNOWN with the reason, never OK."""
    try:
        return check()
    except KalshiError as exc:
        return CheckResult(name, CheckStatus.UNKNOWN, exc.one_line())
    except Exception as exc:  # a crashing check must still print its one line and exit 3
        return CheckResult(name, CheckStatus.UNKNOWN, f"check failed: {type(exc).__name__}: {exc}")


def _num(x: Number | None) -> str:
    """A plain number for a monitoring system: no unit, no exponent, and no more than four
    places (a dollar figure to $0.0001, the finest money a person is shown)."""
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    exponent = x.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        x = x.quantize(MONEY_SHOWN, rounding=ROUND_HALF_EVEN)
    return f"{x:f}"


def _json_num(x: Number | None) -> int | str | None:
    if x is None or isinstance(x, int):
        return x
    return f"{x:f}"
