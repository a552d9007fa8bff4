"""Checks that read only the state file: heartbeat, feed, orders and pnl.

Each takes the state file opened read-only (`None` when there is none: a check never creates
it), the resolved thresholds and the current time, so a test drives it with a `ManualClock` and a
store it filled itself. What "no state file" means differs by check: no heartbeat is CRITICAL
(the trade loop is not running, or writes elsewhere); no market data is UNKNOWN (the heartbeat
check already says the loop is absent); no orders and no fills are simply nothing wrong.

Times are not money, so ages are floats until they become perfdata, where they are rounded to
milliseconds as Decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from kalshi_cli.alerts.router import SCOPE_SEPARATOR
from kalshi_cli.checks import CheckResult, CheckStatus, PerfDatum, status_scope
from kalshi_cli.checks.thresholds import Thresholds
from kalshi_cli.services.loop_strategies import stopped_strategies
from kalshi_cli.services.orders.status import breaker_trip_text, loop_short_text, state_that_holds
from kalshi_cli.store import Store
from kalshi_cli.store.entries import FEED_HEARD_KEY
from kalshi_cli.store.records import IN_FLIGHT_S, PENDING, UNKNOWN, IntentRecord
from kalshi_cli.vocabulary.clock import age_of, day_start, describe_age, utc_day
from kalshi_cli.vocabulary.errors import ConfigError
from kalshi_cli.vocabulary.units import CENT, ZERO, BookSide, fmt_money

_MS = Decimal("0.001")


@dataclass(frozen=True)
class LocalView:
    """What a local check looks at: the read-only state file (or None), where it should be,
    and the current wall time."""

    store: Store | None
    path: Path
    now: float


def worst(statuses: list[CheckStatus]) -> CheckStatus:
    """CRITICAL over UNKNOWN over WARNING over OK: a known breach outranks not knowing."""
    order = (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.UNKNOWN, CheckStatus.CRITICAL)
    return max(statuses, key=order.index, default=CheckStatus.OK)


class Finding(NamedTuple):
    """One thing a check found wrong: its status, its kind (worded to stay the same while the
    problem does: an item of the alert's scope) and what the summary says of it."""

    status: CheckStatus
    kind: str
    text: str


def graded(name: str, findings: list[Finding], perf: list[PerfDatum]) -> CheckResult:
    """The worst finding is the verdict and every finding's text the summary. The scope is the
    verdict and the findings' kinds: a new kind of problem at the same tier is told at once
    (alerts.Alert.scope), one going away is not."""
    status = worst([f.status for f in findings])
    scope = SCOPE_SEPARATOR.join([status_scope(status), *sorted({f.kind for f in findings})])
    return CheckResult(name, status, "; ".join(f.text for f in findings), perf, scope=scope)


def seconds(value: float) -> Decimal:
    return Decimal(repr(max(value, 0.0))).quantize(_MS)


def plain(x: Decimal) -> Decimal:
    """80.0 -> 80 and 400.00 -> 400 in the perfdata, without exponents (1E+2)."""
    whole = x.to_integral_value()
    return whole if x == whole else x.quantize(CENT)


def pct(share: Decimal) -> Decimal:
    return plain(share * 100)


def grade_ceiling(value: Decimal, warn: Decimal, crit: Decimal) -> CheckStatus:
    if value >= crit:
        return CheckStatus.CRITICAL
    if value >= warn:
        return CheckStatus.WARNING
    return CheckStatus.OK


# --------------------------------------------------------------------------------------------


def check_heartbeat(view: LocalView, th: Thresholds) -> CheckResult:
    warn, crit = th.need("heartbeat", "warn"), th.need("heartbeat", "crit")
    if view.store is None:
        return CheckResult(
            "heartbeat", CheckStatus.CRITICAL, f"no heartbeat: no state file at {view.path}"
        )
    beat = view.store.entries.loop_heartbeat()
    if beat is None:
        return CheckResult(
            "heartbeat",
            CheckStatus.CRITICAL,
            f"no heartbeat: the trade loop has never written one to {view.path}",
        )
    age = beat.age(view.now)
    if isinstance(age, str):
        return CheckResult("heartbeat", CheckStatus.UNKNOWN, age)
    # liveness and the trading state are two facts: the age grades the loop's liveness (a
    # halted, paused or SAFE_MODE loop still beats), and the state is the state file's now, not
    # the one the beat saw (a `kalshi halt` after the last beat of a stuck loop is HALTED)
    status = grade_ceiling(seconds(age), warn, crit)
    row = state_that_holds(view.store, view.store.trading.trading_state(), view.now)
    state = beat.shown_state(row.state, view.now)
    summary = f"last heartbeat {describe_age(age)} ago, trading state {state}"
    breaker = breaker_trip_text(view.store, view.now)
    if breaker is not None:
        # the trip, not the state, refuses new orders for the rest of the day: said, not graded
        # (the loop's own `circuit_breaker` alert tells the trip), as `kalshi status` says it
        summary += f", circuit breaker: {breaker}"
    perfdata = [PerfDatum("age", seconds(age), warn, crit, 0, uom="s")]
    behind, lag_perf = _behind(beat.detail, th)
    perfdata += lag_perf
    unread, unread_perf, waiting = _orders_unread(beat.detail, th)
    perfdata += unread_perf
    behind += unread
    if waiting and not unread:
        summary += f", {waiting}"  # within the bound: said, not graded
    if behind and status is not CheckStatus.CRITICAL:
        # alive (the heartbeat is recent) but not keeping up with its markets: a different
        # trouble from a dead loop, and said first so it is not mistaken for one
        status = CheckStatus.WARNING
        summary = f"alive but behind: {'; '.join(behind)}; {summary}"
    if state == "SAFE_MODE" and status is not CheckStatus.CRITICAL:
        # the API error guard's stop sends nothing, not even a close, until `kalshi resume`
        # (docs/risk.md): alive is no comfort, graded as the loop's own `safe_mode` alert is
        status = CheckStatus.CRITICAL
        summary = f"trading stopped: nothing is sent until `kalshi resume`; {summary}"
    short = (beat.shards_held or {}).get("short")
    if short and status is not CheckStatus.CRITICAL:
        # every new order there is denied or refused for the shard's balance while the others
        # trade: the loop's own `shard_balance_short` alert names the move that funds it
        status = CheckStatus.WARNING
        summary = f"{loop_short_text(short)}; {summary}"
    stopped = stopped_strategies(beat.detail)
    if stopped and status is not CheckStatus.CRITICAL:
        # the loop trades on without them (runbooks/16-strategy-stopped.md)
        status = CheckStatus.WARNING
        said = "; ".join(f"strategy {name} stopped: {why}" for name, why in stopped.items())
        summary = f"{said}; {summary}"
    return CheckResult("heartbeat", status, summary, perfdata)


def _behind(detail: dict[str, object], th: Thresholds) -> tuple[list[str], list[PerfDatum]]:
    """What the loop's last heartbeat says about its lag (runner/loop/schedule.py), against
    `lag_warn` and `revisit_warn`: the reasons it is behind, and the perfdata. A heartbeat of a
    loop that measured no lag has neither."""
    lag_warn, revisit_warn = th.need("heartbeat", "lag_warn"), th.need("heartbeat", "revisit_warn")
    reasons: list[str] = []
    perfdata: list[PerfDatum] = []
    for key, label, warn, said in (
        ("lag_p99_s", "lag_p99", lag_warn, "p99 book change to decision"),
        ("revisit_max_s", "revisit_max", revisit_warn, "a market unvisited for"),
    ):
        value = detail.get(key)
        if not isinstance(value, int | float):
            continue
        perfdata.append(PerfDatum(label, seconds(value), warn, None, 0, uom="s"))
        if seconds(value) >= warn:
            reasons.append(f"{said} {describe_age(value)} (warn {plain(warn)}s)")
    return reasons, perfdata


def _orders_unread(
    detail: dict[str, object], th: Thresholds
) -> tuple[list[str], list[PerfDatum], str]:
    """What the loop's last heartbeat says of its markets waiting for their resting orders'
    read (runner/loop/orders_read_again.py), which trade nothing meanwhile: the reason it is
    behind when one has waited `orders_read_warn` or more, the perfdata, and what a summary
    says of them ("" when none waits). A heartbeat of a loop that did not report it has none."""
    markets, waited = detail.get("orders_read_waiting"), detail.get("orders_read_wait_s")
    if not isinstance(markets, int):
        return [], [], ""
    warn = th.need("heartbeat", "orders_read_warn")
    perfdata = [PerfDatum("orders_read_waiting", Decimal(markets), None, None, 0)]
    if not markets or not isinstance(waited, int | float):
        return [], perfdata, ""
    perfdata.append(PerfDatum("orders_read_wait", seconds(waited), warn, None, 0, uom="s"))
    said = f"{markets} market(s) waiting {describe_age(waited)} for their orders' read"
    if seconds(waited) >= warn:
        return [f"{said}, trading nothing (warn {plain(warn)}s)"], perfdata, said
    return [], perfdata, said


def check_feed(view: LocalView, th: Thresholds) -> CheckResult:
    warn, crit = th.need("feed", "warn"), th.need("feed", "crit")
    if view.store is None:
        return CheckResult(
            "feed", CheckStatus.UNKNOWN, f"no market data recorded: no state file at {view.path}"
        )
    heard = view.store.entries.feed_heard_at()
    if heard is None:
        if view.store.entries.loop_heartbeat() is None:
            return CheckResult(
                "feed", CheckStatus.UNKNOWN, "no market data recorded: the trade loop has not run"
            )
        return CheckResult(
            "feed", CheckStatus.CRITICAL, "the trade loop has not received any market data"
        )
    at, raw = heard
    age = age_of(FEED_HEARD_KEY, at, view.now, repr(raw))
    if isinstance(age, str):
        return CheckResult("feed", CheckStatus.UNKNOWN, age)
    status = grade_ceiling(seconds(age), warn, crit)
    return CheckResult(
        "feed",
        status,
        f"last market-data message {describe_age(age)} ago",
        [PerfDatum("age", seconds(age), warn, crit, 0, uom="s")],
    )


def check_orders(view: LocalView, th: Thresholds) -> CheckResult:
    """Orders of unknown outcome and sets of legs leaving a leg unhedged (CRITICAL), old resting
    orders (WARNING) and the share of recent orders rejected, each graded by a step of its own;
    the sets holding a leg to its settlement by design are said, not graded."""
    warn, crit = th.need("orders", "warn"), th.need("orders", "crit")
    if view.store is None:
        return CheckResult(
            "orders", CheckStatus.OK, f"no orders recorded: no state file at {view.path}"
        )
    unknown, unknown_crit, doubt = _unknown_orders(view.store, view.now, th)
    resting, stale, old = _old_resting(view.store, view.now, th)
    window = float(th.need("orders", "window_s"))
    decided = _decided(view.store, since=view.now - window)
    rejected, rate, rejections = _rejections(decided, th, window)
    broken, unhedged, settling = _sets_left_broken(view.store, view.now)
    findings = [p for p in (doubt, unhedged, old, rejections) if p is not None]
    perf = [
        PerfDatum("unknown", unknown, None, unknown_crit, 0),
        PerfDatum("broken_sets", broken, None, 1, 0),
        PerfDatum("resting", len(resting), min=0),
        PerfDatum("stale_resting", len(stale), 0, None, 0),
        PerfDatum("rejection_rate", pct(rate), pct(warn), pct(crit), 0, 100, "%"),
        PerfDatum("orders_in_window", len(decided), min=0),
    ]
    if not findings:
        summary = (
            f"no UNKNOWN orders, {len(resting)} resting, "
            f"{rejected} of {len(decided)} rejected in the last {describe_age(window)}"
        )
        return CheckResult("orders", CheckStatus.OK, _and(summary, settling), perf)
    result = graded("orders", findings, perf)
    return replace(result, summary=_and(result.summary, settling))


def _and(summary: str, said: str) -> str:
    """`summary`, and what is said beside it, not graded."""
    return f"{summary}; {said}" if said else summary


def _unknown_orders(
    store: Store, now: float, th: Thresholds
) -> tuple[int, Decimal, Finding | None]:
    """The orders of unknown outcome, the count that is CRITICAL, and the finding at it.

    A `pending` intent, or an unsettled amend, older than a request sent for it can take to
    land is a crash's leftover: its order may rest on the exchange unknown to the state file,
    or on terms it does not hold, as an UNKNOWN one may (`kalshi reconcile` says so, exit 10)."""
    doubtful = store.orders.intents(status=[UNKNOWN, PENDING])
    unknown = sum(1 for o in doubtful if o.status == UNKNOWN or now - o.created_at >= IN_FLIGHT_S)
    unknown += len(
        {i.client_order_id for i, a in store.orders.amends_in_doubt() if now - a.at >= IN_FLIGHT_S}
    )
    unknown_crit = th.need("orders", "unknown_crit")
    if not unknown or unknown < unknown_crit:
        return unknown, unknown_crit, None
    what = f"{unknown} order(s) in UNKNOWN state, left pending or with an amend left unanswered"
    finding = Finding(CheckStatus.CRITICAL, "unknown orders", f"{what}: run `kalshi reconcile`")
    return unknown, unknown_crit, finding


def _sets_left_broken(store: Store, now: float) -> tuple[int, Finding | None, str]:
    """The sets of legs that leave a leg unhedged for a trader to act on, the finding on them,
    and what is said of the rest. A leg held beyond the whole sets whose market has not settled
    (store/leg_sets.py `BrokenSet.unhedged`) is one to act on in a set left broken (its sale back
    found no bid, filled short or was refused), or left `open` with no trade loop alive on its
    subaccount to send its next leg or sell it back (a loop killed between legs): CRITICAL,
    each named leg by leg. A set whose unhedged legs the loop holds to their settlement by
    design (store/leg_sets.py `BrokenSet.held_to_settlement`) is said, not graded; one whose
    unhedged legs all settled is done."""
    beat = store.entries.loop_heartbeat()
    alive = None if beat is None or not beat.live(now) else beat.loop_subaccount or 0
    broken: list[str] = []
    held: list[str] = []
    for s in store.leg_sets.not_ended():
        unhedged = s.unhedged()
        if not unhedged or (s.status == "open" and s.subaccount == alive):
            continue  # nothing unhedged, or a live loop on its way with it
        if s.held_to_settlement():
            held.append(s.text())
        elif s.status == "open":
            broken.append(f"{s.text()} (no trade loop alive on subaccount {s.subaccount})")
        else:
            broken.append(s.text())
    said = ""
    if held:
        said = f"{len(held)} set(s) of legs holding a leg to its settlement: {'; '.join(held)}"
    if not broken:
        return 0, None, said
    text = f"{len(broken)} set(s) of legs left broken, a leg held without the others: "
    finding = Finding(CheckStatus.CRITICAL, "sets left broken", text + "; ".join(broken))
    return len(broken), finding, said


def _old_resting(
    store: Store, now: float, th: Thresholds
) -> tuple[list[IntentRecord], list[IntentRecord], Finding | None]:
    """The resting orders, those older than `resting_max_age_s`, and the finding on them."""
    max_age = float(th.need("orders", "resting_max_age_s"))
    resting = [o for o in store.orders.open_orders() if o.status == "resting"]
    stale = [o for o in resting if now - o.created_at > max_age]
    if not stale:
        return resting, stale, None
    oldest = max(now - o.created_at for o in stale)
    finding = Finding(
        CheckStatus.WARNING,
        "old resting orders",
        f"{len(stale)} resting order(s) older than {describe_age(max_age)} "
        f"(oldest {describe_age(oldest)})",
    )
    return resting, stale, finding


def _rejections(
    decided: list[IntentRecord], th: Thresholds, window: float
) -> tuple[int, Decimal, Finding | None]:
    """How many of the orders decided in the window were rejected, the share, and the finding
    when there are enough to grade (`min_orders`)."""
    rejected = sum(1 for o in decided if o.status == "rejected")
    rate = Decimal(rejected) / Decimal(len(decided)) if decided else ZERO
    if len(decided) < th.need("orders", "min_orders"):
        return rejected, rate, None
    status = grade_ceiling(rate, th.need("orders", "warn"), th.need("orders", "crit"))
    if status is CheckStatus.OK:
        return rejected, rate, None
    what = f"{rejected} of {len(decided)} orders rejected in the last {describe_age(window)}"
    return rejected, rate, Finding(status, "rejections", what)


def _decided(store: Store, *, since: float) -> list[IntentRecord]:
    """The orders placed `since` whose outcome the exchange has given (not pending, not
    unknown)."""
    intents = store.orders.intents(limit=10_000)
    return [o for o in intents if o.created_at >= since and o.status not in ("pending", "unknown")]


def check_pnl(view: LocalView, th: Thresholds, daily_loss_limit: Decimal) -> CheckResult:
    """Today's (UTC) and total realized P&L, net of fees, replayed from the fills by the same
    engine as `kalshi pnl`; and, on a day that has made no money, today's realized P&L against
    the edge the strategies expected when their orders filled (`model_fair` against the fill
    price)."""
    from kalshi_cli.services.pnl import summarize_store

    day_warn = th.get("pnl", "warn")
    day_crit = th.get("pnl", "crit")
    day_crit = -daily_loss_limit if day_crit is None else day_crit
    day_warn = max(day_crit, -daily_loss_limit / 2) if day_warn is None else day_warn
    if day_warn < day_crit:
        raise ConfigError(
            f"pnl: the warning floor {fmt_money(day_warn)} is below the critical floor "
            f"{fmt_money(day_crit)}",
            hint="set checks.pnl.warn above checks.pnl.crit",
        )
    if view.store is None:
        return CheckResult(
            "pnl", CheckStatus.OK, f"no fills recorded: no state file at {view.path}"
        )
    store = view.store
    day = utc_day(view.now)
    # each subaccount's book replayed on its own and added, as `kalshi pnl` does
    summary = summarize_store(store)
    bucket = summary.groups["day"].get(day)
    today = bucket.net if bucket is not None else ZERO
    total = summary.realized

    findings: list[Finding] = []
    day_status = _grade_floor(today, day_warn, day_crit)
    if day_status is not CheckStatus.OK:
        floor = fmt_money(day_warn)
        findings.append(
            Finding(day_status, "today", f"today's realized P&L {fmt_money(today)} (floor {floor})")
        )
    total_warn, total_crit = th.get("pnl", "total_warn"), th.get("pnl", "total_crit")
    total_status = _grade_floor(total, total_warn, total_crit)
    if total_status is not CheckStatus.OK:
        findings.append(Finding(total_status, "total", f"total realized P&L {fmt_money(total)}"))

    expected = _expected_edge(store, day)
    edge_warn = th.need("pnl", "edge_warn")
    perf = [
        PerfDatum("today", today, day_warn, day_crit),
        PerfDatum("total", total, total_warn, total_crit),
        PerfDatum("expected_edge", expected),
    ]
    if expected >= th.need("pnl", "edge_min_expected") and expected > 0:
        share = (today / expected).quantize(CENT)
        perf.append(PerfDatum("edge_captured", pct(share), pct(edge_warn), uom="%"))
        if share < edge_warn and today <= 0:  # a day that made money is no warning
            findings.append(
                Finding(
                    CheckStatus.WARNING,
                    "edge",
                    f"captured {pct(share):f}% of the {fmt_money(expected)} edge expected today",
                )
            )
    if not findings:
        text = f"today {fmt_money(today)}, total {fmt_money(total)} realized"
        if expected > 0:
            text += f", {fmt_money(expected)} edge expected today"
        return CheckResult("pnl", CheckStatus.OK, text, perf)
    return graded("pnl", findings, perf)


def _grade_floor(value: Decimal, warn: Decimal | None, crit: Decimal | None) -> CheckStatus:
    if crit is not None and value <= crit:
        return CheckStatus.CRITICAL
    if warn is not None and value <= warn:
        return CheckStatus.WARNING
    return CheckStatus.OK


def _expected_edge(store: Store, day: str) -> Decimal:
    """Sum over today's fills of orders that carried a fair value: (fair - price) x count when
    buying YES, (price - fair) x count when selling it."""
    start = day_start(day)
    total = ZERO
    fair: dict[str, Decimal | None] = {}
    for fill in store.fills.read(since=start):
        coid = fill.client_order_id
        if coid is None:
            continue
        if coid not in fair:
            intent = store.orders.get_intent(coid)
            fair[coid] = intent.model_fair if intent is not None else None
        value = fair[coid]
        if value is None:
            continue
        per = value - fill.yes_price if fill.book_side is BookSide.BID else fill.yes_price - value
        total += per * fill.count
    return total
