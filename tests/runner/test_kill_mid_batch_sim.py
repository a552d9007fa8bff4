"""`kalshi trade` killed (SIGKILL) while its batch is in the network: the intents are on disk,
the answer never recorded. The batch lands after the kill; the restart's reconciliation finds
every order of it, and the loop places none of them again."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import KalshiError
from tests.conftest import SimHarness
from tests.runner.simproc import Book, client_for, observer_for, trade_command, trade_env
from tests.waiting import wait_until

TICKER = "KXKILLBATCH-SIM-A"


# the batch is held in the network until the test clears the faults, after the kill (seeing the
# hold taken and killing the loop can take seconds on a machine at load 12); this long at most
HOLD_S = 600


def _stderr(err: Path) -> Callable[[], str]:
    return lambda: "the loop; its stderr: " + err.read_text()[-2000:]


def _pending(state: Path) -> set[str]:
    if not state.exists():
        return set()
    try:
        with Store.open(state) as store:
            return {i.client_order_id for i in store.orders.intents(status=["pending"])}
    except KalshiError:  # the loop is still creating the file
        return set()


def _hold_taken(sim: SimHarness) -> bool:
    return float(sim.faults()["hold_request_s"]) == 0


@pytest.mark.slow
def test_a_loop_killed_with_its_batch_in_the_network_finds_every_order_at_restart(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    trader = observer_for(account)
    state, log, err = tmp_path / "state.db", tmp_path / "trade.log", tmp_path / "stderr.txt"
    env = {**trade_env(account, tmp_path / "home", state), "KALSHI_TIMEOUT": "10"}
    command = [*trade_command("market-maker", TICKER, log, "--duration", "120"), "--no-order-group"]
    # the loop's first create (the market maker's bid and ask, one batch) is held in the network
    sim.set_faults(hold_request_s=HOLD_S)
    try:
        with err.open("w") as stderr:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                wait_until(lambda: len(_pending(state)) == 2, _stderr(err))
                # killed once the request is in the network: the exchange took its hold (a
                # kill between the state file's write and the send would never land)
                wait_until(lambda: _hold_taken(sim), _stderr(err))
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        batch = _pending(state)
        assert len(batch) == 2, batch
        sim.clear_faults()  # the held batch lands after the kill
        wait_until(
            lambda: batch <= {o.client_order_id for o in trader.orders.iter_orders(ticker=TICKER)},
            _stderr(err),
        )

        with err.open("w") as stderr:
            again = subprocess.run(
                [*trade_command("market-maker", TICKER, log, "--once"), "--no-order-group"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                timeout=120,
                check=False,
            )
        assert again.returncode == 0, err.read_text()[-2000:]
        resting = list(trader.orders.iter_orders(ticker=TICKER, status="resting"))
        assert {o.client_order_id for o in resting} == batch, resting  # none placed twice
        with Store.open(state) as store:
            rows = {i.client_order_id: i.status for i in store.orders.intents()}
        assert rows == dict.fromkeys(batch, "resting"), rows
    finally:
        other.close()
        trader.close()
