"""Every `--json` output validates against the shape docs/output.md documents for it.

Each command with a `--json` flag is found the way `kalshi` finds its commands; each must have
a `### \\`kalshi COMMAND --json\\`` section in docs/output.md, and its example there is the schema
(`same_shape`: the same keys in the same order at every level, the same JSON types, a list's
first item like the example's first item; `null` in the example allows any value). Here every
command not already covered with fakes (tests/cli/test_cli_output_docs.py) runs for real, as a
user runs it, against the simulator over loopback: an order placed, listed, shown, amended,
decreased and cancelled; the kill switch both ways; the trading state; reconcile; P&L; a check;
the state file's path and migrations; a recorded data set. The commands that need a Premier
account (subaccounts, API keys) run with order groups, `order batch`, `data download` and
`backtest` against a Premier-tier simulator of their own; the browse commands are checked
against theirs in tests/cli/test_cli_browse.py.
"""

from __future__ import annotations

import csv as csvlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import COMMANDS, load_command
from kalshi_cli.services.killswitch.order_groups import remember_order_group
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.store import Store
from tests.cli.test_cli_browse import SIM_DOCUMENTED
from tests.cli.test_cli_output_docs import COMMANDS as FAKED
from tests.cli.test_cli_output_docs import documented, same_shape
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.wire import order_body

TICKER = "KXSHAPE-26JAN01-T1"


def json_commands() -> set[str]:
    """Every command path (`order place`) that takes `--json`."""

    def walk(command: Any, path: str) -> Iterator[str]:
        # a group can be a command of its own too (`kalshi backtest`, beside `backtest runs`)
        if any("--json" in getattr(p, "opts", ()) for p in command.params):
            yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}".strip())

    found: set[str] = set()
    for entry in COMMANDS:
        found |= set(walk(load_command(entry), entry.name))
    return found


def _key(documented_name: str) -> str:
    """`order show ORDER_ID` -> `order show`, `positions --by event` -> `positions`: the doc's
    heading names arguments and a view's option too."""
    words = documented_name.split()
    named = words[: next((i for i, w in enumerate(words) if w.startswith("--")), len(words))]
    return " ".join(w for w in named if not w.isupper())


def test_every_json_command_is_documented() -> None:
    documented_paths = {_key(name) for name in documented()}
    assert json_commands() <= documented_paths, json_commands() - documented_paths
    assert documented_paths <= json_commands(), "a documented command that has no --json"


