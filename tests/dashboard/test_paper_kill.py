"""`k`, `h` and `p` on a PAPER screen (the dashboard driven headless by Textual's pilot): they act
on the paper loop alone, through its state file and pause file, and no write request reaches the
exchange, whose real orders of the account are left alone."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.dashboard import load_sources
from kalshi_cli.cli.dashboard_app import DashboardApp, Wiring
from kalshi_cli.client import KalshiClient
from kalshi_cli.dashboard.snapshot import Sources
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.paper import paper_state_path
from kalshi_cli.store.records import RESTING
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.dashboard.prepared import TICKER, drive, prepare, until
from tests.runner.paper_rig import paper_rig
from tests.runner.simproc import Book
from tests.waiting import wait_until_async

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tests.conftest import SimHarness


def _sources(state: Path) -> Sources:
    return Sources(
        state_path=state,
        env="sim",
        pause_file=state.with_name(f"{state.stem}.pause"),  # the paper loop's own
        log_path=state.parent / "trade.log",
        limit=D(100),
    )


def _writes(sim: SimHarness) -> dict[str, int]:
    accounts: Any = sim.stats()["accounts"]
    requests = accounts.get(sim.account.key_id, {}).get("requests", {})
    return {name: n for name, n in requests.items() if not name.startswith("GET ")}


def _account_client(sim: SimHarness) -> KalshiClient:
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    return KalshiClient(api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key)


def test_p_h_and_k_on_a_paper_screen_with_no_paper_loop_running_send_nothing(
    sim: SimHarness, tmp_path: Path
) -> None:
    """No paper loop holds the state file: its venue is gone, nothing can rest; `k` says so,
    HALTs the paper state file, and the account's real order on the exchange stays."""
    state = tmp_path / "state.paper-sim.db"
    clock = prepare(state, tmp_path / "trade.log")
    with Store.open(state, clock=clock) as store:  # an order the gone paper session left open
        store.orders.record_intent(
            IntentRecord(
                "coid-2", TICKER, BookSide.BID, D("0.30"), D(5), Side.YES, Action.BUY,
                strategy="spike", model_fair=D("0.35"),
            )
        )  # fmt: skip
        store.orders.mark_sent(
            "coid-2", order_id="paper-ord-2", status=RESTING, fill_count=D(0), remaining_count=D(5)
        )
    sim.create_market(TICKER)
    sources = _sources(state)
    with _account_client(sim) as client:
        Book(client, TICKER).order(BookSide.BID, "0.30", "2", TimeInForce.GTC)
        (real,) = client.orders.iter_orders(status="resting")
        before = _writes(sim)
        app = DashboardApp(Wiring(sources=sources, clock=clock, client=client))
        seen: dict[str, str] = {}

        async def keys(pilot: Pilot[None]) -> None:
            await pilot.press("p")
            seen["paused"] = str(sources.pause_file is not None and sources.pause_file.exists())
            await pilot.press("p")
            await pilot.press("h")
            await until(pilot, lambda: "HALTED" in app.panel_text("trading"), "HALTED")
            seen["halted"] = app.panel_text("trading")
            await pilot.press("k")
            seen["dialog"] = type(app.screen).__name__
            await pilot.press(*"KILL", "enter")
            await until(pilot, lambda: "PROVEN" in app.panel_text("kill"), "the paper proof")
            seen["kill"] = " ".join(app.panel_text("kill").split())
            seen["kill title"] = str(app.query_one("#kill").border_title)

        drive(app, keys)
        after = _writes(sim)
        still = [o.order_id for o in client.orders.iter_orders(status="resting")]
    assert seen["paused"] == "True"
    assert not (tmp_path / "state.paper-sim.pause").exists()
    assert "HALTED" in seen["halted"]
    assert seen["dialog"] == "ConfirmKill"
    assert "PROVEN: no paper order left" in seen["kill"]
    assert "NOT PROVEN" not in seen["kill"]
    assert "no paper loop is running on this state file" in seen["kill"]
    assert "1 order record(s) of the gone session left open" in seen["kill"]
    assert seen["kill title"] == "Kill switch - PAPER loop"
    with Store.open(state) as store:
        row = store.trading.trading_state()
    assert row.state == "HALTED" and row.source == "kalshi dashboard"
    # nothing was written to the exchange, and the account's real order is still there
    assert after == before
    assert still == [real.order_id]


def test_k_on_a_paper_screen_has_the_running_paper_loop_cancel_its_venues_orders(
    tmp_path: Path,
) -> None:
    """A paper loop runs (it holds its state file's lock) with quotes resting in its venue: `k`
    and the typed word HALT it, the loop cancels every one with the kill switch and the panel
    shows the proof. The loop's exchange client fails the test on any write."""
    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state) as rig:
        for _ in range(3):
            rig.step(1.0)
        quoted = rig.venue.resting_order_ids()
        assert quoted, "the market maker quotes on paper"
        app = DashboardApp(Wiring(sources=_sources(state), clock=rig.clock))
        seen: dict[str, str] = {}

        async def kill(pilot: Pilot[None]) -> None:
            await pilot.press("k")
            await pilot.press(*"kill", "enter")  # the wrong word: nothing happens
            seen["refused"] = app.panel_text("top")
            await pilot.press("k")
            await pilot.press(*"KILL", "enter")

            def answered() -> bool:
                rig.step(1.0)  # the paper loop ticks on
                return "PROVEN" in app.panel_text("kill")

            await until(pilot, answered, "the paper loop's proof")
            seen["kill"] = " ".join(app.panel_text("kill").split())
            seen["trading"] = app.panel_text("trading")

        drive(app, kill)
        assert rig.venue.resting_order_ids() == []
        assert rig.exchange.history.orders(rig.real.account_id) == []
        assert rig.store.trading.trading_state().state == "HALTED"
    assert "kill switch not run (the word was not typed)" in " ".join(seen["refused"].split())
    assert "PROVEN: no paper order left" in seen["kill"] and "NOT PROVEN" not in seen["kill"]
    assert f"cancelled: {len(quoted)} paper order(s)" in seen["kill"]
    assert "in the running paper loop's venue" in seen["kill"]
    assert "HALTED" in seen["trading"]


