"""A running trade loop whose state file starts failing mid-session (docs/safety.md guarantee 16).

The loop runs in this process against the simulator over loopback, and the faults are real
SQLite faults on the file the loop writes: `PRAGMA max_page_count` on the loop's own connection
makes a write that needs a new page fail with SQLITE_FULL exactly as a full disk does; `PRAGMA
query_only` makes every write fail with SQLITE_READONLY, as a file that became unwritable does
(a `chmod` cannot do it: the open connection keeps its descriptors, and root ignores the mode);
a second process holding `BEGIN IMMEDIATE` makes a write fail with "database is locked" once the
loop's busy timeout runs out. What reached the exchange is read from the simulator afterwards,
and `kalshi reconcile` (OrderService.reconcile) must bring the state file back to the exchange's
truth once the file can be written again.
"""

from __future__ import annotations

import io
import resource
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed import MarketData
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import open_session_group
from kalshi_cli.runner.lifecycle.running import run
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.runner.loop.state_fault import withdraw_unrecorded
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.runner.preflight import StartupRefused, reconcile
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import KalshiError, ServerError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.fakes import FakeAlertStateStore, RecordingRouter
from tests.file_limit import NO_BYTECODE
from tests.runner.fakes import DECIDES_IN_STEP, Held, adjusted, make_rig
from tests.runner.lifecycle.test_shutdown_unknown import _lose_next_create
from tests.runner.sim_rig import feed_ready
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    observer_for,
    trade_command,
    trade_env,
)
from tests.waiting import PATIENCE_S, poll_until, wait_until

TICKER = "KXDISK-26-A"
RISK = {"max_orders_per_minute": 1000}  # the default cap of orders a minute plays no part

# Another process that takes the state file's write lock when told (a line on stdin), says so,
# and holds it until the next line.
LOCK_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    print("ready", flush=True)
    sys.stdin.readline()
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
    """
)


@contextmanager
def _lock_holder(state: Path) -> Iterator[tuple[IO[str], IO[str]]]:
    """Another process with the state file open, which takes its write lock when told (`lock`,
    answered `locked`) and lets it go when told again; its pipes in and out. It is running
    before this returns: an interpreter's start-up, seconds on a loaded machine, must not fall
    in the window a test has to take the lock in (a request held a few seconds)."""
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder.stdin, holder.stdout


@dataclass
class Session:
    loop: TradeLoop
    store: Store
    client: KalshiClient
    book: Book
    state: Path
    log: Path
    router: RecordingRouter

    def orders(self) -> list[Order]:
        return list(self.client.orders.iter_orders(ticker=TICKER))

    def resting(self) -> list[Order]:
        return [o for o in self.orders() if o.status == "resting"]

    def events(self, name: str) -> list[dict[str, object]]:
        return [e for e in log_events(self.log) if e["event"] == name]


@pytest.fixture
def session(sim: SimHarness, tmp_path: Path) -> Iterator[Session]:
    with open_session(sim, tmp_path) as s:
        yield s


@contextmanager
def open_session(
    sim: SimHarness,
    tmp_path: Path,
    *,
    timeout_s: float = 10.0,
    send_workers: int = 0,
    trade: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None,
) -> Iterator[Session]:
    """A market-maker loop on its own account, a second account making the book; with
    `send_workers`, its exchange calls go off the deciding path as a live loop's do."""
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    book = Book(other, TICKER)
    book.quote("0.40", "0.60")
    trader = sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(trader.private_key_path))
    client = KalshiClient(
        api_base=trader.api_base, key_id=trader.key_id, private_key=key, timeout=timeout_s
    )
    clock = SystemClock()
    feed = MarketData(
        [TICKER], ws_url=trader.ws_url, auth=KalshiAuth(trader.key_id, key), clock=clock
    )
    state, log_path = tmp_path / "state.db", tmp_path / "trade.log"
    store = Store.open(state, clock=clock)
    log = EntryLog(clock, path=log_path, stderr=None)
    router = RecordingRouter()
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    loop = build_loop(
        LoopInputs(
            client,
            store,
            feed,
            clock,
            log,
            alerts,
            send_workers=send_workers,
            adjust=adjusted(DECIDES_IN_STEP),
        ),
        TradeOptions(strategies=(StrategyChoice("market-maker"),)),
        TradeConfig(strategies={"market-maker": {}}, trade=trade or {}, risk=risk or {}),
        [client.markets.get_market(TICKER)],
    )
    feed.start()
    try:
        wait_until(lambda: feed_ready(feed, [TICKER]), "the first snapshot")
        yield Session(loop, store, client, book, state, log_path, router)
    finally:
        feed.stop()
        alerts.close()
        log.close()
        store.close()
        other.close()
        client.close()


