"""The kill switch and the trading state: `cancel-all`, `halt`, `resume`, `status`, `reconcile`.

`cancel-all` is the command a person types with a pounding heart, so it does the safe thing
first and tells the plain truth last: HALTED is written before any request, every resting order
is cancelled and the listing repeated until none is left, and the exit code is 0 only when that
proof holds (11 otherwise, with a line that says why: orders left, or the exchange unreachable).
It works on a fresh machine: the state file is created if missing. Whatever the state file does
(read-only, locked, garbled, empty, no directory) the orders are cancelled anyway, the first line
says `trading state: NOT RECORDED (why)` (or that HALTED came late, and why), and the exit code is
still the proof's.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import begin, refuse_a_missing_state_dir
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    SubaccountOpt,
    YesOpt,
    deadline_option,
    event_option,
    market_option,
    non_empty_text,
    number_option,
)
from kalshi_cli.services.killswitch.switch import DEFAULT_DEADLINE_S
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import fmt_count

if TYPE_CHECKING:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli._output import Output
    from kalshi_cli.services.killswitch.report import KillReport
    from kalshi_cli.services.orders.status import TradingStatus
    from kalshi_cli.services.reconcile import ReconcileReport


# ------------------------------------------------------------------------------------ kill switch


def cancel_all_command(
    *,
    ticker: Annotated[str | None, market_option("Only this market's orders.")] = None,
    event: Annotated[str | None, event_option("Only this event's orders.")] = None,
    deadline: Annotated[
        float, deadline_option("Give up proving after this many seconds.")
    ] = DEFAULT_DEADLINE_S,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Halt, cancel every resting order, prove none is left.

    Sets the trading state to HALTED first (a running `kalshi trade` stops placing), closes the
    account's open RFQs and quotes (an accepted quote would execute on its maker's
    confirmation), cancels (the exchange's cancel-all, or batched cancels with --ticker /
    --event, retried through 429 and 5xx), then lists again until no order is left or the
    deadline passes. Exits 0 only when
    that proof holds, 11 otherwise. Trading stays halted until `kalshi resume`. Without a filter
    the exchange's own cancel-all is used, which Kalshi says may also cancel orders placed in
    the minute after it.

    Example: kalshi cancel-all --event KXBTCD-SIM-H17 --yes
    """
    from kalshi_cli.cli._services import (
        confirm_on_prod,
        open_kill_switch_store,
        tier_setting,
    )
    from kalshi_cli.client.pacing import pace_by_account
    from kalshi_cli.services.killswitch.switch import run_kill_switch
    from kalshi_cli.services.orders.context import refuse_an_unknown_scope
    from kalshi_cli.vocabulary.clock import SystemClock

    scope = _kill_scope(ticker, event, subaccount)
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    confirm_on_prod(app, f"cancel every resting order ({scope})", yes=yes)
    app.tolerate_state_mismatch = True  # another account's state file: cancel, record nothing
    client = app.client(auth=True)  # missing credentials: exit 4 before anything, HALT included
    clock = SystemClock()
    aimed = refuse_an_unknown_scope(
        client.markets, clock, ticker=ticker, event_ticker=event, say=out.note
    )
    report = run_kill_switch(
        client,
        lambda: open_kill_switch_store(app, out.note),
        clock,
        deadline_s=deadline,
        read_lag_s=app.settings().read_lag,
        ticker=aimed.ticker,
        event_ticker=aimed.event_ticker,
        unconfirmed=aimed.unconfirmed,
        on_progress=out.note,
        communications=client.communications,
        pace=partial(pace_by_account, client, tier_setting(app)),
    )
    _say_and_exit(app, out, report, scope)


def _say_and_exit(app: AppContext, out: Output, report: KillReport, scope: str) -> None:
    """The report, the alert's delivery problems, and exit 11 unless no order is left."""
    render_kill_report(out, report, scope=scope)
    for problem in post_kill_alert(app, report, scope):
        out.note(problem)
    if not report.proven:
        raise typer.Exit(int(ExitCode.NOT_PROVEN))


