"""`kalshi trade --subaccount N` (cli/trade.py, runner/lifecycle/session.py): the loop acts on
subaccount N of the account, live and `--paper`, and on nothing else.

Live, as a process on the simulator over loopback: a loop on subaccount 1 quotes there, is
stopped by SAFE_MODE, resumed and stopped by SIGTERM, and an order resting on subaccount 0
placed by hand survives all of it; a second loop on another subaccount of the same account is
refused (one loop per account, whatever its subaccount); a loop on 0 does not book 1's fill,
and a loop on 1 starts with it; a loop on 1 never marks an order of 0 whose answer was lost
"never placed". Paper: the session trades on the venue's subaccount N and books
its fills there. A bad number is refused before anything is sent or written. The daily
circuit breaker is the account's: a loss on 0 booked by `kalshi pnl` stops a loop on 1.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.messages import order_update
from kalshi_cli.runner.config import StrategyChoice, TradeOptions
from kalshi_cli.runner.lifecycle.lock import LoopAlreadyRunning, acquire
from kalshi_cli.runner.preflight import reconcile
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.store import Store
from kalshi_cli.store.paper import paper_state_path
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness, tier_simulator
from tests.fakes import Swapped
from tests.runner.fakes import make_rig
from tests.runner.simproc import (
    Book,
    client_for,
    kalshi_process,
    log_events,
    observer_for,
    trade_command,
    trade_env,
)
from tests.waiting import pause, poll_until

TICKER = "KXSUBACCT-26-A"
CONFIG = """\
risk:
  max_consecutive_errors: 1
  backoff_max_s: 600
trade:
  status_interval_s: 1
