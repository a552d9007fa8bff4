"""Routing alerts by tier to channels, de-duplicated through the alert state kept between runs.

`AlertRouter.notify` and `resolve` decide from the fingerprint's last state in the state file
(`AlertStateStore`) whether to send: a new breach, a change of tier or a scope that grew is sent at
once, an unchanged one only after `repeat_interval_s`, one never delivered on every run, and a
resolution only for an episode delivered (docs/alerts.md "De-duplication"). What is to be sent is
claimed in the same transaction as the state is read (`_Claim`), so a run beside it that reads
the state meanwhile finds the claim and sends nothing; the record of the outcome lets the claim
go, and a claim whose run died runs out after `claim_hold_s`. Channels are sent to
concurrently, each waited for only until its deadline. Nothing raises into the caller: the outcome
is a `SendReport` whose `problems` the caller prints.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import msgspec

from kalshi_cli.alerts.channels.base import Channel
from kalshi_cli.alerts.channels.deadman import DeadManPing
from kalshi_cli.alerts.config import DEFAULT_REPEAT_INTERVAL_S, parse_alerts_section
from kalshi_cli.alerts.masking import scrub
from kalshi_cli.alerts.model import (
    Alert,
    AlertStateLike,
    AlertStateStore,
    AlertStatus,
    Delivery,
    Outcome,
    Runbook,
    SendReport,
    Severity,
)
from kalshi_cli.vocabulary.clock import Clock, SystemClock
from kalshi_cli.vocabulary.errors import ConfigError

# How long past a channel's own deadline the caller still waits for its thread: the thread clips
# every timeout to the deadline, so it normally returns well inside this.
JOIN_GRACE_S = 0.25


class AlertRouter:
    """Routes alerts by tier to channels, de-duplicated through the alert state."""

    def __init__(
        self,
        channels: Mapping[str, Channel] | None = None,
        routes: Mapping[Severity, Sequence[str]] | None = None,
        *,
        repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S,
        runbook_base_url: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.channels: dict[str, Channel] = dict(channels or {})
        self.routes: dict[Severity, tuple[str, ...]] = {
            sev: tuple((routes or {}).get(sev, ())) for sev in Severity
        }
        for sev, names in self.routes.items():
            for name in names:
                if name not in self.channels:
                    raise ConfigError(
                        f"alerts.routes.{sev} names channel {name!r}, which is not defined",
                        hint="add it under alerts.channels or remove it from the route",
                    )
        self.repeat_interval_s = repeat_interval_s
        self.runbook_base_url = runbook_base_url
        self.clock: Clock = clock or SystemClock()

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any] | None,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> AlertRouter:
        """Build from the `alerts:` config section; a missing section means no channels."""
        settings = parse_alerts_section(
            section or {}, environ=os.environ if environ is None else environ
        )
        return cls(
            settings.channels,
            settings.routes,
            repeat_interval_s=settings.repeat_interval_s,
            runbook_base_url=settings.runbook_base_url,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"AlertRouter(channels={list(self.channels.values())!r})"

    def describe(self) -> list[str]:
        """One line per channel, URLs masked, for `config show` and diagnostics."""
        lines = []
        for name, ch in self.channels.items():
            tiers = [str(sev) for sev in Severity if sev in self._tiers_of(name)]
            s = ch.settings
            lines.append(
                f"{name}: {ch.kind} {ch.target} timeout {s.timeout_s:g}s, "
                f"{s.max_attempts} attempts, deadline {s.deadline:g}s, "
                f"tiers: {', '.join(tiers) or 'none'}"
            )
        return lines

    def channels_for(self, severity: Severity) -> list[Channel]:
        return [self.channels[name] for name in self.routes[severity]]

    def _tiers_of(self, channel: str) -> set[Severity]:
        return {sev for sev, names in self.routes.items() if channel in names}

    def runbook_link(self, runbook: str) -> str:
        if self.runbook_base_url and "://" not in runbook:
            return f"{self.runbook_base_url.rstrip('/')}/{runbook.lstrip('/')}"
        return runbook

    def notify(self, alert: Alert, state_store: AlertStateStore) -> SendReport:
        """Send a firing alert unless the alert state says it was sent recently, or another run
        has claimed it and is sending it now. Never raises."""
        problems: list[str] = []
        channels = self.channels_for(alert.severity)
        claim = _Claim(
            lambda state: self._firing_outcome(alert, state, _told_scope(state)),
            sends=lambda outcome: outcome is not Outcome.SUPPRESSED and bool(channels),
            clock=self.clock,
            hold_s=claim_hold_s(channels),
        )
        state = claim.take(state_store, alert.fingerprint, problems)
        if claim.held_elsewhere:
            return SendReport(alert.fingerprint, Outcome.CLAIMED, (), tuple(problems))
        told = _told_scope(state)
        outcome = (
            self._firing_outcome(alert, state, told) if claim.outcome is None else claim.outcome
        )
        firing = partial(
            _record,
            state_store,
            alert.fingerprint,
            problems,
            status=AlertStatus.FIRING,
            severity=alert.severity,
            scope=alert.scope,
            sent=False,
        )
        if outcome is Outcome.SUPPRESSED:
            if state is not None and told is None and alert.scope is not None:
                # a row with no scope recorded: this breach was posted; remember what it covers
                firing(summary=state.summary)
            return SendReport(alert.fingerprint, outcome, (), tuple(problems))
        if not channels:
            firing(summary=alert.summary, error=f"no channel is routed for {alert.severity}")
            return SendReport(alert.fingerprint, Outcome.UNROUTED, (), tuple(problems))
        return self._deliver(
            alert,
            outcome,
            state=state,
            told=told,
            channels=channels,
            store=state_store,
            problems=problems,
        )

    def _deliver(
        self,
        alert: Alert,
        outcome: Outcome,
        *,
        state: AlertStateLike | None,
        told: str | None,
        channels: list[Channel],
        store: AlertStateStore,
        problems: list[str],
    ) -> SendReport:
        """`notify`'s sending, once it is to be sent: to `channels`, recorded in `store`."""
        details = dict(alert.details)
        moved = told is not None and alert.scope is not None and _news(told, alert.scope)
        if outcome is Outcome.CHANGED and moved:
            details["previously"] = str(told)
        n = msgspec.structs.replace(
            alert, runbook=self.runbook_link(alert.runbook), details=details, ts=self.clock.wall()
        )
        deliveries = self._send(channels, n)
        failed = [d for d in deliveries if not d.ok]
        problems.extend(f"alert {alert.fingerprint}: {d.describe()}" for d in failed)
        sent = any(d.ok for d in deliveries)
        # A change not delivered: what the person was last told (tier, scope) stands, so the
        # next run still sees the change and sends it again.
        kept = state if not sent and outcome is Outcome.CHANGED else None
        _record(
            store,
            alert.fingerprint,
            problems,
            status=AlertStatus.FIRING,
            severity=alert.severity if kept is None else _severity_or_warning(kept.severity),
            summary=alert.summary,
            scope=alert.scope if kept is None else told,
            sent=sent,
            error="; ".join(d.describe() for d in failed) or None,
        )
        return SendReport(alert.fingerprint, outcome, tuple(deliveries), tuple(problems))

    def resolve(
        self,
        fingerprint: str,
        state_store: AlertStateStore,
        *,
        title: str | None = None,
        summary: str | None = None,
        runbook: str | None = None,
    ) -> SendReport:
        """Announce once that a firing alert has cleared. Never raises."""
        problems: list[str] = []
        claim = _Claim(
            self._resolution_outcome,
            sends=lambda outcome: outcome is Outcome.RESOLVED,
            clock=self.clock,
            hold_s=claim_hold_s(list(self.channels.values())),
        )
        state = claim.take(state_store, fingerprint, problems)
        if claim.held_elsewhere:
            return SendReport(fingerprint, Outcome.CLAIMED, (), tuple(problems))
        outcome = self._resolution_outcome(state) if claim.outcome is None else claim.outcome
        if state is None or outcome is Outcome.NOT_FIRING:
            return SendReport(fingerprint, Outcome.NOT_FIRING, (), tuple(problems))
        severity = _severity_or_warning(state.severity)
        was = state.summary
        text = f"{summary} (was: {was})" if summary else f"cleared (was: {was})"
        channels = self._clearing_channels(state)
        resolved = partial(
            _record,
            state_store,
            fingerprint,
            problems,
            status=AlertStatus.RESOLVED,
            severity=severity,
            summary=text,
        )
        if outcome is Outcome.RESOLVED_QUIETLY:
            # Nobody was told it fired, so nobody needs telling it cleared.
            resolved(sent=False)
            return SendReport(fingerprint, Outcome.RESOLVED_QUIETLY, (), tuple(problems))
        n = Alert(
            fingerprint,
            severity,
            title or fingerprint,
            text,
            self.runbook_link(runbook or Runbook.INDEX),
            status=AlertStatus.RESOLVED,
            ts=self.clock.wall(),
        )
        deliveries = self._send(channels, n)
        failed = [d for d in deliveries if not d.ok]
        problems.extend(f"resolution of {fingerprint}: {d.describe()}" for d in failed)
        if any(d.ok for d in deliveries):
            resolved(sent=True, error="; ".join(d.describe() for d in failed) or None)
        else:
            # Still firing as far as anyone was told: the next resolve() tries again.
            _record(
                state_store,
                fingerprint,
                problems,
                status=AlertStatus.FIRING,
                severity=severity,
                summary=state.summary,
                scope=state.scope,
                sent=False,
                error="resolution not delivered: " + "; ".join(d.describe() for d in failed),
            )
        return SendReport(fingerprint, Outcome.RESOLVED, tuple(deliveries), tuple(problems))

    def _clearing_channels(self, state: AlertStateLike) -> list[Channel]:
        """Every tier told of this episode, not only its last: a breach paged as critical that
        eased to a warning would leave the pager's incident open for good."""
        severity = _severity_or_warning(state.severity)
        tiers = {severity, *(_severity_or_warning(t) for t in state.told)}
        return [ch for name, ch in self.channels.items() if tiers & self._tiers_of(name)]

    def _resolution_outcome(self, state: AlertStateLike | None) -> Outcome:
        if state is None or state.status != AlertStatus.FIRING:
            return Outcome.NOT_FIRING
        if not _episode_delivered(state) or not self._clearing_channels(state):
            return Outcome.RESOLVED_QUIETLY
        return Outcome.RESOLVED

    def beat(self, signal: str, *, body: str = "") -> SendReport:
        """Send `signal` (`start`, `` for alive, `fail`) to every dead-man channel, as
        healthchecks.io reads them (no de-duplication). Never raises."""
        what = f"dead-man /{signal} ping" if signal else "dead-man alive ping"
        return _ping_all(self.channels, lambda p: partial(p.beat, signal, self.clock, body), what)

    def _firing_outcome(
        self, alert: Alert, state: AlertStateLike | None, told: str | None
    ) -> Outcome:
        if state is None or state.status != AlertStatus.FIRING:
            return Outcome.SENT
        last_sent = state.last_sent_at
        if last_sent is None or not _episode_delivered(state):
            return Outcome.RETRIED
        if state.severity != alert.severity:
            return Outcome.CHANGED
        if alert.scope is not None and told is not None and _news(told, alert.scope):
            return Outcome.CHANGED
        if self.clock.wall() - last_sent >= self.repeat_interval_s:
            return Outcome.REPEATED
        return Outcome.SUPPRESSED

    def _send(self, channels: Sequence[Channel], n: Alert) -> list[Delivery]:
        clock = self.clock
        return _deliver_all([(ch, partial(ch.send, n, clock)) for ch in channels])


