"""On prod an RFQ or quote write that can open a position asks first, and a person may take
minutes to answer. A halt recorded meanwhile (`kalshi cancel-all` from another terminal, a risk
trip) must stop it as it stops `kalshi order place`, whose intent is written with the trading
state read in the same transaction after the prompt: a confirmation sent after the kill switch
proved the account clean would execute when the timer runs out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.config import load_settings
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_rfq_cli import T, ok_json
from tests.conftest import REAL_CLOCK_WINDOW_S, SimHarness
from tests.prime_tier import cli_env, prime_simulator


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    yield from prime_simulator(
        tmp_path, clock=ManualClock(time.time()), auth_window_s=REAL_CLOCK_WINDOW_S
    )


class Party:
    def __init__(self, account: AccountInfo, home: Path) -> None:
        self.account, self.home = account, home

    def __call__(self, *args: str, **extra: str) -> Result:
        context = AppContext(environ=cli_env(self.account, self.home, **extra))
        env = {"COLUMNS": "120", "NO_COLOR": "1"}
        return CliRunner().invoke(app, list(args), obj=context, env=env, prog_name="kalshi")

    def halt(self) -> None:
        """HALTED in the state file the command on prod reads."""
        path = load_settings(environ=cli_env(self.account, self.home, KALSHI_ENV="prod")).state
        with Store.open(path) as store:
            store.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")

    def writes(self, prime: SimHarness) -> int:
        requests = prime.stats()["accounts"].get(self.account.key_id, {"requests": {}})
        return sum(
            n
            for endpoint, n in requests["requests"].items()
            if endpoint.split()[0] in ("POST", "PUT", "DELETE")
        )


@pytest.mark.parametrize("write", ["rfq create", "quote create", "quote accept", "quote confirm"])
def test_a_halt_recorded_while_the_prod_prompt_waits_stops_the_write(
    prime: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    prime.create_market(T)
    requester = Party(prime.account, tmp_path / "requester")
    maker = Party(prime.new_account(), tmp_path / "maker")
    rfq_id = quote_id = ""
    if write != "rfq create":
        rfq_id = ok_json(requester("rfq", "create", T, "--count", "4", "--json"))["rfq_id"]
    if write in ("quote accept", "quote confirm"):
        quoted = maker("quote", "create", rfq_id, "--yes-bid", "0.30", "--no-bid", "0.60", "--json")
        quote_id = ok_json(quoted)["quote_id"]
    if write == "quote confirm":
        ok_json(requester("quote", "accept", quote_id, "--side", "yes", "--json"))

    party, args = {
        "rfq create": (requester, ("rfq", "create", T, "--count", "4")),
        "quote create": (maker, ("quote", "create", rfq_id, "--yes-bid", "0.3", "--no-bid", "0.6")),
        "quote accept": (requester, ("quote", "accept", quote_id, "--side", "yes")),
        "quote confirm": (maker, ("quote", "confirm", quote_id)),
    }[write]
    asked: list[str] = []

    def yes_after_a_halt(text: str, **_: Any) -> bool:
        # the person answers "y" after another terminal's `kalshi cancel-all` recorded HALTED
        asked.append(text)
        party.halt()
        return True

    monkeypatch.setattr(typer, "confirm", yes_after_a_halt)
    before = party.writes(prime)
    result = party(*args, KALSHI_ENV="prod")

    assert len(asked) == 1 and "PROD" in asked[0], result.output
    assert result.exit_code == ExitCode.HALTED, result.output
    assert "HALTED" in result.stderr
    assert party.writes(prime) == before  # nothing sent
