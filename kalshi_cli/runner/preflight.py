"""The refusals before anything is sent: a `kalshi trade` start refused on its flags, on the API
key's subaccount, on a reconcile that fails or leaves an order of unknown outcome, and on
positions rebuilt from the state file (`rebuild`) that differ from the exchange's
(`check_positions`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
from kalshi_cli.runner.loop.settings import CLIENT_RETRY_BUDGET_S
from kalshi_cli.runner.loop.state_fault import MAKE_WRITABLE
from kalshi_cli.runner.ports import LoopBuildClient
from kalshi_cli.services.pretrade.books import book_resting, replay
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.store.errors import is_state_failure
from kalshi_cli.vocabulary.errors import KalshiError, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import FeeModelError
from kalshi_cli.vocabulary.owners import NOT_STRATEGIES

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.services.orders.context import OrderClient
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock


class StartupRefused(KalshiError):
    """The loop will not trade: reconciliation failed or the books do not agree. A local check
    refused to start, nothing changed (REJECTED), unless a failure underneath has its own code
    (the exchange unreachable: 7, the key refused: 5...), which it keeps."""

    exit_code = ExitCode.REJECTED

    def __init__(
        self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None
    ) -> None:
        """`exit_code`: the code of the failure underneath, which the refusal keeps."""
        super().__init__(message, hint=hint)
        if exit_code is not None:
            self.exit_code = exit_code


def fees_refused(exc: FeeModelError) -> StartupRefused:
    """The refusal of a start on fees that cannot be priced (`exc` names the market or the
    series): a loop, paper or live, never trades on a fee it made up."""
    return StartupRefused(
        f"cannot price the fees of {exc}; not trading",
        hint="leave that market out of the selection",
    )


def check_live(env: str, options: TradeOptions) -> None:
    if env == "prod" and not options.live and not options.dry_run and not options.paper:
        raise UsageError(
            "kalshi trade on prod places real orders and needs --live",
            hint="add --live to trade real money, or --dry-run to only watch",
        )


def check_start(env: str, options: TradeOptions, config: TradeConfig) -> Selection:
    """The refusals that need no exchange (prod without `--live`, prod with no selection), and
    the selection in force: the flags', else the config's `trade:` section's."""
    check_live(env, options)
    _check_not_the_assistants(options, config)
    selection = options.selection if options.selection.given else config.selection()
    if env == "prod" and not selection.given:
        raise UsageError(
            "kalshi trade on prod with no --markets, --series or --event would trade every "
            "open market of the exchange (thousands); not starting",
            hint="choose with --markets T1,T2, --series SERIES or --event EVENT "
            "(or trade.markets / trade.series / trade.event in the config)",
        )
    return selection


def _check_not_the_assistants(options: TradeOptions, config: TradeConfig) -> None:
    """A strategy of the loop may not carry the name `kalshi mcp` places its orders under
    (`agent.strategy`): the loop would own the assistant's orders, withdraw them at its stop
    and count their fills as its strategy's part."""
    from kalshi_cli.vocabulary.order_terms import owner_spelling

    agent = owner_spelling(config.agent_strategy)
    for choice in options.strategies:
        name = choice.strategy.name if choice.strategy is not None else choice.spec
        if owner_spelling(name) == agent:
            raise UsageError(
                f"the strategy {name} carries the name the assistant places its orders under "
                f"(agent.strategy: {config.agent_strategy}); the loop would own them",
                hint="set agent.strategy in the config to a name no strategy of yours has",
            )


