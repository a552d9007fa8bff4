"""The dashboard's data, without a terminal: every panel's values from a prepared state file and
trade log, the exchange's panels from the simulator, and what each says when a source is gone."""

from __future__ import annotations

import math
import socket
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.dashboard import actions
from kalshi_cli.dashboard.snapshot import Sources, local_snapshot, remote_snapshot
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.dashboard.prepared import NOW, TICKER, prepare
from tests.runner.simproc import Book, client_for

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def sources(tmp_path: Path, **kw: Any) -> Sources:
    return Sources(
        state_path=tmp_path / "state.db",
        pause_file=tmp_path / "trade.pause",
        log_path=tmp_path / "trade.log",
        **kw,
    )


def test_every_local_panel_shows_the_state_file(tmp_path: Path) -> None:
    src = sources(tmp_path)
    assert src.log_path is not None
    clock = prepare(src.state_path, src.log_path)
    snap = local_snapshot(src, clock)
    assert snap.error is None
    assert (snap.trading.state, snap.trading.reason) == ("REDUCING", "daily loss limit reached")
    assert not snap.trading.paused
    assert [(t.code, t.detail) for t in snap.trading.trips] == [
        ("CIRCUIT_BREAKER", "lost $50.00 today")
    ]
    assert snap.health.heartbeat_age == 5.0
    assert snap.health.ticks == 4242
    assert snap.health.loop_feed_age == 7.0
    assert snap.pnl.realized_today == D("-0.0168") + D("0.2713")
    assert [v for _, v in snap.pnl.series] == [D("-0.0168"), D("0.2545")]
    newest, oldest = snap.fills
    assert (oldest.ticker, oldest.side, oldest.action, oldest.price) == (
        TICKER,
        "yes",
        "buy",
        D("0.38"),
    )
    assert oldest.slippage == D("-0.02")  # limit 0.40, filled 0.38
    assert oldest.model_fair == D("0.47")
    assert oldest.strategy == "spike"
    assert newest.slippage is None and newest.model_fair is None  # placed by hand
    assert [(d.code, d.count) for d in snap.denials] == [("POSITION_LIMIT", 7), ("STALE_FEED", 1)]
    assert snap.denials[1].last_detail == "no data for 12s"
    checks = {c.name: c.status for c in snap.checks}
    assert checks == {"heartbeat": "OK", "feed": "OK", "orders": "OK", "pnl": "OK"}
    assert [(a.fingerprint, a.status, a.sent) for a in snap.alerts] == [
        ("check:feed", "CRITICAL", True)
    ]


def test_the_pause_file_and_halt_keys(tmp_path: Path) -> None:
    src = sources(tmp_path)
    assert src.log_path is not None
    clock = prepare(src.state_path, src.log_path)
    assert src.pause_file is not None
    assert actions.toggle_pause(src.pause_file) is True
    assert local_snapshot(src, clock).trading.paused
    assert actions.toggle_pause(src.pause_file) is False
    assert not src.pause_file.exists()
    actions.halt(src.state_path)
    trading = local_snapshot(src, clock).trading
    assert (trading.state, trading.source) == ("HALTED", "kalshi dashboard")


def test_no_state_file_is_said_and_never_created(tmp_path: Path) -> None:
    src = sources(tmp_path)
    snap = local_snapshot(src, ManualClock(NOW))
    assert snap.error == f"no state file at {src.state_path}"
    assert snap.denials_note == f"no trade log at {src.log_path}"
    assert {c.name: c.status for c in snap.checks}["heartbeat"] == "CRITICAL"
    assert not src.state_path.exists()


def test_without_a_client_the_remote_panels_say_why(tmp_path: Path) -> None:
    snap = remote_snapshot(sources(tmp_path), None, ManualClock(NOW))
    assert snap.error == "no API key: the exchange's panels need credentials"
    assert snap.positions == () and snap.orders == ()