def post_kill_alert(app: AppContext, report: KillReport, scope: str) -> list[str]:
    """The kill switch's alert (runbooks/06) to the config's webhooks, whether or not a trade
    loop runs: the loop's own for HALTED (`KINDS`), so the router sends it once. Returns the
    delivery problems; never raises."""
    from kalshi_cli.alerts.model import RUNBOOKS, Alert
    from kalshi_cli.alerts.router import AlertRouter
    from kalshi_cli.config import read_sections, section
    from kalshi_cli.runner.loop.alerting import KINDS
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.errors import KalshiError

    try:
        router = AlertRouter.from_config(
            section(read_sections(app.settings().config_path), "alerts")
        )
        if not router.channels:
            return []
        verdict = "PROVEN: no resting order left" if report.proven else "NOT PROVEN"
        summary = f"kalshi cancel-all ({scope}): {len(report.cancelled)} cancelled; {verdict}"
        severity, title = KINDS["kill_switch"]
        alert = Alert("trade.kill_switch", severity, title, summary, RUNBOOKS["kill_switch"])
        refuse_a_missing_state_dir(app.state, app.environ)  # no directory made for a typo
        with Store.open(app.settings().state, migrate=False) as store:
            return list(router.notify(alert, store.alerts).problems)
    except KalshiError as exc:
        return [f"kill switch alert not sent: {exc.one_line()}"]


def _kill_scope(ticker: str | None, event: str | None, subaccount: int | None) -> str:
    """What the kill switch will cancel, in words (--ticker and --event together are refused
    with the scope's lookup, `refuse_an_unknown_scope`)."""
    scope = f"ticker {ticker}" if ticker else f"event {event}" if event else "every market"
    return scope + ("" if subaccount is None else f", subaccount {subaccount}")


def render_kill_report(out: Output, report: KillReport, *, scope: str) -> None:
    document = {**report.to_json(), "scope": scope, **report.state_json()}
    if out.as_json:
        out.json(document)
        return
    out.line(f"trading state: {_state_line(report)}")
    _what_ended(out, report)
    for group_id in report.order_groups_triggered:
        out.line(f"order group triggered: {group_id} (`kalshi order-group reset` to reopen it)")
    if report.exchange_cancel_all:
        # Kalshi: "Newly placed orders may also be cancelled during the minute after the request"
        out.line(
            "note: the exchange's cancel-all may also cancel orders placed in the minute after "
            "it; trading stays HALTED until `kalshi resume`"
        )
    for broken in report.broken_sets:
        if broken.held_to_settlement():
            out.line(
                f"set of legs held to its settlement (it ends as its market settles): "
                f"{broken.text()}"
            )
        else:
            out.line(f"broken set of legs (no cancel evens it out): {broken.text()}")
    if report.proven:
        out.line(f"PROVEN: no resting order left ({scope}; {report.rounds} listing(s))")
        return
    if report.unreachable:
        last = report.errors[-1] if report.errors else "no answer"
        out.line(f"NOT PROVEN: the exchange could not be reached: {last}")
    elif report.errors and not report.left:
        out.line(f"NOT PROVEN: {report.errors[-1]}")
    elif report.communications_left and not report.left:
        out.line(f"NOT PROVEN: {len(report.communications_left)} RFQ(s) or quote(s) still open")
    else:
        out.line(f"NOT PROVEN: {len(report.left)} resting order(s) left ({scope})")
    for order_id in report.left[:20]:
        out.line(f"  left: {report.owner_text(order_id)}")
    # whatever the reason above, an RFQ or quote left open may still execute: each is named
    for item in report.communications_left:
        out.line(f"  still open: {item} (an RFQ or a quote of yours)")


