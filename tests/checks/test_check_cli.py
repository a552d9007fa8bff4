"""`kalshi check NAME` end to end in-process: the real command, the real simulator over loopback,
a real state file; the exit code of each status, and UNKNOWN for everything that stops a check."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.remote import check_api
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.store import Store, migrations
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.alerts.receiver import Receiver
from tests.fakes import OneRouteFails

if TYPE_CHECKING:
    from kalshi_cli.sim.server.announce import AccountInfo
    from tests.conftest import SimHarness

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


def account_env(account: AccountInfo) -> dict[str, str]:
    return {
        "KALSHI_API_BASE": account.api_base,
        "KALSHI_API_KEY_ID": account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
    }


def check(home: Path, *args: str, environ: dict[str, str] | None = None) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home), **(environ or {})})
    return CliRunner().invoke(app, ["check", *args], obj=context, prog_name="kalshi")


def client_for(account: AccountInfo, **options: Any) -> KalshiClient:
    key, _ = load_private_key(path=Path(account.private_key_path))
    return KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, **options
    )


def buy(sim: SimHarness, ticker: str, count: int, *, subaccount: int | None = None) -> None:
    """The default account buys `count` YES at 0.40 from a second account; on `subaccount`
    when one is named (created and funded with $100 first when it is new)."""
    seller = sim.new_account()
    with client_for(sim.account) as me, client_for(seller) as other:
        if subaccount is not None:
            if subaccount not in {b.subaccount for b in me.subaccounts.subaccount_balances()}:
                assert me.subaccounts.create_subaccount() == subaccount
                me.subaccounts.transfer_between_subaccounts(
                    from_subaccount=0, to_subaccount=subaccount, amount_cents=10_000
                )
            me.subaccount = subaccount
        me.orders.create_order(
            CreateOrder(
                ticker=ticker, book_side=BookSide.BID, price=Decimal("0.40"), count=Decimal(count)
            )
        )
        other.orders.create_order(
            CreateOrder(
                ticker=ticker,
                book_side=BookSide.ASK,
                price=Decimal("0.40"),
                count=Decimal(count),
                time_in_force=TimeInForce.IOC,
            )
        )


def line(result: Result) -> str:
    return result.stdout.splitlines()[0]


# --------------------------------------------------------------------------------------------
# positions and exposure read the exchange


@pytest.mark.parametrize(
    ("count", "code", "word"),
    # the documented boundaries: WARNING at 80% or more, CRITICAL only above 100%
    [
        (10, OK, "OK"),
        (80, WARNING, "WARNING"),
        (100, WARNING, "WARNING"),
        (101, CRITICAL, "CRITICAL"),
    ],
)
def test_positions_against_the_default_limit_of_100(
    sim: SimHarness, tmp_path: Path, count: int, code: int, word: str
) -> None:
    sim.create_market("KXPOS-1")
    buy(sim, "KXPOS-1", count)
    result = check(tmp_path, "positions", environ=account_env(sim.account))
    assert result.exit_code == code, result.stdout
    assert line(result).startswith(f"KALSHI POSITIONS {word} - ")
    if code == CRITICAL:
        assert line(result) == (
            "KALSHI POSITIONS CRITICAL - 1 market over limit: KXPOS-1 101/100 | "
            "'over_limit'=1;0;0 'near_limit'=0;0 'largest'=101%;80;100;0 'markets'=1;;;0"
        )


def test_positions_flags_override_and_json_is_the_full_result(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market("KXPOS-2")
    buy(sim, "KXPOS-2", 10)
    result = check(
        tmp_path,
        "positions",
        "--warn",
        "0.05",
        "--crit",
        "0.09",
        "--json",
        environ=account_env(sim.account),
    )
    assert result.exit_code == CRITICAL
    doc = json.loads(result.stdout)
    assert doc["status"] == "CRITICAL"
    assert doc["exit_code"] == CRITICAL
    assert {p["label"]: p["value"] for p in doc["perfdata"]}["over_limit"] == 1


@pytest.mark.parametrize(
    ("warn", "crit", "code"),
    [
        ("0.5", "0.9", OK),
        ("0.05", "0.5", WARNING),
        # exactly at both (8%): WARNING at warn or more, CRITICAL only above crit
        ("0.08", "0.08", WARNING),
        ("0.01", "0.05", CRITICAL),
    ],
)
def test_exposure_against_the_cap(
    sim: SimHarness, tmp_path: Path, warn: str, crit: str, code: int
) -> None:
    sim.create_market("KXEXP-1")
    buy(sim, "KXEXP-1", 100)  # $40 of exposure against the default $500 cap: 8%
    result = check(
        tmp_path, "exposure", "--warn", warn, "--crit", crit, environ=account_env(sim.account)
    )
    assert result.exit_code == code, result.stdout
    assert "total exposure $40" in line(result)


def test_api_ok_against_the_simulator(sim: SimHarness, tmp_path: Path) -> None:
    # reachability and credentials, not speed: the default 1 s latency warning failed this test
    # on a loaded machine (latency is test_api_latency_thresholds' job, with a fault)
    result = check(
        tmp_path, "api", "--warn", "60000", "--crit", "120000", environ=account_env(sim.account)
    )
    assert result.exit_code == OK, result.stdout
    assert line(result).startswith("KALSHI API OK - reachable, credentials accepted")
    assert "'latency'=" in line(result)


def test_api_latency_thresholds(sim: SimHarness, tmp_path: Path) -> None:
    sim.set_faults(latency_ms=60)
    result = check(
        tmp_path, "api", "--warn", "50", "--crit", "5000", environ=account_env(sim.account)
    )
    assert result.exit_code == WARNING, result.stdout
    assert "latency" in line(result)


class SlowFirstStatus(httpx.HTTPTransport):
    """The simulator, except that the first `GET /exchange/status` takes `seconds` (on the
    client's manual clock) and answers 503: the client's retry gets the answer."""

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds, self.failed = clock, seconds, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/exchange/status") and not self.failed:
            self.failed += 1
            self.clock.advance(self.seconds)
            return httpx.Response(503, json={"code": "service_unavailable", "message": "busy"})
        return super().handle_request(request)


def test_api_latency_counts_the_whole_status_read_with_its_retries(sim: SimHarness) -> None:
    """An exchange whose status answer took 2.5 s and a retry is slow, though the retry that
    answered was quick: the check graded the last attempt alone and read it as 0 ms, OK."""
    clock = ManualClock(time.time())
    slow = SlowFirstStatus(clock, 2.5)
    # the manual clock runs ahead of the simulator's by the wait: that skew is not graded here
    thresholds = resolve(None, overrides=["api.skew_warn=60", "api.skew_crit=60"])
    with client_for(sim.account, transport=slow, clock=clock) as client:
        result = check_api(client, thresholds)
    assert slow.failed == 1
    assert result.status is CheckStatus.WARNING, result.summary
    assert result.summary.startswith("latency 2"), result.summary
    latency = {p.label: p.value for p in result.perfdata}["latency"]
    assert Decimal(2500) <= latency < Decimal(3000), latency  # the wait, and at most its backoff


def test_api_refused_credentials_are_critical(sim: SimHarness, tmp_path: Path) -> None:
    other = sim.new_account()
    env = {**account_env(sim.account), "KALSHI_PRIVATE_KEY_PATH": other.private_key_path}
    result = check(tmp_path, "api", environ=env)
    assert result.exit_code == CRITICAL, result.stdout
    assert "credentials refused" in line(result)
    # positions cannot look with a refused key: UNKNOWN, not OK
    assert check(tmp_path, "positions", environ=env).exit_code == UNKNOWN


def maintenance_now(sim: SimHarness) -> None:
    """A maintenance window covering now: the exchange answers `exchange_active: false`."""
    now = int(time.time())
    body = {"start_ts": now - 10, "end_ts": now + 600}
    sim.http.post(sim.admin_url + "/exchange/maintenance", json=body).raise_for_status()


def test_an_exchange_that_says_it_is_down_is_critical_though_the_balance_read_fails(
    sim: SimHarness,
) -> None:
    """What the exchange said (inactive) is the verdict; the balance read that fails beside it
    (an exchange in maintenance answers 5xx) is a part the check cannot tell, not the whole:
    UNKNOWN would go to the `warning` route, not the pager."""
    maintenance_now(sim)
    failing = OneRouteFails("GET", "/portfolio/balance", 500)
    with client_for(sim.account, transport=failing, max_attempts=1) as client:
        result = check_api(client, resolve(None))
    assert failing.failed == 1
    assert result.status is CheckStatus.CRITICAL, result.summary
    assert result.summary.startswith("exchange inactive; credentials not checked: ")
    assert "HTTP 500" in result.summary


class NoDateHeader(httpx.HTTPTransport):
    """The simulator's answers without their `Date` header: the clock skew cannot be measured."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        del response.headers["Date"]
        return response


def test_an_exchange_that_says_it_is_down_is_critical_though_the_skew_is_not_measured(
    sim: SimHarness,
) -> None:
    maintenance_now(sim)
    with client_for(sim.account, transport=NoDateHeader()) as client:
        result = check_api(client, resolve(None))
    assert result.status is CheckStatus.CRITICAL, result.summary
    assert result.summary.startswith("exchange inactive; clock skew not measured: ")
    assert "sent no Date header" in result.summary
    assert [p.label for p in result.perfdata] == ["latency"]  # no skew it did not measure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exchange_down(sim: SimHarness, tmp_path: Path) -> None:
    env = {
        **account_env(sim.account),
        "KALSHI_API_BASE": f"http://127.0.0.1:{free_port()}/trade-api/v2",
        "KALSHI_TIMEOUT": "1",
    }
    api = check(tmp_path, "api", environ=env)
    assert api.exit_code == CRITICAL, api.stdout
    assert line(api).startswith("KALSHI API CRITICAL - exchange unreachable")
    for name in ("positions", "exposure"):
        result = check(tmp_path, name, environ=env)
        assert result.exit_code == UNKNOWN, result.stdout
        assert line(result).startswith(f"KALSHI {name.upper()} UNKNOWN - ")


# --------------------------------------------------------------------------------------------
# local checks through the command


def test_heartbeat_exit_codes_through_the_command(tmp_path: Path) -> None:
    state = tmp_path / "state" / "sim" / "state.db"
    assert check(tmp_path, "heartbeat").exit_code == CRITICAL
    assert not state.exists()  # a check never creates the state file
    with Store.open(state) as store:
        store.entries.heartbeat(source="trade")
    assert check(tmp_path, "heartbeat").exit_code == OK
    assert check(tmp_path, "heartbeat", "--warn", "0", "--crit", "100").exit_code == WARNING
    assert check(tmp_path, "heartbeat", "--warn", "0", "--crit", "0").exit_code == CRITICAL


def test_a_broken_state_file_is_unknown(tmp_path: Path) -> None:
    state = tmp_path / "state" / "sim" / "state.db"
    state.parent.mkdir(parents=True)
    state.write_text("this is not a database\n" * 100)
    result = check(tmp_path, "heartbeat")
    assert result.exit_code == UNKNOWN
    assert line(result).startswith("KALSHI HEARTBEAT UNKNOWN - ")


@pytest.mark.parametrize("name", ["heartbeat", "feed", "orders", "pnl"])
def test_a_directory_where_the_state_file_should_be_is_unknown_not_no_state_file(
    tmp_path: Path, name: str
) -> None:
    """Something that is not a file at the state path is a broken state file, not a missing
    one: orders and pnl read "no state file" as nothing wrong, and heartbeat as a loop gone."""
    state = tmp_path / "state.db"
    state.mkdir()
    result = check(tmp_path, name, environ={"KALSHI_STATE": str(state)})
    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith(f"KALSHI {name.upper()} UNKNOWN - ")
    assert "no state file" not in line(result)


@pytest.mark.parametrize("name", ["heartbeat", "feed", "orders", "pnl"])
def test_a_symlink_to_a_missing_state_file_is_unknown_and_nothing_is_made(
    tmp_path: Path, name: str
) -> None:
    """A link at the state path whose target is gone is a broken state file, not a missing one
    (the state file it pointed at, with its HALTED and its orders, is lost or moved), and the
    alert state never creates a new file where the link points."""
    (tmp_path / "config.yaml").write_text(
        "alerts:\n"
        "  channels:\n"
        f"    ops: {{type: generic, url: 'http://127.0.0.1:{free_port()}/hook', max_attempts: 1}}\n"
        "  routes: {critical: ops, warning: ops}\n"
    )
    target = tmp_path / "moved.db"
    state = tmp_path / "state.db"
    state.symlink_to(target)
    result = check(tmp_path, name, environ={"KALSHI_STATE": str(state)})
    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith(f"KALSHI {name.upper()} UNKNOWN - ")
    assert "no state file" not in line(result)
    assert "does not exist" in line(result)
    assert not target.exists()
    assert state.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "state.db"]


