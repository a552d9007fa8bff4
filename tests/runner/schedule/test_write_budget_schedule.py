"""The trade loop decides no more orders than the client's write budget can send soon
(runner/loop/turns.py `MarketTurns.serve`): more than a second behind, no market takes a
turn (an order decided then would go out on a moved book, a post-only quote refused as a cross); a
held position still takes its stop-loss; with the budget short, the markets not yet quoted go ahead
of the quoted markets' news. On the fakes, the budget's state given by hand."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import START, Rig, make_rig, trader

D = Decimal
QUOTED = ["KXWB-E0-M0", "KXWB-E0-M1"]
UNQUOTED = ["KXWB-E1-M0", "KXWB-E1-M1"]  # no book at the start: nothing to quote around


def _scenario(path: Path) -> Path:
    book = '{yes_bids: [["0.45", "100"]], no_bids: [["0.45", "100"]]}'
    lines = [
        'fees: {fee_type: quadratic, fee_multiplier: "1"}',
        "series:",
        "  - ticker: KXWB",
        "    title: Write budget",
        "    events:",
        "      - {event_ticker: KXWB-E0, title: Quoted, markets: ["
        + ", ".join(f"{{ticker: {t}, book: {book}}}" for t in QUOTED)
        + "]}",
        "      - {event_ticker: KXWB-E1, title: Unquoted, markets: ["
        + ", ".join(f"{{ticker: {t}}}" for t in UNQUOTED)
        + "]}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rig(tmp_path: Path) -> Rig:
    clock = ManualClock(START)
    exchange = build_exchange(_scenario(tmp_path / "wb.yaml"), clock=clock)
    return make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        exchange=exchange,
        clock=clock,
        account_id=trader(exchange),
        risk={"max_orders_per_minute": 10_000},
        log_path=tmp_path / "trade.log",
        # every quote a create, the requotes too: the order of the creates is the schedule's
        trade={"amend_requotes": False},
    )


def _book(ticker: str, yes_bid: str, no_bid: str) -> Orderbook:
    return Orderbook(ticker, ((D(yes_bid), D(100)),), ((D(no_bid), D(100)),))


def _tick(rig: Rig, *, full: bool = False) -> None:
    """A tick as `run` makes it: with a budget of visits (a long one: every market fits)."""
    rig.loop.tick(rig.feed.drain_messages(), full=full, budget_s=60.0)


def test_no_market_takes_a_turn_while_the_write_budget_is_more_than_a_second_behind(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    try:
        rig.loop.dispatch.writes_behind_s = lambda: 1.5
        _tick(rig, full=True)
        assert rig.client.requests == []  # nothing decided, nothing sent
        assert rig.loop.turns.schedule.pending  # every market keeps its turn
        # the loop waits for the budget instead of ticking again at once
        assert rig.loop.turns.writes_held_back()
        rig.loop.dispatch.writes_behind_s = lambda: 0.9  # back within a second
        _tick(rig)
        assert {r.ticker for r in rig.client.requests} == set(QUOTED)
    finally:
        rig.loop.log.close()
        rig.store.close()


def test_with_the_write_budget_short_the_markets_not_yet_quoted_go_first(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    try:
        _tick(rig, full=True)
        assert {r.ticker for r in rig.client.requests} == set(QUOTED)
        before = len(rig.client.requests)
        # the quoted markets move first (older news, each a requote), then the others get books
        for ticker in QUOTED:
            rig.feed.show(_book(ticker, "0.30", "0.60"))
        rig.clock.advance(0.5)
        for ticker in UNQUOTED:
            rig.feed.show(_book(ticker, "0.45", "0.45"))
        rig.loop.dispatch.writes_behind_s = lambda: 0.0  # no write in hand
        _tick(rig)
        after = [r.ticker for r in rig.client.requests[before:]]
        assert set(after[:4]) == set(UNQUOTED), after  # both sides of each, before a requote
        assert set(after) == set(UNQUOTED) | set(QUOTED), "the requotes follow"
    finally:
        rig.loop.log.close()
        rig.store.close()


def test_a_held_position_takes_its_stop_loss_while_the_write_budget_is_behind(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    try:
        held = QUOTED[0]
        rig.buy_yes(held, D("0.55"), D("10"))
        assert rig.loop.portfolio.position(held) == 10
        rig.loop.dispatch.writes_behind_s = lambda: 5.0
        rig.client.requests.clear()
        rig.feed.show(_book(held, "0.10", "0.45"))  # the mark falls far under the stop
        _tick(rig)
        (close,) = rig.client.requests
        assert close.ticker == held and close.reduce_only and close.book_side is BookSide.ASK
    finally:
        rig.loop.log.close()
        rig.store.close()


def test_run_waits_between_ticks_while_no_market_may_take_a_turn(tmp_path: Path) -> None:
    """Held back, `run` waits for news or an answer between ticks, as an idle loop does: the
    markets' turns still pending do not make it tick again at once."""
    rig = _rig(tmp_path)
    try:
        rig.loop.dispatch.writes_behind_s = lambda: 1.5
        rig.loop.run(stop=threading.Event(), duration_s=2.0)
        assert rig.loop.turns.schedule.pending
        # a full tick a `tick_interval_s` (1 s), and no tick for the pending turns between
        assert rig.loop.ticks <= 3, rig.loop.ticks
        assert rig.client.requests == []
    finally:
        rig.loop.log.close()
        rig.store.close()


