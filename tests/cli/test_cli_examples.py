"""The `Example:` line of every command's `--help` runs as written against the simulator.

A trader copies the example first; one that names a ticker the simulator does not list, or needs
an account the default environment does not have, teaches them that the help lies. Each example
runs in-process against the default scenario (a simulator over loopback, configured as a user
would configure one started elsewhere), in a fresh KALSHI_HOME. The few adjustments are the ones
a person makes by hand: an order id placeholder (`5c3e0b9e-...`) becomes the id of a resting
order, `--watch` stops after one refresh instead of at Ctrl-C, and the node_exporter directory
is a temporary one. Four examples do not end on their own (`trade` runs 60 s, `sim serve` until
Ctrl-C, `dashboard` until q, tests/dashboard drives it headless; `mcp` until its client goes
away, tests/agent drives it through the MCP SDK's client): for those only the command line is
checked.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app

from .test_cli_doc_commands import check, help_of
from .test_cli_sim import account_env

if TYPE_CHECKING:
    from tests.conftest import SimHarness

ROOT = Path(__file__).resolve().parents[2]
NOT_RUN = {("trade",), ("sim", "serve"), ("dashboard",), ("mcp",)}
GROUPS = {
    (),
    ("config",),
    ("sim",),
    ("order",),
    ("state",),
    ("data",),
    ("order-group",),
    ("exchange",),
    ("subaccount",),
    ("shard",),
    ("key",),
    ("rfq",),
    ("quote",),
    ("strategy",),
}
# need a tier above the default simulator's basic one (the spec: subaccounts from Advanced, a key
# from one's own public key from Premier): only the command line is checked; they run in
# tests/cli/test_cli_accounts.py against simulators of those tiers
NEEDS_TIER = {("subaccount", "create"), ("subaccount", "transfer"), ("key", "create")}
BATCH_FILE = "ticker,side,action,count,price\nKXBTCD-SIM-T97000,yes,buy,1,0.05\n"
PLACEHOLDER_ID = "5c3e0b9e-..."
PLACEHOLDER_GROUP = "7f1c2d3e-..."  # an order group id: one the test creates


# directories an example writes or reads, made under the test's home rather than the cwd
HOME_DIRS = ("recordings", "strategies")


def command_paths() -> list[tuple[str, ...]]:
    from kalshi_cli.cli.app import COMMANDS, load_command

    paths: list[tuple[str, ...]] = []
    for entry in COMMANDS:
        paths.append((entry.name,))
        for sub in getattr(load_command(entry), "commands", {}):
            paths.append((entry.name, sub))
    return paths


def example_of(path: tuple[str, ...]) -> str:
    code, text = help_of(path)
    assert code == 0
    # The example is a paragraph of its own, which Click may wrap.
    found = re.findall(r"^\s*Example: (kalshi .*?)\n\s*\n", text, re.M | re.S)
    assert len(found) == 1, f"`kalshi {' '.join(path)} --help` has no single Example: paragraph"
    return " ".join(found[0].split())


def invoke(args: list[str], home: Path, environ: dict[str, str]) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home), **environ})
    return CliRunner().invoke(
        app, args, obj=context, env={"COLUMNS": "100", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def resting_order(home: Path, environ: dict[str, str]) -> str:
    placed = invoke(
        [
            *("order", "place", "KXBTCD-SIM-T97000", "--side", "yes", "--action", "buy"),
            *("--count", "10", "--price", "0.05", "--json"),
        ],
        home,
        environ,
    )
    assert placed.exit_code == 0, placed.output
    order_id: str = json.loads(placed.stdout)["order"]["order_id"]
    return order_id


def generated_key(home: Path, environ: dict[str, str]) -> str:
    made = invoke(
        ["key", "generate", "--name", "example", "--out", str(home / "example.pem"), "--json"],
        home,
        environ,
    )
    assert made.exit_code == 0, made.output
    key_id: str = json.loads(made.stdout)["api_key_id"]
    return key_id


def adjusted(
    example: str, home: Path, environ: dict[str, str], sim: SimHarness | None = None
) -> list[tuple[list[str], Path | None]]:
    """Each command of the example, and the file its stdout is redirected to (` > FILE`).
    Paths under `recordings/` (the data commands' examples) and `strategies/` (`kalshi strategy
    new` and `check`) are made under the test's home."""
    runs = []
    for part in example.split(" && "):
        command, _, target = part.partition(" > ")
        args = [
            str(home / a) if a.startswith(HOME_DIRS) or a in HOME_DIRS else a
            for a in shlex.split(command)[1:]
        ]
        redirect = home / target.strip() if target else None
        if PLACEHOLDER_ID in args:
            args[args.index(PLACEHOLDER_ID)] = resting_order(home, environ)
        if args[:3] == ["data", "download", "trades"]:
            # a trade to download, made here: the example must not depend on what tests that
            # ran before it (in this process or not) traded on the shared simulator
            ticker = args[args.index("--tickers") + 1].split(",")[0]
            buy = ["order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1"]
            bought = invoke([*buy, "--price", "0.99"], home, environ)  # the provider's ask
            assert bought.exit_code == 0, bought.output
        if PLACEHOLDER_GROUP in args:
            created = invoke(["order-group", "create", "--limit", "10"], home, environ)
            assert created.exit_code == 0, created.output
            args[args.index(PLACEHOLDER_GROUP)] = created.stdout.strip()
        if args[:2] == ["key", "delete"]:
            args[2] = generated_key(home, environ)
        if "--out" in args and args[args.index("--out") + 1].endswith(".pem"):
            at = args.index("--out") + 1  # a key file: under the test's home, not the cwd
            args[at] = str(home / Path(args[at]).name)
        if "--file" in args:
            at = args.index("--file") + 1
            args[at] = str(home / Path(args[at]).name)
            Path(args[at]).write_text(BATCH_FILE)
        if args[:1] in (["rfq"], ["quote"]) and sim is not None:
            rfq_placeholders(args, home, environ, sim)
        if args[:1] == ["shard"] and sim is not None:
            shard_two(sim)
        if "--watch" in args:
            args += ["--count", "1"]
        if "--textfile" in args:
            at = args.index("--textfile") + 1
            args[at] = str(home / "textfile" / Path(args[at]).name)
            (home / "textfile").mkdir()
        runs.append((args, redirect))
    return runs


SHARD_TWO_MARKET = "KXSHARDTWO-26JAN01-A"


def shard_two(sim: SimHarness) -> None:
    """A market on shard 2, so the simulator runs the shard the `shard` examples name."""
    body = {
        "ticker": SHARD_TWO_MARKET,
        "event_ticker": SHARD_TWO_MARKET.rsplit("-", 1)[0],
        "series_ticker": "KXSHARDTWO",
        "title": "A market on shard 2",
        "exchange_index": 2,
    }
    made = sim.http.post(sim.admin_url + "/markets", json=body)
    assert made.status_code in (201, 409), made.text  # 409: an earlier example made it


# the RFQ and quote ids of the `rfq`/`quote` examples, made here; the other party of
# each is a second account. The example's own RFQs go on another market than `rfq create`'s, and
# replace the account's open ones, so that example never meets an open RFQ of its own there.
PLACEHOLDER_RFQ = "6f1c2d3e-..."
PLACEHOLDER_QUOTE = "0a9b8c7d-..."
SETUP_MARKET = "KXNBAGAME-SIM-LALGSW-LAL"


def rfq_placeholders(args: list[str], home: Path, environ: dict[str, str], sim: SimHarness) -> None:
    """An RFQ of the example's account (`rfq show|cancel`) or of the other to quote on (`quote
    create`); a quote of the example's account (`quote show|cancel`, and `confirm` once the other
    accepted it) or of the other on the example's RFQ (`quote accept`)."""
    other_home, other = home / "other", account_env(sim.new_account())

    def made(who: dict[str, str], where: Path, *command: str) -> str:
        result = invoke([*command, "--json"], where, who)
        assert result.exit_code == 0, result.output
        return str(next(v for k, v in json.loads(result.stdout).items() if k.endswith("_id")))

    def rfq_of(who: dict[str, str], where: Path) -> str:
        return made(who, where, "rfq", "create", SETUP_MARKET, "--count", "2", "--replace")

    def quote_on(rfq_id: str, who: dict[str, str], where: Path) -> str:
        return made(who, where, "quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55")

    if PLACEHOLDER_RFQ in args:
        mine = args[0] == "rfq"
        rfq_id = rfq_of(environ, home) if mine else rfq_of(other, other_home)
        args[args.index(PLACEHOLDER_RFQ)] = rfq_id
    if PLACEHOLDER_QUOTE in args:
        if args[1] == "accept":
            quote_id = quote_on(rfq_of(environ, home), other, other_home)
        else:
            quote_id = quote_on(rfq_of(other, other_home), environ, home)
        if args[1] == "confirm":
            made(other, other_home, "quote", "accept", quote_id, "--side", "yes")
        args[args.index(PLACEHOLDER_QUOTE)] = quote_id


PATHS = [p for p in command_paths() if p not in GROUPS]
# Examples in kalshi_cli/cli/orders.py and trading.py, owned by other reviewers: each names a
# ticker or event the simulator does not list, or (order cancel-all) there is none.


def test_no_command_offers_shell_completion_options() -> None:
    # Typer adds them to a single command built as an app of its own (`kalshi check`).
    assert ("order", "place") in PATHS and ("check",) in PATHS
    for path in PATHS:
        _, text = help_of(path)
        assert "--install-completion" not in text, path


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_example_runs_as_written(
    path: tuple[str, ...], sim_default: SimHarness, tmp_path: Path
) -> None:
    example = example_of(path)
    check(example)
    if path in NOT_RUN or path in NEEDS_TIER:
        return
    environ = account_env(sim_default.account)
    (tmp_path / "recordings").mkdir()
    for args, redirect in adjusted(example, tmp_path, environ, sim_default):
        result = invoke(args, tmp_path, environ)
        if redirect is not None:
            redirect.write_text(result.stdout, encoding="utf-8")
        # A check's example may find a breach (a loaded machine answers slower than its
        # latency thresholds): it ran when it printed its Nagios line and exited with a Nagios
        # code other than UNKNOWN.
        if path == ("check",):
            assert result.exit_code in (0, 1, 2), result.output
            assert result.stdout.startswith("KALSHI API "), result.output
            continue
        assert result.exit_code == 0, f"{example}\n{result.output}"
        assert "KXBTCD-25DEC31" not in example, f"{example}: the simulator has no such ticker"
