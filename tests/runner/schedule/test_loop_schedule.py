"""The trade loop at 500 markets reacts to each market's news without waiting for a pass over
every market (runner/loop/schedule.py): a changed market is decided on before quiet ones, a held
position's stop-loss goes out in the first tick, the loop measures and reports its lag, and the
heartbeat check calls a loop that cannot keep up "alive but behind".

On the fakes with a ManualClock: each book read costs the loop's clock 10 ms, so a pass over 500
markets takes 5 s of it, as a slow pass does on a real machine, and `run` keeps its tick budget
(0.1 s) against that clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace as struct_replace
from typer.testing import CliRunner

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.local import LocalView, check_heartbeat
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import START, Rig, make_rig, trader

# each test builds 500 markets and ticks through them, some hundreds of times
pytestmark = pytest.mark.slow
MARKETS = 500
READ_COST_S = 0.01
LAST = f"KXMANY-E49-M{MARKETS - 1:03d}"  # the last market of the sweep's order


def _scenario(path: Path) -> Path:
    """500 markets with static books around 0.50 (no participants: nothing moves unless a
    test moves it), ten to an event, none mutually exclusive."""
    lines = [
        'fees: {fee_type: quadratic, fee_multiplier: "1"}',
        "series:",
        "  - ticker: KXMANY",
        "    title: Many markets",
        "    events:",
    ]
    for e in range(MARKETS // 10):
        lines += [f"      - event_ticker: KXMANY-E{e:02d}", f"        title: Event {e}"]
        lines.append("        markets:")
        for m in range(e * 10, e * 10 + 10):
            lines.append(
                f"          - {{ticker: KXMANY-E{e:02d}-M{m:03d}, "
                'book: {yes_bids: [["0.49", "100"]], no_bids: [["0.49", "100"]]}}'
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = _rig(tmp_path)
    yield made
    made.loop.log.close()
    made.store.close()


def _rig(tmp_path: Path, **risk: Any) -> Rig:
    clock = ManualClock(START)
    exchange = build_exchange(_scenario(tmp_path / "many.yaml"), clock=clock)
    limits = {"max_orders_per_minute": 10_000, **risk}
    rig = make_rig(
        tmp_path / "s.db",
        exchange=exchange,
        clock=clock,
        account_id=trader(exchange),
        risk=limits,
        log_path=tmp_path / "trade.log",
    )
    assert len(rig.loop.portfolio.markets) == MARKETS
    for _ in range(3):  # the spike strategy's window fills with mids of 0.50
        rig.step(2.0)
    assert rig.client.requests == []
    return rig


def _every_book_changed(rig: Rig) -> None:
    rig.feed.messages += [FeedMessage(MessageKind.BOOK, t) for t in rig.loop.portfolio.markets]


def _events(rig: Rig) -> list[dict[str, Any]]:
    path = rig.loop.log.path
    assert path is not None
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run_one_tick(rig: Rig, read_cost_s: float = READ_COST_S) -> float:
    """One tick of `run`, as `kalshi trade` runs it; the loop clock's time it took."""
    rig.feed.read_cost_s = read_cost_s
    started = rig.clock.monotonic()
    rig.loop.run(stop=threading.Event(), max_ticks=rig.loop.ticks + 1)
    return rig.clock.monotonic() - started


def test_a_changed_market_is_decided_on_before_the_quiet_ones(rig: Rig) -> None:
    spike = Orderbook(LAST, ((Decimal("0.61"), Decimal(100)),), ((Decimal("0.37"), Decimal(100)),))
    rig.feed.show(spike)  # +22% on the window's 0.50: spike buys NO
    took = _run_one_tick(rig)
    (order,) = rig.client.requests
    assert order.ticker == LAST and order.book_side is BookSide.ASK
    # decided on first, not after the 499 markets ahead of it in the sweep (5 s of reads)
    assert rig.client.sent_at[0] - (rig.clock.monotonic() - took) < 0.05
    assert took < 0.2  # the tick kept its budget and went back to the feed
    assert rig.loop.turns.schedule.pending  # the rest of the sweep is left for the next ticks
    while rig.loop.turns.schedule.pending:
        _run_one_tick(rig)
    assert len(rig.client.requests) == 1  # the quiet markets were visited, and stayed quiet


def test_a_held_positions_stop_loss_goes_out_in_the_first_tick_with_500_markets_changed(
    rig: Rig,
) -> None:
    # long 10 YES in the last market of the sweep, bought at the ask
    rig.buy_yes(LAST, Decimal("0.51"), Decimal("10"))
    assert rig.loop.portfolio.position(LAST) == 10
    assert rig.client.requests == []
    # the YES bid falls to 0.20: a mark of 2.00 against a floor of 0.5 x 5.10
    crashed = Orderbook(
        LAST, ((Decimal("0.20"), Decimal(100)),), ((Decimal("0.49"), Decimal(100)),)
    )
    _every_book_changed(rig)
    rig.feed.show(crashed)
    took = _run_one_tick(rig)
    assert [r.ticker for r in rig.client.requests] == [LAST]
    (close,) = rig.client.requests
    assert close.reduce_only and close.book_side is BookSide.ASK
    assert rig.client.sent_at[0] - (rig.clock.monotonic() - took) < 0.05
    assert took < 0.2
    assert any(e["event"] == "stop_loss" and e["ticker"] == LAST for e in _events(rig))


