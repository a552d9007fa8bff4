"""A running `kalshi trade` keeps the state file it opened. Once that file is deleted or
replaced under it, `kalshi halt`, `cancel-all`, `resume` and `status` at the path would act on
a file the loop never reads: they say so, and the kill switch never reports PROVEN for a halt
the loop cannot see (it still cancels on the exchange). The loop stand-in holds the trade lock
and notes its open file in it, as `run_trade` does."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kalshi_cli.runner.lifecycle.lock import acquire
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_kill_switch_on_a_paper_state_file import a_resting_order, kalshi, resting
from tests.conftest import SimHarness


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_halt_at_a_path_whose_file_the_running_loop_no_longer_holds_is_not_proven(
    sim: SimHarness, tmp_path: Path, how: str
) -> None:
    path = tmp_path / "state.db"
    assert kalshi(tmp_path, sim.account, "--state", str(path), "reconcile").exit_code == 0
    order_id = a_resting_order(sim)
    with Store.open(path) as held, acquire(path, account=None, now=time.time()) as lock:
        lock.holds_state(held.identity)
        path.unlink()
        if how == "replaced":
            Store.open(path).close()

        killed = kalshi(tmp_path, sim.account, "--state", str(path), "cancel-all", "--json")
        assert killed.exit_code == ExitCode.NOT_PROVEN, killed.output
        report = json.loads(killed.stdout)
        assert report["proven"] is False and report["halted"] is False
        assert order_id in report["cancelled"] and resting(sim) == []
        assert "has another file open" in report["state_error"]
        for args in (("halt",), ("resume",), ("status",)):
            refused = kalshi(tmp_path, sim.account, "--state", str(path), *args)
            assert refused.exit_code == ExitCode.NOT_PROVEN, (args, refused.output)
            assert "has another file open" in refused.stderr
        assert held.trading.trading_state().state == "ACTIVE"  # nothing reached the loop's
    # no loop holds the path any more: it is this file's own halt again
    assert kalshi(tmp_path, sim.account, "--state", str(path), "halt").exit_code == 0
