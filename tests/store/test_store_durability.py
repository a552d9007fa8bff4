"""What survives a SIGKILL, and what two connections see of each other."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.units import Action, BookSide, Side

CHILD = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from pathlib import Path
    from kalshi_cli.vocabulary.units import Action, BookSide, Side
    from kalshi_cli.store import FillRecord, IntentRecord, Store

    store = Store.open(Path(sys.argv[1]))
    n = 0
    while True:
        coid = f"c{n:06d}"
        store.orders.record_intent(IntentRecord(coid, "T", BookSide.BID, Decimal("0.42"),
                                         Decimal("1"), Side.YES, Action.BUY))
        store.orders.mark_sent(coid, order_id=f"o{n}", status="resting", fill_count=Decimal(0),
                        remaining_count=Decimal(1))
        store.fills.record_fills(
            FillRecord(f"f{n}-{k}", f"o{n}", coid, "T", BookSide.BID, Decimal("0.42"),
                       Decimal("0.01"), Decimal(0), False, float(n))
            for k in range(100)
        )
        store.entries.log_entry("order_placed", {"n": n})
        print(coid, flush=True)
        n += 1
    """
)


def test_sigkill_mid_write_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    reported: list[str] = []
    try:
        while len(reported) < 30:
            line = proc.stdout.readline()
            assert line, "the writer died before writing anything"
            reported.append(line.strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    with Store.open(path) as store:
        assert store.integrity_check() == "ok"
        intents = {i.client_order_id: i for i in store.orders.intents()}
        for coid in reported:  # everything the writer saw committed is there
            assert intents[coid].status == "resting"
        # whatever was in flight was either all written or not at all
        fills = store.fills.count_fills()
        assert fills % 100 == 0
        assert fills >= 100 * len(reported)
        assert all(i.status in ("pending", "resting") for i in intents.values())


def test_a_reader_is_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as writer, writer.transaction():
        writer.entries.set_kv("k", "uncommitted")
        reader = Store.open_readonly(path)
        assert reader is not None
        with reader:
            assert reader.entries.get_kv("k") is None  # WAL: sees the last commit, no waiting
            assert reader.trading.trading_state().state == "ACTIVE"


def test_a_second_writer_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = Store.open(path)
    inside = threading.Event()
    result: list[str | None] = []

    def second_writer() -> None:
        with Store.open(path) as second:
            inside.set()
            second.entries.set_kv("k", "second")  # blocks until the first commits
            result.append(second.entries.get_kv("k"))

    with first.transaction():
        first.entries.set_kv("k", "first")
        thread = threading.Thread(target=second_writer)
        thread.start()
        assert inside.wait(5)
    thread.join(10)
    first.close()
    assert result == ["second"]


def test_a_store_belongs_to_its_thread(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    errors: list[BaseException] = []

    def use() -> None:
        try:
            store.entries.get_kv("k")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join(5)
    store.close()
    assert errors and "thread" in str(errors[0])


def test_a_killed_writer_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()
    child = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from kalshi_cli.store import Store
        store = Store.open(Path(sys.argv[1]))
        with store.transaction():
            store.entries.set_kv("k", "never committed")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child, str(path)], check=False, timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Store.open(path) as store:
        assert store.entries.get_kv("k") is None
        store.orders.record_intent(
            IntentRecord("c", "T", BookSide.BID, Decimal("0.5"), Decimal(1), Side.YES, Action.BUY)
        )
        assert store.integrity_check() == "ok"


@pytest.mark.parametrize("how", ["open", "open_readonly"])
def test_checks_see_what_the_trade_loop_commits(tmp_path: Path, how: str) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as loop:
        loop.entries.heartbeat(source="trade", detail={"loop": 1})
        check = Store.open(path, create=False) if how == "open" else Store.open_readonly(path)
        assert check is not None
        with check:
            beat = check.entries.last_heartbeat("trade")
            assert beat is not None and beat.detail == {"loop": 1}
            loop.entries.heartbeat(source="trade", detail={"loop": 2})
            beat = check.entries.last_heartbeat("trade")
            assert beat is not None and beat.detail == {"loop": 2}


def _write_a_row(path: Path, session: str) -> None:
    with Store.open(path) as store:
        store.audit.record(session=session, tool="execute", arguments={}, outcome="ok", detail={})


def test_opening_the_file_again_keeps_this_process_locks_on_it(tmp_path: Path) -> None:
    """A process that opens the file while it has it open already (`kalshi mcp`: a Store per
    tool call, on several threads) keeps its locks on it. Were they dropped, another process
    closing would take itself for the last, fold the WAL into the file and delete it under
    this one: rows written on either side are then lost, and the file may end up malformed."""
    path = tmp_path / "state.db"
    spawn = multiprocessing.get_context("spawn")

    def other(session: str) -> None:
        process = spawn.Process(target=_write_a_row, args=(path, session))
        process.start()
        process.join(30)
        assert process.exitcode == 0

    with Store.open(path) as first:
        Store.open(path).close()
        other("other-1")
        _write_a_row_on(first, "first-1")
        other("other-2")
        _write_a_row_on(first, "first-2")
        other("other-3")
    with Store.open(path) as store:
        assert [r.session for r in store.audit.entries()] == [
            "other-1",
            "first-1",
            "other-2",
            "first-2",
            "other-3",
        ]
        assert store.integrity_check() == "ok"


def _write_a_row_on(store: Store, session: str) -> None:
    store.audit.record(session=session, tool="execute", arguments={}, outcome="ok", detail={})


def _write_rows_from_threads(path: Path, process: int, threads: int, rows: int) -> None:
    """As `kalshi mcp` writes: a Store opened per call, on several threads at once, beside one
    held open the whole time (a trade loop's)."""

    def calls(thread: int) -> None:
        for n in range(rows):
            _write_a_row(path, f"p{process}-t{thread}-{n}")

    with Store.open(path) as held:
        workers = [threading.Thread(target=calls, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for n in range(rows):
            _write_a_row_on(held, f"p{process}-held-{n}")
        for worker in workers:
            worker.join()


def test_processes_and_threads_writing_at_once_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()
    spawn = multiprocessing.get_context("spawn")
    processes, threads, rows = 3, 3, 15
    writers = [
        spawn.Process(target=_write_rows_from_threads, args=(path, p, threads, rows))
        for p in range(processes)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    with Store.open(path) as store:
        written = {r.session for r in store.audit.entries()}
        assert store.integrity_check() == "ok"
    expected = {
        f"p{p}-{who}-{n}"
        for p in range(processes)
        for who in ["held", *(f"t{t}" for t in range(threads))]
        for n in range(rows)
    }
    assert written == expected