def _ping_all(
    channels: Mapping[str, Channel], job: Callable[[DeadManPing], Callable[[], Delivery]], what: str
) -> SendReport:
    """`job` of every dead-man channel, each failure a problem said as `what`'s."""
    jobs = [(ch, job(ch)) for ch in channels.values() if isinstance(ch, DeadManPing)]
    deliveries = _deliver_all(jobs) if jobs else []
    problems = tuple(f"{what}: {d.describe()}" for d in deliveries if not d.ok)
    return SendReport("deadman", Outcome.PINGED, tuple(deliveries), problems)


# Added to the longest deadline of the channels a claim's send goes to: the time its run may then
# still take to record the outcome (another writer's lock is waited for up to ten seconds).
CLAIM_SPARE_S = 20.0


def claim_hold_s(channels: Sequence[Channel]) -> float:
    """How long a run's claim on sending an alert holds: past it the run has sent and recorded,
    or died, and the next run sends the alert itself (docs/alerts.md, "Two runs at once")."""
    longest = max((ch.settings.deadline for ch in channels), default=0.0)
    return longest + JOIN_GRACE_S + CLAIM_SPARE_S


class _Claim:
    """One run's read-and-claim of a fingerprint, handed to the store's `claim_alert`, which
    runs it inside its transaction: from the state read it decides the `outcome`, and claims the
    fingerprint for `hold_s` when that outcome `sends`, unless another run's claim still holds
    (`held_elsewhere`: this run sends nothing). The hold runs from the time read inside the
    transaction, after any wait for another writer's lock, so that wait is not taken from the
    spare left for recording the outcome."""

    def __init__(
        self,
        decide: Callable[[AlertStateLike | None], Outcome],
        *,
        sends: Callable[[Outcome], bool],
        clock: Clock,
        hold_s: float,
    ) -> None:
        self._decide = decide
        self._sends = sends
        self._clock = clock
        self._hold_s = hold_s
        self.outcome: Outcome | None = None
        self.held_elsewhere = False

    def __call__(self, state: AlertStateLike | None, claimed_until: float | None) -> float | None:
        self.outcome = self._decide(state)
        self.held_elsewhere = False
        if not self._sends(self.outcome):
            return None
        now = self._clock.wall()
        if claimed_until is not None and now < claimed_until:
            self.held_elsewhere = True
            return None
        return now + self._hold_s

    def take(
        self, state_store: AlertStateStore, fingerprint: str, problems: list[str]
    ) -> AlertStateLike | None:
        """The state read in the claim's transaction; None, with the problem said, when the
        alert state could not be read or claimed: the alert is sent anyway, unclaimed."""
        try:
            return state_store.claim_alert(fingerprint, self)
        except Exception as exc:  # an unreadable alert state must not silence the alert
            problems.append(f"alert {fingerprint}: could not read the alert state: {exc}")
            self.outcome, self.held_elsewhere = None, False
            return None


