"""One rule for a directory that is not there yet (docs/exit-codes.md, "Missing directories"):
a file a command is told to write is written with its missing directories made, the one that
holds a private file (a key, the config file, the trade log) mode 0700; only a state file in a
missing directory is refused (tests/vocabulary/test_exit_codes_user_errors.py)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshi_cli.data.scenario_recording import record_scenario
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets

LAL = "KXNBAGAME-SIM-LALGSW-LAL"

# each command: its arguments writing into `missing` (the sim, a scratch directory), the file it
# writes there, and whether that file is private


def _strategy(missing: Path, _sim: SimHarness, _scratch: Path) -> list[str]:
    return ["strategy", "new", "my-quotes", "--dir", str(missing)]


def _metrics(missing: Path, _sim: SimHarness, _scratch: Path) -> list[str]:
    return ["metrics", "--no-exchange", "--textfile", str(missing / "k.prom")]


def _backtest(missing: Path, _sim: SimHarness, scratch: Path) -> list[str]:
    data = record_scenario("default", scratch / "data", seconds=20, tickers=[LAL])
    return ["backtest", "--strategy", "spike", "--data", str(data),
            "--html", str(missing / "r.html")]  # fmt: skip


def _export(missing: Path, _sim: SimHarness, scratch: Path) -> list[str]:
    data = record_scenario("default", scratch / "data", seconds=20, tickers=[LAL])
    return ["data", "export", str(data), "--out", str(missing / "book.csv")]


def _config(missing: Path, _sim: SimHarness, _scratch: Path) -> list[str]:
    return ["--config", str(missing / "c.yaml"), "config", "init"]


def _key(missing: Path, _sim: SimHarness, _scratch: Path) -> list[str]:
    return ["key", "generate", "--name", "r", "--type", "ed25519", "--scope", "read",
            "--out", str(missing / "r.pem")]  # fmt: skip


def _trade(missing: Path, sim: SimHarness, _scratch: Path) -> list[str]:
    (ticker,) = make_markets(sim, 1)
    return ["trade", "--strategy", "market-maker", "--markets", ticker, "--no-order-group",
            "--max-ticks", "1", "--log-file", str(missing / "trade.log")]  # fmt: skip


Case = Callable[[Path, SimHarness, Path], list[str]]
CASES: dict[str, tuple[Case, str, bool]] = {
    "strategy new --dir": (_strategy, "my_quotes.py", False),
    "metrics --textfile": (_metrics, "k.prom", False),
    "backtest --html": (_backtest, "r.html", False),
    "data export --out": (_export, "book.csv", False),
    "config init": (_config, "c.yaml", True),
    "key generate --out": (_key, "r.pem", True),
    "trade --log-file": (_trade, "trade.log", True),
}


@pytest.mark.parametrize("command", CASES)
def test_a_file_a_command_is_told_to_write_gets_its_missing_directories(
    command: str, kalshi: Kalshi, prime: SimHarness, tmp_path: Path
) -> None:
    case, name, private = CASES[command]
    missing = tmp_path / "not" / "yet"
    done = kalshi(*case(missing, prime, tmp_path))
    assert done.exit_code == 0, done.output
    assert (missing / name).is_file()
    if private:  # nobody else may list what is in it
        assert stat.S_IMODE(missing.stat().st_mode) == 0o700