"""


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    """The simulator on the Advanced tier: subaccounts need it (REFERENCE.md)."""
    yield from tier_simulator(tmp_path, "advanced")


def resting_on(client: KalshiClient, subaccount: int) -> list[Order]:
    return list(
        client.on_subaccount(subaccount).orders.iter_orders(ticker=TICKER, status="resting")
    )


def _funded_subaccount(client: KalshiClient) -> None:
    assert client.subaccounts.create_subaccount() == 1
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=1, amount_cents=5_000_000
    )


def _started(log: Path) -> dict[str, object]:
    started = [e for e in log_events(log) if e["event"] == "started"]
    assert started, log_events(log)[-5:]
    return started[-1]


@pytest.mark.parametrize("value", ["64", "-1", "one"])
def test_a_bad_subaccount_is_refused_before_anything_is_sent_or_written(
    tmp_path: Path, value: str
) -> None:
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    env = {
        "KALSHI_HOME": str(tmp_path / "home"),
        "KALSHI_ENV": "sim",
        # nothing listens there: a request sent would fail with another exit code
        "KALSHI_API_BASE": "http://127.0.0.1:9/trade-api/v2",
        "KALSHI_STATE": str(state),
        "PATH": "/usr/bin:/bin",
    }
    done = kalshi_process(
        env, *trade_command("market-maker", TICKER, log, "--once")[3:], "--subaccount", value
    )
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "--subaccount" in done.stderr
    assert "No such option" not in done.stderr
    if value != "one":
        assert "0<=x<=63" in done.stderr
    assert not state.exists() and not log.exists()
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.db"))


def test_trade_options_refuse_a_subaccount_out_of_range() -> None:
    for bad in (-1, 64):
        with pytest.raises(UsageError, match="--subaccount"):
            TradeOptions(strategies=(StrategyChoice("spike"),), subaccount=bad)
    assert TradeOptions(strategies=(StrategyChoice("spike"),), subaccount=63).subaccount == 63


def test_the_lock_refusal_names_the_subaccount_and_the_one_loop_per_account_rule(
    tmp_path: Path,
) -> None:
    account = "key-1@http://127.0.0.1:9/trade-api/v2"
    with (
        acquire(tmp_path / "a.db", account=account, now=0.0, lock_dir=tmp_path, subaccount=1),
        pytest.raises(LoopAlreadyRunning) as info,
    ):
        acquire(tmp_path / "b.db", account=account, now=0.0, lock_dir=tmp_path, subaccount=2)
    assert "subaccount 1" in info.value.message
    assert "every subaccount of an account counts as that account" in (info.value.hint or "")


@pytest.mark.slow
def test_a_loop_on_subaccount_1_never_touches_an_order_of_subaccount_0(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    mine = observer_for(trader)  # not the loop's whole read budget
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    _funded_subaccount(mine)
    # placed by hand on subaccount 0 (the exchange's default), below every quote
    hand = mine.orders.create_order(
        CreateOrder(TICKER, BookSide.BID, Decimal("0.05"), Decimal(3), TimeInForce.GTC)
    ).order_id
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(CONFIG, encoding="utf-8")
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    env = trade_env(trader, home, state)

    def logged(event: str, after: int = 0) -> bool:
        return any(e["event"] == event for e in log_events(log)[after:])

    def hand_survives() -> None:
        assert [o.order_id for o in resting_on(mine, 0)] == [hand]

    command = [*trade_command("market-maker", TICKER, log, "--duration", "300"), "--subaccount"]
    proc = subprocess.Popen(
        [*command, "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert poll_until(lambda: len(resting_on(mine, 1)) == 2 or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate(timeout=60)[1][-2000:]
        hand_survives()
        assert _started(log)["subaccount"] == 1
        # `kalshi status --json` names the subaccount the running loop trades (its heartbeat):
        # the quotes can rest before the tick that sent them ends with the first heartbeat
        assert poll_until(lambda: logged("heartbeat") or proc.poll() is not None)
        status = kalshi_process(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["loop_subaccount"] == 1

        # another subaccount of the same account, another state file: still one loop
        elsewhere = trade_env(trader, tmp_path / "home2", tmp_path / "other.db")
        second = kalshi_process(
            elsewhere,
            *trade_command("market-maker", TICKER, tmp_path / "2.log", "--once")[3:],
            "--subaccount",
            "2",
        )
        assert second.returncode == ExitCode.ALREADY_RUNNING, second.stderr
        assert f"another trade loop (pid {proc.pid}" in second.stderr
        assert "subaccount 1" in second.stderr
        assert "every subaccount of an account counts as that account" in second.stderr

        # SAFE_MODE withdraws the loop's quotes on 1, and only those
        sim.set_faults(http_5xx_rate=1.0)
        assert poll_until(lambda: logged("safe_mode") or proc.poll() is not None)
        sim.clear_faults()
        assert poll_until(lambda: resting_on(mine, 1) == [])
        hand_survives()

        before = len(log_events(log))
        assert kalshi_process(env, "resume").returncode == 0
        assert poll_until(lambda: logged("order_placed", before) and bool(resting_on(mine, 1)))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)
        other.close()
    try:
        assert proc.returncode == 0, err[-2000:]
        # the shutdown cancelled the loop's quotes on 1 and nothing else
        assert resting_on(mine, 1) == []
        hand_survives()
    finally:
        mine.close()
    assert "subaccount      1" in out
    statuses = [e for e in log_events(log) if e["event"] == "status"]
    assert statuses and all(e["subaccount"] == 1 for e in statuses)
    with Store.open(state) as store:
        placed = [i for i in store.orders.intents(ticker=TICKER) if i.order_id]
    assert placed and {i.subaccount for i in placed} == {1}
    assert hand not in {i.order_id for i in placed}


@pytest.mark.slow
def test_a_loop_books_only_the_fills_of_its_own_subaccount(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    mine = observer_for(trader)  # not the loop's whole read budget
    other = client_for(sim.new_account(balance_cents=10_000_000))
    book = Book(other, TICKER)
    book.quote("0.30", "0.70")
    _funded_subaccount(mine)
    book.order(BookSide.ASK, "0.50", "5", TimeInForce.GTC)
    on1 = mine.on_subaccount(1)  # subaccount 1 buys 5 YES by hand
    on1.orders.create_order(
        CreateOrder(TICKER, BookSide.BID, Decimal("0.50"), Decimal(5), TimeInForce.IOC)
    )
    assert [(p.ticker, p.position) for p in on1.portfolio.get_positions()] == [(TICKER, Decimal(5))]
    other.close()
    mine.close()
    state = tmp_path / "state.db"
    env = trade_env(trader, tmp_path / "home", state)

    def one_pass(subaccount: str, log: Path) -> str:
        done = kalshi_process(
            env,
            *trade_command("market-maker", TICKER, log, "--once")[3:],
            "--subaccount",
            subaccount,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    # a loop on 0: subaccount 1's position is not its own (its start compares with 0's)
    out = one_pass("0", tmp_path / "0.log")
    assert "subaccount      0" in out
    assert "open positions  none" in out
    assert _started(tmp_path / "0.log")["subaccount"] == 0
    # a loop on 1 on the same state file: starts with 1's position, which agrees with the
    # exchange's (else the start refuses)
    out = one_pass("1", tmp_path / "1.log")
    assert "subaccount      1" in out
    assert f"open positions  {TICKER} +5" in out
    with Store.open(state) as store:
        fills = list(store.fills.iter_fills(ticker=TICKER))
    assert [(f.subaccount, f.count) for f in fills] == [(1, Decimal(5))]


@pytest.mark.slow
def test_a_paper_session_on_a_subaccount_trades_and_books_there(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    market = Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER)
    market.quote("0.40", "0.60")
    taker = Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER)
    paper = sim.new_account(balance_cents=0)
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    env = trade_env(paper, tmp_path / "home", state)
    command = [
        *trade_command("market-maker", TICKER, log, "--duration", "200"),
        "--paper",
        "--subaccount",
        "2",
    ]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with (
        out.open("w") as stdout,
        err.open("w") as stderr,
        subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr) as proc,
    ):
        try:
            sides = itertools.cycle([(BookSide.ASK, "0.40"), (BookSide.BID, "0.60")])

            def take() -> None:
                book_side, price = next(sides)
                taker.order(book_side, price, "1", TimeInForce.IOC)
                pause()

            poll_until(
                lambda: (
                    proc.poll() is not None
                    or sum(1 for e in log_events(log) if e["event"] == "fill_received") >= 2
                ),
                between=take,
            )
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    market.client.close()
    taker.client.close()
    assert proc.returncode == 0, err.read_text()[-3000:]
    started = _started(log)
    assert started["paper"] is True and started["subaccount"] == 2
    with Store.open(paper_state_path(state, "sim")) as store:
        fills = list(store.fills.iter_fills())
        placed = [i for i in store.orders.intents() if i.order_id]
    assert fills, "the paper quotes should have filled against the live trades"
    assert {f.subaccount for f in fills} == {2}
    assert placed and {i.subaccount for i in placed} == {2}
    text = out.read_text()
    assert "PAPER subaccount      2" in text, text[-2000:]
    assert "PAPER   subaccount      2" in text, text[-2000:]  # the summary's line


class HeldInTheNetwork(OrdersApi):
    """A client whose order requests are held in the network: the answer never comes back,
    and the test lets the request land later (`land`)."""

    held: list[CreateOrder]

    def create_order(self, order: CreateOrder) -> CreateOrderResult:
        self.held = [*getattr(self, "held", []), order]
        raise OrderOutcomeUnknown("the answer was lost", client_order_id=order.client_order_id)


def test_a_loop_on_1_never_calls_an_order_of_0_whose_answer_was_lost_never_placed(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The start's reconcile looks an awaiting intent up among the orders of the intent's own
    subaccount: the loop's client lists only its subaccount's, and an order resting on 0
    whose answer was lost must not be marked rejected ("never placed") by a loop on 1."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    mine = client_for(account)
    _funded_subaccount(mine)
    key, _ = load_private_key(path=Path(account.private_key_path))
    clock = ManualClock(time.time())  # wall time
    with (
        Swapped(
            HeldInTheNetwork, api_base=account.api_base, key_id=account.key_id, private_key=key
        ) as held,
        Store.open(tmp_path / "state.db", clock=clock) as store,
    ):
        service = OrderService(held, store, clock=clock)
        request = OrderRequest(TICKER, Side.YES, Action.BUY, Decimal(3), Decimal("0.05"))
        with pytest.raises(OrderOutcomeUnknown):
            service.place(service.prepare(request))
        (create,) = held.area.held
        placed = mine.orders.create_order(create).order_id  # it lands on 0, the exchange's default
        clock.advance(LANDING_WINDOW_S + 60)  # long past the window in which it could land
        mine.subaccount = 1  # as `kalshi trade --subaccount 1` sets it before the reconcile
        report = reconcile(mine, store, clock)
        row = store.orders.get_intent(create.client_order_id)
        assert row is not None
        assert (row.subaccount, row.status, row.order_id) == (0, "resting", placed), row
        assert create.client_order_id not in report.not_on_exchange
    mine.subaccount = None
    assert [o.order_id for o in resting_on(mine, 0)] == [placed]
    mine.close()


def test_a_user_orders_message_of_another_subaccount_is_not_the_loops(tmp_path: Path) -> None:
    """The `user_orders` channel covers every subaccount of the account and names each order's
    (`subaccount_number`, asyncapi.yaml): an order resting on another subaccount is another
    book's, and must not count against this loop's limits (its `resting_orders`), while one
    placed by hand on the loop's own subaccount does."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    quote = next(iter(rig.loop.portfolio.orders.values()))
    shape = ser.ws_user_order_msg(rig.exchange.history.order(rig.client.account_id, quote.order_id))
    before = rig.loop.heartbeat.summary().resting_orders

    def resting(order_id: str, subaccount: int) -> FeedMessage:
        msg = shape | {
            "order_id": order_id,
            "client_order_id": order_id,
            "status": "resting",
            "fill_count_fp": "0.00",
            "remaining_count_fp": "5.00",
            "subaccount_number": subaccount,
        }
        return FeedMessage(MessageKind.USER_ORDER, quote.ticker, payload=order_update(msg))

    rig.clock.advance(0.01)
    rig.loop.tick([resting("on-subaccount-1", 1)], full=False)
    assert rig.loop.heartbeat.summary().resting_orders == before
    rig.clock.advance(0.01)
    rig.loop.tick([resting("by-hand-on-0", 0)], full=False)
    assert rig.loop.heartbeat.summary().resting_orders == before + 1