SCOPE_SEPARATOR = ", "


def _news(told: str, scope: str) -> bool:
    """Does `scope` cover something the person was not told (`told`, the scope last delivered)?
    A scope is a list of items joined by `SCOPE_SEPARATOR` (`KXA on subaccount 1, KXB`): it is
    news when it has an item `told` lacks (it grew or moved), not when it only lost some."""
    return not set(scope.split(SCOPE_SEPARATOR)) <= set(told.split(SCOPE_SEPARATOR))


def _episode_delivered(state: AlertStateLike) -> bool:
    """Was the current episode (the status since `first_seen_at`) delivered at least once?

    A send that starts an episode records both times as the same instant, hence `>=`.
    """
    return state.last_sent_at is not None and state.last_sent_at >= state.first_seen_at


def _severity_or_warning(value: str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        return Severity.WARNING


def _told_scope(state: AlertStateLike | None) -> str | None:
    """The scope the person was last told of a firing breach (None: not firing, or none kept)."""
    return state.scope if state is not None and state.status == AlertStatus.FIRING else None


def _record(
    state_store: AlertStateStore,
    fingerprint: str,
    problems: list[str],
    *,
    status: AlertStatus,
    severity: Severity,
    summary: str,
    sent: bool,
    error: str | None = None,
    scope: str | None = None,
) -> None:
    try:
        state_store.record_alert(
            fingerprint,
            status=str(status),
            severity=str(severity),
            summary=summary,
            sent=sent,
            error=error,
            scope=scope,
        )
    except Exception as exc:  # the alert already went out (or not); the caller's verdict stands
        problems.append(f"alert {fingerprint}: could not record it in the alert state: {exc}")


def _run_job(channel: Channel, job: Callable[[], Delivery], box: list[Delivery]) -> None:
    try:
        box.append(job())
    except Exception as exc:  # a channel that breaks its promise still gets reported, not lost
        error = scrub(f"{type(exc).__name__}: {exc}", channel.secret_values())
        box.append(Delivery(channel.name, channel.target, False, 0, None, error))


def _deliver_all(jobs: Sequence[tuple[Channel, Callable[[], Delivery]]]) -> list[Delivery]:
    """Run each channel's send in its own daemon thread; stop waiting at its deadline.

    Real monotonic time on purpose: this bounds how long the process actually waits, whatever
    clock the sends themselves were given. Each thread runs in a copy of the caller's context,
    so a send sees the `clock.Deadline` its caller runs under (a new thread starts with none).
    """
    # Imported before the clock starts, so its import time is not charged to a channel deadline.
    import httpx  # noqa: F401

    started = time.monotonic()
    running: list[tuple[Channel, threading.Thread, list[Delivery]]] = []
    for channel, job in jobs:
        box: list[Delivery] = []
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(_run_job, channel, job, box),
            name=f"alert-{channel.name}",
            daemon=True,
        )
        thread.start()
        running.append((channel, thread, box))
    results: list[Delivery] = []
    for channel, thread, box in running:
        limit = channel.settings.deadline + JOIN_GRACE_S
        thread.join(max(0.0, started + limit - time.monotonic()))
        if box:
            results.append(box[0])
        else:
            error = f"no answer within the {channel.settings.deadline:g}s deadline"
            results.append(Delivery(channel.name, channel.target, False, 0, None, error))
    return results
