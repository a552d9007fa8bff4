"""The check framework: Nagios line, JSON shape, exit codes, and the alert a result raises."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.alerts.channels.base import HttpChannel
from kalshi_cli.alerts.model import Alert, AlertStatus, Delivery, Outcome, Runbook, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.checks import (
    CheckResult,
    CheckStatus,
    PerfDatum,
    alert_for,
    dispatch,
    fingerprint_for,
    format_nagios,
    guarded,
    to_json,
)
from kalshi_cli.vocabulary.clock import Clock, ManualClock
from kalshi_cli.vocabulary.errors import TransportError
from tests.fakes import FakeAlertStateStore

OVER = CheckResult(
    "positions",
    CheckStatus.CRITICAL,
    "1 market over limit",
    [PerfDatum("over_limit", 1, warn=0, crit=0)],
)


def test_status_codes_are_the_nagios_plugin_codes() -> None:
    assert [(s.name, int(s)) for s in CheckStatus] == [
        ("OK", 0),
        ("WARNING", 1),
        ("CRITICAL", 2),
        ("UNKNOWN", 3),
    ]
    assert OVER.exit_code == 2


def test_the_line_matches_the_documented_example() -> None:
    assert format_nagios(OVER) == (
        "KALSHI POSITIONS CRITICAL - 1 market over limit | 'over_limit'=1;0;0"
    )


def test_a_result_without_perfdata_has_no_pipe() -> None:
    result = CheckResult("heartbeat", CheckStatus.OK, "last heartbeat 12s ago")
    assert format_nagios(result) == "KALSHI HEARTBEAT OK - last heartbeat 12s ago"


def test_the_summary_cannot_break_the_line_or_start_perfdata() -> None:
    result = CheckResult("api", CheckStatus.WARNING, "errors | 429\nthen 503")
    assert format_nagios(result) == "KALSHI API WARNING - errors / 429 then 503"


def test_perfdata_renders_decimals_units_and_empty_thresholds() -> None:
    data = [
        PerfDatum("pnl_today", Decimal("-12.5000"), crit=Decimal("-50"), min=None, max=None),
        PerfDatum("age", 42, warn=60, crit=120, min=0, uom="s"),
        PerfDatum("fill rate", Decimal("97.5"), max=100, uom="%"),
        PerfDatum("trader's", 3),
    ]
    result = CheckResult("pnl", CheckStatus.OK, "fine", data)
    assert format_nagios(result).split(" | ")[1] == (
        "'pnl_today'=-12.5000;;-50 'age'=42s;60;120;0 'fill rate'=97.5%;;;;100 'trader''s'=3"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"label": "", "value": 1},
        {"label": "a=b", "value": 1},
        {"label": "x", "value": 1, "uom": "$"},
        {"label": "x", "value": Decimal("NaN")},
        {"label": "x", "value": 1.5},
        {"label": "x", "value": True},
        {"label": "x", "value": 1, "warn": 0.1},
    ],
)
def test_perfdata_refuses_what_nagios_cannot_parse(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PerfDatum(**kwargs)


def test_json_shape_is_stable_and_keeps_decimals_exact() -> None:
    result = CheckResult(
        "pnl",
        CheckStatus.WARNING,
        "down $40.10 today",
        [PerfDatum("pnl_today", Decimal("-40.10"), warn=Decimal("-40"), crit=Decimal("-50"))],
    )
    assert json.loads(to_json(result)) == {
        "name": "pnl",
        "status": "WARNING",
        "exit_code": 1,
        "summary": "down $40.10 today",
        "perfdata": [
            {
                "label": "pnl_today",
                "value": "-40.10",
                "warn": "-40",
                "crit": "-50",
                "min": None,
                "max": None,
                "uom": "",
            }
        ],
        "line": "KALSHI PNL WARNING - down $40.10 today | 'pnl_today'=-40.10;-40;-50",
    }
    assert json.loads(to_json(OVER))["perfdata"][0]["value"] == 1


def test_an_ok_result_raises_no_alert() -> None:
    assert alert_for(CheckResult("positions", CheckStatus.OK, "all within limits")) is None


def test_a_breach_raises_an_alert_naming_its_runbook() -> None:
    alert = alert_for(OVER)
    assert alert is not None
    assert alert.fingerprint == "check:positions" == fingerprint_for("positions")
    assert alert.severity is Severity.CRITICAL
    assert alert.title == "KALSHI POSITIONS CRITICAL"
    assert alert.summary == "1 market over limit"
    assert alert.runbook == "runbooks/02-position-limit-breach.md"
    assert alert.details == {"check": "positions", "over_limit": "1 (warn 0, crit 0)"}


def test_warning_and_unknown_alert_at_the_warning_tier() -> None:
    for status in (CheckStatus.WARNING, CheckStatus.UNKNOWN):
        alert = alert_for(CheckResult("feed", status, "x"))
        assert alert is not None and alert.severity is Severity.WARNING
        assert alert.title == f"KALSHI FEED {status.name}"


# --------------------------------------------------------------------------------------------
# dispatch: a breach alerts, its clearing resolves, through the same alert state


class RecordingChannel(HttpChannel):
    """A channel that keeps what it is given instead of posting it."""

    kind = "recording"

    def __init__(self) -> None:
        super().__init__("rec", "https://example.invalid/hook")
        self.sent: list[Alert] = []

    def send(self, n: Alert, clock: Clock) -> Delivery:
        self.sent.append(n)
        return Delivery(self.name, self.target, ok=True, attempts=1, status_code=200)


def test_dispatch_alerts_on_a_breach_and_resolves_when_it_clears() -> None:
    clock = ManualClock()
    channel = RecordingChannel()
    router = AlertRouter({"rec": channel}, {sev: ["rec"] for sev in Severity}, clock=clock)
    state_store = FakeAlertStateStore(clock)
    assert dispatch(OVER, router, state_store).outcome is Outcome.SENT
    clock.advance(300)
    assert dispatch(OVER, router, state_store).outcome is Outcome.SUPPRESSED
    ok = CheckResult("positions", CheckStatus.OK, "all within limits", [PerfDatum("over_limit", 0)])
    assert dispatch(ok, router, state_store).outcome is Outcome.RESOLVED
    assert dispatch(ok, router, state_store).outcome is Outcome.NOT_FIRING
    firing, resolved = channel.sent
    assert firing.status is AlertStatus.FIRING and firing.title == "KALSHI POSITIONS CRITICAL"
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.title == "KALSHI POSITIONS OK"
    assert resolved.summary == "all within limits (was: 1 market over limit)"
    assert resolved.runbook == Runbook.POSITION_LIMIT


def test_guarded_turns_a_failure_to_look_into_unknown_never_ok() -> None:
    def unreachable() -> CheckResult:
        raise TransportError("the exchange did not answer", hint="try `kalshi health-check`")

    def broken() -> CheckResult:
        raise KeyError("positions")

    result = guarded("api", unreachable)
    assert result.status is CheckStatus.UNKNOWN
    assert format_nagios(result) == (
        "KALSHI API UNKNOWN - the exchange did not answer (try `kalshi health-check`)"
    )
    assert guarded("orders", broken).summary == "check failed: KeyError: 'positions'"
    assert guarded("feed", lambda: OVER) is OVER


def test_a_check_that_can_no_longer_tell_is_told_at_once_though_its_tier_is_the_same() -> None:
    """WARNING and UNKNOWN share the `warning` tier: a heartbeat told as "alive but behind" whose
    state file then cannot be read (the loop may die unseen) is news, not a repeat held back for
    `repeat_interval_s`; and so is its look coming back. The same status again is held back."""
    clock = ManualClock()
    channel = RecordingChannel()
    router = AlertRouter({"rec": channel}, {sev: ["rec"] for sev in Severity}, clock=clock)
    state_store = FakeAlertStateStore(clock)
    behind = CheckResult("heartbeat", CheckStatus.WARNING, "alive but behind")
    blind = CheckResult("heartbeat", CheckStatus.UNKNOWN, "state file is locked")
    outcomes = []
    for result in (behind, blind, blind, behind, behind):
        clock.advance(60)
        outcomes.append(dispatch(result, router, state_store).outcome)
    assert outcomes == [
        Outcome.SENT,
        Outcome.CHANGED,
        Outcome.SUPPRESSED,
        Outcome.CHANGED,
        Outcome.SUPPRESSED,
    ]
    assert [n.title for n in channel.sent] == [
        "KALSHI HEARTBEAT WARNING",
        "KALSHI HEARTBEAT UNKNOWN",
        "KALSHI HEARTBEAT WARNING",
    ]
