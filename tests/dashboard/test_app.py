"""The dashboard's Textual app, driven headless by Textual's pilot: each panel shows the prepared
state file; `k` with the typed word runs the kill switch against the simulator and shows PROVEN;
the exchange's panels say when it cannot be reached."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.cli.dashboard_app import ConfirmKill, DashboardApp, Wiring
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.dashboard.snapshot import OrderLine, PositionLine, RemoteSnapshot, Sources
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import NotFoundError
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.dashboard.prepared import NOW, SIZE, TICKER, drive, loop_sources, prepare, until
from tests.fakes import Swapped
from tests.runner.simproc import Book, client_for

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tests.conftest import SimHarness


def _unreachable_client() -> KalshiClient:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KalshiClient(
        api_base=f"http://127.0.0.1:{port}/trade-api/v2", key_id="k", private_key=key,
        max_attempts=1,
    )  # fmt: skip


def test_each_panel_shows_the_prepared_state_and_the_exchange_unreachable(tmp_path: Path) -> None:
    sources = loop_sources(tmp_path)
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    client = _unreachable_client()
    app = DashboardApp(Wiring(sources=sources, clock=clock, client=client))
    seen: dict[str, str] = {}

    async def look(pilot: Pilot[None]) -> None:
        for key in ("top", "trading", "health", "pnl", "positions", "orders", "fills",
                    "denials", "checks", "alerts"):  # fmt: skip
            seen[key] = " ".join(app.panel_text(key).split())  # wrapped lines joined

    with client:
        drive(app, look)
    assert "SIM" in seen["top"] and "REDUCING" in seen["top"]
    assert "PAPER" not in seen["top"]
    assert "2023-11-14 22:13:25 UTC" in seen["top"]
    assert "REDUCING" in seen["trading"]
    assert "daily loss limit reached" in seen["trading"]
    assert "CIRCUIT_BREAKER" in seen["trading"]
    assert "heartbeat 5.0s ago (4242 ticks)" in seen["health"]
    assert "loop feed 7.0s" in seen["health"]
    assert "$0.2545" in seen["pnl"]  # realized today
    assert "exchange not read" in seen["pnl"]
    for remote in ("positions", "orders"):
        assert "exchange unreachable" in seen[remote], seen[remote]
    assert "$0.38" in seen["fills"] and "-$0.02" in seen["fills"] and "$0.47" in seen["fills"]
    assert "POSITION_LIMIT x7" in seen["denials"]
    assert "STALE_FEED x1" in seen["denials"] and "no data for 12s" in seen["denials"]
    assert "heartbeat" in seen["checks"] and "OK" in seen["checks"]
    assert "exchange unreachable" in seen["checks"]
    assert "FEED CRITICAL" in seen["alerts"] and "sent" in seen["alerts"]


def test_pause_halt_filter_and_help_keys(tmp_path: Path) -> None:
    sources = loop_sources(tmp_path)
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    app = DashboardApp(Wiring(sources=sources, clock=clock))
    seen: list[str] = []

    async def keys(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        seen.append(app.panel_text("trading"))
        await pilot.press("p")
        await pilot.press("slash")
        await pilot.press(*"NOPE", "enter")
        seen.append(app.panel_text("fills"))
        await pilot.press("slash", "ctrl+u", "enter")
        await pilot.press("question_mark")
        seen.append(type(app.screen).__name__)
        await pilot.press("escape")
        await pilot.press("k")  # no client: said, nothing asked
        seen.append(app.panel_text("top"))
        await pilot.press("h")  # written on a worker: the panel shows it once it is
        await until(pilot, lambda: "HALTED" in app.panel_text("trading"), "HALTED")
        seen.append(app.panel_text("trading"))

    drive(app, keys)
    paused, filtered, help_screen, no_kill, halted = seen
    assert "PAUSED" in paused
    assert not (tmp_path / "trade.pause").exists()
    assert TICKER not in filtered
    assert help_screen == "HelpScreen"
    assert "kill switch needs the exchange" in no_kill
    assert "HALTED" in halted
    with Store.open(sources.state_path) as store:
        assert store.trading.trading_state().source == "kalshi dashboard"


def _account_client(sim: SimHarness) -> KalshiClient:
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    return KalshiClient(api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key)


def test_kill_switch_with_the_typed_word_proves_nothing_is_left(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    sources = loop_sources(tmp_path)
    with _account_client(sim) as client:
        book = Book(client, TICKER)
        for price in ("0.30", "0.31", "0.32"):
            book.order(BookSide.BID, price, "2", TimeInForce.GTC)
        assert len(list(client.orders.iter_orders(status="resting"))) == 3
        app = DashboardApp(Wiring(sources=sources, clock=SystemClock(), client=client))
        seen: list[str] = []

        async def kill(pilot: Pilot[None]) -> None:
            seen.append(app.panel_text("orders"))
            await pilot.press("k")
            await pilot.press(*"kill", "enter")  # the wrong word: nothing happens
            seen.append(app.panel_text("top"))
            await pilot.press("k")
            await pilot.press(*"KILL", "enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            seen.append(app.panel_text("kill"))
            seen.append(app.panel_text("trading"))

        drive(app, kill)
        left = list(client.orders.iter_orders(status="resting"))
    before, refused, proof, trading = seen
    assert before.count(TICKER) == 3
    assert "kill switch not run" in refused
    assert "PROVEN: no resting order left (every market" in proof
    assert "cancelled: 3 order(s), 6.00 contract(s)" in proof
    assert "HALTED" in trading
    assert left == []


def test_screenshot_at_160x40(tmp_path: Path) -> None:
    """The SVG kept in docs/dashboard.svg is this screen (scripts/dashboard_screenshot.py)."""
    from scripts.dashboard_screenshot import screenshot

    svg = screenshot(tmp_path)
    assert svg.startswith("<svg")
    for text in ("REDUCING", "CIRCUIT_BREAKER", "POSITION_LIMIT", "FEED&#160;CRITICAL"):
        assert text in svg, text


def test_no_clock_other_than_the_given_one_reads_the_local_panels(tmp_path: Path) -> None:
    sources = loop_sources(tmp_path)
    prepare(sources.state_path, tmp_path / "trade.log")
    clock = ManualClock(NOW + 65)
    app = DashboardApp(Wiring(sources=sources, clock=clock))
    seen: list[str] = []

    async def look(pilot: Pilot[None]) -> None:
        seen.append(app.panel_text("health"))

    drive(app, look)
    assert "heartbeat  65.0s ago" in seen[0]


def test_money_reads_as_every_other_table(tmp_path: Path) -> None:
    """Every dollar figure goes through `units.fmt_money`, as `kalshi positions`, `fills` and
    `pnl` show it: `$0.38`, `-$0.02`, never `+0.2545`; a panel with a sub-cent amount shows all
    of its amounts to $0.0001 (`-$1,234.5000` beside `$0.2545`), one with none to the cent."""
    sources = loop_sources(tmp_path)
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    app = DashboardApp(Wiring(sources=sources, clock=clock))
    remote = RemoteSnapshot(
        at=NOW,
        error=None,
        positions=(
            PositionLine(
                TICKER, "yes", D(3), D(136) / D(300), D("0.41"), D("-1234.5"), D(3), D(100)
            ),
        ),
        unrealized=D("-1234.5"),
        orders=(OrderLine("ord-2", TICKER, "no", "buy", D("0.305"), D(6), "", "spike"),),
    )
    seen: dict[str, str] = {}

    async def look(pilot: Pilot[None]) -> None:
        app._got_remote(remote)
        await pilot.pause()
        for key in ("pnl", "positions", "orders", "fills"):
            seen[key] = " ".join(app.panel_text(key).split())

    drive(app, look)
    pnl, positions, orders, fills = seen["pnl"], seen["positions"], seen["orders"], seen["fills"]
    assert "realized today $0.2545" in pnl
    assert "unrealized -$1,234.5000" in pnl
    assert "total -$1,234.2455" in pnl
    assert "$0.4533 $0.4100 -$1,234.5000" in positions
    assert "$0.3050" in orders
    assert "$0.38" in fills and "-$0.02" in fills and "$0.47" in fills
    assert "0.3800" not in fills and "0.4700" not in fills, fills
    for text in (pnl, positions, orders, fills):
        assert "+0." not in text, text


def test_an_answer_from_the_exchange_after_the_screen_closed_is_dropped(tmp_path: Path) -> None:
    """The exchange is asked on a worker thread; its answer can land while the app is closing
    (the person pressed q), when the panels are already gone: it is dropped, not a crash."""
    sources = loop_sources(tmp_path)
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    app = DashboardApp(Wiring(sources=sources, clock=clock))

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
        app._got_remote(RemoteSnapshot(at=NOW, error=None))

    asyncio.run(main())
    assert app.remote is not None and app.remote.error is None


def test_queue_position_per_resting_order_follows_the_exchange(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`ahead` is the contracts resting before each of our orders at its price, from
    `GET /portfolio/orders/queue_positions`, asked again at the orders panel's cadence."""
    sim.create_market(TICKER)
    other = client_for(sim.new_account())
    seller = client_for(sim.new_account())
    Book(other, TICKER).order(BookSide.BID, "0.30", "5", TimeInForce.GTC)  # first in line
    with _account_client(sim) as client:
        mine = Book(client, TICKER)
        mine.order(BookSide.BID, "0.30", "2", TimeInForce.GTC)  # behind the other's 5
        mine.order(BookSide.BID, "0.25", "1", TimeInForce.GTC)  # alone at its price
        wiring = Wiring(sources=loop_sources(tmp_path), clock=SystemClock(), client=client)
        wiring.remote_s = 0.1
        app = DashboardApp(wiring)
        rows: list[str] = []

        def ahead(first: str, second: str) -> Callable[[], bool]:
            def check() -> bool:
                text = app.panel_text("orders")
                found = [" ".join(r.split()) for r in text.splitlines() if TICKER in r]
                rows[:] = found
                return sorted(found) == [
                    f"{TICKER} yes buy $0.25 1.00 {second} -",
                    f"{TICKER} yes buy $0.30 2.00 {first} -",
                ]

            return check

        async def script(pilot: Pilot[None]) -> None:
            await until(pilot, ahead("5.00", "0.00"), "5 contracts ahead at 0.30")
            # 3 of the other's 5 trade away: ours moves up without being touched
            Book(seller, TICKER).order(BookSide.ASK, "0.30", "3", TimeInForce.IOC)
            await until(pilot, ahead("2.00", "0.00"), "2 contracts ahead after the trade")

        drive(app, script)
    other.close()
    seller.close()
    assert len(rows) == 2