def _what_ended(out: Output, report: KillReport) -> None:
    """The text report's orders the run ended: cancelled (the first 20 named), and those a lost
    cancel's answer left to be read back by id: filled, or gone for no cause told."""
    contracts = fmt_count(report.contracts_cancelled)
    if report.uncounted:
        out.line(
            f"cancelled: unknown: the exchange's cancel-all went out, but what it took could not "
            f"be listed ({len(report.cancelled)} order(s) confirmed one by one)"
        )
    else:
        out.line(f"cancelled: {len(report.cancelled)} order(s), {contracts} contract(s)")
    for order_id in report.cancelled[:20]:
        out.line(f"  {report.owner_text(order_id)}")
    if len(report.cancelled) > 20:
        out.line(f"  ... and {len(report.cancelled) - 20} more (--json lists all)")
    # a cancel whose answer was lost, read back by id: the order filled, or ended unseen
    for order_id in report.filled:
        out.line(f"filled, not cancelled: {report.owner_text(order_id)}")
    for order_id in report.gone:
        out.line(
            f"gone, cause unknown (`kalshi reconcile` settles it): {report.owner_text(order_id)}"
        )


def _state_line(report: KillReport) -> str:
    why = report.state_error
    if not report.halted:
        return f"{'NOT HALTED' if report.account_state_unknown else 'NOT RECORDED'}: {why}"
    if not report.result_recorded:
        return f"HALTED, but the cancellations NOT RECORDED: {why}"
    if why:
        return f"HALTED, recorded after the cancels: {why}"
    return "HALTED"


# ------------------------------------------------------------------------------------ state


