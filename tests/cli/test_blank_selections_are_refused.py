"""An empty value never widens what a command touches: every option that narrows a command to some
markets (`--ticker`, `--tickers`, `--market`, `--event`, `--series`, `--assign`: a trade loop, a
backtest, a recording, the kill switch, a stream, a listing) refuses a blank value as a usage error
(exit 2), and the config
keys that narrow the loop (`trade.markets`, `trade.series`, `trade.event`) refuse one as a
config error (exit 3, with file and line). Before, `--event ''` (a script's unset `$EVENT`)
traded every open market, and `watch ticker --tickers ''` streamed every market. In-process, on
the prime simulator; nothing starts and nothing halts. A walk of the whole command tree holds
every option of those spellings to the same refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.models import TyperPath

from kalshi_cli.cli.app import app
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.fakes import run
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path

LOOP = ["--strategy", "arbitrage", "--once", "--dry-run", "--no-order-group"]

OPTIONS = {
    "trade --event": ["trade", *LOOP, "--event", ""],
    "trade --series": ["trade", *LOOP, "--series", " "],
    "trade --tickers": ["trade", *LOOP, "--tickers", ""],
    "trade --ticker": ["trade", *LOOP, "--ticker", ","],
    "trade --markets": ["trade", *LOOP, "--markets", " , "],
    "trade --assign": ["trade", *LOOP, "--assign", ""],
    "backtest --tickers": ["backtest", "--strategy", "spike", "--data", "{data}", "--tickers", ""],
    "record --series": ["record", "--out", "{data}", "--series", "", "--duration", "1"],
    "record --tickers": ["record", "--out", "{data}", "--tickers", ",", "--duration", "1"],
    "data download --event": ["data", "download", "trades", "--out", "{data}", "--event", ""],
    "cancel-all --ticker": ["cancel-all", "--yes", "--ticker", ""],
    "cancel-all --market": ["cancel-all", "--yes", "--market", " "],
    "cancel-all --event": ["cancel-all", "--yes", "--event", ""],
    "order cancel-all --ticker": ["order", "cancel-all", "--yes", "--ticker", ""],
    "positions --ticker": ["positions", "--ticker", ""],
    "positions --event": ["positions", "--event", " "],
    "watch --tickers": ["watch", "ticker", "--tickers", "", "--max-events", "1", "--duration", "5"],
    "watch --markets": ["watch", "trades", "--markets", ",", "--duration", "5"],
    "markets --event": ["markets", "--event", ""],
    "markets --series": ["markets", "--series", " "],
    "events --series": ["events", "--series", ""],
}

NARROWING = {
    "--ticker", "--tickers", "--market", "--markets", "--event", "--series", "--assign",
    "--category", "--index",
}  # fmt: skip

CONFIG_KEYS = {
    "trade.event": "event: ''",
    "trade.series": "series: '  '",
    "trade.markets (text)": "markets: ','",
    "trade.markets (list)": "markets: []",
    "trade.markets (blank item)": "markets: ['']",
}


@pytest.fixture
def markets(prime: SimHarness) -> list[str]:
    """Open markets a widened loop would trade (and a state file a widened kill switch halts)."""
    return make_markets(prime, 2)


def trading_state(tmp_path: Path) -> str | None:
    path = state_path(tmp_path)
    if not path.exists():
        return None
    with Store.open(path) as store:
        return str(store.trading.trading_state().state)


@pytest.mark.timeout(120)  # the old code ran the widened loop here
@pytest.mark.parametrize("case", OPTIONS)
def test_a_blank_narrowing_option_is_a_usage_error(
    case: str, kalshi: Kalshi, markets: list[str], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    args = [a.replace("{data}", str(tmp_path / "data")) for a in OPTIONS[case]]
    done = kalshi(*args)
    assert done.exit_code == ExitCode.USAGE, done.output
    option = case.rsplit(" ", 1)[1]
    assert option in done.output and "every market" in done.output, done.output
    assert trading_state(tmp_path) in (None, "ACTIVE")  # the kill switch halted nothing


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CONFIG_KEYS)
def test_a_blank_narrowing_config_key_is_a_config_error(
    case: str, kalshi: Kalshi, markets: list[str], tmp_path: Path
) -> None:
    (tmp_path / "home").mkdir()
    config = tmp_path / "home" / "config.yaml"
    config.write_text(f"trade:\n  strategies: [arbitrage]\n  {CONFIG_KEYS[case]}\n")
    done = kalshi("trade", "--once", "--dry-run", "--no-order-group")
    assert done.exit_code == ExitCode.CONFIG, done.output
    key = case.split(" ", maxsplit=1)[0].split(".")[1]
    assert f"config.yaml:3: trade: {key}" in done.output, done.output


def _every_param() -> list[tuple[str, Any]]:
    """(command path, parameter) of every parameter of the whole command tree."""
    found, stack = [], [("kalshi", get_command(app))]
    while stack:
        path, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            stack.append((f"{path} {name}", sub))
        found += [(path, p) for p in command.params]
    return found


def _narrowing_options() -> list[tuple[str, Any]]:
    """(command path, option) of every option of the whole tree spelled as one that narrows."""
    return [(path, p) for path, p in _every_param() if NARROWING & set(p.opts)]


def test_the_walk_finds_the_narrowing_options() -> None:
    paths = {path for path, _ in _narrowing_options()}
    assert {"kalshi watch", "kalshi markets", "kalshi trade", "kalshi cancel-all"} <= paths
    assert "kalshi series" in paths  # `series --category ""` listed every series
    # `watch cfbenchmarks --index " "` streamed every index the channel offers
    assert {"kalshi watch", "kalshi record"} <= {
        p for p, o in _narrowing_options() if "--index" in o.opts
    }


@pytest.mark.parametrize("blank", ["", "  ", ",", " , "])
def test_every_narrowing_option_of_every_command_refuses_a_blank_value(blank: str) -> None:
    widened = []
    for path, param in _narrowing_options():
        if blank.strip() == "," and "--tickers" not in param.opts:
            continue  # a comma is a list's separator, and names a market elsewhere
        try:
            param.type.convert(blank, param, None)
        except typer.BadParameter:
            continue
        widened.append(f"{path} {param.opts[0]}")
    assert not widened, f"taken blank ({blank!r}): {widened}"


# arguments that name no one thing of the exchange's (a setting, a file, words, an amount), each
# refusing a blank value its own way if at all
NOT_NAMING = {
    "config set key", "config set value", "config get key", "config unset key", "watch channel",
    "strategy check spec", "strategy new name", "backtest runs compare a",
    "backtest runs compare b", "backtest runs show run", "search words", "shard allocate shares",
    "shard move amount",
}  # fmt: skip


def _text_arguments() -> list[tuple[str, Any]]:
    return [
        (f"{path} {p.name}".removeprefix("kalshi "), p)
        for path, p in _every_param()
        if p.param_type_name == "argument"
        and type(p.type).__name__ in ("StringParamType", "FuncParamType")
    ]


@pytest.mark.parametrize("blank", ["", "  "])
def test_every_argument_naming_one_thing_refuses_a_blank_value(blank: str) -> None:
    """A ticker, an order, an event, a key, a group, an RFQ or a quote given blank (`kalshi market
    ""`, `kalshi order cancel "$ID"` with no id) is a usage error while the line is parsed: it
    asked the exchange for `/markets/` and said `unknown ticker`, exit 6."""
    arguments = _text_arguments()
    assert {"market ticker", "order cancel order_id", "key delete key_id"} <= {
        path for path, _ in arguments
    }
    taken = []
    for path, param in arguments:
        if path in NOT_NAMING:
            continue
        try:
            param.type.convert(blank, param, None)
        except typer.BadParameter:
            continue
        taken.append(path)
    assert not taken, f"taken blank ({blank!r}): {taken}"


@pytest.mark.parametrize(
    "args",
    [["market", " "], ["orderbook", ""], ["order", "cancel", ""], ["event", " "]],
    ids=" ".join,
)
def test_a_blank_argument_is_refused_before_anything_is_asked(
    tmp_path: Path, args: list[str]
) -> None:
    done = run(args, home=tmp_path)  # no client: nothing is built, so nothing is sent
    assert done.exit_code == ExitCode.USAGE, done.output
    assert done.stderr.count("\n") == 1 and "cannot be empty" in done.stderr, done.stderr


# texts that are no selection and mean nothing blank: a halt's reason, a market to unassign, the
# directory a simulator keeps its exchange in and a strategy's parameters file (blank: the current
# directory), an API key's name and scope (`key generate --name ""` made a key named nothing)
BLANK_TEXTS = {
    "halt --reason": ["halt", "--reason"],
    "trade --unassign": ["trade", "--unassign"],
    "backtest --params": ["backtest", "--strategy", "spike", "--params"],
    "sim status --data-dir": ["sim", "status", "--data-dir"],
    "sim stop --data-dir": ["sim", "stop", "--data-dir"],
    "key generate --name": ["key", "generate", "--out", "k.pem", "--name"],
    "key create --name": ["key", "create", "--out", "k.pem", "--name"],
    "key generate --scope": ["key", "generate", "--out", "k.pem", "--name", "k", "--scope"],
}


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize("case", BLANK_TEXTS)
def test_a_blank_text_is_refused_before_anything_is_built(
    tmp_path: Path, case: str, blank: str
) -> None:
    """`halt --reason ""` halted for no reason, `trade --unassign ""` started the embedded
    simulator before it refused, `sim status --data-dir ""` read the current directory: each is
    a usage error while the line is parsed, no client built (so nothing sent) and no file
    written."""
    home = tmp_path / "home"
    done = run([*BLANK_TEXTS[case], blank], home=home)
    assert done.exit_code == ExitCode.USAGE, done.output
    assert done.stderr.count("\n") == 1, done.stderr
    assert case.rsplit(" ", 1)[1] in done.stderr and "cannot be empty" in done.stderr
    assert not home.exists() or list(home.rglob("*")) == []


def test_every_data_dir_reason_unassign_and_params_option_refuses_a_blank_value() -> None:
    found = [
        (f"{path} {p.opts[0]}", p)
        for path, p in _every_param()
        if {"--data-dir", "--reason", "--unassign", "--params"} & set(p.opts)
    ]
    assert {
        "kalshi sim serve --data-dir",
        "kalshi sim env --data-dir",
        "kalshi halt --reason",
        "kalshi trade --params",
        "kalshi strategy check --params",
    } <= {name for name, _ in found}
    taken = []
    for name, param in found:
        for blank in ("", "  "):
            try:
                param.type.convert(blank, param, None)
            except typer.BadParameter:
                continue
            taken.append(f"{name} {blank!r}")
    assert taken == []


@pytest.mark.parametrize("command", ["status", "stop"])
def test_a_data_dir_naming_a_file_is_a_usage_error(tmp_path: Path, command: str) -> None:
    afile = tmp_path / "state.db"
    afile.write_text("")
    done = run(["sim", command, "--data-dir", str(afile)], home=tmp_path / "home")
    assert done.exit_code == ExitCode.USAGE, done.output
    assert "is a file, not a directory" in done.stderr, done.stderr
    assert afile.read_text() == ""


def _path_params() -> list[tuple[str, Any]]:
    """(command path and name, parameter) of every file or directory a command of the tree takes."""
    return [
        (f"{path} {p.opts[0]}", p)
        for path, p in _every_param()
        if isinstance(p.type, TyperPath)  # `--data-dir` above
    ]


@pytest.mark.parametrize("blank", ["", "  "])
def test_every_file_or_directory_a_command_takes_refuses_a_blank_value(blank: str) -> None:
    """A blank path (a script's unset `$OUT`) named the current directory: `--state ""` failed as
    "a bug", `trade --log-file ""` after the loop had started, `backtest --data ""` read the
    current directory as a data set. Each is a usage error while the line is parsed."""
    found = _path_params()
    assert {"kalshi --state", "kalshi trade --log-file", "kalshi data ls root"} <= {
        name for name, _ in found
    }
    taken = []
    for name, param in found:
        try:
            param.type.convert(blank, param, None)
        except typer.BadParameter:
            continue
        taken.append(name)
    assert taken == [], f"taken blank ({blank!r}): {taken}"


@pytest.mark.parametrize(
    "args",
    [
        ["--state", "", "status"],
        ["--config", " ", "balance"],
        ["trade", "--strategy", "arbitrage", "--once", "--dry-run", "--log-file", ""],
        ["backtest", "--strategy", "spike", "--data", ""],
    ],
    ids=" ".join,
)
def test_a_blank_path_is_refused_before_anything_is_built(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "home"
    done = run(args, home=home)  # no client: nothing is built, so nothing is sent
    assert done.exit_code == ExitCode.USAGE, done.output
    assert done.stderr.count("\n") == 1 and "cannot be empty" in done.stderr, done.stderr
    assert not home.exists() or list(home.rglob("*")) == []