def test_a_fill_that_puts_a_position_under_its_stop_fires_it_in_the_next_tick_without_news(
    rig: Rig,
) -> None:
    rig.loop.questions.risk.limits = struct_replace(
        rig.loop.questions.risk.limits, stop_loss_share=Decimal("0.99")
    )
    # bought at the ask: the mark at the bid (0.49 x 10) is under 0.99 x 5.10 at once
    rig.hand_buy_yes(LAST, "0.51", "10")
    # the fill's news alone (its book change was decided on before the fill was read): no book
    # change and no sweep brings the market up, only its new position
    fill_news = [e for e in rig.feed.drain_messages() if e.kind is not MessageKind.BOOK]
    rig.clock.advance(0.01)
    rig.loop.tick(fill_news, full=False)
    (close,) = rig.client.requests
    assert close.ticker == LAST and close.reduce_only and close.book_side is BookSide.ASK
    assert rig.loop.portfolio.position(LAST) == 0  # the close sold into the bids


def test_the_loop_reports_its_lag_and_the_check_says_when_it_is_behind(rig: Rig) -> None:
    # keeping up: the heartbeat after a tick that decided on fresh news
    rig.loop.tick([FeedMessage(MessageKind.BOOK, LAST, at=rig.clock.monotonic() - 0.25)])
    rig.clock.advance(1.0)
    rig.loop.tick()
    beat = rig.store.entries.last_heartbeat("trade")
    assert beat is not None and beat.detail["lag_max_s"] == 0.25
    assert beat.detail["behind"] is False
    status_line = rig.loop.heartbeat.summary()
    assert status_line.lag_p99_s == 0.25 and not status_line.behind
    here = LocalView(rig.store, rig.store.path, rig.clock.wall())
    assert check_heartbeat(here, resolve(None)).status is CheckStatus.OK

    # every market changes all the time: at 10 ms a read a market's news waits 5 s for its turn,
    # within the 10 s bound; at 50 ms (a 25 s pass) it waits longer and the loop is behind
    for _ in range(100):
        _every_book_changed(rig)
        _run_one_tick(rig)
    beat = rig.store.entries.last_heartbeat("trade")
    assert beat is not None and beat.detail["behind"] is False
    assert 4.5 < beat.detail["lag_p99_s"] < 5.5
    for _ in range(120):
        _every_book_changed(rig)
        _run_one_tick(rig, read_cost_s=0.05)
    beat = rig.store.entries.last_heartbeat("trade")
    assert beat is not None and beat.detail["behind"] is True
    assert beat.detail["lag_p99_s"] > 10 and beat.detail["waiting"] > 0
    assert "loop lag" in "\n".join(rig.loop.heartbeat.summary().lines())
    assert "(BEHIND)" in "\n".join(rig.loop.heartbeat.summary().lines())
    loop_events = [e["event"] for e in _events(rig) if e["event"].startswith("loop_")]
    assert loop_events == ["loop_behind"]
    here = LocalView(rig.store, rig.store.path, rig.clock.wall())
    result = check_heartbeat(here, resolve(None))
    assert result.status is CheckStatus.WARNING
    assert result.summary.startswith("alive but behind: p99 book change to decision")
    status = _kalshi(rig, "status", "--json")
    assert status["loop_lag"]["behind"] is True
    assert status["loop_lag"]["lag_p99_s"] == beat.detail["lag_p99_s"]
    people = _kalshi_text(rig, "status")
    assert f"loop lag: p99 {beat.detail['lag_p99_s']}s book change to decision" in people
    assert ", BEHIND" in people


def _kalshi_text(rig: Rig, *args: str) -> str:
    context = AppContext(environ={"KALSHI_HOME": str(rig.store.path.parent / "home")})
    done = CliRunner().invoke(
        app,
        ["--state", str(rig.store.path), *args],
        obj=context,
        env={"COLUMNS": "200", "NO_COLOR": "1"},
        prog_name="kalshi",
    )
    assert done.exit_code == 0, done.output
    return done.stdout


def _kalshi(rig: Rig, *args: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_kalshi_text(rig, *args))
    return document


def test_the_fairness_bound_comes_from_trade_max_revisit_s(tmp_path: Path) -> None:
    def behind_after_a_3s_wait(trade: dict[str, Any]) -> bool:
        clock = ManualClock(START)
        small = make_rig(tmp_path / f"{len(trade)}.db", clock=clock, trade=trade)
        ticker = next(iter(small.loop.portfolio.markets))
        small.loop.tick()  # the first heartbeat
        clock.advance(1.0)
        small.loop.tick([FeedMessage(MessageKind.BOOK, ticker, at=clock.monotonic() - 3.0)])
        beat = small.store.entries.last_heartbeat("trade")
        small.store.close()
        assert beat is not None and beat.detail["lag_max_s"] == 3.0
        return bool(beat.detail["behind"])

    assert behind_after_a_3s_wait({}) is False  # the default bound: 10 s
    assert behind_after_a_3s_wait({"max_revisit_s": 2}) is True