def test_q_while_the_paper_kill_switch_waits_for_its_loop_waits_for_its_report(
    tmp_path: Path,
) -> None:
    """`q` pressed while the paper kill switch waits for the paper loop's answer: the screen
    stays until the loop has answered, then closes by itself, and the report is the
    command's to print. The screen closed at once, the kill switch stopped waiting for the
    loop and its report was dropped: the trader never saw whether the paper orders went."""
    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state) as rig:
        for _ in range(3):
            rig.step(1.0)
        quoted = rig.venue.resting_order_ids()
        assert quoted, "the market maker quotes on paper"
        app = DashboardApp(Wiring(sources=_sources(state), clock=rig.clock))
        open_after_q: list[bool] = []

        async def quit_while_killing(pilot: Pilot[None]) -> None:
            await pilot.press("k", *"KILL", "enter")
            await until(pilot, lambda: "waiting for it" in app.panel_text("kill"), "the wait")
            await pilot.press("q")
            await asyncio.sleep(0.5)
            open_after_q.append(app.is_running)

            def closed() -> bool:
                rig.step(1.0)  # the paper loop ticks on, and answers
                return not app.is_running

            await wait_until_async(
                closed,
                "the screen to close on the loop's answer",
                between=lambda: asyncio.sleep(0.1),
            )

        drive(app, quit_while_killing)
        assert rig.venue.resting_order_ids() == []
    assert open_after_q == [True], "the screen closed over the running kill switch"
    printed = app.kill_report_unseen()
    assert printed is not None
    assert "PROVEN: no paper order left" in printed and "NOT PROVEN" not in printed, printed
    assert f"cancelled: {len(quoted)} paper order(s)" in printed, printed
    assert app.kill_exit_code() == ExitCode.OK  # PROVEN: the command exits 0


def test_a_paper_kill_switch_the_loop_never_answers_makes_the_command_exit_not_proven(
    tmp_path: Path,
) -> None:
    """The paper loop holds its lock but does not answer within the deadline: NOT PROVEN, and
    the command exits 11 on leaving, as for the live kill switch."""
    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state) as rig:
        rig.step(1.0)
        app = DashboardApp(Wiring(sources=_sources(state), clock=rig.clock, kill_deadline_s=0.5))

        shown: list[str] = []

        async def kill(pilot: Pilot[None]) -> None:
            await pilot.press("k", *"KILL", "enter")
            await until(pilot, lambda: "PROVEN" in app.panel_text("kill"), "the proof")
            shown.append(app.panel_text("kill"))

        drive(app, kill)
    assert "NOT PROVEN" in shown[0] and "did not answer in time" in shown[0], shown[0]
    assert app.kill_exit_code() == ExitCode.NOT_PROVEN


def test_p_on_a_paper_screen_pauses_the_paper_loop_and_leaves_a_paused_live_loop_paused(
    tmp_path: Path,
) -> None:
    """The dashboard pointed at a paper session's state file, beside a live loop the trader
    paused by hand: `p` pauses and resumes the paper loop on its own pause file (the one
    `kalshi trade --paper` watches: tests/runner/lifecycle/test_paper.py), and the live loop's
    pause file stays where the trader put it, so resuming the paper loop never resumes the
    live one."""
    config = tmp_path / "config.yaml"
    config.write_text("trade: {}\n", encoding="utf-8")
    environ = {"KALSHI_HOME": str(tmp_path / "home"), "KALSHI_CONFIG": str(config)}
    live_state = tmp_path / "state.db"
    state = paper_state_path(live_state, "sim")
    sources = load_sources(AppContext(environ=environ), state, "sim")
    live = load_sources(AppContext(environ=environ), live_state, "sim")
    assert sources.pause_file is not None and live.pause_file is not None
    assert sources.log_path is not None
    clock = prepare(state, sources.log_path)
    live.pause_file.touch()  # the trader paused the live loop
    app = DashboardApp(Wiring(sources=sources, clock=clock))
    seen: dict[str, bool] = {}

    async def keys(pilot: Pilot[None]) -> None:
        assert sources.pause_file is not None and live.pause_file is not None
        seen["paper paused before"] = "PAUSED" in app.panel_text("trading")
        await pilot.press("p")
        seen["paper paused"] = sources.pause_file.exists()
        seen["live paused after p"] = live.pause_file.exists()
        await pilot.press("p")
        seen["paper resumed"] = not sources.pause_file.exists()
        seen["live paused after p p"] = live.pause_file.exists()

    drive(app, keys)
    assert seen == {
        "paper paused before": False,
        "paper paused": True,
        "live paused after p": True,
        "paper resumed": True,
        "live paused after p p": True,
    }