def test_an_unreachable_exchange_is_said_in_the_remote_panels(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = KalshiClient(
        api_base=f"http://127.0.0.1:{port}/trade-api/v2", key_id="k", private_key=key,
        max_attempts=1,
    )  # fmt: skip
    with client:
        snap = remote_snapshot(sources(tmp_path), client, ManualClock(NOW))
    assert snap.error is not None
    assert snap.error.startswith("exchange unreachable: ")
    assert f"127.0.0.1:{port}" in snap.error


def _account_client(sim: SimHarness) -> KalshiClient:
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    return KalshiClient(api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key)


def test_positions_and_resting_orders_from_the_exchange(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market(TICKER)
    maker = client_for(sim.new_account())
    Book(maker, TICKER).order(BookSide.ASK, "0.45", "10", TimeInForce.GTC)
    with _account_client(sim) as client:
        me = Book(client, TICKER)
        me.order(BookSide.BID, "0.45", "4", TimeInForce.GTC)  # takes 4 YES at 0.45
        me.order(BookSide.BID, "0.30", "6", TimeInForce.GTC)  # rests
        Book(maker, TICKER).order(BookSide.BID, "0.41", "5", TimeInForce.GTC)  # the mark
        src = sources(tmp_path, limit=D(20))
        Store.open(src.state_path).close()
        from kalshi_cli.services.orders.place import OrderService

        with Store.open(src.state_path) as store:
            OrderService(client, store, clock=SystemClock()).reconcile()
        snap = remote_snapshot(src, client, SystemClock())
    maker.close()
    assert snap.error is None
    (position,) = snap.positions
    assert (position.ticker, position.side, position.contracts) == (TICKER, "yes", D(4))
    assert position.entry == D("0.45")
    assert position.mark == D("0.41")
    assert position.unrealized == D("-0.16")
    assert position.exposure == D(10)  # 4 held + 6 resting to buy
    assert position.limit_use == D("0.5")
    (order,) = snap.orders
    assert (order.ticker, order.action, order.price, order.remaining) == (
        TICKER, "buy", D("0.30"), D(6)
    )  # fmt: skip
    assert {c.name for c in snap.checks} == {"positions", "exposure", "api", "exchange", "balance"}
    assert snap.unrealized == D("-0.16")


def test_the_command_reads_the_loops_paths_and_limits_from_the_config(tmp_path: Path) -> None:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.dashboard import load_sources

    config = tmp_path / "config.yaml"
    config.write_text(
        "trade:\n  pause_file: /run/kalshi/pause\n  log_file: /var/log/kalshi/trade.log\n"
        "risk:\n  max_position_per_market: 40\n"
        "checks:\n  heartbeat:\n    warn: 10\n    crit: 20\n"
    )
    app = AppContext(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_CONFIG": str(config)})
    src = load_sources(app, tmp_path / "state.db", "demo")
    assert src.pause_file == Path("/run/kalshi/pause")
    assert src.log_path == Path("/var/log/kalshi/trade.log")
    assert src.limit == D(40)
    assert src.thresholds is not None and src.thresholds.get("heartbeat", "warn") == D(10)
    assert src.env == "demo"


class _Feed:
    def data_age(self, ticker: str) -> float:
        return {"A": 0.5}.get(ticker, float("inf"))

    def is_fresh(self, ticker: str) -> bool:
        return ticker == "A"

    def book(self, ticker: str) -> Orderbook | None:
        if ticker != "A":
            return None
        return Orderbook("A", ((D("0.20"), D(1)),), ((D("0.70"), D(3)),))


def test_the_dashboards_own_feed_gives_each_markets_data_age(
    sim: SimHarness, tmp_path: Path
) -> None:
    for ticker in ("A", "B"):
        sim.create_market(ticker, event_ticker="EV", series_ticker="S")
    maker = client_for(sim.new_account())
    with _account_client(sim) as client:
        Book(client, "A").order(BookSide.BID, "0.20", "1", TimeInForce.GTC)
        Book(client, "B").order(BookSide.BID, "0.20", "1", TimeInForce.GTC)
        snap = remote_snapshot(sources(tmp_path), client, SystemClock(), feed=_Feed())
    maker.close()
    assert [(f.ticker, f.age, f.fresh) for f in snap.feed] == [("A", 0.5, True), ("B", None, False)]
    assert [(f.bid, f.ask) for f in snap.feed] == [
        ((D("0.20"), D(1)), (D("0.30"), D(3))),
        (None, None),
    ]


def test_a_loop_paused_by_sigusr1_is_shown_paused_though_no_pause_file_exists(
    tmp_path: Path,
) -> None:
    """SIGUSR1 pauses a loop without a pause file: the dashboard, which read only the file,
    showed it trading, and its `p` said "new orders resumed" while the loop stayed paused. The
    loop's live heartbeat says it (as `kalshi status` reads it), and the screen shows why."""
    from rich.console import Console

    from kalshi_cli.cli.dashboard_panels import render_trading

    src = sources(tmp_path)
    assert src.log_path is not None and src.pause_file is not None
    clock = prepare(src.state_path, src.log_path)
    with Store.open(src.state_path, clock=clock) as store:
        store.trading.set_trading_state("ACTIVE", reason="resumed", source="kalshi resume")
        store.entries.heartbeat(
            source="trade", detail={"state": "ACTIVE", "paused": True, "paused_by_signal": True}
        )
    snap = local_snapshot(src, clock)
    assert not src.pause_file.exists()
    assert snap.trading.paused_by_signal and not snap.trading.paused
    console = Console(width=120, record=True)
    console.print(render_trading(snap))
    assert "PAUSED (SIGUSR1)" in console.export_text()
    clock.advance(120)  # a beat this old is no live loop's: its pause is not current
    assert not local_snapshot(src, clock).trading.paused_by_signal


def _recorded_times_at(src: Sources, clock: ManualClock, at: float) -> None:
    """The loop's heartbeat and last market-data message, both at `at`: a time the loop itself
    never writes (a clock set back since, a corrupt row)."""
    import sqlite3

    with Store.open(src.state_path, clock=clock) as store:
        store.entries.set_kv("feed.last_message_at", f"{at:.3f}")
    with sqlite3.connect(src.state_path) as db:
        db.execute("UPDATE heartbeats SET at = ? WHERE source = 'trade'", (at,))


def _health_text(snap: Any) -> str:
    from rich.console import Console

    from kalshi_cli.cli.dashboard_panels import render_health

    console = Console(width=200, record=True)
    console.print(render_health(snap, None, ""))
    return " ".join(console.export_text().split())


@pytest.mark.parametrize("ahead", [60.0, 3600.0, math.inf])
def test_a_heartbeat_and_feed_time_in_the_future_read_unknown_on_screen_not_fresh(
    tmp_path: Path, ahead: float
) -> None:
    """A heartbeat and a last message from ahead of now were aged 0: `heartbeat 0.0s ago`, a
    live loop with fresh data, while the checks panel beside it said UNKNOWN. The screen says
    UNKNOWN and why, by the checks' own rule (`age_of`)."""
    src = sources(tmp_path)
    assert src.log_path is not None
    clock = prepare(src.state_path, src.log_path)
    _recorded_times_at(src, clock, clock.wall() + ahead)
    snap = local_snapshot(src, clock)
    shown = _health_text(snap)
    why = "in the future" if math.isfinite(ahead) else "not a time"
    assert "heartbeat UNKNOWN: the last heartbeat (heartbeats.at) is" in shown, shown
    assert "loop feed UNKNOWN: feed.last_message_at is" in shown, shown
    assert shown.count(why) == 2, shown
    assert "ago" not in shown and "since the last market data" not in shown, shown
    checks = {c.name: c.status for c in snap.checks}
    assert (checks["heartbeat"], checks["feed"]) == ("UNKNOWN", "UNKNOWN")


def test_a_heartbeat_and_feed_time_a_moment_ahead_still_read_as_just_now(tmp_path: Path) -> None:
    # within the checks' tolerance (a small step of the clock back): fresh, age 0, as they grade
    src = sources(tmp_path)
    assert src.log_path is not None
    clock = prepare(src.state_path, src.log_path)
    _recorded_times_at(src, clock, clock.wall() + 1)
    snap = local_snapshot(src, clock)
    assert (snap.health.heartbeat_age, snap.health.loop_feed_age) == (0.0, 0.0)
    shown = _health_text(snap)
    assert "heartbeat 0.0s ago" in shown and "loop feed 0.0s since" in shown, shown
    assert "UNKNOWN" not in shown, shown


def test_an_event_held_in_two_markets_shows_its_worst_case_under_the_positions(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    """Kalshi's example: NO at 0.60 and NO at 0.70 in a three-market mutually exclusive event
    put $1.30 in and lose $0.30 at worst, the figure of `kalshi positions --by event`; a market
    held alone in its event has no event line (its row says what it can lose)."""
    from rich.console import Console

    from kalshi_cli.cli.dashboard_panels import render_positions
    from tests.prime_tier import another_accounts_order, hold_kalshis_event_example

    hold_kalshis_event_example(prime, client)
    prime.create_market("KXONE-X", event_ticker="KXONE")
    another_accounts_order(prime, "KXONE-X", BookSide.ASK, "0.50", 1)
    client.orders.create_order(CreateOrder("KXONE-X", BookSide.BID, D("0.50"), D(1)))
    snap = remote_snapshot(sources(tmp_path), client, SystemClock())
    assert snap.error is None
    assert [p.ticker for p in snap.positions] == ["KXONE-X", "KXSOS-A", "KXSOS-C"]
    (event,) = snap.events
    assert (event.event_ticker, event.markets, event.subaccount) == ("KXSOS", 2, 0)
    assert (event.worst, event.worst_outcome) == (D("-0.30"), "KXSOS-A yes")
    console = Console(width=120, record=True)
    console.print(render_positions(snap, ""))
    text = console.export_text()
    assert "event KXSOS, 2 markets: worst -$0.30 (KXSOS-A yes)" in text, text
    console = Console(width=120, record=True)
    console.print(render_positions(snap, "KXONE"))  # the filter applies to the event lines too
    assert "event KXSOS" not in console.export_text()
