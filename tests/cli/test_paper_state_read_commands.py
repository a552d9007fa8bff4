"""`kalshi --state <a paper session's state file> pnl` (and `positions`), the way the docs give
to read a paper session's P&L, report from that file alone: the real account's fills and
settlements are never brought into it (they would make its P&L the account's and refuse the
next paper start for an "open position"), and it is never compared with the real account."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.store import Store
from kalshi_cli.store.paper import paper_state_path
from kalshi_cli.store.records import FillRecord
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.simproc import Book, client_for

TICKER = "KXPAPERPNL-SIM-A"
PAPER_TICKER = "KXPAPERPNL-SIM-B"


def _paper_file_beside_a_real_fill(sim: SimHarness, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A real account with a fill on TICKER, and a paper session's state file holding one paper
    fill of its own on PAPER_TICKER."""
    sim.create_market(TICKER)
    sim.create_market(PAPER_TICKER)
    maker = client_for(sim.new_account(balance_cents=100_000_000))
    Book(maker, TICKER).quote("0.40", "0.60")
    Book(maker, PAPER_TICKER).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=100_000_000)
    Book(client_for(account), TICKER).order(BookSide.BID, "0.60", "3", TimeInForce.IOC)
    paper = paper_state_path(tmp_path / "state.db", "sim")
    with Store.open(paper) as store:
        store.fills.record_fill(
            FillRecord(
                "paper-fill", "paper-order", None, PAPER_TICKER, BookSide.BID, Decimal("0.60"),
                Decimal(2), Decimal(0), True, 1.0,
            )
        )  # fmt: skip
    env = {
        **os.environ,
        "KALSHI_HOME": str(tmp_path / "home"),
        "KALSHI_ENV": "sim",
        "KALSHI_API_BASE": account.api_base,
        "KALSHI_WS_URL": account.ws_url,
        "KALSHI_API_KEY_ID": account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
    }
    return paper, env


def _kalshi(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`kalshi ARGS` in-process, with the `KALSHI_*` settings of `env`."""
    context = AppContext(environ={k: v for k, v in env.items() if k.startswith("KALSHI_")})
    done = CliRunner().invoke(app, args, obj=context, env={"COLUMNS": "80"}, prog_name="kalshi")
    return subprocess.CompletedProcess(args, done.exit_code, done.stdout, done.stderr)


def _fill_ids(path: Path) -> list[str]:
    with Store.open(path) as store:
        return [f.fill_id for f in store.fills.iter_fills()]


def test_pnl_of_a_paper_state_file_reports_the_paper_book_alone(
    sim: SimHarness, tmp_path: Path
) -> None:
    paper, env = _paper_file_beside_a_real_fill(sim, tmp_path)
    done = _kalshi(env, "--state", str(paper), "pnl", "--json")
    assert done.returncode == 0, done.stderr
    assert _fill_ids(paper) == ["paper-fill"]  # the real account's fill was not brought in
    report = json.loads(done.stdout)
    assert report["paper"] is True
    assert [(r["market"], r["fills"]) for r in report["rows"]] == [(PAPER_TICKER, 1)]
    # never compared with the real account, which holds TICKER and not PAPER_TICKER
    assert report["cross_checked"] is False
    assert report["differences"] == []
    # the paper position is still marked at the exchange's public book (bid 0.40, cost 0.60)
    assert report["unrealized_pnl"] == "-0.4000"
    text = _kalshi(env, "--state", str(paper), "pnl")
    assert "paper session" in text.stdout + text.stderr


def test_positions_of_a_paper_state_file_are_the_paper_books_alone(
    sim: SimHarness, tmp_path: Path
) -> None:
    paper, env = _paper_file_beside_a_real_fill(sim, tmp_path)
    done = _kalshi(env, "--state", str(paper), "positions", "--json")
    assert done.returncode == 0, done.stderr
    assert _fill_ids(paper) == ["paper-fill"]
    view = json.loads(done.stdout)
    assert view["paper"] is True
    (row,) = view["positions"]
    assert (row["ticker"], row["contracts"], row["mark_bid"]) == (PAPER_TICKER, "2.00", "0.4000")
    assert row["differences"] == [] and row["exchange"] is None
    text = _kalshi(env, "--state", str(paper), "positions")
    assert "paper session" in text.stdout + text.stderr
    assert "on the exchange" not in text.stdout + text.stderr


def test_the_live_state_file_still_brings_in_the_accounts_fills(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The other side of the rule: a live state file is still brought up to date."""
    _, env = _paper_file_beside_a_real_fill(sim, tmp_path)
    live = tmp_path / "state.db"
    Store.open(live).close()
    done = _kalshi(env, "--state", str(live), "pnl", "--json")
    assert done.returncode == 0, done.stderr
    assert len(_fill_ids(live)) == 1
    report = json.loads(done.stdout)
    assert report["paper"] is False and report["cross_checked"] is True
