"""Running a check once: its inputs (`CheckInputs`, each built only when asked, so a state-file
check never builds a client), its verdict (any failure to look is UNKNOWN), and its alert
(`deliver`). The alert state is the only thing a check writes, and only with an alert channel
configured. See docs/checks.md "Alerts".

A run asks the exchange under one deadline (`CheckInputs.deadline_s`, `--deadline`, a
`clock.Deadline`) that bounds every request, retry and rate-limit wait, so an exchange that holds
its answers cannot keep a cron run past its wrapper's timeout. A check still looking when the
deadline passes is UNKNOWN and says so; the state-file checks never wait on the exchange.
docs/checks.md "Deadline".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.checks import (
    CHECK_NAMES,
    DEFAULT_DEADLINE_S,
    REMOTE_CHECKS,
    SCOPED_CHECKS,
    CheckResult,
    CheckStatus,
    PerfDatum,
    clear_alone,
    dispatch,
    guarded,
)
from kalshi_cli.checks.local import (
    LocalView,
    check_feed,
    check_heartbeat,
    check_orders,
    check_pnl,
    worst,
)
from kalshi_cli.checks.thresholds import Thresholds
from kalshi_cli.vocabulary.clock import Clock, Deadline, SystemClock
from kalshi_cli.vocabulary.errors import (
    ConfigError,
    CredentialsError,
    KalshiError,
    NotFoundError,
)

if TYPE_CHECKING:
    from kalshi_cli.alerts.model import AlertStateLike, AlertStateStore, SendReport
    from kalshi_cli.alerts.router import AlertRouter
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.store import StateFileLocked, Store
    from kalshi_cli.vocabulary.models import Market

SECTIONS = ("checks", "alerts", "risk")


def load_sections(path: Path | None) -> dict[str, Mapping[str, Any]]:
    """The config file's `checks:`, `alerts:` and `risk:` mappings, read strictly and checked
    before any check looks at anything (every refusal names file and line); a missing file has
    none."""
    from kalshi_cli.checks.thresholds import check_section
    from kalshi_cli.config import read_sections, risk_section, section

    document = read_sections(path)
    check_section(document)
    risk = risk_section(document)
    if risk:  # an empty section is the defaults, valid as they are
        from kalshi_cli.risk.engine import RiskLimits

        RiskLimits.from_config(risk)  # refusals name the file and line of the key
    alerts = section(document, "alerts")
    if alerts:  # no section, no channels: nothing to check
        from kalshi_cli.alerts.router import AlertRouter

        AlertRouter.from_config(alerts)  # refusals name the file and line of the key
    found: dict[str, Mapping[str, Any]] = {name: section(document, name) for name in SECTIONS}
    return found | {"risk": risk}


@dataclass
class CheckInputs:
    """What the checks look at. `client` raises CredentialsError when the configured key cannot
    be loaded; `anonymous_client` then still reaches the exchange, for the api check."""

    state_path: Path
    thresholds: Thresholds
    risk_section: Mapping[str, Any] = field(default_factory=dict)
    client: Callable[[], KalshiClient] | None = None
    anonymous_client: Callable[[], KalshiClient] | None = None
    clock: Clock = field(default_factory=SystemClock)
    # positions and exposure: None covers every subaccount, N subaccount N only; balance: N's
    # money (None: the primary's)
    subaccount: int | None = None
    # seconds `run_named` gives the checks that ask the exchange, all of them together
    deadline_s: float = DEFAULT_DEADLINE_S
    # the markets the config trades (its `trade:` section), which `balance` grades shards by
    traded: Callable[[KalshiClient], Sequence[Market]] | None = None
    _store: Store | None = field(default=None, init=False, repr=False)
    _opened: bool = field(default=False, init=False, repr=False)

    def view(self) -> LocalView:
        if not self._opened:
            from kalshi_cli.store import Store

            self._store = Store.open_readonly(self.state_path, clock=self.clock)
            self._opened = True
        return LocalView(self._store, self.state_path, self.clock.wall())

    @cached_property
    def limits(self) -> RiskLimits:
        from kalshi_cli.risk.engine import RiskLimits

        return RiskLimits.from_config(self.risk_section)

    def exchange(self) -> KalshiClient:
        if self.client is None:
            raise ConfigError("this check needs the exchange, and no client was given")
        return self.client()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _api(inputs: CheckInputs) -> CheckResult:
    from kalshi_cli.checks.remote import check_api

    try:
        client = inputs.exchange()
    except CredentialsError as exc:
        if inputs.anonymous_client is None:
            raise
        return check_api(
            inputs.anonymous_client(), inputs.thresholds, credentials_error=exc.one_line()
        )
    return check_api(client, inputs.thresholds)


def _exchange(inputs: CheckInputs) -> CheckResult:
    from kalshi_cli.checks.remote import check_exchange

    return check_exchange(inputs.exchange(), inputs.thresholds, inputs.clock.wall())


def _balance(inputs: CheckInputs) -> CheckResult:
    from kalshi_cli.checks.remote import check_balance
    from kalshi_cli.services.shards import loop_money_not_graded

    client = inputs.exchange()
    markets = [] if inputs.traded is None else inputs.traded(client)
    result = check_balance(
        client, inputs.thresholds, inputs.limits.shard_floor, markets, inputs.subaccount
    )
    note = loop_money_not_graded(inputs.state_path, inputs.subaccount)
    return result if note is None else replace(result, summary=f"{result.summary}; {note}")


def _positions(inputs: CheckInputs) -> CheckResult:
    from kalshi_cli.checks.remote import check_positions

    return check_positions(
        inputs.exchange(),
        inputs.thresholds,
        inputs.limits.max_position_per_market,
        inputs.subaccount,
        inputs.limits.max_event_loss,
    )


def _exposure(inputs: CheckInputs) -> CheckResult:
    from kalshi_cli.checks.remote import check_exposure

    return check_exposure(
        inputs.exchange(), inputs.thresholds, inputs.limits.max_total_exposure, inputs.subaccount
    )


RUNNERS: dict[str, Callable[[CheckInputs], CheckResult]] = {
    "heartbeat": lambda i: check_heartbeat(i.view(), i.thresholds),
    "feed": lambda i: check_feed(i.view(), i.thresholds),
    "orders": lambda i: check_orders(i.view(), i.thresholds),
    "pnl": lambda i: check_pnl(i.view(), i.thresholds, i.limits.daily_loss_limit),
    "positions": _positions,
    "exposure": _exposure,
    "api": _api,
    "exchange": _exchange,
    "balance": _balance,
}
assert set(RUNNERS) == set(CHECK_NAMES)


def run_check(name: str, inputs: CheckInputs, deadline: Deadline | None = None) -> CheckResult:
    """One check, once; UNKNOWN with the reason when it cannot look. Narrowed to a subaccount,
    positions, exposure and balance say so (their alert is that subaccount's). Under the run's
    `deadline` (`run_named`), a check that asks the exchange is not started once it has passed,
    and is UNKNOWN if it passed while it looked, unless what it read before is CRITICAL."""
    if deadline is not None and name in REMOTE_CHECKS and deadline.passed():
        reason = f"not started: the run's {inputs.deadline_s:g}s deadline (--deadline) had passed"
        result = CheckResult(name, CheckStatus.UNKNOWN, reason)
    else:
        result = guarded(name, lambda: RUNNERS[name](inputs))
        late = deadline is not None and name in REMOTE_CHECKS and deadline.passed()
        # a CRITICAL is made of answers (the breach read, the exchange inactive), and says what
        # the deadline cut off after them; anything less may be the cut-off request's
        if late and result.status is not CheckStatus.CRITICAL:
            reason = f"no verdict within the {inputs.deadline_s:g}s deadline (--deadline)"
            result = CheckResult(name, CheckStatus.UNKNOWN, f"{reason}: {result.summary}")
    if inputs.subaccount is not None and name in SCOPED_CHECKS:
        result = replace(result, narrowed_to=inputs.subaccount)
    return result


def run_named(name: str, inputs: CheckInputs) -> list[CheckResult]:
    """`kalshi check NAME`: what it prints, the verdict first (for `all`, the combined line
    before each check's own), every check under the run's one deadline. Closes what `inputs`
    opened."""
    try:
        with Deadline.within(inputs.clock, inputs.deadline_s) as deadline:
            missing = _missing_subaccount(inputs)
            if missing is not None:
                return [
                    CheckResult(name, CheckStatus.UNKNOWN, missing, narrowed_to=inputs.subaccount)
                ]
            if name != "all":
                return [run_check(name, inputs, deadline)]
            results = [run_check(each, inputs, deadline) for each in CHECK_NAMES]
    finally:
        inputs.close()
    return [replace(combine(results), narrowed_to=inputs.subaccount), *results]


def _missing_subaccount(inputs: CheckInputs) -> str | None:
    """Why `--subaccount N` names nothing to check: a subaccount the account does not have is
    refused as every command refuses it (`require_subaccount`), before any check looks, so no
    verdict of the others (a heartbeat's CRITICAL, an OK) stands for the mistyped line. A listing
    that fails refuses nothing: each check then says what it could not read."""
    if inputs.subaccount is None:
        return None
    try:
        client = inputs.exchange()
    except KalshiError:
        return None  # no credentials: the checks that need them say so
    try:
        client.subaccounts.require_subaccount(inputs.subaccount)
    except NotFoundError as exc:
        return exc.one_line()
    return None


def combine(results: Sequence[CheckResult]) -> CheckResult:
    """`kalshi check all`: the worst status, and which checks are not OK."""
    status = worst([r.status for r in results])
    bad = [f"{r.name} {r.status.name}" for r in results if r.status is not CheckStatus.OK]
    summary = ", ".join(bad) if bad else f"all {len(results)} checks OK"
    perf = [
        PerfDatum(s.name.lower(), sum(1 for r in results if r.status is s), min=0)
        for s in (CheckStatus.WARNING, CheckStatus.CRITICAL, CheckStatus.UNKNOWN)
    ]
    return CheckResult("all", status, summary, perf)


# --------------------------------------------------------------------------------------------
# Alerts


class _UnavailableStateStore:
    """Stands in for a state file that could not be opened: every use fails with the reason,
    which the router reports while still sending."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def alert_state(self, fingerprint: str) -> AlertStateLike | None:
        raise KalshiError(self.reason)

    def claim_alert(self, fingerprint: str, claim: Any) -> AlertStateLike | None:
        raise KalshiError(self.reason)

    def record_alert(self, fingerprint: str, **fields: Any) -> None:
        raise KalshiError(self.reason)


class _RunsAlertState:
    """The alert state as one run of checks uses it: the time its calls take is added up (`spent`)
    and given back to the webhooks' deadline of the alert it is spent for (`sending_within`), and
    another writer's lock is waited for at most once a run (then `impatient`); a record the lock
    refuses is named in `problems`, and a claim it refuses is a read that goes on de-duplicating
    (the alert is sent unclaimed)."""

    def __init__(
        self,
        inner: AlertStateStore,
        impatient: Callable[[], AbstractContextManager[None]],
        clock: Clock,
    ) -> None:
        from kalshi_cli.store import StateFileLocked

        self.inner = inner
        self.impatient = impatient
        self.clock = clock
        self.spent = 0.0
        self.lock_error = StateFileLocked
        self.locked: StateFileLocked | None = None
        self.unrecorded: list[str] = []
        self._deadline: Deadline | None = None

    @contextmanager
    def sending_within(self, seconds: float) -> Iterator[None]:
        """Run one alert's dispatch with `seconds` for its webhooks, not counting the time its
        calls here take: a claim that waits on another writer's lock before the send must not
        leave the send no time."""
        own = Deadline.after(self.clock, seconds)
        with own.scope() as deadline:
            self._deadline = own if deadline is own else None
            try:
                yield
            finally:
                self._deadline = None

    @contextmanager
    def _call(self) -> Iterator[None]:
        started = self.clock.monotonic()
        try:
            with self.impatient() if self.locked is not None else nullcontext():
                yield
        except self.lock_error as exc:
            self.locked = self.locked or exc
            raise
        finally:
            took = self.clock.monotonic() - started
            self.spent += took
            if self._deadline is not None:
                self._deadline.at += took

    def alert_state(self, fingerprint: str) -> AlertStateLike | None:
        with self._call():
            return self.inner.alert_state(fingerprint)

    def claim_alert(
        self, fingerprint: str, claim: Callable[[AlertStateLike | None, float | None], float | None]
    ) -> AlertStateLike | None:
        try:
            with self._call():
                return self.inner.claim_alert(fingerprint, claim)
        except self.lock_error:
            # a read needs no write lock: the alert is still de-duplicated, and sent unclaimed
            state = self.alert_state(fingerprint)
            claim(state, None)
            return state

    def record_alert(self, fingerprint: str, **fields: Any) -> None:
        try:
            with self._call():
                self.inner.record_alert(fingerprint, **fields)
        except self.lock_error:
            # not raised: the router would report each alert, and the lock is one problem
            self.unrecorded.append(fingerprint)

    def problems(self) -> list[str]:
        if self.locked is None or not self.unrecorded:
            return []
        return [
            f"alerts {', '.join(self.unrecorded)}: could not record them in the alert state: "
            f"{self.locked.message}, waited for once this run; sent without it, so a later run "
            "may send them again"
        ]


def deliver(
    results: Sequence[CheckResult],
    router: AlertRouter,
    state_path: Path | None,
    *,
    clock: Clock,
    graded: CheckResult | None = None,
) -> list[str]:
    """Dispatch each result (alert or clearing), de-duplicated through the state file (None:
    another account's, so none, and every alert is sent); `graded`: `check all`'s summary line
    beside them, whose own alert clears (`clear_alone`). Returns the problems to print on
    stderr; never raises, and never changes any verdict."""
    if not router.channels:
        return []
    from kalshi_cli.store import Store

    problems: list[str] = []
    store: Store | None = None
    state_store: AlertStateStore
    if state_path is None:
        state_store = _UnavailableStateStore(
            "alert state not used: the state file is not this account's"
        )
    else:
        try:
            # never migrated here: a trade loop of the version before may still be using the
            # file, and would wait on the migration's write lock (docs/state-file.md)
            store = Store.open(state_path, clock=clock, migrate=False)
            state_store = store.alerts
        except KalshiError as exc:
            state_store = _UnavailableStateStore(f"alert state unavailable: {exc.one_line()}")
    # One run waits on its webhooks for the longest channel deadline in all, not one deadline
    # per result: `check all` alerts for each check in turn, and a receiver that never answers
    # would hold it past the cron wrapper's timeout, which reports UNKNOWN in place of the
    # verdict. What the budget cuts short is reported and left unsent, so the next run sends it.
    # The time the alert state takes (another writer's lock waits the busy timeout) is not the
    # webhooks' and is not counted, so a locked state file never stops an alert going out.
    left = max(channel.settings.deadline for channel in router.channels.values())
    # Nor does the alert state wait for another writer's lock more than once a run: five
    # alerts each waiting the busy timeout held `check all` 50 s, which with a slow exchange
    # passed the cron wrapper's timeout all the same.
    timed = _RunsAlertState(
        state_store, partial(store.busy_timeout, 0.0) if store is not None else nullcontext, clock
    )
    sends = [partial(dispatch, result, router) for result in results]
    if graded is not None:
        sends.insert(0, partial(clear_alone, graded, router))
    try:
        for send in sends:
            started, in_state = clock.monotonic(), timed.spent
            with timed.sending_within(max(left, 0.0)):
                report: SendReport = send(timed)
            problems.extend(report.problems)
            left -= (clock.monotonic() - started) - (timed.spent - in_state)
        problems.extend(timed.problems())
    finally:
        if store is not None:
            with suppress(KalshiError):
                store.close()
    return problems