def _quote(s: Session) -> None:
    """One full pass: the market maker rests a bid and an ask."""
    s.loop.tick(s.loop.feed.drain_messages(), full=True)
    assert len(s.resting()) == 2, s.orders()


def _idle_pass(s: Session) -> None:
    """One full pass that places nothing (paused), so its heartbeat is written now and the
    next pass's first write is what trading does."""
    s.loop.gate.toggle_pause()
    s.loop.tick(s.loop.feed.drain_messages(), full=True)
    s.loop.gate.toggle_pause()


def _run_until_it_stops(s: Session) -> KalshiError:
    with pytest.raises(KalshiError) as caught:
        run(s.loop, TradeOptions(strategies=(StrategyChoice("market-maker"),), duration_s=60))
    return caught.value


def _lock_once_an_intent_is_pending(
    state: Path, pipe_in: IO[str], pipe_out: IO[str], then: Callable[[], object] = lambda: None
) -> None:
    """Tell the lock holder to take the lock as soon as an intent is on disk, unanswered; once
    it holds it, do `then`."""
    reader = sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True)
    try:
        pending = "SELECT 1 FROM orders WHERE status = 'pending'"
        # a thread's failure goes unseen: a lock never taken fails the test's own assertions
        poll_until(lambda: reader.execute(pending).fetchone())
    finally:
        reader.close()
    pipe_in.write("lock\n")
    pipe_in.flush()
    pipe_out.readline()
    then()


def _run_with_the_lock_taken_once_an_intent_is_pending(
    s: Session, then: Callable[[], object] = lambda: None
) -> KalshiError:
    """Run the loop; another process takes the state file's write lock as soon as an intent
    is on disk, unanswered, and holds it until the loop has stopped; `then` runs once it holds
    it (on the locking thread)."""
    with _lock_holder(s.state) as (pipe_in, pipe_out):

        def lock_once_an_intent_is_pending() -> None:
            _lock_once_an_intent_is_pending(s.state, pipe_in, pipe_out, then)

        locker = threading.Thread(target=lock_once_an_intent_is_pending)
        locker.start()
        try:
            with s.store.busy_timeout(0.5):
                return _run_until_it_stops(s)
        finally:
            locker.join()
            pipe_in.write("release\n")
            pipe_in.flush()


def _assert_stopped_on_the_state_file(s: Session, error: KalshiError, cause: str) -> None:
    assert error.exit_code == ExitCode.STATE_WRITE_FAILED, error.one_line()
    line = error.one_line()
    assert str(s.state) in line and cause in line, line
    assert "kalshi reconcile" in line, line
    s.loop.stop.alerts.close()  # type: ignore[union-attr]  # delivers what is queued
    sent = [a for a in s.router.sent if a.fingerprint == "trade.state_file_failed"]
    assert len(sent) == 1 and str(s.state) in sent[0].summary and cause in sent[0].summary
    assert s.events("state_file_failed"), "the log says why the loop stopped"


def _assert_reconcile_recovers(s: Session) -> None:
    """With the file writable again, reconcile makes it the exchange's: every order of the
    account has its row with the exchange's status, and every fill is recorded."""
    with Store.open(s.state) as store:
        OrderService(s.client, store, read_lag_s=0.0).reconcile()
        rows = {i.order_id: i.status for i in store.orders.intents(ticker=TICKER) if i.order_id}
        fills = {f.fill_id for f in store.fills.iter_fills()}
    exchange = {o.order_id: o.status for o in s.orders()}
    assert rows == exchange
    assert fills == {f.fill_id for f in s.client.portfolio.iter_fills(ticker=TICKER)}