def reconcile(
    client: OrderClient,
    store: Store,
    clock: Clock,
    read_lag_s: float = DEFAULT_READ_LAG_S,
    *,
    waiting: Callable[[int, float], None] | None = None,
    stop: StartStop | None = None,
) -> Any:
    """The start's reconcile. An order of unknown outcome (or an amend) left by a process
    killed while it was out may still land for a while (the signature window and a read lag):
    the start waits that long once, told to `waiting` (how many, the seconds), and reconciles
    again, by which time each is found or known never placed. Refused (exit 10) only if one
    is still unknown then: a start refused at once, again and again, would exhaust a
    service manager's restarts (5 in 10 minutes for the shipped unit) within the window.
    A `stop` set during that wait (SIGTERM, SIGINT) ends it: the resting orders of the run's
    strategies the state file knows are cancelled, and `StoppedWhileStarting` says so."""
    from kalshi_cli.services.orders.place import OrderService
    from kalshi_cli.services.reconcile import landing_wait_s

    service = OrderService(client, store, clock=clock, read_lag_s=read_lag_s)
    report = _reconciled(service)
    if report.still_unknown:
        wait = landing_wait_s(read_lag_s)
        if waiting is not None:
            waiting(len(report.still_unknown), wait)
        if stop is None:
            clock.sleep(wait)
        elif _stopped_within(stop.event, clock, wait):
            raise _stopped_while_starting(service, store, stop)
        report = _reconciled(service)
    if report.still_unknown:
        raise StartupRefused(
            f"{len(report.still_unknown)} order(s) of unknown outcome remain after "
            "reconciliation; not trading",
            hint="run `kalshi reconcile` until none is left",
            exit_code=ExitCode.OUTCOME_UNKNOWN,
        )
    return report


@dataclass(frozen=True)
class StartStop:
    """What ends a start's settling wait: the run's stop event (set by SIGTERM and SIGINT,
    `running.signals`), the strategies whose resting orders it then cancels, and the
    subaccount they trade on."""

    event: threading.Event
    strategies: frozenset[str]
    subaccount: int = 0


class StoppedWhileStarting(KalshiError):
    """A stop came while the start waited for orders of unknown outcome to settle: no loop ran;
    what the run's strategies had resting (an earlier run's quotes) was cancelled."""

    exit_code = ExitCode.OUTCOME_UNKNOWN


# how often a start's settling wait looks at the stop event (a fraction of any stop deadline)
SETTLE_POLL_S = 0.1


def _stopped_within(stop: threading.Event, clock: Clock, wait_s: float) -> bool:
    """Wait `wait_s` on `clock`, or less if `stop` is set meanwhile (then True)."""
    end = clock.monotonic() + wait_s
    while not stop.is_set() and (left := end - clock.monotonic()) > 0:
        clock.sleep(min(left, SETTLE_POLL_S))
    return stop.is_set()


def _stopped_while_starting(service: Any, store: Store, stop: StartStop) -> StoppedWhileStarting:
    """Cancel the resting orders of the run's strategies the state file knows, by the rule of
    every cancel of many (`OrderCancels.cancel_each`: one failed cancel does not stop the
    others; once the state file fails, the rest go on without it, named not recorded), and the
    error saying what was done. The start's reads retry within the default budget, but a
    SIGTERM waits on these cancels, as on the loop's stop: each retries within the loop's
    (`CLIENT_RETRY_BUDGET_S`)."""
    from kalshi_cli.client.retry import retry_budget

    resting = [
        (intent.order_id, intent.ticker, None)
        for intent in store.orders.open_orders(subaccount=stop.subaccount)
        if intent.status == "resting"
        and intent.strategy in stop.strategies
        and intent.order_id is not None
    ]
    said = "stopped while the start waited for orders of unknown outcome to settle; no loop ran; "
    hint = "run `kalshi reconcile` (or start again) to settle the orders of unknown outcome"
    try:
        with retry_budget(CLIENT_RETRY_BUDGET_S):
            done = service.cancels.cancel_each(resting)
    except KalshiError as exc:  # a refused key: every cancel would be refused
        return StoppedWhileStarting(f"{said}its cancels ended: {exc.message}", hint=hint)
    failed = [f"{order_id}: {exc.message}" for order_id, exc in done.failed.items()]
    fault = done.state_fault
    return StoppedWhileStarting(
        f"{said}{len(done.cancelled)} resting order(s) of its strategies cancelled"
        + (f", {len(failed)} not: {'; '.join(failed)}" if failed else "")
        + (
            f"; {len(done.not_recorded)} not recorded ({', '.join(done.not_recorded)}): "
            f"{fault.message}"
            if fault is not None and done.not_recorded
            else ""
        ),
        hint=hint,
    )