@pytest.mark.parametrize("named_by", ["--state", "KALSHI_STATE"])
@pytest.mark.parametrize("name", ["heartbeat", "orders", "pnl"])
def test_a_state_file_in_a_missing_directory_is_unknown_and_nothing_is_made(
    tmp_path: Path, name: str, named_by: str
) -> None:
    """A typo in the state path is a check that cannot look (as health-check reports it), never
    OK from an absent file; and its alert state never makes the directory the typo names."""
    (tmp_path / "config.yaml").write_text(
        "alerts:\n"
        "  channels:\n"
        f"    ops: {{type: generic, url: 'http://127.0.0.1:{free_port()}/hook', max_attempts: 1}}\n"
        "  routes: {critical: ops, warning: ops}\n"
    )
    state = tmp_path / "typo" / "state.db"
    flags = ["--state", str(state)] if named_by == "--state" else []
    environ = {"KALSHI_HOME": str(tmp_path)}
    if named_by == "KALSHI_STATE":
        environ["KALSHI_STATE"] = str(state)
    result = CliRunner().invoke(
        app, [*flags, "check", name], obj=AppContext(environ=environ), prog_name="kalshi"
    )
    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith(f"KALSHI {name.upper()} UNKNOWN - ")
    assert "does not exist" in line(result)
    assert not state.parent.exists()


