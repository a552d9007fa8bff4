"""A paper session's state file (`kalshi trade --paper`: `<state>.paper-<env>.db`) holds a local
venue's orders and fills, never the account's. A command that acts on the account (an order,
a cancel, a reconcile, the assistant's writes) given it would send to the real exchange and
book the answer where the account's state file never sees it, and the paper session's P&L would
take real fills: it is refused before anything is sent or written. Halting and resuming the
paper session on its own file stay allowed, and the kill switch is never refused."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness

TICKER = "KXPAPER-26JAN01-T1"


def kalshi(home: Path, account: AccountInfo, *args: str) -> Result:
    context = AppContext(
        environ={
            "KALSHI_HOME": str(home / "home"),
            "KALSHI_API_BASE": account.api_base,
            "KALSHI_API_KEY_ID": account.key_id,
            "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
        }
    )
    return CliRunner().invoke(
        app, list(args), obj=context, env={"COLUMNS": "120", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def requests(sim: SimHarness) -> int:
    return int(sim.stats()["accounts"].get(sim.account.key_id, {}).get("total_requests", 0))


def test_commands_acting_on_the_account_refuse_a_paper_sessions_state_file(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    paper = tmp_path / "state.paper-sim.db"
    sent = requests(sim)
    for args in (
        ("order", "place", TICKER, "--side", "yes", "--action", "buy", "--count", "1",
         "--price", "0.10", "--yes"),
        ("order", "cancel", "some-order-id"),
        ("reconcile",),
    ):  # fmt: skip
        result = kalshi(tmp_path, sim.account, "--state", str(paper), *args)
        assert result.exit_code == ExitCode.USAGE, (args, result.output)
        assert "paper session's state file" in result.stderr, result.stderr
        assert "nothing was sent" in result.stderr
    assert requests(sim) == sent
    assert not paper.exists()


def test_a_paper_session_is_still_halted_and_resumed_on_its_own_file(
    sim: SimHarness, tmp_path: Path
) -> None:
    paper = tmp_path / "state.paper-sim.db"
    halted = kalshi(tmp_path, sim.account, "--state", str(paper), "halt", "--reason", "test")
    assert halted.exit_code == 0, halted.output
    resumed = kalshi(tmp_path, sim.account, "--state", str(paper), "resume")
    assert resumed.exit_code == 0, resumed.output