def _reconciled(service: Any) -> Any:
    try:
        return service.reconcile()
    except KalshiError as exc:
        state_failed = is_state_failure(exc)
        raise StartupRefused(
            f"reconciliation with the exchange failed: {exc.message}; not trading",
            hint=f"make the state file writable again ({MAKE_WRITABLE}), then start again"
            if state_failed
            else "check the connection (`kalshi health-check`), then start again",
            # an unreachable exchange exits 7, as everywhere; a state file that fails, 21
            exit_code=ExitCode.STATE_WRITE_FAILED if state_failed else exc.exit_code,
        ) from exc


def rebuild(
    store: Store, portfolio: Portfolio, subaccount: int = 0, ticker: str | None = None
) -> list[Any]:
    """Replay every fill and settlement of the loop's subaccount's book (`replay`, as the
    assistant's books are replayed), then the orders the state file holds resting in the loop's
    markets (`book_resting`, as a market that joins has its booked). `ticker`: that market's
    alone. Returns the fill records."""
    fills = replay(store, portfolio, subaccount, ticker)
    book_resting(store, portfolio, subaccount, ticker)
    return fills


def resting_unmanaged(store: Store, loop: TradeLoop, log: EntryLog, assistant: str) -> list[str]:
    """The start-up lines (and events) for an earlier run's quotes that nobody manages: those of
    the loop's strategies resting in markets this run does not trade (`resting_elsewhere`: the
    stop names them as not proven gone, runner/loop/stop.py, but in a market taken on for its
    exits, which withdraws them: runner/loop/held_markets.py), and those of a strategy this
    run does not run, in any market (`resting_not_run`: not the loop's to cancel, so its stop
    leaves them). A person's orders and the assistant's (`assistant`) have managers of their
    own."""
    here = loop.stop.client.subaccount or 0
    names = loop.reloads.lineup.names
    found: dict[str, list[str]] = {}
    unrun: dict[str, list[str]] = {}
    for intent in store.orders.open_orders(subaccount=here):
        strategy = intent.strategy or ""
        if intent.status != "resting":
            continue
        if strategy in names and intent.ticker not in loop.portfolio.markets:
            found.setdefault(strategy, []).append(intent.ticker)
        elif strategy and strategy not in names and strategy not in (*NOT_STRATEGIES, assistant):
            unrun.setdefault(strategy, []).append(intent.ticker)
    lines = []
    for kind, by_strategy in (("resting_elsewhere", found), ("resting_not_run", unrun)):
        for strategy, tickers in sorted(by_strategy.items()):
            n, where = len(tickers), ", ".join(sorted(set(tickers)))
            lines.append(
                _UNMANAGED[kind].format(n=n, s="" if n == 1 else "s", name=strategy, where=where)
            )
            log.emit(kind, {"strategy": strategy, "orders": n, "tickers": where})
    return lines


def held_exits_only(loop: TradeLoop, log: EntryLog) -> list[str]:
    """The start-up line (and event, `held_exits_only`) naming each position held in a market
    this run does not trade (`held_untraded`: closed before the start, or left out of the
    selection): the loop takes such a market on for its exits alone, its stop-loss and nothing a
    strategy decides (runner/loop/held_markets.py; docs/risk.md "Stop-loss floor")."""
    from kalshi_cli.runner.loop.lifecycle_watch import held_untraded

    markets = loop.portfolio.pnl.markets
    held = []
    for ticker in sorted(held_untraded(loop.portfolio)):
        position = markets[ticker].position
        held.append(f"{ticker} {'yes' if position > 0 else 'no'} {abs(position).normalize():f}")
    if not held:
        return []
    n, where = len(held), ", ".join(held)
    log.emit("held_exits_only", {"positions": where})
    return [
        f"exits only      {n} position{'' if n == 1 else 's'} held in "
        f"{'a market' if n == 1 else 'markets'} this run does not trade: {where} (guarded by "
        "its stop-loss alone, no strategy trades there; `kalshi positions` shows them)"
    ]