class _ExchangeWithoutQueuePositions(OrdersApi):
    """An exchange that does not serve queue positions (404), as one on an older API."""

    def get_queue_positions(
        self,
        *,
        market_tickers: list[str] | None = None,
        event_ticker: str | None = None,
        subaccount: int | None = None,
    ) -> dict[str, D]:
        raise NotFoundError("queue positions: not found", status=404)


def test_an_unknown_queue_position_reads_question_mark(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market(TICKER)
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    client = Swapped(
        _ExchangeWithoutQueuePositions,
        api_base=sim.account.api_base,
        key_id=sim.account.key_id,
        private_key=key,
    )
    with client:
        Book(client, TICKER).order(BookSide.BID, "0.30", "2", TimeInForce.GTC)
        app = DashboardApp(
            Wiring(sources=loop_sources(tmp_path), clock=SystemClock(), client=client)
        )
        seen: list[str] = []

        async def look(pilot: Pilot[None]) -> None:
            seen.append(" ".join(app.panel_text("orders").split()))

        drive(app, look)
    (orders,) = seen
    assert f"{TICKER} yes buy $0.30 2.00 ? -" in orders
    assert "queue positions unknown: queue positions: not found" in orders


def _paper_screen(sources: Sources, clock: ManualClock) -> dict[str, str]:
    app = DashboardApp(Wiring(sources=sources, clock=clock))
    seen: dict[str, str] = {}

    async def look(pilot: Pilot[None]) -> None:
        seen["title"] = app.title
        seen["trading title"] = str(app.query_one("#trading").border_title)
        seen["orders title"] = str(app.query_one("#orders").border_title)
        seen["top"] = app.panel_text("top")
        await pilot.press("k")
        seen["after k"] = " ".join(app.panel_text("top").split())
        seen["screen after k"] = type(app.screen).__name__
        if isinstance(app.screen, ConfirmKill):
            seen["dialog paper"] = str(app.screen.paper)
            await pilot.press("escape")  # gone back: nothing run

    drive(app, look)
    return seen


def test_a_paper_loops_state_file_is_marked_paper(tmp_path: Path) -> None:
    """`kalshi trade --paper` writes `<state>.paper-<env>.db`: the screen says PAPER in its title,
    top line and trading panel, and the kill key asks for the paper loop's kill switch (which
    never touches the exchange: tests/dashboard/test_paper_kill.py)."""
    sources = replace(loop_sources(tmp_path), state_path=tmp_path / "state.paper-sim.db")
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    seen = _paper_screen(sources, clock)
    assert seen["title"] == "kalshi dashboard - PAPER"
    assert seen["top"].startswith(" PAPER  SIM ")
    assert "PAPER" in seen["trading title"]
    assert "not the paper loop's" in seen["orders title"]
    assert seen["screen after k"] == "ConfirmKill" and seen["dialog paper"] == "True"


def test_a_paper_loops_started_event_marks_it_paper_until_a_live_start(tmp_path: Path) -> None:
    sources = loop_sources(tmp_path)
    log = tmp_path / "trade.log"
    clock = prepare(sources.state_path, log)
    with log.open("a") as handle:
        handle.write('{"ts": "2023-11-14T22:13:00Z", "event": "started", "paper": true}\n')
    paper = _paper_screen(sources, clock)
    with log.open("a") as handle:
        handle.write('{"ts": "2023-11-14T22:13:10Z", "event": "started", "env": "sim"}\n')
    live = _paper_screen(sources, clock)
    assert paper["title"] == "kalshi dashboard - PAPER" and "PAPER" in paper["top"]
    assert live["title"] == "kalshi dashboard" and "PAPER" not in live["top"]
    assert live["trading title"] == "Trading state"
    assert "kill switch needs the exchange" in live["after k"]  # the live path, no client


def test_the_trading_panel_names_the_loops_subaccount_from_its_heartbeat(tmp_path: Path) -> None:
    """`kalshi trade --subaccount 1` writes `"subaccount": 1` in its heartbeat (as `kalshi status
    --json`'s `loop_subaccount` reads it): the trading panel says the loop is on subaccount 1,
    and a heartbeat that names none (a loop before --subaccount) says nothing of it."""
    sources = loop_sources(tmp_path)
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    seen: list[str] = []

    async def look(pilot: Pilot[None]) -> None:
        seen.append(" ".join(app.panel_text("trading").split()))

    app = DashboardApp(Wiring(sources=sources, clock=clock))
    drive(app, look)
    with Store.open(sources.state_path, clock=clock) as store:
        store.entries.heartbeat(
            source="trade", detail={"ticks": 4243, "state": "REDUCING", "subaccount": 1}
        )
    app = DashboardApp(Wiring(sources=sources, clock=clock))
    drive(app, look)
    before, after = seen
    assert "subaccount" not in before
    assert after.startswith("REDUCING loop on subaccount 1"), after


def test_the_trading_panel_names_the_strategy_file_a_loop_runs(tmp_path: Path) -> None:
    """A loop's heartbeat names its strategy and how it was chosen: a strategy of one's own
    shows with its file, a built-in by its name alone."""
    sources = loop_sources(tmp_path)
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    seen: list[str] = []

    async def look(pilot: Pilot[None]) -> None:
        seen.append(" ".join(app.panel_text("trading").split()))

    for name, spec in (("fair-value", "/srv/strategies/fair_value.py"), ("spike", "spike")):
        with Store.open(sources.state_path, clock=clock) as store:
            store.entries.heartbeat(
                source="trade",
                detail={"ticks": 7, "state": "ACTIVE", "subaccount": 0, "strategy": name,
                        "strategy_spec": spec},
            )  # fmt: skip
        app = DashboardApp(Wiring(sources=sources, clock=clock))
        drive(app, look)
    mine, built_in = seen
    assert "strategy fair-value (/srv/strategies/fair_value.py)" in mine, mine
    assert "strategy spike" in built_in and "(spike)" not in built_in, built_in
