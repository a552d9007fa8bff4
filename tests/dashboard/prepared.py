"""A state file and a trade log with something in every panel, for the dashboard's tests; the
sources a loop's dashboard reads (`loop_sources`), and the app driven at the pictured size
(`drive`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.dashboard.snapshot import Sources
from kalshi_cli.store import FillRecord, IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.waiting import POLL_S, wait_until_async

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from kalshi_cli.cli.dashboard_app import DashboardApp

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TICKER = "KXDASH-A"
SIZE = (120, 40)


def loop_sources(tmp_path: Path) -> Sources:
    """What the dashboard of a live loop reads: its state file, pause file and log in
    `tmp_path`, the limit on exposure $100."""
    return Sources(
        state_path=tmp_path / "state.db",
        env="sim",
        pause_file=tmp_path / "trade.pause",
        log_path=tmp_path / "trade.log",
        limit=D(100),
    )


def drive(
    app: DashboardApp, script: Callable[[Pilot[None]], Awaitable[None]], *, settled: bool = True
) -> None:
    """`script` run against `app` at SIZE; `settled`: once its first reads are done."""

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            if settled:
                await app.workers.wait_for_complete()
                await pilot.pause()
            await script(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds; fail saying the dashboard never showed `what`."""
    await wait_until_async(
        condition, f"the dashboard to show {what}", between=lambda: pilot.pause(POLL_S)
    )


def prepare(state: Path, log: Path) -> ManualClock:
    """Returns the clock the state was written with, moved to NOW + 5 s."""
    clock = ManualClock(NOW - 600)
    with Store.open(state, clock=clock) as store:
        store.orders.record_intent(
            IntentRecord(
                "coid-1", TICKER, BookSide.BID, D("0.40"), D(10), Side.YES, Action.BUY,
                strategy="spike", model_fair=D("0.47"),
            )
        )  # fmt: skip
        store.orders.mark_sent(
            "coid-1", order_id="ord-1", status="executed", fill_count=D(10), remaining_count=D(0)
        )
        store.fills.record_fill(
            FillRecord(
                "fill-1", "ord-1", "coid-1", TICKER, BookSide.BID, D("0.38"), D(10), D("0.0168"),
                True, NOW - 300, strategy="spike", realized_pnl=D("-0.0168"),
            )
        )  # fmt: skip
        store.fills.record_fill(
            FillRecord(
                "fill-2", "ord-9", None, TICKER, BookSide.ASK, D("0.45"), D(4), D("0.0087"),
                True, NOW - 120, realized_pnl=D("0.2713"),
            )
        )  # fmt: skip
        store.trading.record_risk_trip(
            rule="circuit_breaker", code="CIRCUIT_BREAKER", detail="lost $50.00 today"
        )
        store.trading.set_trading_state(
            "REDUCING", reason="daily loss limit reached", source="risk"
        )
        store.alerts.record_alert(
            "check:feed", status="CRITICAL", severity="critical",
            summary="FEED CRITICAL - last market-data message 3.0min ago", sent=True,
        )  # fmt: skip
        clock.advance(600)
        store.entries.heartbeat(source="trade", detail={"ticks": 4242, "state": "REDUCING"})
        store.entries.set_kv("feed.last_message_at", f"{NOW - 2:.3f}")
    lines = [
        {"ts": "2023-11-14T22:10:00Z", "event": "signal", "ticker": TICKER},
        {"ts": "2023-11-14T22:11:00Z", "event": "risk_denied", "code": "POSITION_LIMIT",
         "ticker": TICKER, "detail": "would hold 120 > 100"},
        {"ts": "2023-11-14T22:12:00Z", "event": "risk_denied_summary", "code": "POSITION_LIMIT",
         "ticker": TICKER, "count": 6, "interval_s": 60},
        {"ts": "2023-11-14T22:12:30Z", "event": "risk_denied", "code": "STALE_FEED",
         "ticker": TICKER, "detail": "no data for 12s"},
    ]  # fmt: skip
    log.write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")
    clock.advance(5)
    return clock