class Session:
    """`kalshi ARGS --json` against one simulator account, with one KALSHI_HOME."""

    def __init__(self, account: AccountInfo, home: Path, account_tier: str | None = None) -> None:
        self.environ = {
            "KALSHI_HOME": str(home),
            "KALSHI_API_BASE": account.api_base,
            "KALSHI_WS_URL": account.ws_url,
            "KALSHI_API_KEY_ID": account.key_id,
            "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
        }
        if account_tier is not None:
            self.environ["KALSHI_TIER"] = account_tier

    def csv(self, *args: str) -> list[list[str]]:
        result = CliRunner().invoke(
            load_app(),
            [*args, "--format", "csv"],
            obj=AppContext(environ=self.environ),
            env={"COLUMNS": "120", "NO_COLOR": "1"},
            prog_name="kalshi",
        )
        assert result.exit_code == 0, (args, result.output)
        return list(csvlib.reader(io.StringIO(result.stdout)))

    def json(self, *args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(
            load_app(),
            [*args, "--json"],
            obj=AppContext(environ=self.environ),
            env={"COLUMNS": "120", "NO_COLOR": "1"},
            prog_name="kalshi",
        )
        assert result.exit_code == code, (args, result.output)
        return json.loads(result.stdout)


def load_app() -> Any:
    from kalshi_cli.cli.app import app

    return app


@pytest.fixture(scope="module")
def outputs(sim_default: SimHarness, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every command's real output, in an order that gives each something to show."""
    home = tmp_path_factory.mktemp("shapes")
    sim = sim_default
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=1_000_000)
    run = Session(account, home)
    out: dict[str, Any] = {}
    place = ["order", "place", TICKER, "--side", "yes", "--action", "buy", "--count", "5"]
    out["order place"] = run.json(*place, "--price", "0.10")
    order_id = out["order place"]["order"]["order_id"]
    out["order list"] = run.json("order", "list")
    out["order show"] = run.json("order", "show", order_id)
    out["order amend"] = run.json("order", "amend", order_id, "--price", "0.11", "--yes")
    order_id = out["order amend"]["order"]["order_id"]
    out["order decrease"] = run.json("order", "decrease", order_id, "--by", "1")
    out["order cancel"] = run.json("order", "cancel", order_id)
    run.json(*place, "--price", "0.10")
    out["order cancel-all"] = run.json("order", "cancel-all", "--ticker", TICKER)
    out["resume"] = run.json("resume")
    run.json(*place, "--price", "0.10")
    # a `kalshi trade` session's order group, as the trade loop records it: the kill switch
    # triggers it and lists it in `order_groups_triggered`
    group = run.json("order-group", "create", "--limit", "100", "--yes")["order_group_id"]
    with Store.open(Path(run.json("state", "path")["path"])) as store:
        remember_order_group(store, group)
    out["cancel-all"] = run.json("cancel-all", "--yes")
    assert out["cancel-all"]["order_groups_triggered"] == [group]
    out["halt"] = run.json("halt", "--reason", "shapes")
    out["status"] = run.json("status")
    run.json("resume")
    buy = ["order", "place", "KXBTCD-SIM-T97000", "--side", "yes", "--action", "buy"]
    run.json(*buy, "--count", "2", "--price", "0.99")  # takes the liquidity provider's ask
    out["reconcile"] = run.json("reconcile")
    for args in CSV_COMMANDS:
        out["csv " + " ".join(args)] = run.csv(*(a.replace("ORDER", order_id) for a in args))
    out["pnl"] = run.json("pnl")
    sim.create_market("KXSHAPETWO-26JAN01-T1", exchange_index=2)  # the simulator runs shard 2
    out["shard move"] = run.json("shard", "move", "5", "--from", "0", "--to", "2")
    out["shard allocate"] = run.json("shard", "allocate", "0=100", "--reserve", "max")
    out["shard list"] = run.json("shard", "list")
    out["shard transfers"] = run.json("shard", "transfers")
    out["check"] = run.json("check", "positions", "--no-alert")
    out["state path"] = run.json("state", "path")
    out["config get"] = run.json("config", "get", "risk")
    out["state migrate"] = run.json("state", "migrate")
    out["state prune"] = run.json("state", "prune", "--dry-run")
    source = home / "frames.jsonl"
    frame = {"type": "orderbook_snapshot", "sid": 1, "seq": 1,
             "msg": {"market_ticker": "M", "yes_dollars_fp": [["0.3000", "2.00"]]}}  # fmt: skip
    source.write_text(
        json.dumps({"received_ms": 1_728_000_000_000, "frame": frame}) + "\n", encoding="utf-8"
    )
    data = home / "data"
    imported = CliRunner().invoke(
        load_app(),
        ["data", "import", str(source), "--out", str(data / "set"), "--json"],
        obj=AppContext(environ=run.environ),
        prog_name="kalshi",
    )
    assert imported.exit_code == 0, imported.output
    out["data import"] = json.loads(imported.stdout)
    out["data ls"] = run.json("data", "ls", str(data))
    out["data info"] = run.json("data", "info", str(data / "set"))
    out["sim status"] = run.json("sim", "status", "--data-dir", str(sim.data_dir))
    assert out["sim status"]["running"] is True
    # nothing serves this directory: stopping is a no-op, said as such
    out["sim stop"] = run.json("sim", "stop", "--data-dir", str(home / "no-sim"))
    assert out["sim stop"] == {"stopped": False, "pid": None}
    out["strategy list"] = run.json("strategy", "list")
    out["strategy check"] = run.json("strategy", "check", "spike")
    assert out["strategy check"]["decisions"]  # a first item to hold to the documented one
    return out


REAL = [
    "sim status",
    "sim stop",
    "order place",
    "order list",
    "order show",
    "order amend",
    "order decrease",
    "order cancel",
    "order cancel-all",
    "cancel-all",
    "halt",
    "resume",
    "status",
    "reconcile",
    "pnl",
    "check",
    "state path",
    "state migrate",
    "state prune",
    "config get",
    "data import",
    "data ls",
    "data info",
    "strategy list",
    "strategy check",
    "shard list",
    "shard move",
    "shard transfers",
    "shard allocate",
]


# every table command of one account, run as CSV once there is something to show
CSV_COMMANDS = [
    ("markets",),
    ("market", "KXBTCD-SIM-T97000"),
    ("orderbook", "KXBTCD-SIM-T97000"),
    ("balance",),
    ("positions",),
    ("fills",),
    ("settlements",),
    ("order", "list", "--status", "canceled"),
    ("order", "show", "ORDER"),
    ("pnl",),
    ("pnl", "--by", "day"),
    ("state", "migrate", "--list"),
]
# free text (a market's title names amounts: "Bitcoin above $97,000"), not values
TEXT = {"title", "subtitle", "rules", "more rules"}
TWO_VALUES = re.compile(r"\d\s*/\s*[-$\d]")


@pytest.mark.parametrize("args", CSV_COMMANDS, ids=" ".join)
def test_csv_has_one_value_per_cell_no_currency_symbol_and_unique_headers(
    outputs: dict[str, Any], args: tuple[str, ...]
) -> None:
    rows = outputs["csv " + " ".join(args)]
    assert rows, "a header at least"
    header = rows[0]
    assert len(header) == len(set(header)), f"headers repeat: {header}"
    for row in rows:
        assert len(row) == len(header)
        text = {i for i, name in enumerate(header) if name in TEXT}
        if header == ["field", "value"] and row[0] in TEXT:
            continue  # a record's title or rules: words, which may name an amount
        for i, cell in enumerate(row):
            if i not in text:
                assert "$" not in cell, (args, cell)
                assert not TWO_VALUES.search(cell), (args, cell)


def test_every_documented_command_is_run_here_or_with_fakes() -> None:
    elsewhere = {_key(c) for c in FAKED} | {_key(c) for c in SIM_DOCUMENTED}
    real = set(REAL) | set(REAL_PREMIER) | set(REAL_RFQ)
    assert {_key(name) for name in documented()} == real | elsewhere


@pytest.mark.parametrize("command", REAL)
def test_real_output_has_the_documented_shape(outputs: dict[str, Any], command: str) -> None:
    docs = {_key(name): example for name, example in documented().items()}
    same_shape(outputs[command], docs[command])


@pytest.fixture(scope="module")
def premier_outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The commands of a Premier account, order groups, batches, downloads and a backtest."""
    home = tmp_path_factory.mktemp("premier-shapes")
    sim = SimHarness(
        start_simulator(
            home / "sim", scenario="default", tier="premier", response_hook=RECORDER.hook
        )
    )
    try:
        yield _premier_outputs(sim, home)
    finally:
        sim.close()


def _premier_outputs(sim: SimHarness, home: Path) -> dict[str, Any]:
    account = sim.new_account(balance_cents=1_000_000)
    run = Session(account, home / "home", account_tier="premier")
    out: dict[str, Any] = {}
    ticker = "KXBTCD-SIM-T97000"
    out["order-group create"] = run.json("order-group", "create", "--limit", "100", "--yes")
    group = out["order-group create"]["order_group_id"]
    sim.placed(account, order_body(ticker, price="0.10", count="2", order_group_id=group))
    out["order-group list"] = run.json("order-group", "list")
    out["order-group show"] = run.json("order-group", "show", group)
    assert out["order-group show"]["orders"], "the order placed in the group"
    out["order-group limit"] = run.json("order-group", "limit", group, "--limit", "50", "--yes")
    out["order-group trigger"] = run.json("order-group", "trigger", group, "--yes")
    out["order-group reset"] = run.json("order-group", "reset", group, "--yes")
    out["order-group delete"] = run.json("order-group", "delete", group, "--yes")
    rows = home / "orders.csv"
    rows.write_text(
        f"ticker,side,action,count,price\n{ticker},yes,buy,1,0.05\n{ticker},no,buy,1,0.05\n",
        encoding="utf-8",
    )
    out["order batch"] = run.json("order", "batch", "--file", str(rows), "--yes")
    assert len(out["order batch"]["batch"]["rows"]) == 2
    out["subaccount create"] = run.json("subaccount", "create")
    out["subaccount netting"] = run.json("subaccount", "netting", "on", "--subaccount", "1")
    transfer = ("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "25.00")
    out["subaccount transfer"] = run.json(*transfer)
    out["subaccount list"] = run.json("subaccount", "list")
    out["key list"] = run.json("key", "list")
    made = ("--name", "shapes", "--type", "ed25519", "--scope", "read")
    out["key generate"] = run.json("key", "generate", *made, "--out", str(home / "g.pem"))
    out["key create"] = run.json("key", "create", *made, "--out", str(home / "c.pem"))
    out["key delete"] = run.json("key", "delete", out["key create"]["api_key_id"])
    buy = ("order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1")
    run.json(*buy, "--price", "0.99")  # takes the liquidity provider's ask: a trade to download
    download = ("data", "download", "trades", "--tickers", ticker, "--out", str(home / "dl"))
    out["data download"] = run.json(*download)
    assert out["data download"]["rows"] >= 1, "the trade made above"
    # a backtest over a one-frame data set: the whole report, with nothing traded
    source = home / "frames.jsonl"
    frame = {"type": "orderbook_snapshot", "sid": 1, "seq": 1,
             "msg": {"market_ticker": "M", "yes_dollars_fp": [["0.3000", "2.00"]]}}  # fmt: skip
    source.write_text(
        json.dumps({"received_ms": 1_728_000_000_000, "frame": frame}) + "\n", encoding="utf-8"
    )
    imported = CliRunner().invoke(
        load_app(),
        ["data", "import", str(source), "--out", str(home / "set")],
        obj=AppContext(environ=run.environ),
        prog_name="kalshi",
    )
    assert imported.exit_code == 0, imported.output
    out["backtest"] = run.json("backtest", "--strategy", "spike", "--data", str(home / "set"))
    # the run just stored, as the run store lists, shows and compares it
    out["backtest runs list"] = run.json("backtest", "runs", "list")
    out["backtest runs show"] = run.json("backtest", "runs", "show", "last")
    stored = out["backtest"]["run_id"]
    out["backtest runs compare"] = run.json("backtest", "runs", "compare", stored, stored)
    return out


REAL_PREMIER = [
    "order-group create",
    "order-group list",
    "order-group show",
    "order-group limit",
    "order-group trigger",
    "order-group reset",
    "order-group delete",
    "order batch",
    "subaccount create",
    "subaccount netting",
    "subaccount transfer",
    "subaccount list",
    "key list",
    "key generate",
    "key create",
    "key delete",
    "data download",
    "backtest",
    "backtest runs list",
    "backtest runs show",
    "backtest runs compare",
]


@pytest.mark.parametrize("command", REAL_PREMIER)
def test_premier_output_has_the_documented_shape(
    premier_outputs: dict[str, Any], command: str
) -> None:
    docs = {_key(name): example for name, example in documented().items()}
    same_shape(premier_outputs[command], docs[command])


# RFQs and quotes, between two accounts of the default simulator
@pytest.fixture(scope="module")
def rfq_outputs(
    sim_default: SimHarness, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("rfq-shapes")
    ticker, other = "KXSHAPE-26JAN01-RFQ", "KXSHAPE-26JAN01-RFQ2"
    sim_default.create_market(ticker)
    sim_default.create_market(other)
    requester = Session(sim_default.new_account(balance_cents=100_000), home / "requester")
    maker = Session(sim_default.new_account(balance_cents=100_000), home / "maker")
    out: dict[str, Any] = {}
    out["rfq create"] = requester.json("rfq", "create", ticker, "--count", "10")
    rfq_id = out["rfq create"]["rfq_id"]
    out["rfq list"] = maker.json("rfq", "list", "--status", "open")
    quote = ("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55")
    out["quote create"] = maker.json(*quote)
    quote_id = out["quote create"]["quote_id"]
    out["quote show"] = maker.json("quote", "show", quote_id)
    out["quote accept"] = requester.json("quote", "accept", quote_id, "--side", "yes")
    out["quote confirm"] = maker.json("quote", "confirm", quote_id)
    out["quote list"] = requester.json("quote", "list", "--on-my-rfqs")
    out["rfq show"] = requester.json("rfq", "show", rfq_id)
    # on another market: the first RFQ stays open until its confirmed quote's execution timer
    # runs out
    again = requester.json("rfq", "create", other, "--target-cost", "5")["rfq_id"]
    offered = maker.json("quote", "create", again, "--yes-bid", "0.30", "--no-bid", "0")
    out["quote cancel"] = maker.json("quote", "cancel", offered["quote_id"])
    out["rfq cancel"] = requester.json("rfq", "cancel", again)
    return out


REAL_RFQ = [
    "rfq list",
    "rfq show",
    "rfq create",
    "rfq cancel",
    "quote list",
    "quote show",
    "quote create",
    "quote accept",
    "quote confirm",
    "quote cancel",
]


@pytest.mark.parametrize("command", REAL_RFQ)
def test_rfq_output_has_the_documented_shape(rfq_outputs: dict[str, Any], command: str) -> None:
    docs = {_key(name): example for name, example in documented().items()}
    same_shape(rfq_outputs[command], docs[command])