def halt_command(
    reason: Annotated[
        str,
        typer.Option(
            "--reason", parser=non_empty_text, help="Why, for `kalshi status` and the log."
        ),
    ] = "halted by hand",
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Halt trading without cancelling anything.

    `kalshi resume` lifts it.

    Example: kalshi halt --reason "news pending"
    """
    from kalshi_cli.cli._services import open_store
    from kalshi_cli.risk.state import halt

    app, out = begin(env, as_json=as_json)
    with open_store(app, for_the_account=False) as store:  # a paper session is halted too
        halt(store.trading, reason=reason, source="kalshi halt")
        row = store.trading.trading_state()
    render_state(out, row.state, row.reason, row.source, row.at)


def resume_command(
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="Take this strategy back into the running trade loop (one stopped for being "
            "stuck, late or failing), at its next look at the state file; the trading state "
            "is left as it is.",
        ),
    ] = None,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Lift HALTED or SAFE_MODE: trading is ACTIVE again.

    With --strategy, take back a strategy the running trade loop stopped instead
    (runbooks/16-strategy-stopped.md).

    Example: kalshi resume
    """
    from kalshi_cli.cli._services import open_store
    from kalshi_cli.risk.state import resume

    app, out = begin(env, as_json=as_json)
    if strategy is not None:
        from kalshi_cli.services.loop_strategies import ask_resume

        with open_store(app, for_the_account=False) as store:
            why = ask_resume(store, strategy)
        out.result(
            {"strategy": strategy, "stopped": why},
            f"asked the trade loop to resume {strategy}",
            f"stopped: {why}" if why else "it was not stopped at its last heartbeat",
        )
        return
    from kalshi_cli.services.orders.status import breaker_trip_text, guard_tripped_under
    from kalshi_cli.vocabulary.clock import SystemClock

    with open_store(app, for_the_account=False) as store:  # a paper session is resumed too
        guard = guard_tripped_under(store, store.trading.trading_state())
        before = resume(store.trading)
        row = store.trading.trading_state()
        breaker = breaker_trip_text(store, SystemClock().wall())
    if not as_json:
        out.note(f"lifted {before}")
    said = {"api_error_guard": guard, "circuit_breaker": breaker}
    extra = {key: text for key, text in said.items() if text is not None} or None
    render_state(out, row.state, row.reason, row.source, row.at, previous=str(before), extra=extra)


def render_state(
    out: Output,
    state: str,
    reason: str,
    source: str,
    at: float | None,
    *,
    previous: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    from kalshi_cli.vocabulary.clock import utc_datetime

    when = None if not at else utc_datetime(at).strftime("%Y-%m-%dT%H:%M:%SZ")
    document: dict[str, Any] = {"state": state, "reason": reason, "source": source, "since": when}
    if previous is not None:
        document["previous"] = previous
    document.update(extra or {})
    if out.as_json:
        out.json(document)
        return
    out.line(f"trading state: {state}")
    out.line(f"reason: {reason}")
    out.line(f"set by: {source}" + (f" at {local_time(at)}" if at else ""))
    for key, value in (extra or {}).items():
        if isinstance(value, bool) or value is None:  # yes, no, none: not Python's words
            shown = "none" if value is None else "yes" if value else "no"
            out.line(f"{key.replace('_', ' ')}: {shown}")
        elif not isinstance(value, (list, dict)):
            out.line(f"{key.replace('_', ' ')}: {value}")


def local_time(at: float) -> str:  # unix seconds
    """A time as a person reads it here: the local date and time with the zone's name (the
    JSON keeps UTC and Unix seconds, for scripts)."""
    from datetime import datetime

    try:
        return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except (OverflowError, OSError, ValueError):
        # a corrupt row (`inf`, a year past 9999) is shown as it is, not a crash of the command
        return f"{at!r} (not a time)"


def lag_text(lag: dict[str, Any]) -> str:
    """The loop's lag as a person reads it: `p99 0.012s book change to decision, every market
    visited within 1.0s` (then how long an order waits for the write budget, if it does, how
    many markets wait for their resting orders' read, trading nothing, if any do, and
    `, BEHIND` past its fairness bound)."""
    p99 = lag.get("lag_p99_s")
    text = "no book change decided on" if p99 is None else f"p99 {p99}s book change to decision"
    text += f", every market visited within {lag.get('revisit_max_s')}s"
    writes = lag.get("writes_behind_s")
    if writes:  # the write budget holds the loop back (docs/trade-loop.md)
        text += f", orders waiting {writes}s for the write budget"
    unread = lag.get("orders_read_waiting")
    if unread:  # they trade nothing until it is answered (docs/trade-loop.md)
        text += (
            f", {unread} market(s) waiting {lag.get('orders_read_wait_s')}s for their orders' read"
        )
    return text + (", BEHIND" if lag.get("behind") else "")


def shards_text(held: dict[str, list[int]]) -> str:
    """The shards the loop holds as a person reads it: `short 2 (why: SHORT_WHY); paused 3`,
    or `none held`."""
    from kalshi_cli.services.orders.status import SHORT_WHY

    parts = []
    if held["short"]:
        shown = ", ".join(map(str, held["short"]))
        parts.append(f"short {shown} ({SHORT_WHY})")
    if held["paused"]:
        parts.append(f"paused {', '.join(map(str, held['paused']))} (its trading is paused)")
    return "; ".join(parts) or "none held"


def status_lines(status: TradingStatus, details: dict[str, Any]) -> list[str]:
    """What `kalshi status` prints below the state: its history, each strategy's part today,
    each market assigned to a strategy and each set of legs not ended."""
    from decimal import Decimal

    from kalshi_cli.vocabulary.units import fmt_money, money_places

    places = money_places(Decimal(row["realized_today"]) for row in status.strategies)
    lines = [
        f"  {local_time(h['at'])}  {h['state']:<9} {h['source']}: {h['reason']}"
        for h in details.get("history", [])
    ]
    lines += [
        f"  strategy {row['strategy']}:"
        + (f" STOPPED ({row['stopped']})," if row.get("stopped") else "")
        + f" {row['open_orders']} open orders, its own part realized today "
        f"{fmt_money(Decimal(row['realized_today']), places=places)} "
        "(as its daily loss limit counts it)"
        for row in status.strategies
    ]
    lines += [
        f"  assigned {row['ticker']} to {row['strategy']} (the contracts no strategy bought there)"
        for row in status.assignments
    ]
    return lines + [f"  {broken.text()}" for broken in status.sets_not_ended]


def status_command(as_json: JsonOpt = False, env: EnvOpt = None) -> None:
    """Show the trading state and why.

    Also the orders awaiting an answer and the sets of legs not ended, with what each leg
    holds. Read-only: never creates the state file.

    Example: kalshi status --json
    """
    from kalshi_cli.services.orders.status import trading_status

    app, out = begin(env, as_json=as_json)
    status = trading_status(app.own_state())
    details = status.details()
    if not as_json and status.heartbeat_at is not None:  # people read dates, not epochs
        source = str(status.last_heartbeat).split(" at ", 1)[0]
        details["last_heartbeat"] = f"{source} at {local_time(status.heartbeat_at)}"
    if not as_json and status.loop_lag is not None:
        details["loop_lag"] = lag_text(status.loop_lag)
    if not as_json and status.loop_shards is not None:
        details["loop_shards"] = shards_text(status.loop_shards)
    render_state(out, status.state, status.reason, status.source, status.at, extra=details)
    for line in () if as_json else status_lines(status, details):
        out.line(line)
    for note in () if as_json else _status_notes(status):
        out.note(note)


def _status_notes(status: TradingStatus) -> list[str]:
    """What `kalshi status` asks of the trader on stderr: the orders of unknown outcome, the
    sets of legs a start unwinds, and those held to their settlement by design (nothing to do)."""
    notes = []
    if status.unknown_orders:
        notes.append(
            f"{len(status.unknown_orders)} order(s) of unknown outcome: run `kalshi reconcile`"
        )
    held = [s for s in status.sets_not_ended if s.held_to_settlement()]
    if unwound := len(status.sets_not_ended) - len(held):
        notes.append(
            f"{unwound} set(s) of legs not ended: a `kalshi trade` on their markets and "
            "subaccount unwinds them as it starts"
        )
    if held:
        notes.append(
            f"{len(held)} set(s) of legs holding a leg to its settlement by design: each ends "
            "as its market settles, nothing to do"
        )
    return notes


# ------------------------------------------------------------------------------------ reconcile


def reconcile_command(
    grace: Annotated[
        float,
        number_option(
            "--grace",
            "Leave an intent the exchange does not list for at least this many seconds after "
            "it was last written before calling it never placed. Never shorter than the time in "
            "which a request sent for it can still land (the exchange's signature window plus a "
            "margin, docs/orders.md).",
            min=0,
        ),
    ] = 0.0,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Bring orders, fills and settlements into the state file.

    Resolves orders of unknown outcome by looking them up, never by sending again, and copies
    orders, fills and settlements from the exchange. Idempotent: a second run changes nothing.
    Exits 10 while an order's outcome is still unknown.

    Example: kalshi reconcile --json
    """
    from kalshi_cli.cli._services import open_store, order_service, refuse_quarantined

    app, out = begin(env, as_json=as_json)
    with open_store(app) as store:
        report = order_service(app, store).reconcile(grace_s=grace)
    render_reconcile_report(out, report)
    if report.still_unknown:
        raise typer.Exit(int(ExitCode.OUTCOME_UNKNOWN))
    refuse_quarantined(app, out)


def render_reconcile_report(out: Output, report: ReconcileReport) -> None:
    if out.as_json:
        out.json(report.to_json())
        return
    lines = [
        ("resolved (found on the exchange)", report.resolved_unknown),
        ("never placed (marked rejected)", report.not_on_exchange),
        ("marked rejected but found on the exchange", report.found_after_rejection),
        ("orders updated", report.orders_updated),
        ("orders imported (placed elsewhere)", report.orders_imported),
    ]
    for label, items in lines:
        if items:
            out.line(f"{label}: {len(items)}")
    if report.fills_added:
        out.line(f"fills added: {report.fills_added}")
    if report.settlements_added:
        out.line(f"settlements added: {report.settlements_added}")
    if not report.changed:
        out.line("nothing changed: the state file matches the exchange")
    if report.still_unknown:
        out.line(f"still unknown: {len(report.still_unknown)} (run again later)")
