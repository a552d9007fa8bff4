"""How a run ends: a crash inside the loop, and a second Ctrl-C while it shuts down."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.feed.book import FeedMessage
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.lifecycle.running import run, signals
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.runner.fakes import Rig, make_rig
from tests.runner.simproc import Book, client_for, log_events, market_maker_session


def _quoting_rig(tmp_path: Path) -> Rig:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    assert rig.loop.portfolio.orders, "the market maker rests quotes"
    return rig


def test_a_crash_in_the_loop_still_cancels_its_resting_quotes(tmp_path: Path) -> None:
    rig = _quoting_rig(tmp_path)
    resting = list(rig.loop.portfolio.orders)

    def broken() -> list[FeedMessage]:
        raise RuntimeError("a bug in the feed")

    rig.feed.drain_messages = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="a bug in the feed"):
        run(rig.loop, TradeOptions(strategies=(StrategyChoice("market-maker"),), duration_s=5))
    exchange, me = rig.exchange, rig.client.account_id
    still = [o.order_id for o in exchange.history.orders(me) if o.status == "resting"]
    assert resting and still == []


def test_a_second_interrupt_during_shutdown_stops_the_cancelling(tmp_path: Path) -> None:
    stop, abandon = threading.Event(), threading.Event()
    with signals(stop, lambda: None, abandon=abandon):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set() and not abandon.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        assert abandon.is_set()
    rig = _quoting_rig(tmp_path)
    loop = rig.loop
    resting = set(loop.portfolio.orders)
    summary = loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert set(loop.portfolio.orders) == resting, "nothing cancelled once abandoned"
    assert summary.resting_orders == len(resting)
    assert loop.log.counts.get("shutdown_abandoned") == 1


def test_the_pause_file_and_sigusr1_hold_new_strategy_orders(tmp_path: Path) -> None:
    pause_file = tmp_path / "trade.pause"
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", settings={"pause_file": pause_file})
    pause_file.touch()
    rig.step(0.1)
    assert rig.client.requests == []
    pause_file.unlink()
    with signals(threading.Event(), rig.loop.gate.toggle_pause):
        os.kill(os.getpid(), signal.SIGUSR1)
        rig.step(0.1)
        assert rig.client.requests == []
        os.kill(os.getpid(), signal.SIGUSR1)
        rig.step(0.1)
    assert rig.client.requests, "unpaused: the market maker quotes"
    assert rig.loop.log.counts.get("unpaused") == 1


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT as a terminal's process has it (KeyboardInterrupt), whatever runs the tests."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class CtrlCAtTheGroupDelete(httpx.HTTPTransport):
    """The real transport; the person presses Ctrl-C again (SIGINT to this process) as the
    session's order group is being deleted, once the loop's stop has proved its quotes gone."""

    def __init__(self) -> None:
        super().__init__()
        self.pressed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        group_delete = request.method == "DELETE" and "/order_groups/" in request.url.path
        if group_delete and not self.pressed:
            self.pressed = True
            os.kill(os.getpid(), signal.SIGINT)
        return super().handle_request(request)


def test_a_ctrl_c_while_the_session_group_ends_still_prints_the_summary(
    sim: SimHarness, tmp_path: Path, ctrl_c_raises: None
) -> None:
    """The end of the session's order group is part of the stop: a SIGINT then is one more
    interrupt of that stop, not a KeyboardInterrupt that ends `kalshi trade` before its summary
    (and its NOT PROVEN line and exit code) is printed, as it did once the loop's own handlers
    were let go of."""
    ticker = "KXSTOPSIG-SIM-A"
    sim.create_market(ticker)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, ticker).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(account.private_key_path))
    transport = CtrlCAtTheGroupDelete()
    client = KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, transport=transport
    )
    log = tmp_path / "trade.log"
    out = io.StringIO()
    config = TradeConfig(strategies={"market-maker": {}})
    try:
        with client:
            summary = market_maker_session(
                account, client, ticker, tmp_path, config, duration_s=2.0, out=out
            )
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C ended kalshi trade before its summary")
    finally:
        other.close()
    assert transport.pressed, "the group's delete was asked"
    events = [e["event"] for e in log_events(log)]
    assert "order_placed" in events and "stop_proven" in events, events[-10:]
    assert summary.not_proven == ()
    assert "summary:" in out.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "handed back"