@pytest.mark.slow
def test_a_subaccount_the_account_does_not_have_is_refused_before_any_order(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Without the check, each order was refused by the exchange (400: no such subaccount), or
    the order group's creation failed with a hint about the connection."""
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    other.close()
    trader = sim.new_account(balance_cents=10_000_000)
    env = trade_env(trader, tmp_path / "home", tmp_path / "state.db")
    log = tmp_path / "trade.log"
    command = trade_command("market-maker", TICKER, log, "--once", "--no-order-group")
    done = kalshi_process(env, *command[3:], "--subaccount", "5")
    assert done.returncode == ExitCode.REJECTED, done.stderr
    assert "the account has no subaccount 5; not trading" in done.stderr, done.stderr
    assert "kalshi subaccount create" in done.stderr
    assert not any(e["event"] == "order_placed" for e in log_events(log))
    with Store.open(tmp_path / "state.db") as store:
        assert store.orders.intents() == []


def test_a_loop_on_1_places_nothing_after_a_days_loss_booked_on_0(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The daily circuit breaker is the account's (docs/trade-loop.md "On a subaccount"):
    subaccount 0 loses $2 by hand (buys 10 YES at 0.60, sells them at 0.40), `kalshi pnl` books
    it in the state file, and a loop on subaccount 1, which quoted there before the loss,
    now trips the breaker and places nothing."""
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    mine = observer_for(trader)  # not the loop's whole read budget
    other = client_for(sim.new_account(balance_cents=10_000_000))
    book = Book(other, TICKER)
    book.quote("0.40", "0.60")
    _funded_subaccount(mine)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("risk:\n  daily_loss_limit: 1\n", encoding="utf-8")
    state = tmp_path / "state.db"
    env = trade_env(trader, home, state)

    def one_pass(log: Path) -> list[dict[str, object]]:
        done = kalshi_process(
            env, *trade_command("market-maker", TICKER, log, "--once")[3:], "--subaccount", "1"
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return log_events(log)

    before = one_pass(tmp_path / "before.log")
    assert [e for e in before if e["event"] == "order_placed"], "the loop on 1 quotes"
    assert not [e for e in before if e["event"] == "circuit_breaker"]
    # quotes left on 1 would meet 0's orders: self-trade prevention
    for order in resting_on(mine, 1):
        mine.on_subaccount(1).orders.cancel_order(order.order_id, ticker=TICKER)
    # subaccount 0 (the default) takes the ask and hits the bid: a realized loss of $2 + fees
    book.order(BookSide.ASK, "0.60", "10", TimeInForce.GTC)
    book.order(BookSide.BID, "0.40", "10", TimeInForce.GTC)
    for side, price in ((BookSide.BID, "0.60"), (BookSide.ASK, "0.40")):
        mine.orders.create_order(
            CreateOrder(TICKER, side, Decimal(price), Decimal(10), TimeInForce.IOC)
        )
    assert mine.portfolio.get_positions() == []
    other.close()
    mine.close()
    booked = kalshi_process(env, "pnl")
    assert booked.returncode == 0, booked.stderr[-2000:]
    with Store.open(state) as store:
        fills = [f for f in store.fills.iter_fills(ticker=TICKER) if f.subaccount == 0]
        assert len(fills) == 2
        assert sum(f.realized_pnl or Decimal(0) for f in fills) <= Decimal(-2)

    after = one_pass(tmp_path / "after.log")
    trips = [e for e in after if e["event"] == "circuit_breaker"]
    assert trips and Decimal(str(trips[0]["realized_pnl"])) <= Decimal(-2)
    assert [e for e in after if e["event"] == "order_placed"] == []
    with Store.open(state) as store:
        assert store.trading.trading_state().state == "REDUCING"
