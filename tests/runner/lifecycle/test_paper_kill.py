"""The kill switch of a paper loop (services/paper_kill.py, runner/paper.py
`answer_kill`): asked through the paper state file, the running paper loop cancels every order of
its venue with the kill switch's own code, and nothing reaches the exchange."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from kalshi_cli.runner.lifecycle.lock import acquire
from kalshi_cli.services.paper_kill import (
    ANSWER_KEY,
    REQUEST_KEY,
    PaperKillReport,
    kill_paper_loop,
    request,
)
from kalshi_cli.store import Store
from kalshi_cli.store.records import RESTING
from kalshi_cli.store.trade_lock import loop_holder
from kalshi_cli.vocabulary.clock import SystemClock
from tests.runner.paper_rig import paper_rig


def test_the_paper_kill_finds_the_loop_under_every_name_of_its_state_file(tmp_path: Path) -> None:
    """The loop holding a state file is found under the name it was started with, a symlink
    to the file and a hard link of it: a kill asked under any of them is not PROVEN unasked."""
    state = tmp_path / "loop" / "state.paper-sim.db"
    with acquire(state, account=None, now=time.time(), lock_dir=tmp_path) as lock:
        with Store.open(state) as opened:
            lock.holds_state(opened.identity)
        (tmp_path / "link.db").symlink_to(state)
        os.link(state, tmp_path / "hard.db")
        for name in (state, tmp_path / "link.db", tmp_path / "hard.db"):
            holder = loop_holder(name, tmp_path)
            assert holder is not None and holder["pid"] == os.getpid(), name
    for name in (state, tmp_path / "link.db", tmp_path / "hard.db"):
        assert loop_holder(name, tmp_path) is None, name


def test_a_kill_request_cancels_every_order_of_the_running_paper_loops_venue(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state) as rig:
        for _ in range(3):
            rig.step(1.0)
        quoted = set(rig.venue.resting_order_ids())
        assert quoted, "the market maker quotes on paper"
        assert rig.loop.portfolio.orders
        # another process asks, through the state file (the dashboard's `k`)
        with Store.open(state, clock=rig.clock) as other:
            request(other, rig.clock, source="kalshi dashboard")
        rig.step(1.0)  # the loop's next full pass sees HALTED and the request
        assert rig.venue.resting_order_ids() == []
        assert not rig.loop.portfolio.orders
        answer = json.loads(rig.store.entries.get_kv(ANSWER_KEY) or "{}")
        assert answer["proven"] is True
        # every quote, by the kill switch itself (it runs before the HALT's own withdrawal)
        assert set(answer["cancelled"]) == quoted
        assert rig.store.trading.trading_state().state == "HALTED"
        assert rig.store.orders.intents(status=[RESTING]) == []
        for _ in range(3):  # HALTED holds: nothing new rests, the request is answered once
            rig.step(1.0)
        assert rig.venue.resting_order_ids() == []
        assert json.loads(rig.store.entries.get_kv(ANSWER_KEY) or "{}")["id"] == answer["id"]
        # the exchange saw no order of the paper account (NoWrites would have failed the test)
        assert rig.exchange.history.orders(rig.real.account_id) == []


def test_the_requester_waits_for_the_running_loops_answer(tmp_path: Path) -> None:
    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state) as rig:
        for _ in range(3):
            rig.step(1.0)
        quoted = len(rig.venue.resting_order_ids())
        assert quoted
        got: list[PaperKillReport] = []
        asking = threading.Thread(
            target=lambda: got.append(
                kill_paper_loop(state, SystemClock(), source="test", deadline_s=30.0)
            )
        )
        asking.start()
        try:
            deadline = 2000
            while not got and deadline:  # the loop ticks until the requester has its answer
                rig.step(1.0)
                asking.join(0.01)
                deadline -= 1
        finally:
            asking.join(60)
        (report,) = got
        assert report.loop_running and report.answered and report.proven
        assert rig.venue.resting_order_ids() == []
        assert any("PROVEN: no paper order left" in x for x in report.lines())


def test_a_paper_loop_that_ends_before_answering_leaves_nothing_resting(tmp_path: Path) -> None:
    """The requester sees the loop's trade lock freed (the process ended: its venue, the only
    place its orders rested, went with it) and says PROVEN without an answer."""
    from kalshi_cli.runner.lifecycle.lock import acquire

    state = tmp_path / "state.paper-sim.db"
    Store.open(state).close()
    got: list[PaperKillReport] = []
    lock = acquire(state, account=None, now=0.0)
    try:
        asking = threading.Thread(
            target=lambda: got.append(
                kill_paper_loop(state, SystemClock(), source="test", deadline_s=30.0)
            )
        )
        asking.start()
        with Store.open(state) as store:  # the request is written while the loop still runs
            for _ in range(2000):
                if store.entries.get_kv(REQUEST_KEY) is not None:
                    break
                asking.join(0.01)
            assert store.entries.get_kv(REQUEST_KEY) is not None
    finally:
        lock.release()  # the loop's process ends without answering
    asking.join(60)
    (report,) = got
    assert report.loop_running and report.ended and report.proven and not report.answered
    assert any("ended before answering" in x for x in report.lines())


def test_a_request_made_while_already_halted_is_answered(tmp_path: Path) -> None:
    """`h` then `k`: the state does not change, and the loop answers all the same (it looks for
    a request on each full pass while HALTED, not only when the state turns)."""
    from kalshi_cli.risk.state import halt

    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state) as rig:
        for _ in range(3):
            rig.step(1.0)
        assert rig.venue.resting_order_ids()
        with Store.open(state, clock=rig.clock) as other:
            halt(other.trading, reason="h", source="kalshi dashboard")
        rig.step(1.0)
        rig.step(1.0)
        assert rig.store.entries.get_kv(ANSWER_KEY) is None  # HALTED alone asks for nothing
        with Store.open(state, clock=rig.clock) as other:
            request_id = request(other, rig.clock, source="kalshi dashboard")
        rig.step(1.0)
        answer = json.loads(rig.store.entries.get_kv(ANSWER_KEY) or "{}")
        assert answer["id"] == request_id and answer["proven"] is True
        assert rig.venue.resting_order_ids() == []


def test_a_paper_state_file_that_cannot_be_opened_is_said_and_proves_only_without_a_loop(
    tmp_path: Path,
) -> None:
    from kalshi_cli.runner.lifecycle.lock import acquire

    state = tmp_path / "state.paper-sim.db"
    state.write_bytes(b"this is not a state file" * 100)
    alone = kill_paper_loop(state, SystemClock(), source="test", deadline_s=5.0)
    assert alone.proven and not alone.halted and not alone.loop_running
    assert any("the paper state file" in e for e in alone.errors)
    assert "halted: NOT recorded" in alone.lines()
    with acquire(state, account=None, now=0.0):  # a loop runs, and cannot be asked
        running = kill_paper_loop(state, SystemClock(), source="test", deadline_s=5.0)
    assert not running.proven and running.loop_running
    assert running.lines()[0].startswith("NOT PROVEN")