def test_an_intent_that_cannot_be_recorded_is_never_sent(session: Session) -> None:
    s = session
    _idle_pass(s)
    s.store._conn.execute("PRAGMA query_only = 1")  # every write now fails: SQLITE_READONLY
    error = _run_until_it_stops(s)
    assert s.orders() == [], "nothing reached the exchange without its intent on disk"
    _assert_stopped_on_the_state_file(s, error, "readonly")
    # what a person reads next: how to make the file take writes, and reconcile before trading
    assert error.hint == (
        "make it writable again (free space on its disk, its permissions, or stop the process "
        "holding its lock), then run `kalshi reconcile`, which copies that from the exchange, "
        "before starting the loop again"
    )


def test_an_order_whose_answer_cannot_be_recorded_is_cancelled_on_the_exchange(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The exchange accepts the order while another process holds the state file's write
    lock: the answer cannot be written, but the order exists, so the loop must cancel it."""
    # the loop waits for the answer as long as the test may take to lock the file
    with open_session(sim, tmp_path, timeout_s=PATIENCE_S) as s:
        _idle_pass(s)
        # the first order request is held in the network until the lock is taken: its intent
        # is on disk, and the lock taken, before the exchange accepts it and answers (a hold
        # of 3 s raced the lock on a loaded machine)
        sim.set_faults(hold_request_s=PATIENCE_S * 2)
        error = _run_with_the_lock_taken_once_an_intent_is_pending(s, sim.clear_faults)
        placed = s.orders()
        # the market maker's bid and ask go out as one batch request: that request, nothing
        # after
        assert len(placed) == 2, "the first request reached the exchange, and nothing after it"
        assert s.resting() == [], "the order whose answer was not recorded is not left resting"
        _assert_stopped_on_the_state_file(s, error, "locked")
        _assert_reconcile_recovers(s)


def test_an_order_still_out_when_the_state_file_fails_is_cancelled_once_it_lands(
    sim: SimHarness, tmp_path: Path
) -> None:
    """With send workers (a live loop's default) the loop goes on deciding while an order's
    request is out: a write that fails meanwhile (another process holds the write lock) stops
    the loop with that request still unanswered. The order may land after the stop began, so
    the stop looks it up as one of unknown outcome until it shows, and cancels it."""
    # the answer is waited for longer than the request is held, so it is still out (not a
    # timeout booked as unknown) when the state file fails
    with open_session(sim, tmp_path, send_workers=4, trade={"call_timeout_s": 10}) as s:
        _idle_pass(s)
        # the bid and ask go out as one batch request, held in the network until the stop has
        # begun: the intents are on disk and the lock taken before the exchange accepts them
        sim.set_faults(hold_request_s=PATIENCE_S * 2)

        def clear_once_stopping() -> None:
            wait_until(lambda: s.events("state_file_failed"), "the stop on the state file")
            sim.clear_faults()

        error = _run_with_the_lock_taken_once_an_intent_is_pending(s, clear_once_stopping)
        wait_until(lambda: len(s.orders()) == 2, "the held request reached the exchange")
        assert s.resting() == [], "an order that landed after the stop is not left resting"
        _assert_stopped_on_the_state_file(s, error, "locked")
        _assert_reconcile_recovers(s)


def _in_the_session_group(s: Session) -> str:
    """The session's order group, opened and wired as `kalshi trade` wires it: the loop's
    orders name it and its stop triggers it. Its id."""
    groups = open_session_group(s.client, s.store, TradeConfig(), s.loop.log)
    s.loop.executor.answers.order_groups = groups.by_shard
    s.loop.stop.trigger_group = s.client.order_groups.trigger_order_group
    return groups.by_shard[0]


def test_an_order_still_out_when_the_state_file_fails_is_refused_by_the_order_group(
    sim: SimHarness, tmp_path: Path
) -> None:
    """As above, under the session's order group: the stop looks the order up once, does not
    find it (it is still held in the network), and triggers the group, so the exchange refuses
    the order when it arrives."""
    with open_session(sim, tmp_path, send_workers=4, trade={"call_timeout_s": 10}) as s:
        group = _in_the_session_group(s)
        _idle_pass(s)
        creates = sim.stats()["order_create_requests"]
        sim.set_faults(hold_request_s=PATIENCE_S * 2)  # until cleared once it stopped
        error = _run_with_the_lock_taken_once_an_intent_is_pending(s)
        sim.clear_faults()  # the held request arrives, after the group was triggered
        assert poll_until(lambda: sim.stats()["order_create_requests"] == creates + 1), (
            "the held order request reached the exchange"
        )
        assert s.orders() == [], "the orders that arrived after the stop were refused"
        _assert_stopped_on_the_state_file(s, error, "locked")
        assert group in error.one_line()


def test_a_fill_while_the_state_file_is_locked_is_recovered_by_reconcile(
    session: Session,
) -> None:
    s = session
    _quote(s)
    with _lock_holder(s.state) as (pipe_in, pipe_out):
        pipe_in.write("lock\n")
        pipe_in.flush()
        assert pipe_out.readline().strip() == "locked"
        bid = next(o for o in s.resting() if o.book_side is BookSide.BID)
        s.book.order(BookSide.ASK, f"{bid.yes_price}", f"{bid.remaining_count}", TimeInForce.IOC)
        try:
            with s.store.busy_timeout(0.5):
                error = _run_until_it_stops(s)
        finally:
            pipe_in.write("release\n")
            pipe_in.flush()
    assert s.resting() == [], "the loop's other quote was withdrawn"
    assert [f.order_id for f in s.client.portfolio.iter_fills(ticker=TICKER)] == [bid.order_id]
    _assert_stopped_on_the_state_file(s, error, "locked")
    _assert_reconcile_recovers(s)


def test_a_disk_that_fills_up_mid_session_stops_the_loop_with_nothing_unrecorded_left(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The disk fills up at whatever write needs the next page (an intent, an answer, a
    cancel, a heartbeat): whichever it is, every order on the exchange has its intent in the
    file, none is left resting, and reconcile makes the file whole again. The stop-loss is off:
    a quote the moving market fills must not close the market to the maker (its cool-down) and
    leave the loop writing nothing before the disk is full."""
    with open_session(sim, tmp_path, risk={"stop_loss_share": 0}) as s:
        _fill_the_disk_while_the_market_moves(s)


def _fill_the_disk_while_the_market_moves(s: Session) -> None:
    _quote(s)
    pages = s.store._conn.execute("PRAGMA page_count").fetchone()[0]
    s.store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
    done = threading.Event()

    def move_the_market() -> None:  # the market maker follows it: cancels and new quotes
        prices = (("0.40", "0.60"), ("0.60", "0.70"), ("0.30", "0.40"))
        n = 0
        while not done.is_set():
            n += 1
            s.book.quote(*prices[n % 3])
            done.wait(0.05)

    mover = threading.Thread(target=move_the_market)
    mover.start()
    try:
        error = _run_until_it_stops(s)
    finally:
        done.set()
        mover.join()
    assert s.resting() == [], "no quote left on the exchange"
    with Store.open_readonly(s.state) as store:  # type: ignore[union-attr]
        recorded = {i.client_order_id for i in store.orders.intents(ticker=TICKER)}
    placed = s.orders()
    assert len(placed) > 2, "the loop requoted before the disk filled"
    assert {o.client_order_id for o in placed} <= recorded, "an order left without its intent"
    _assert_stopped_on_the_state_file(s, error, "database or disk is full")
    _assert_reconcile_recovers(s)


@pytest.mark.slow
def test_a_trade_process_whose_disk_fails_every_write_exits_21_with_one_line(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi trade` as a process: once it quotes, its file size limit drops to one byte
    (`prlimit`), so every write to a file fails in the kernel (EFBIG), as on a disk that
    failed: the state file's next write ("disk I/O error") and every line of its log. The
    loop stops with exit 21, one line on stderr and no traceback, and its quotes are gone."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    trader = observer_for(account)  # not the loop's whole read budget
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    home = tmp_path / "home"
    home.mkdir()
    command = trade_command("market-maker", TICKER, log, "--duration", "120")

    def resting() -> list[Order]:
        return list(trader.orders.iter_orders(ticker=TICKER, status="resting"))

    try:
        # stderr is a pipe: the limit is on files, and the error line must get out
        with subprocess.Popen(
            command,
            env={**trade_env(account, home, state), **NO_BYTECODE},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            try:
                assert poll_until(lambda: len(resting()) == 2 or proc.poll() is not None)
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                hard = resource.prlimit(proc.pid, resource.RLIMIT_FSIZE)[1]
                resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, hard))
                _, text = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
        code = proc.returncode
        left = resting()
    finally:
        trader.close()
        other.close()
    assert code == ExitCode.STATE_WRITE_FAILED, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert f"log file {log} cannot be written" in text, "the log's failure is said once"
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"Error: state file {state}") and "disk I/O error" in last, last
    assert left == [], "the loop's quotes were cancelled on the exchange"


def test_an_order_of_unknown_outcome_at_the_failure_is_stopped_by_the_order_group(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The order's answer is lost (held in the network past the client's timeout) and the
    state file is locked before its `unknown` mark: the loop cannot find the order yet (it may
    still land), so it triggers the session's order group, and the exchange refuses the order
    when it arrives. The hold ends when the stop is over: one timed to end a few seconds in
    raced the stop on a loaded machine, the order landing before the group was triggered. The
    client's 5 s leave it time to send the request whole (cut short, it never lands) and the
    test to take the lock before the mark."""
    with (
        open_session(sim, tmp_path, timeout_s=5.0) as s,
        _lock_holder(s.state) as (pipe_in, pipe_out),
    ):
        group = _in_the_session_group(s)
        _idle_pass(s)
        creates = sim.stats()["order_create_requests"]
        sim.set_faults(hold_request_s=PATIENCE_S * 2)  # until cleared once it stopped
        locker = threading.Thread(
            target=_lock_once_an_intent_is_pending, args=(s.state, pipe_in, pipe_out)
        )
        locker.start()
        try:
            with s.store.busy_timeout(0.5):
                error = _run_until_it_stops(s)
        finally:
            locker.join()
            pipe_in.write("release\n")
            pipe_in.flush()
        sim.clear_faults()  # the held request arrives, after the group was triggered
        assert poll_until(lambda: sim.stats()["order_create_requests"] == creates + 1), (
            "the held order request reached the exchange"
        )
        assert s.orders() == [], "the order that landed after the stop was refused"
        _assert_stopped_on_the_state_file(s, error, "locked")
        assert group in error.one_line()


# Runs the rest of the command line with every file it writes limited to LIMIT bytes (EFBIG
# beyond that, as a full disk gives ENOSPC): argv[1] is the limit (tests/file_limit.py: the
# child writes no bytecode).
UNDER_FILE_LIMIT = textwrap.dedent(
    """
    import os, resource, sys
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
    os.execv(sys.argv[2], sys.argv[2:])
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("limit", "cause"),
    [(1, "cannot write the trade lock"), (2048, "disk I/O error")],
    ids=["the-lock-file", "the-state-file"],
)
def test_a_trade_process_that_cannot_write_at_start_exits_21_and_sends_nothing(
    sim: SimHarness, tmp_path: Path, limit: int, cause: str
) -> None:
    """At 1 byte the trade lock's holder line cannot be written; at 2 KiB the lock can, and
    the state file cannot be opened for writing (its WAL index, `-shm`, takes 32 KiB)."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    other.close()
    state, home = tmp_path / "state.db", tmp_path / "home"
    home.mkdir()
    Store.open(state).close()  # the file exists; nothing in it needs the disk to grow to open
    creates = sim.stats()["order_create_requests"]
    command = trade_command("market-maker", TICKER, tmp_path / "trade.log", "--duration", "20")
    done = subprocess.run(
        [sys.executable, "-c", UNDER_FILE_LIMIT, str(limit), *command],
        env={**trade_env(account, home, state), **NO_BYTECODE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == ExitCode.STATE_WRITE_FAILED, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and cause in last, last
    assert sim.stats()["order_create_requests"] == creates, "nothing was sent"


def test_a_start_whose_reconcile_cannot_write_refuses_with_exit_21(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The start's reconcile imports the exchange's orders and fills into the state file; when
    that write fails, the start is refused with the state file's code, not 1."""
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    client = client_for(trader)
    try:
        Book(client, TICKER).quote("0.40", "0.60")  # an order reconcile must import
        with Store.open(tmp_path / "state.db") as store:
            store._conn.execute("PRAGMA query_only = 1")
            with pytest.raises(StartupRefused) as refused:
                reconcile(client, store, SystemClock(), 0.0)
    finally:
        client.close()
    assert refused.value.exit_code == ExitCode.STATE_WRITE_FAILED, refused.value.one_line()
    assert "readonly" in refused.value.one_line()
    assert "make the state file writable again" in refused.value.one_line()


class _FullDiskStream(io.StringIO):
    """stderr redirected to a file on the disk that just filled up (`kalshi trade ... 2>>
    trade.err` from cron): every flush fails with ENOSPC, as a real file's does."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        raise OSError(28, "No space left on device")


def test_a_full_disk_under_stderr_too_still_withdraws_the_quotes(session: Session) -> None:
    s = session
    _quote(s)
    stderr = _FullDiskStream()
    s.loop.log._stderr = stderr
    s.store._conn.execute("PRAGMA query_only = 1")  # the state file takes no write either
    error = _run_until_it_stops(s)
    assert error.exit_code == ExitCode.STATE_WRITE_FAILED, error.one_line()
    assert s.resting() == [], error.one_line()
    assert stderr.flushes == 1, "a failing stderr is given up after its first failure"


def test_a_line_stderr_cannot_take_is_dropped_not_raised(tmp_path: Path) -> None:
    stderr = _FullDiskStream()
    log = EntryLog(ManualClock(), path=tmp_path / "trade.log", stderr=stderr)
    try:
        log.emit("stopped", {"reason": "duration reached"})
        log.emit("stopped", {"reason": "again"})
    finally:
        log.close()
    assert stderr.flushes == 1, "given up after its first failure"
    # the log file still has every line
    assert (tmp_path / "trade.log").read_text().count('"event":"stopped"') == 2


def test_an_order_of_unknown_outcome_at_a_state_failure_without_a_group_does_not_rest(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A review's find: a stop on a failed state file with `--no-order-group` looked the order of
    unknown outcome up once and, with no group to trigger, left it to land after the stop and
    rest. Lookups and cancels need no write, so the stop waits for it as a shutdown does. The
    client's deadline is half the 4 s hold: the answer is lost whenever the request arrived,
    and the client has 2 s to send it whole."""
    with (
        open_session(sim, tmp_path, timeout_s=2.0) as s,
        _lock_holder(s.state) as (pipe_in, pipe_out),
    ):
        assert s.loop.executor.answers.order_groups == {}  # --no-order-group
        _idle_pass(s)
        creates = sim.stats()["order_create_requests"]
        sim.set_faults(hold_request_s=4)
        locker = threading.Thread(
            target=_lock_once_an_intent_is_pending, args=(s.state, pipe_in, pipe_out)
        )
        locker.start()
        try:
            with s.store.busy_timeout(0.5):
                error = _run_until_it_stops(s)
        finally:
            locker.join()
            pipe_in.write("release\n")
            pipe_in.flush()
        assert poll_until(lambda: sim.stats()["order_create_requests"] == creates + 1), (
            "the held order request reached the exchange"
        )
        lost = set(s.loop.executor.unknown_orders.unknown)
        assert lost, "the loop knew of an order of unknown outcome at the stop"
        resting = [o.client_order_id for o in s.resting()]
        assert not lost & set(resting), f"the lost order {lost} landed after the stop and rests"
        assert resting == []
        _assert_stopped_on_the_state_file(s, error, "locked")


# a stop deadline longer than the landing window, so the window alone bounds a wait
LONG_STOP = {"stop_deadline_s": LANDING_WINDOW_S + 20}


def test_a_state_failure_stop_without_a_group_waits_only_until_the_lost_order_cannot_land(
    tmp_path: Path,
) -> None:
    """The wait of a stop on a failed state file (no group) is a shutdown's: bounded by
    LANDING_WINDOW_S (under a stop deadline longer than it), writing nothing; an order that
    never landed is not reported left."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, settings=LONG_STOP)
    coid = _lose_next_create(rig, Held(10_000.0))  # lost for good
    failed_at = rig.loop.executor.unknown_orders.unknown[coid].since
    done = withdraw_unrecorded(rig.loop)
    waited = rig.clock.monotonic() - failed_at
    assert LANDING_WINDOW_S <= waited < LANDING_WINDOW_S + 5
    assert done.left == [] and done.groups_triggered == []
    assert rig.store.orders.get_intent(coid).status == "unknown", "nothing written"
    assert rig.loop.log.counts.get("shutdown_waits_unknown") == 1


def test_a_second_interrupt_stops_the_wait_of_a_state_failure_stop(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, Held(10_000.0))
    abandon = threading.Event()
    lookup = rig.client.find_order_by_client_id

    def interrupted(client_order_id: str, ticker: str) -> Order | None:
        abandon.set()  # the person presses Ctrl-C again while the stop waits
        return lookup(client_order_id, ticker)

    rig.client.find_order_by_client_id = interrupted  # type: ignore[method-assign]
    before = rig.clock.monotonic()
    done = withdraw_unrecorded(rig.loop, abandon)
    assert rig.clock.monotonic() - before <= 1.0, "the wait ends at the next look"
    assert done.left == [coid]
    assert "`kalshi cancel-all` takes them" in done.text()


def test_an_exchange_that_does_not_answer_bounds_the_wait_of_a_state_failure_stop(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, settings=LONG_STOP)
    coid = _lose_next_create(rig, Held(10_000.0))
    failed_at = rig.loop.executor.unknown_orders.unknown[coid].since
    rig.client.lookup_errors.extend([ServerError("down", status=503)] * 1000)
    done = withdraw_unrecorded(rig.loop)
    waited = rig.clock.monotonic() - failed_at
    assert LANDING_WINDOW_S <= waited < LANDING_WINDOW_S + 5, "no longer than the window"
    assert done.left == [coid], "it may still land: said, for `kalshi cancel-all`"


def test_a_state_failure_stop_lets_no_call_still_waiting_for_a_worker_go_out(
    tmp_path: Path,
) -> None:
    """A call the loop decided before its state file failed, still waiting for a send worker
    (the only one held by a slow request), is dropped by the stop: it would otherwise leave
    after the stop looked up what was in flight, an order nobody manages."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, send_workers=1)
    dispatch = rig.loop.dispatch
    taken, release = threading.Event(), threading.Event()
    made: list[str] = []

    def held() -> None:
        taken.set()
        release.wait(30)

    dispatch.send(("A",), held, lambda _: None)
    assert taken.wait(30), "the worker took the slow call"
    dispatch.send(("B",), lambda: made.append("B"), lambda _: None)  # waits for the worker
    try:
        withdraw_unrecorded(rig.loop)
    finally:
        release.set()
    worker = dispatch._threads[0]
    wait_until(lambda: made or not worker.is_alive(), "the worker ends or makes the call")
    assert made == [], "a call left after the state-file stop"


def test_a_state_failure_stop_waits_for_no_order_whose_request_never_left(
    tmp_path: Path,
) -> None:
    """An order whose request was still waiting for a send worker when the state file failed
    is dropped by the stop and so can never land: the stop neither waits the landing window
    for it nor reports it as one that may still rest; it says it was never sent."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, send_workers=1)
    dispatch = rig.loop.dispatch
    taken, release = threading.Event(), threading.Event()

    def held() -> None:
        taken.set()
        release.wait(30)

    dispatch.send(("A",), held, lambda _: None)
    assert taken.wait(30), "the worker took the slow call"
    ticker = next(iter(rig.exchange.reference.markets))
    intent = Intent(ticker, Side.YES, Action.BUY, Decimal("0.01"), Decimal(1), Decimal("0.5"), "")
    rig.loop.executor.outbox.send(intent, batch=False, then=lambda _: None)
    (coid,) = rig.loop.executor.answers.in_flight.intents
    before = rig.clock.monotonic()
    try:
        done = withdraw_unrecorded(rig.loop)
    finally:
        release.set()
    assert rig.clock.monotonic() - before < 1.0, "no landing window waited for it"
    assert done.left == [] and done.never_sent == [coid]
    assert "never sent" in done.text()
    assert [r for r in rig.client.requests if r.client_order_id == coid] == []