def test_a_state_file_of_another_account_is_alerted_on_and_left_untouched(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A check refused another account's state file (a key rotated under a fixed KALSHI_STATE)
    cannot look, and the loop it watches cannot start on that file either: the UNKNOWN goes to
    the webhooks like any other, without the alert state, which is that file's and is not
    written; the next run sends it again."""
    endpoint = f"http://127.0.0.1:{free_port()}/trade-api/v2"
    state = tmp_path / "state.db"
    with Store.open(state) as store:
        store.entries.bind_exchange(endpoint, "their-key-id")
    before = state.read_bytes()
    (tmp_path / "config.yaml").write_text(receiver.alerts_config())
    environ = {
        "KALSHI_STATE": str(state),
        "KALSHI_API_BASE": endpoint,
        "KALSHI_API_KEY_ID": "my-key-id",
    }
    results = [check(tmp_path, "heartbeat", environ=environ) for _ in range(2)]
    for result in results:
        assert result.exit_code == UNKNOWN, result.stdout
        assert line(result).startswith("KALSHI HEARTBEAT UNKNOWN - the state file ")
        assert "alert state not used: the state file is not this account's" in result.stderr
    assert [(p["status"], p["severity"], p["fingerprint"]) for p in receiver.posts] == [
        ("firing", "warning", "check:heartbeat")
    ] * 2
    assert "belongs to account" in receiver.posts[0]["summary"]
    assert state.read_bytes() == before


def test_a_state_file_that_needs_migrating_is_alerted_on_and_left_unmigrated(
    tmp_path: Path, receiver: Receiver
) -> None:
    """After an upgrade the state file may still be in use by the trade loop of the version
    before, until someone runs `kalshi state migrate` with no loop running: a check's alert must
    not migrate it under that loop, which would wait on the migration's write lock for as long
    as it takes (seconds for a long history: docs/state-file.md). The alert still goes out,
    without the alert state, and the run says why."""
    state = tmp_path / "state.db"
    conn = sqlite3.connect(state, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        # every migration this version needs to read the file but the newest
        *before, last_needed = [m for m in migrations.MIGRATIONS if m.needed]
        migrations.apply_pending(conn, 1.0, before)
    finally:
        conn.close()
    last = last_needed.name
    (tmp_path / "config.yaml").write_text(receiver.alerts_config())
    result = check(tmp_path, "heartbeat", environ={"KALSHI_STATE": str(state)})

    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith(f"KALSHI HEARTBEAT UNKNOWN - state file {state} needs migr")
    assert [(p["status"], p["fingerprint"]) for p in receiver.posts] == [
        ("firing", "check:heartbeat")
    ]
    assert f"alert state unavailable: state file {state} needs migration(s): {last}" in (
        result.stderr
    )
    conn = sqlite3.connect(state)
    try:
        assert migrations.needed_pending(conn) == [last]
    finally:
        conn.close()


def test_a_state_file_lacking_only_an_index_is_still_checked_and_left_unmigrated(
    tmp_path: Path, receiver: Receiver
) -> None:
    """After an upgrade whose only new migration is an index (0017: the fills still to be
    priced), the file reads and writes the same without it: a cron `kalshi check` beside the
    loop of the version before still grades it and records its alert state, never UNKNOWN for
    a migration it does not need, and leaves the migration to `kalshi state migrate`."""
    state = tmp_path / "state.db"
    with Store.open(state) as store:
        store.entries.heartbeat(source="trade")
    conn = sqlite3.connect(state, isolation_level=None)
    try:
        conn.execute("DROP INDEX fills_without_realized")
        conn.execute("DELETE FROM schema_migrations WHERE name = '0017_fills_without_realized'")
    finally:
        conn.close()
    (tmp_path / "config.yaml").write_text(receiver.alerts_config())
    result = check(tmp_path, "heartbeat", environ={"KALSHI_STATE": str(state)})

    assert result.exit_code == OK, result.stdout + result.stderr
    assert line(result).startswith("KALSHI HEARTBEAT OK - ")
    assert "alert state" not in result.stderr
    conn = sqlite3.connect(state)
    try:
        assert migrations.pending(conn) == ["0017_fills_without_realized"]
    finally:
        conn.close()


def test_all_reports_the_worst_and_every_line(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state" / "sim" / "state.db") as store:
        store.entries.heartbeat(source="trade")
    env = {"KALSHI_API_BASE": f"http://127.0.0.1:{free_port()}/trade-api/v2", "KALSHI_TIMEOUT": "1"}
    result = check(tmp_path, "all", "--set", "feed.warn=1", environ=env)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("KALSHI ALL CRITICAL - ")
    assert [ln.split(" ")[1] for ln in lines[1:]] == [
        "POSITIONS",
        "PNL",
        "HEARTBEAT",
        "ORDERS",
        "EXPOSURE",
        "API",
        "FEED",
        "EXCHANGE",
        "BALANCE",
    ]
    assert result.exit_code == CRITICAL


# --------------------------------------------------------------------------------------------
# usage and configuration errors are UNKNOWN (3), with a Nagios line


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        [],
        ["heartbeat", "--bogus"],
        ["heartbeat", "--warn", "soon"],
        ["heartbeat", "--warn", "100", "--crit", "10"],
        ["heartbeat", "--set", "nonsense=1"],
        ["all", "--warn", "1"],
    ],
)
def test_usage_errors_are_unknown(tmp_path: Path, args: list[str]) -> None:
    result = check(tmp_path, *args)
    assert result.exit_code == UNKNOWN, result.stdout
    assert "UNKNOWN - " in result.stdout.splitlines()[0]


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        ["heartbeat", "--bogus"],
        ["positions", "--subaccount", "99"],
        ["heartbeat", "--warn", "soon"],
        ["all", "--warn", "1"],
    ],
)
def test_a_usage_error_with_json_is_still_one_json_document(
    tmp_path: Path, args: list[str]
) -> None:
    """`--json` output is parsed by a machine, which a Nagios line in its place breaks: the
    errors Click finds (an unknown check or flag, a value out of range) answer in JSON too."""
    result = check(tmp_path, *args, "--json")
    assert result.exit_code == UNKNOWN, result.stdout
    document = json.loads(result.stdout)
    assert (document["status"], document["exit_code"]) == ("UNKNOWN", UNKNOWN)
    assert document["line"].startswith("KALSHI ")
    assert " UNKNOWN - " in document["line"]


@pytest.mark.parametrize(
    "text",
    [
        "env: [unclosed\n",  # malformed YAML
        "env: mars\n",  # a bad value
        "checks:\n  heartbeat:\n    wran: 5\n",  # a misspelt threshold
        "checks:\n  heartbeat:\n    crit: 1e999\n",  # out of range, as the flag is
    ],
)
def test_config_errors_are_unknown(tmp_path: Path, text: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    result = check(tmp_path, "heartbeat", environ={"KALSHI_CONFIG": str(config)})
    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith("KALSHI HEARTBEAT UNKNOWN - ")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["feed", "--crit", "1e999"], "--crit"),  # finite, but no threshold a person means
        (["pnl", "--set", "pnl.warn=-1e999"], "--set pnl.warn"),
    ],
)
def test_a_threshold_out_of_range_is_refused_by_name(
    tmp_path: Path, args: list[str], named: str
) -> None:
    result = check(tmp_path, *args)
    assert result.exit_code == UNKNOWN, result.stdout
    assert f"UNKNOWN - {named} must be " in line(result)


def test_a_missing_named_config_is_unknown(tmp_path: Path) -> None:
    result = check(tmp_path, "heartbeat", environ={"KALSHI_CONFIG": str(tmp_path / "nope.yaml")})
    assert result.exit_code == UNKNOWN
    assert "does not exist" in line(result)


# --------------------------------------------------------------------------------------------
# the local checks stay light


PROBE = """
import json, sys
from kalshi_cli.cli.app import app
try:
    app(json.loads(sys.argv[1]), prog_name="kalshi")
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("httpx", "cryptography", "kalshi_cli.client", "kalshi_cli.sim")
               if m in sys.modules)
