"""A `kalshi trade` loop run under the process's signals: SIGTERM and SIGINT stop the loop (a
second one gives the stop up), SIGUSR1 pauses or resumes new orders, SIGHUP reads the params file
again; a crash still cancels the loop's resting orders; the state file pruned beside the run."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from kalshi_cli.runner.loop.state_fault import stop_on_state_failure
from kalshi_cli.store.errors import is_state_failure
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.process import Handler, signal_handlers

if TYPE_CHECKING:
    from kalshi_cli.runner.config import TradeOptions
    from kalshi_cli.runner.loop.summary import Summary
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.store import RetentionPolicy


@contextmanager
def reload_signal() -> Iterator[threading.Event]:
    """SIGHUP sets the event this yields, from now on: a `systemctl reload` while the loop is
    still starting is kept for its first tick instead of ending the process (SIGHUP's default).
    Only in the main thread."""
    requested = threading.Event()
    with signal_handlers({signal.SIGHUP: lambda *_: requested.set()}):
        yield requested


@contextmanager
def signals(
    stop: threading.Event,
    on_pause: Callable[[], None],
    *,
    abandon: threading.Event | None = None,
    on_reload: Callable[[], None] | None = None,
) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop`, and a second one while stopping sets `abandon`; SIGUSR1
    toggles the pause; SIGHUP calls `on_reload` (the loop reads its params file again at its
    next tick). Only in the main thread."""

    def on_stop(*_: object) -> None:
        if stop.is_set() and abandon is not None:
            abandon.set()
        stop.set()

    handlers: dict[signal.Signals, Handler] = {
        signal.SIGTERM: on_stop,
        signal.SIGINT: on_stop,
        signal.SIGUSR1: lambda *_: on_pause(),
    }
    if on_reload is not None:
        handlers[signal.SIGHUP] = lambda *_: on_reload()
    with signal_handlers(handlers):
        yield


def run(
    loop: TradeLoop,
    options: TradeOptions,
    *,
    stop: threading.Event | None = None,
    abandon: threading.Event | None = None,
    fresh_timeout_s: float = 15.0,
    retention: RetentionPolicy | None = None,
    agent_strategy: str = AGENT,
) -> Summary:
    """Run the loop as the options say and return the final summary (also on SIGTERM). A crash
    inside the loop still cancels its resting orders before it propagates. With `retention`, the
    state file is pruned in the background, keeping `agent_strategy`'s orders of the day. SIGINT
    and SIGTERM set `stop`, a second one `abandon` (`signals`)."""
    with _pruning(loop, options, retention, agent_strategy):
        return _run(loop, options, stop=stop, abandon=abandon, fresh_timeout_s=fresh_timeout_s)


@contextmanager
def _pruning(
    loop: TradeLoop, options: TradeOptions, policy: RetentionPolicy | None, agent_strategy: str
) -> Iterator[None]:
    """The background prune beside a loop that runs on (not `--once`, not a dry run, which
    leaves the state file as it found it); its last problem, if any, logged at the end."""
    if policy is None or not policy.in_loop or options.once or options.dry_run:
        yield
        return
    from kalshi_cli.runner.lifecycle.state_prune import BackgroundPrune

    pruner = BackgroundPrune(
        loop.stop.store.path, policy, loop.clock, agent_strategy=agent_strategy
    ).start()
    try:
        yield
    finally:
        pruner.close()
        if pruner.problem is not None:
            loop.log.emit("state_prune_failed", {"error": pruner.problem})


def _run(
    loop: TradeLoop,
    options: TradeOptions,
    *,
    stop: threading.Event | None,
    abandon: threading.Event | None,
    fresh_timeout_s: float,
) -> Summary:
    stop = stop or threading.Event()
    abandon = abandon or threading.Event()
    cancel_resting = not options.once
    alerts = loop.stop.alerts
    if alerts is not None:
        alerts.beat("start", loop.heartbeat.text("starting"))
    loop.feed.start()
    try:
        with signals(
            stop, loop.gate.toggle_pause, abandon=abandon, on_reload=loop.reloads.requested.set
        ):
            try:
                if options.once:
                    _wait_fresh(loop, stop, fresh_timeout_s)
                    loop.tick(loop.feed.drain_messages(), full=True)
                else:
                    loop.run(stop=stop, duration_s=options.duration_s, max_ticks=options.max_ticks)
            except Exception as exc:
                if is_state_failure(exc):
                    # no order without its intent on disk: stop, and withdraw without writing
                    raise stop_on_state_failure(loop, exc, abandon) from exc
                loop.log.emit("crashed", {"error": repr(exc)})
                if alerts is not None:
                    alerts.beat("fail", loop.heartbeat.text(f"crashed: {exc!r}"))
                try:
                    loop.stop.shutdown(cancel_resting=cancel_resting, abandon=abandon)
                except Exception as again:
                    # what a stop that ran to its end met is logged where it was met, and its
                    # `stop_proven` or `stop_not_proven` says what it left: only a stop that
                    # ended early failed
                    if again is not loop.stop.failed:
                        loop.log.emit("shutdown_failed", {"error": repr(again)})
                raise
            try:
                summary = loop.stop.shutdown(cancel_resting=cancel_resting, abandon=abandon)
            except Exception as exc:
                if not is_state_failure(exc):
                    raise
                raise stop_on_state_failure(loop, exc, abandon) from exc
            if alerts is not None:
                alerts.beat("", loop.heartbeat.text("stopped"))
            return summary
    finally:
        loop.feed.stop()


def _wait_fresh(loop: TradeLoop, stop: threading.Event, timeout_s: float) -> None:
    """`--once`: wait until every market's book is fresh and none waits for a call (on a feed
    that follows the account's orders, their resting orders read again once it does: ticks
    that decide nothing meanwhile, runner/loop/orders_read_again.py)."""
    deadline = loop.clock.monotonic() + timeout_s
    tickers = list(loop.portfolio.markets)
    while not stop.is_set() and loop.clock.monotonic() < deadline:
        waiting = any(loop.dispatch.busy(t) for t in tickers)
        if not waiting and all(loop.feed.is_fresh(t) for t in tickers):
            return
        if waiting:
            loop.tick(loop.feed.drain_messages(), full=False)
        loop.clock.sleep(0.05)