_UNMANAGED = {
    "resting_elsewhere": "elsewhere       {n} resting order{s} of {name} in markets this run does "
    "not trade: {where} (not managed; the stop names them; `kalshi cancel-all --ticker T` "
    "withdraws them)",
    "resting_not_run": "not run         {n} resting order{s} of {name}, which this run does not "
    "run, in {where} (not managed, and the stop leaves them; run {name} again, or withdraw each "
    "with `kalshi order cancel ID`)",
}


def check_subaccount(client: KalshiClient, number: int) -> None:
    """`--subaccount N` names a subaccount the account has (0 always is), or nothing starts:
    the exchange lists no orders of one it does not have and refuses every order to it."""
    from kalshi_cli.client.subaccounts import has_subaccount, no_subaccount

    try:
        held = has_subaccount(number, client.subaccounts.subaccount_balances)
    except KalshiError as exc:
        raise StartupRefused(
            f"could not list the account's subaccounts: {exc.message}; not trading",
            hint="check the connection (`kalshi health-check`), then start again",
            exit_code=exc.exit_code,
        ) from exc
    if not held:
        missing = no_subaccount(number)
        raise StartupRefused(f"{missing.message}; not trading", hint=missing.hint)


def key_subaccount(client: KalshiClient, options: TradeOptions) -> tuple[int | None] | None:
    """The subaccount the loop's API key is restricted to, asked once at start when no
    `--subaccount` names one (`own_subaccount`): (N,), (0,) for an unrestricted key, (None,) when
    it cannot be told; None when not asked (a paper session). An exchange that could not answer
    refuses the start. A restricted key's orders and reads are its subaccount's, so the loop
    books there."""
    from kalshi_cli.services.pretrade.holdings import order_subaccount

    if options.subaccount is not None or options.paper:
        return None
    try:
        return (order_subaccount(client, strict=True),)
    except KalshiError as exc:  # unreachable, 5xx or 429 after the retries: nothing sent
        raise StartupRefused(
            f"asking the exchange which subaccount this API key trades on failed: "
            f"{exc.message}; not trading",
            hint="check the connection (`kalshi health-check`), then start again",
            exit_code=exc.exit_code,  # an unreachable exchange exits 7, as everywhere
        ) from exc


def trade_on_the_keys_subaccount(client: KalshiClient, number: int | None, log: EntryLog) -> None:
    """A key restricted to N trades exactly as `--subaccount N` (set before the reconcile, as
    that option is); an unrestricted key as before. One whose restriction cannot be told does
    not trade: on a guessed book the loop could pass over its own fills and position (and so
    count less than it holds), and the exchange would refuse every read of another."""
    log.emit("key_subaccount", {"subaccount": number})
    if number is None:
        raise StartupRefused(
            "cannot tell which subaccount this API key trades on (GET /api_keys did not say "
            "its restriction); not trading",
            hint="--subaccount N names it (0: the primary); `kalshi key list` shows each "
            "key's subaccount",
        )
    if number:
        client.subaccount = number


def check_positions(client: LoopBuildClient, portfolio: Portfolio) -> None:
    exchange = {p.ticker: p.position for p in client.portfolio.get_positions() if p.position != 0}
    ours = {m.ticker: m.position for m in portfolio.open_positions()}
    differ = sorted(t for t in set(exchange) | set(ours) if exchange.get(t, 0) != ours.get(t, 0))
    if differ:
        t = differ[0]
        raise StartupRefused(
            f"positions differ from the exchange's in {len(differ)} market(s), e.g. {t}: "
            f"state file {ours.get(t, 0)}, exchange {exchange.get(t, 0)}; not trading",
            hint="run `kalshi reconcile`; if that does not settle it, follow "
            "runbooks/08-restart-after-crash.md",
        )