def test_the_heartbeat_status_and_metrics_say_how_far_behind_the_write_budget_is(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.app import app
    from kalshi_cli.services.metrics import Collector

    rig = _rig(tmp_path)
    try:
        rig.loop.dispatch.writes_behind_s = lambda: 2.5
        rig.loop.heartbeat.beat()
        beat = rig.store.entries.last_heartbeat("trade")
        assert beat is not None and beat.detail["writes_behind_s"] == 2.5
        context = AppContext(environ={"KALSHI_HOME": str(tmp_path / "home")})
        runner = CliRunner()
        args = ["--state", str(rig.store.path), "status"]
        people = runner.invoke(app, args, obj=context, env={"COLUMNS": "200"}).stdout
        assert "orders waiting 2.5s for the write budget" in people
        document = runner.invoke(app, [*args, "--json"], obj=context).stdout
        assert '"writes_behind_s": 2.5' in document
        metrics = Collector(rig.store.path, clock=rig.clock).collect()
        assert "\nkalshi_loop_writes_behind_seconds 2.5\n" in metrics
        rig.loop.dispatch.writes_behind_s = lambda: -0.4  # writes in hand
        rig.loop.heartbeat.beat()
        beat = rig.store.entries.last_heartbeat("trade")
        assert beat is not None and beat.detail["writes_behind_s"] == 0.0
    finally:
        rig.loop.log.close()
        rig.store.close()


def test_a_held_positions_strategy_waits_while_the_write_budget_is_behind(tmp_path: Path) -> None:
    """Held back, a held market with news takes its stop-loss alone: its strategy's quotes,
    which would add orders the budget cannot send soon, wait for its turn."""
    rig = _rig(tmp_path)
    try:
        held = QUOTED[0]
        rig.buy_yes(held, D("0.55"), D("10"))
        assert rig.loop.portfolio.position(held) == 10
        rig.loop.dispatch.writes_behind_s = lambda: 1.5
        rig.client.requests.clear()
        rig.feed.show(_book(held, "0.35", "0.55"))  # mid 0.50 -> 0.40: a requote, above the stop
        _tick(rig)
        assert rig.client.requests == []
        rig.loop.dispatch.writes_behind_s = lambda: -1.0  # the budget back in hand
        _tick(rig)
        assert held in {r.ticker for r in rig.client.requests}, "its turn came after"
    finally:
        rig.loop.log.close()
        rig.store.close()
