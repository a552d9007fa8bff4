"""`kalshi --state <a paper session's state file> cancel-all` cancels the real account's orders
(the kill switch is never refused), so it must halt what trades on the account: a live
`kalshi trade` on the account's own state file, the one the paper file is named beside
(`<state>.paper-<env>.db`). It halts that file and records the cancellations there, never in
the paper file. When the account's file cannot be told from the paper file's name, the cancels
still go out and the report says that no live loop was halted: NOT PROVEN, exit 11, never a
"trading state: HALTED" with exit 0 while a live loop re-quotes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.store.paper import paper_state_path
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.simproc import Book, client_for

TICKER = "KXPAPERKILL-SIM-A"


def kalshi(home: Path, account: AccountInfo, *args: str) -> Result:
    context = AppContext(
        environ={
            "KALSHI_HOME": str(home / "home"),
            "KALSHI_ENV": "sim",
            "KALSHI_API_BASE": account.api_base,
            "KALSHI_API_KEY_ID": account.key_id,
            "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
        }
    )
    return CliRunner().invoke(
        app, list(args), obj=context, env={"COLUMNS": "120", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def a_resting_order(sim: SimHarness) -> str:
    sim.create_market(TICKER)
    return Book(client_for(sim.account), TICKER).order(BookSide.BID, "0.10", "1", TimeInForce.GTC)


def resting(sim: SimHarness) -> list[str]:
    orders = client_for(sim.account).orders.iter_orders(ticker=TICKER, status="resting")
    return [o.order_id for o in orders]


def trading_state(path: Path) -> str:
    with Store.open(path) as store:
        return store.trading.trading_state().state


def cancelled_in(path: Path) -> list[dict[str, object]]:
    with Store.open(path) as store:
        return [e.data for e in store.entries.read(kind="kill_switch_result")]


def test_the_kill_switch_on_a_paper_file_halts_the_accounts_own_state_file(
    sim: SimHarness, tmp_path: Path
) -> None:
    live = tmp_path / "state.db"
    assert kalshi(tmp_path, sim.account, "--state", str(live), "reconcile").exit_code == 0
    assert trading_state(live) == "ACTIVE"
    paper = paper_state_path(live, "sim")
    Store.open(paper).close()
    order_id = a_resting_order(sim)

    done = kalshi(tmp_path, sim.account, "--state", str(paper), "cancel-all", "--json")

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["proven"] is True and report["halted"] is True
    assert report["state_recorded"] is True
    assert order_id in report["cancelled"]
    assert resting(sim) == []
    # the live loop on the account's state file reads HALTED, and its cancellations are there
    assert trading_state(live) == "HALTED"
    assert len(cancelled_in(live)) == 1
    # the paper session's file was not written as if the account's orders were its own
    assert trading_state(paper) != "HALTED"
    assert cancelled_in(paper) == []
    assert str(live) in done.stderr  # it says which state file it halted


def test_the_kill_switch_on_a_paper_file_whose_live_file_cannot_be_told_says_not_halted(
    sim: SimHarness, tmp_path: Path
) -> None:
    # no state file beside it pairs with it: the account's own may be anywhere
    paper = paper_state_path(tmp_path / "state.db", "sim")
    Store.open(paper).close()
    order_id = a_resting_order(sim)

    done = kalshi(tmp_path, sim.account, "--state", str(paper), "cancel-all", "--json")

    assert done.exit_code == ExitCode.NOT_PROVEN, done.output
    report = json.loads(done.stdout)
    assert order_id in report["cancelled"]  # the cancels went out all the same
    assert resting(sim) == []
    assert report["halted"] is False and report["proven"] is False
    assert "no live trade loop was halted" in report["state_error"]
    assert "`kalshi halt` without --state" in report["state_error"]
    assert report["errors"][-1] == report["state_error"]
    assert trading_state(paper) != "HALTED"
    assert cancelled_in(paper) == []

    text = kalshi(tmp_path, sim.account, "--state", str(paper), "cancel-all")
    assert text.exit_code == ExitCode.NOT_PROVEN, text.output
    lines = text.stdout.splitlines()
    assert lines[0].startswith("trading state: NOT HALTED: "), lines[0]
    assert lines[-1].startswith("NOT PROVEN: "), lines[-1]
    assert "no live trade loop was halted" in lines[-1]


def test_the_kill_switch_never_halts_another_accounts_state_file_beside_a_paper_file(
    sim: SimHarness, tmp_path: Path
) -> None:
    live = tmp_path / "state.db"
    other = sim.new_account()
    assert kalshi(tmp_path, other, "--state", str(live), "reconcile").exit_code == 0
    paper = paper_state_path(live, "sim")
    Store.open(paper).close()
    a_resting_order(sim)

    done = kalshi(tmp_path, sim.account, "--state", str(paper), "cancel-all", "--json")

    assert done.exit_code == ExitCode.NOT_PROVEN, done.output
    report = json.loads(done.stdout)
    assert resting(sim) == []
    assert report["halted"] is False
    assert "no live trade loop was halted" in report["state_error"]
    assert trading_state(live) == "ACTIVE"
