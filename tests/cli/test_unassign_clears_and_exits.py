"""`kalshi trade --unassign TICKER` clears the market's assignment in the state file and exits:
no lineup starts, nothing is sent. Its tickers are checked as every command's are (an unknown
market exits NOT_FOUND, an empty one is a usage error), and it runs alone (with `--assign` or any
option of a loop it is refused); a refusal writes nothing. In-process, on the prime simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, state_path

TICKER = "KXUN-26JAN01-T1"
OTHER = "KXUN-26JAN01-T2"


@pytest.fixture
def assigned(prime: SimHarness, tmp_path: Path) -> Path:
    """Two open markets, each assigned to spike in the account's state file, and a config
    whose lineup a loop would start."""
    for ticker in (TICKER, OTHER):
        prime.create_market(ticker)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.yaml").write_text("trade:\n  strategies: [spike]\n")
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Store.open(path) as store:
        store.trading.set_assignments({TICKER: "spike", OTHER: "spike"})
    return path


def assignments(path: Path) -> dict[str, str]:
    with Store.open(path) as store:
        return store.trading.assignments()


@pytest.mark.timeout(120)  # the old code ran a loop here until it was killed
def test_unassign_clears_the_assignment_and_exits_without_trading(
    kalshi: Kalshi, assigned: Path, client: KalshiClient
) -> None:
    done = kalshi("trade", "--unassign", TICKER)
    assert done.exit_code == 0, done.output
    assert assignments(assigned) == {OTHER: "spike"}
    assert f"{TICKER}: cleared (was spike's)" in done.output
    assert list(client.orders.iter_orders()) == []  # no loop quoted anything
    again = kalshi("trade", "--unassign", TICKER)
    assert again.exit_code == 0 and f"{TICKER}: had no assignment" in again.output


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--unassign", "NOPE-X"], ExitCode.NOT_FOUND, "unknown ticker NOPE-X"),
        (["--unassign", TICKER, "--unassign", "NOPE-X"], ExitCode.NOT_FOUND, "NOPE-X"),
        (["--unassign", ""], ExitCode.USAGE, "cannot be empty"),
        (["--unassign", "  "], ExitCode.USAGE, "cannot be empty"),
        (["--assign", f"spike:{TICKER}", "--unassign", TICKER], ExitCode.USAGE, "--assign"),
        (["--unassign", TICKER, "--strategy", "spike"], ExitCode.USAGE, "starts no loop"),
    ],
)
def test_a_refused_unassign_writes_nothing(
    kalshi: Kalshi, assigned: Path, args: list[str], code: int, says: str
) -> None:
    done = kalshi("trade", *args)
    assert done.exit_code == code, done.output
    assert says in done.output
    assert assignments(assigned) == {TICKER: "spike", OTHER: "spike"}