print("HEAVY", json.dumps(heavy), "CODE", code, file=sys.stderr)
"""


@pytest.mark.parametrize("name", ["heartbeat", "feed", "orders"])
def test_local_checks_import_neither_httpx_nor_cryptography(tmp_path: Path, name: str) -> None:
    with Store.open(tmp_path / "state" / "sim" / "state.db") as store:
        store.entries.heartbeat(source="trade")
        store.entries.set_kv("feed.last_message_at", f"{store.entries.last_heartbeat().at:.3f}")  # type: ignore[union-attr]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(["check", name])],
        env={"KALSHI_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    heavy, code = done.stderr.rsplit("HEAVY ", 1)[1].split(" CODE ")
    assert json.loads(heavy) == []
    assert int(code) == OK, done.stdout


def test_thresholds_from_the_config_file_and_flags_over_them(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state" / "sim" / "state.db") as store:
        store.entries.heartbeat(source="trade")
    (tmp_path / "config.yaml").write_text("checks:\n  heartbeat: {warn: 0, crit: 3600}\n")
    assert check(tmp_path, "heartbeat").exit_code == WARNING
    assert check(tmp_path, "heartbeat", "--crit", "0").exit_code == CRITICAL
    assert check(tmp_path, "heartbeat", "--set", "warn=600").exit_code == OK
