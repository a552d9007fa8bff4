"""The dashboard's own WebSocket feed, end to end: `kalshi dashboard`'s wiring (credentials and
addresses from the environment, as the command reads them) against a running simulator, driven
by Textual's pilot. A book change made on the simulator by another account reaches the feed
panel's best bid and ask; a fill of our resting order reaches the orders and positions panels.
Every wait is on a condition with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.dashboard import build_wiring
from kalshi_cli.cli.dashboard_app import DashboardApp
from kalshi_cli.feed import MessageKind
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.dashboard.prepared import until
from tests.runner.simproc import Book, client_for

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tests.conftest import SimHarness

TICKER = "KXFEED-A"


def _environ(sim: SimHarness, home: Path) -> dict[str, str]:
    return {
        "KALSHI_HOME": str(home),
        "KALSHI_ENV": "sim",
        "KALSHI_API_BASE": sim.account.api_base,
        "KALSHI_WS_URL": sim.account.ws_url,
        "KALSHI_API_KEY_ID": sim.account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
    }


def test_a_book_change_and_a_fill_on_the_simulator_reach_the_dashboard(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    context = AppContext(environ=_environ(sim, tmp_path))
    wiring, feed = build_wiring(context, None)
    assert feed is not None and wiring.client is not None
    wiring.refresh_s, wiring.remote_s = 0.1, 0.1
    Store.open(wiring.sources.state_path).close()
    other = client_for(sim.new_account())
    Book(wiring.client, TICKER).order(BookSide.BID, "0.30", "6", TimeInForce.GTC)  # ours, rests
    app = DashboardApp(wiring)
    seen: dict[str, str] = {}

    def shows(panel: str, *texts: str) -> Callable[[], bool]:
        def check() -> bool:
            seen[panel] = " ".join(app.panel_text(panel).split())
            return all(t in seen[panel] for t in texts)

        return check

    async def script(pilot: Pilot[None]) -> None:
        # the dashboard finds our order, subscribes its market, and the feed's book has our bid
        await until(pilot, shows("health", TICKER, "$0.30", "fresh"), "our bid in the feed")
        assert " - " in seen["health"]  # no ask yet
        # a book change by another account: an ask at 0.62
        Book(other, TICKER).order(BookSide.ASK, "0.62", "3", TimeInForce.GTC)
        await until(pilot, shows("health", "$0.30", "$0.62", "fresh"), "the new ask")
        # a fill: the other account sells 2 into our bid
        Book(other, TICKER).order(BookSide.ASK, "0.30", "2", TimeInForce.IOC)
        await until(pilot, shows("orders", TICKER, "4.00"), "our order's 4 contracts left")
        await until(pilot, shows("positions", TICKER, "yes", "2.00"), "the 2 contracts held")
        # a bid that betters ours moves the feed's best bid
        Book(other, TICKER).order(BookSide.BID, "0.35", "1", TimeInForce.GTC)
        await until(pilot, shows("health", "$0.35", "$0.62"), "the better bid")

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await script(pilot)

    feed.start()
    try:
        with wiring.client:
            asyncio.run(main())
        # it reads books alone and never drains: the order updates, fills and tickers it was
        # sent are not held for the dashboard's whole run (only the count of them dropped)
        assert [m.kind for m in feed.drain_messages()] == [MessageKind.GAP]
    finally:
        feed.stop()
        other.close()
    assert "$0.30" in seen["orders"]
    assert seen["health"].index("$0.35") < seen["health"].index("$0.62")  # bid, then ask
