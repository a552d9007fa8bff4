"""Checks that ask the exchange: positions, exposure, api, exchange and balance (by shard).
Positions and exposure are read from the exchange, not the state file (a check trusting the
loop's books would miss the failures it exists for), against the risk limits on every
subaccount. docs/checks.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.checks import CheckResult, CheckStatus, PerfDatum
from kalshi_cli.checks.local import Finding, grade_ceiling, graded, pct, plain
from kalshi_cli.checks.thresholds import Thresholds
from kalshi_cli.services.positions import positions_by_subaccount
from kalshi_cli.services.shards import (
    ShardLine,
    describe_line,
    graded_lines,
    loose_text,
    shard_lines,
    short_shards,
    untold_shards,
)
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import AuthError, CredentialsError, KalshiError
from kalshi_cli.vocabulary.names import first_five
from kalshi_cli.vocabulary.units import ZERO, fmt_dollars, fmt_money

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.exchange import MaintenanceWindow
    from kalshi_cli.services.positions import Books, EventRow
    from kalshi_cli.vocabulary.models import ExchangeStatus, Market

_MS = Decimal("0.001")


def _unread(result: CheckResult, unread: list[str]) -> CheckResult:
    """A breach read on one subaccount is the verdict, a read of another that failed beside it
    said with it; without one, the check cannot tell (UNKNOWN, `run_check`): nothing unread is
    graded OK."""
    if not unread:
        return result
    if result.status is not CheckStatus.CRITICAL:
        raise KalshiError("; ".join(unread))
    return replace(result, summary="; ".join([result.summary, *unread]))


def _on(subaccounts: Sequence[int | None]) -> str:
    """ " on subaccounts 0, 1" for the books read per subaccount; "" for an account of one."""
    named = [n for n in subaccounts if n is not None]
    if not named:
        return ""
    word = "subaccount" if len(named) == 1 else "subaccounts"
    return f" on {word} {', '.join(str(n) for n in named)}"


Breach = tuple[int | None, str, Decimal]  # subaccount, market, contracts held


@dataclass(frozen=True)
class EventBreach:
    """An event whose worst case at settlement (`kalshi positions --by event`) is at the
    warning share of `risk.max_event_loss` or past it, on a subaccount (None: the account's
    only)."""

    subaccount: int | None
    row: EventRow
    status: CheckStatus

    def line(self, limit: Decimal) -> str:
        worst = self.row.outcomes.worst
        return (
            f"{self.row.event_ticker} worst {fmt_money(worst.pnl)} ({worst.name}) of "
            f"{fmt_money(-limit)}{_on([self.subaccount])}"
        )

    def as_dict(self, limit: Decimal) -> dict[str, Any]:
        worst = self.row.outcomes.worst
        return {
            "subaccount": self.subaccount,
            "event_ticker": self.row.event_ticker,
            "worst_case": fmt_dollars(worst.pnl),
            "outcome": worst.name,
            "max_event_loss": fmt_dollars(limit),
            "status": self.status.name,
        }


def check_positions(
    client: KalshiClient,
    th: Thresholds,
    limit: Decimal,
    subaccount: int | None = None,
    max_event_loss: Decimal | None = None,
) -> CheckResult:
    """CRITICAL when a market's position on a subaccount is above `crit` x its limit, WARNING at
    `warn` x; so too an event's worst case at settlement (the figure of `kalshi positions --by
    event`) against `max_event_loss` (None: not set, no event read). Every subaccount is
    covered (the limits are a loop's, and a loop trades one subaccount); `subaccount` narrows
    to one."""
    warn, crit = th.need("positions", "warn"), th.need("positions", "crit")
    books, unread = positions_by_subaccount(client, subaccount)
    over, near, largest = _graded_markets(books, limit, warn, crit)
    markets = sum(len(positions) for _, positions in books)
    events = (
        [] if max_event_loss is None else _graded_events(client, books, max_event_loss, warn, crit)
    )
    perf = [
        PerfDatum("over_limit", len(over), 0, 0),
        PerfDatum("near_limit", len(near), 0),
        PerfDatum("largest", pct(largest), pct(warn), pct(crit), 0, uom="%"),
        PerfDatum("markets", markets, min=0),
    ]
    extra = _subaccount_breaches(books, limit, over, near)
    if max_event_loss is not None:
        by_status = Counter(e.status for e in events)
        perf += [
            PerfDatum("events_over_limit", by_status[CheckStatus.CRITICAL], 0, 0),
            PerfDatum("events_near_limit", by_status[CheckStatus.WARNING], 0),
        ]
        extra["event_breaches"] = [e.as_dict(max_event_loss) for e in events]
    for status, items, what in (
        (CheckStatus.CRITICAL, over, "over limit"),
        (CheckStatus.WARNING, near, f"at {pct(warn):f}% of the limit or more"),
    ):
        at = [e for e in events if e.status is status]
        if items or at:
            lines = [_markets_line(items, what, limit)] if items else []
            if at:
                assert max_event_loss is not None  # an event is graded only against a limit
                lines.append(_events_line(at, status, warn, max_event_loss))
            scope = ", ".join(filter(None, (_scope(items), _event_scope(at))))
            result = CheckResult("positions", status, "; ".join(lines), perf, extra, scope)
            return _unread(result, unread)
    summary = (
        f"all {markets} positions within limits{_on([n for n, _ in books])} "
        f"(largest {largest * 100:.0f}% of {limit:f})"
    )
    if max_event_loss is not None:
        summary += f"; every event's worst case within {fmt_money(-max_event_loss)}"
    result = CheckResult("positions", CheckStatus.OK, summary, perf, extra)
    return _unread(result, unread)


def _subaccount_breaches(
    books: Books, limit: Decimal, over: list[Breach], near: list[Breach]
) -> dict[str, Any]:
    """The `--json` fields of an account with subaccounts: those read, and each market's
    breach on one (none for an account of subaccount 0 only)."""
    if books[0][0] is None:
        return {}
    return {
        "subaccounts": [number for number, _ in books],
        "breaches": [
            {
                "subaccount": number,
                "ticker": ticker,
                "position": f"{plain(size):f}",
                "limit": f"{plain(limit):f}",
                "status": status.name,
            }
            for status, items in ((CheckStatus.CRITICAL, over), (CheckStatus.WARNING, near))
            for number, ticker, size in items
        ],
    }


def _graded_markets(
    books: Books, limit: Decimal, warn: Decimal, crit: Decimal
) -> tuple[list[Breach], list[Breach], Decimal]:
    """The markets over `crit` x `limit`, those at `warn` x or more, and the largest share."""
    over: list[Breach] = []
    near: list[Breach] = []
    largest = ZERO
    for number, positions in books:
        for p in positions:
            size = abs(p.position)
            share = size / limit
            largest = max(largest, share)
            if share > crit:
                over.append((number, p.ticker, size))
            elif share >= warn:
                near.append((number, p.ticker, size))
    return over, near, largest


def _graded_events(
    client: KalshiClient, books: Books, limit: Decimal, warn: Decimal, crit: Decimal
) -> list[EventBreach]:
    """Each event of each book whose worst case loses more than `crit` x `limit` (CRITICAL) or
    `warn` x or more (WARNING), read by the one rule (`event_rows`) from the positions read."""
    from kalshi_cli.services.positions import event_rows

    found: list[EventBreach] = []
    for number, positions in books:
        own = client if number is None else client.on_subaccount(number)
        for row in event_rows(own, positions=positions):
            share = -row.outcomes.worst.pnl / limit
            if share > crit:
                found.append(EventBreach(number, row, CheckStatus.CRITICAL))
            elif share >= warn:
                found.append(EventBreach(number, row, CheckStatus.WARNING))
    return found


def _named(noun: str, what: str, each: Sequence[str]) -> str:
    """`7 markets over the limit: A, B, C, D, E and 2 more`."""
    return f"{len(each)} {noun}{'' if len(each) == 1 else 's'} {what}: {first_five(each)}"


def _markets_line(items: list[Breach], what: str, limit: Decimal) -> str:
    each = [f"{t} {plain(size):f}/{plain(limit):f}{_on([n])}" for n, t, size in items]
    return _named("market", what, each)


def _events_line(
    items: list[EventBreach], status: CheckStatus, warn: Decimal, limit: Decimal
) -> str:
    what = (
        f"past {'its' if len(items) == 1 else 'their'} loss limit"
        if status is CheckStatus.CRITICAL
        else f"at {pct(warn):f}% of {'its' if len(items) == 1 else 'their'} loss limit or more"
    )
    return _named("event", what, [e.line(limit) for e in items])


def _scope(items: list[Breach]) -> str:
    ordered = sorted((-1 if n is None else n, t) for n, t, _ in items)
    return ", ".join(f"{t}{_on([None if n < 0 else n])}" for n, t in ordered)


def _event_scope(items: list[EventBreach]) -> str:
    ordered = sorted(
        (-1 if e.subaccount is None else e.subaccount, e.row.event_ticker) for e in items
    )
    return ", ".join(f"event {t}{_on([None if n < 0 else n])}" for n, t in ordered)


def check_exposure(
    client: KalshiClient, th: Thresholds, cap: Decimal, subaccount: int | None = None
) -> CheckResult:
    """The exchange's `market_exposure_dollars`, summed over every position of a subaccount,
    against the cap. The cap is a loop's (`risk.max_total_exposure`) and a loop trades one
    subaccount, so each subaccount is graded against it and the account's total is shown beside;
    an account of subaccount 0 only is one total, as before. `subaccount` narrows to one."""
    warn, crit = th.need("exposure", "warn"), th.need("exposure", "crit")

    def grade(total: Decimal) -> CheckStatus:
        share = total / cap
        if share > crit:
            return CheckStatus.CRITICAL
        if share >= warn:
            return CheckStatus.WARNING
        return CheckStatus.OK

    books, unread = positions_by_subaccount(client, subaccount)
    totals = [(n, sum((p.exposure for p in positions), ZERO)) for n, positions in books]
    if totals[0][0] is None:
        total = totals[0][1]
        share = total / cap
        perf = [PerfDatum("exposure", total, plain(warn * cap), plain(crit * cap), 0, cap)]
        return CheckResult(
            "exposure",
            grade(total),
            f"total exposure {fmt_money(total)} of the {fmt_money(cap)} cap ({share * 100:.0f}%)",
            perf,
            scope="the account",
        )
    ranked = sorted(totals, key=lambda t: -t[1])
    largest = ranked[0][1]
    account = sum((t for _, t in totals), ZERO)
    shown = first_five([f"subaccount {n} {fmt_money(t)} ({t / cap * 100:.0f}%)" for n, t in ranked])
    perf = [
        PerfDatum("exposure", largest, plain(warn * cap), plain(crit * cap), 0, cap),
        PerfDatum("account_exposure", account, min=0),
    ]
    extra = {
        "account_exposure": f"{account:f}",
        "exposures": [
            {"subaccount": n, "exposure": f"{t:f}", "status": grade(t).name} for n, t in ranked
        ],
    }
    status = grade(largest)
    graded = sorted(n for n, t in totals if n is not None and grade(t) is status)
    result = CheckResult(
        "exposure",
        status,
        f"exposure per subaccount against the {fmt_money(cap)} cap: {shown}; "
        f"account total {fmt_money(account)}",
        perf,
        extra,
        ", ".join(f"subaccount {n}" for n in graded),
    )
    return _unread(result, unread)


def check_api(
    client: KalshiClient, th: Thresholds, *, credentials_error: str | None = None
) -> CheckResult:
    """Reachable (GET /exchange/status), credentials accepted (GET /portfolio/balance), the
    status read's latency (its retries included), and the clock skew against the exchange's
    Date header. A part it cannot look at is UNKNOWN, and the worst part is the verdict.

    `credentials_error` is why the configured key could not be loaded; the client is then
    anonymous, so reachability, latency and skew are still measured."""
    warn, crit = th.need("api", "warn"), th.need("api", "crit")
    skew_warn, skew_crit = th.need("api", "skew_warn"), th.need("api", "skew_crit")
    clock = client.connection.clock
    started = clock.monotonic()
    try:
        status = client.exchange.get_exchange_status()
    except AuthError as exc:
        # the client signs even public requests, so a refused key shows up here first
        return CheckResult("api", CheckStatus.CRITICAL, f"credentials refused: {exc.one_line()}")
    except KalshiError as exc:
        if (run := Deadline.current()) is not None and run.passed():
            raise  # the run's deadline ended the read, not the exchange: `run_check`'s UNKNOWN
        return CheckResult("api", CheckStatus.CRITICAL, f"exchange unreachable: {exc.one_line()}")
    # the whole read with its retries and their waits: the attempt that answered alone (the
    # client's last latency) reads an exchange that timed out first as quick
    latency = Decimal(repr((clock.monotonic() - started) * 1000.0)).quantize(_MS)
    findings: list[Finding] = []
    if not status.exchange_active:
        findings.append(Finding(CheckStatus.CRITICAL, "exchange", "exchange inactive"))
    elif not status.trading_active:
        findings.append(Finding(CheckStatus.WARNING, "trading", "exchange up, trading paused"))

    lat_status = grade_ceiling(latency, warn, crit)
    if lat_status is not CheckStatus.OK:
        findings.append(Finding(lat_status, "latency", f"latency {latency:.0f}ms"))

    credentials = _credentials(client, credentials_error)
    if credentials is not None:
        findings.append(credentials)

    perf = [PerfDatum("latency", latency, warn, crit, 0, uom="ms")]
    try:
        skew = Decimal(repr(client.exchange.clock_skew_seconds())).quantize(_MS)
    except KalshiError as exc:
        unmeasured = f"clock skew not measured: {exc.one_line()}"
        findings.append(Finding(CheckStatus.UNKNOWN, "clock skew", unmeasured))
    else:
        skew_status = grade_ceiling(abs(skew), skew_warn, skew_crit)
        if skew_status is not CheckStatus.OK:
            findings.append(Finding(skew_status, "clock skew", f"clock skew {skew:+f}s; check NTP"))
        perf.append(PerfDatum("skew", skew, skew_warn, skew_crit, uom="s"))
    if not findings:
        return CheckResult(
            "api",
            CheckStatus.OK,
            f"reachable, credentials accepted, latency {latency:.0f}ms, skew {skew:+.2f}s",
            perf,
        )
    return graded("api", findings, perf)


def _credentials(client: KalshiClient, credentials_error: str | None) -> Finding | None:
    """What is wrong with the credentials (GET /portfolio/balance), None when nothing is."""
    if credentials_error is not None:
        return Finding(CheckStatus.CRITICAL, "credentials", credentials_error)
    if not client.authenticated:
        return Finding(CheckStatus.CRITICAL, "credentials", "no API credentials configured")
    try:
        client.portfolio.get_balance()
    except AuthError as exc:
        return Finding(
            CheckStatus.CRITICAL, "credentials", f"credentials refused: {exc.one_line()}"
        )
    except CredentialsError as exc:
        return Finding(CheckStatus.CRITICAL, "credentials", exc.one_line())
    except KalshiError as exc:
        # one part it cannot tell: what the exchange said already (inactive) stands
        unread = f"credentials not checked: {exc.one_line()}"
        return Finding(CheckStatus.UNKNOWN, "credentials", unread)
    return None


def _in(seconds: Decimal) -> str:
    minutes = int(seconds // 60)
    if minutes >= 120:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes}m" if minutes else f"{int(seconds)}s"


def _maintenance(
    client: KalshiClient, active: bool, now: float
) -> tuple[list[MaintenanceWindow] | None, MaintenanceWindow | None, list[MaintenanceWindow]]:
    """The maintenance windows not over at `now` (None: the schedule could not be read while
    the exchange says it is down), the one under way, and those ahead."""
    try:
        listed = client.exchange.get_exchange_schedule().maintenance_windows
    except KalshiError:
        if active:
            raise  # the schedule is all it has to go on: UNKNOWN
        return None, None, []  # the exchange says it is down: CRITICAL, whatever its schedule
    windows = [w for w in listed if w.end.timestamp() > now]
    current = next((w for w in windows if w.start.timestamp() <= now), None)
    return windows, current, [w for w in windows if w.start.timestamp() > now]


def check_exchange(client: KalshiClient, th: Thresholds, now: float) -> CheckResult:
    """The next maintenance window against `warn`/`crit` seconds of notice (see the module
    docstring), then each exchange shard's trading; `now` is Unix seconds."""
    status = client.exchange.get_exchange_status()
    listed, current, ahead = _maintenance(client, status.exchange_active, now)
    perf = [] if listed is None else [PerfDatum("windows", len(listed), min=0)]
    notice = None if not ahead else Decimal(repr(ahead[0].start.timestamp() - now)).quantize(_MS)
    if notice is not None:
        warn, crit = th.need("exchange", "warn"), th.need("exchange", "crit")
        perf.insert(0, PerfDatum("next_maintenance", notice, warn, crit, 0, uom="s"))
    if current is not None or not status.exchange_active:
        resume = status.raw.get("exchange_estimated_resume_time")
        until = current.end.isoformat() if current is not None else resume or "unknown"
        text = f"exchange under maintenance until {until}; orders are refused"
        return CheckResult("exchange", CheckStatus.CRITICAL, text, perf)
    if notice is not None:
        graded_window = _window_notice(ahead[0], notice, th, perf)
        if graded_window is not None:
            return graded_window
    paused = _paused_shards(status)
    if paused is not None:
        return CheckResult("exchange", CheckStatus.WARNING, paused, perf, scope=paused)
    if ahead:
        text = f"trading; next maintenance {ahead[0].start.isoformat()}"
        return CheckResult("exchange", CheckStatus.OK, text, perf)
    return CheckResult("exchange", CheckStatus.OK, "trading; no maintenance scheduled", perf)


def _window_notice(
    window: MaintenanceWindow, notice: Decimal, th: Thresholds, perf: list[PerfDatum]
) -> CheckResult | None:
    """The next window graded by its notice: CRITICAL within `crit`, WARNING within `warn`,
    None beyond."""
    text = f"maintenance in {_in(notice)}: {window.start.isoformat()} to {window.end.isoformat()}"
    if notice <= th.need("exchange", "crit"):
        return CheckResult("exchange", CheckStatus.CRITICAL, text, perf)
    if notice <= th.need("exchange", "warn"):
        return CheckResult("exchange", CheckStatus.WARNING, text, perf)
    return None


def _paused_shards(status: ExchangeStatus) -> str | None:
    """What says trading is paused: the shards whose `trading_active` is false, by index and
    description; None when every shard trades."""
    paused = [s for s in status.per_shard() if not s.trades]
    if not paused:
        return None
    if not status.shards:
        return "exchange up, trading paused"
    named = ", ".join(
        f"shard {s.exchange_index}" + (f" ({s.description})" if s.description else "")
        for s in paused
    )
    return f"trading paused on {named}; orders for its markets are refused"


def check_balance(
    client: KalshiClient,
    th: Thresholds,
    floor: Decimal | None,
    markets: Sequence[Market],
    subaccount: int | None = None,
) -> CheckResult:
    """Each shard the traded `markets` live on against the money it holds: WARNING below
    `warn` dollars (default `floor`, risk.min_shard_balance), CRITICAL at or below `crit`
    (default $0: nothing there can be bought). A shard no traded market lives on is shown,
    never graded; a traded market naming no shard is graded on the exchange's only one, and of
    several it is UNKNOWN (`graded_lines`). The money is `subaccount`'s (None: the exchange's
    default, the primary's): a loop on subaccount N pays for its orders with N's money on each
    shard, never another's (one the account does not have is refused before any check looks,
    `run_named`)."""
    warn = th.get("balance", "warn")
    warn = floor if warn is None else warn
    crit = th.need("balance", "crit")
    whose_client = client if subaccount is None else client.on_subaccount(subaccount)
    balance = whose_client.portfolio.get_balance()
    lines, loose = graded_lines(
        shard_lines(client.exchange.get_exchange_status(), balance, markets), markets
    )
    traded = [line for line in lines if line.markets]
    if untold_shards(traded):
        raise KalshiError(
            "the balance answer gave no split by shard (a key restricted to a subaccount?), so "
            "what each traded shard holds is unknown"
        )
    if loose:
        raise KalshiError(loose_text(loose))
    perf = [_shard_perf(line, warn, crit) for line in lines]
    findings = [
        Finding(
            CheckStatus.CRITICAL if s.empty else CheckStatus.WARNING,
            f"shard {s.line.exchange_index}",
            s.text,
        )
        for s in short_shards(traded, warn, crit)
    ]
    shown = "; ".join(describe_line(line) for line in lines) or "no shard listed"
    whose = "" if subaccount is None else f" of subaccount {subaccount}"
    if not findings:
        return CheckResult("balance", CheckStatus.OK, f"{shown}{_on([subaccount])}", perf)
    result = graded("balance", findings, perf)
    return replace(result, summary=f"{result.summary}; all shards{whose}: {shown}")


def _shard_perf(line: ShardLine, warn: Decimal | None, crit: Decimal) -> PerfDatum:
    """A shard's money; graded (its thresholds given) only where a traded market lives."""
    held = plain(line.balance or ZERO)
    if not line.markets:
        return PerfDatum(f"shard_{line.exchange_index}", held, min=0)
    shown_warn = None if warn is None else plain(warn)
    return PerfDatum(f"shard_{line.exchange_index}", held, shown_warn, plain(crit), 0)
