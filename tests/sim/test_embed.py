"""Embedding, persistence across restarts, the data-dir lock, and `serve`."""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path

import httpx
import pytest

from kalshi_cli.sim.core.journal import JournalError
from kalshi_cli.sim.server.embed import (
    RunningSimulator,
    SimulatorBusy,
    ensure_simulator,
    prepare,
    release,
    simulator_status,
    start_simulator,
)
from tests.conftest import SimHarness
from tests.wire import order_body


def test_account_json_has_exactly_the_five_keys(sim: SimHarness) -> None:
    data = json.loads((sim.data_dir / "account.json").read_text())
    assert set(data) == {"api_base", "ws_url", "key_id", "private_key_path", "key_type"}
    assert data["key_type"] == "rsa"
    assert data == sim.account.to_json()
    assert os.stat(data["private_key_path"]).st_mode & 0o777 == 0o600
    assert data["api_base"].startswith("http://127.0.0.1:")


def test_a_restart_keeps_accounts_orders_and_positions(tmp_path: Path) -> None:
    order = order_body("KXEMB-26-A", count="2")
    with start_simulator(tmp_path, scenario="empty") as first:
        harness = SimHarness(first)
        harness.create_market("KXEMB-26-A")
        placed = harness.place_order(first.account, order)
        order_id = placed.json()["order_id"]
        key_id = first.account.key_id
        harness.http.close()
    with start_simulator(tmp_path, scenario="empty") as second:
        assert second.account.key_id == key_id
        harness = SimHarness(second)
        got = harness.signed(second.account, "GET", f"/portfolio/orders/{order_id}")
        assert got.json()["order"]["status"] == "resting"
        harness.http.close()


def test_one_data_dir_one_simulator(tmp_path: Path) -> None:
    with start_simulator(tmp_path, scenario="empty") as running:
        with pytest.raises(SimulatorBusy):
            start_simulator(tmp_path, scenario="empty")
        # ensure_simulator finds the one already serving the directory
        assert ensure_simulator(tmp_path, scenario="empty") == running.account


def test_serve_answers_and_another_process_reuses_it(tmp_path: Path) -> None:
    code = (
        "from kalshi_cli.sim.server.serve import serve; "
        f"serve('127.0.0.1', 0, {str(tmp_path)!r}, 'empty', 1.0, 'basic', 100000)"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines: list[str] = []
            while not lines or lines[-1].strip() != "}":
                lines.append(proc.stdout.readline())
            account = json.loads("".join(lines))
            assert httpx.get(account["api_base"] + "/exchange/status").status_code == 200
            assert account == json.loads((tmp_path / "account.json").read_text())
            assert ensure_simulator(tmp_path).to_json() == account
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_start_simulator_options_resolve_and_each_is_a_keyword_of_prepare() -> None:
    """A library user can read `start_simulator`'s type hints at run time (`get_type_hints`,
    as a validating wrapper or a documentation tool does), and every option it accepts is one
    that `prepare` takes."""
    hints = typing.get_type_hints(start_simulator)
    (options,) = typing.get_args(hints["options"])  # Unpack[SimulatorOptions]
    assert options.__optional_keys__ == set(options.__annotations__)
    assert set(options.__annotations__) <= set(inspect.signature(prepare).parameters)


def test_stopping_the_simulator_waits_out_no_fixed_pause(tmp_path: Path) -> None:
    """Stop returns once the server has closed its connections and run its shutdown, not after
    uvicorn's fixed pauses (its 0.1 s loop tick, its 0.1 s wait after closing connections),
    which every test's simulator and every `kalshi sim` stop paid. The fastest of three stops
    with an idle keep-alive connection open (whose closing is what shutdown waits for)."""
    stops = []
    for attempt in range(3):
        running = start_simulator(tmp_path / str(attempt), scenario="empty")
        with httpx.Client() as client:  # left open: the server closes its idle connection
            assert client.get(running.base_url + "/trade-api/v2/exchange/status").is_success
            started = time.perf_counter()
            running.stop()
            stops.append(time.perf_counter() - started)
        assert not running._thread.is_alive()
        assert not (running.data_dir / "server.json").exists()
    # each of uvicorn's pauses is 0.1 s: the bound is just below one, not a fraction of it, so
    # that a busy machine's stall of all three stops cannot reach it
    assert min(stops) < 0.1, stops


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_every_connection_sends_its_answer_at_once_on_either_event_loop(
    tmp_path: Path, loop: str
) -> None:
    """Each connection the simulator accepts has Nagle's algorithm off, on asyncio's own event
    loop (a platform without uvloop) as on uvloop: an answer's head and body go out as they are
    written, not held for the client's delayed acknowledgement (some 40 ms an answer on Linux).
    asyncio turns it off only for a listening socket made with the TCP protocol named."""
    prepared = prepare(tmp_path, scenario="empty")
    prepared.server.config.loop = loop  # what uvicorn runs when uvloop is not installed
    with RunningSimulator(prepared) as running, httpx.Client() as client:
        running._start()
        for _ in range(2):  # the second on the kept-alive connection
            assert client.get(running.base_url + "/trade-api/v2/exchange/status").is_success
        connections = list(prepared.server.server_state.connections)
        assert len(connections) == 1
        sock = connections[0].transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_journal_that_cannot_be_replayed_names_the_recovery_that_keeps_the_account(
    tmp_path: Path,
) -> None:
    first = prepare(tmp_path, scenario="empty")
    key_id = first.account.key_id
    release(first)
    journal = tmp_path / "exchange.journal"
    with journal.open("a") as f:  # a record this exchange cannot apply (no such order)
        f.write(json.dumps({"op": "cancel", "ts": 1.0, "account_id": "x", "order_id": "y"}) + "\n")
    with pytest.raises(JournalError) as refused:
        prepare(tmp_path, scenario="empty")
    why = str(refused.value)
    assert "journal record cancel at 1.0 no longer applies" in why
    assert "with the same account" in why
    assert simulator_status(tmp_path)["start_failed"] == why  # what `kalshi sim status` says
    subprocess.run(why.rsplit("set the journal aside: ", 1)[1], shell=True, check=True)
    again = prepare(tmp_path, scenario="empty")
    try:
        assert again.account.key_id == key_id  # the key the state files are bound to
        assert again.state.exchange.subaccounts.account_by_key(key_id) is not None
    finally:
        release(again)
    assert "start_failed" not in simulator_status(tmp_path)
