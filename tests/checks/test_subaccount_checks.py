"""`kalshi check positions` and `kalshi check exposure` cover every subaccount of the account.

`GET /portfolio/positions` without `subaccount` answers for subaccount 0 only (openapi.yaml
3.31.0, SubaccountQueryDefaultPrimary), while `kalshi trade --subaccount N` holds its positions
on N: a check that read only 0 passed a loop's breach on N silently. The real command, the real
simulator over loopback, and a real webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.remote import check_exposure, check_positions
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.vocabulary.errors import KalshiError
from tests.alerts.receiver import Receiver
from tests.checks.test_check_cli import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    account_env,
    buy,
    check,
    client_for,
    line,
)
from tests.conftest import SimHarness, tier_simulator


def alerting(home: Path, receiver: Receiver) -> None:
    (home / "config.yaml").write_text(receiver.alerts_config())


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    """The simulator on the advanced tier: subaccounts need it or above."""
    yield from tier_simulator(tmp_path, "advanced")


def test_a_breach_on_subaccount_1_only_is_critical_names_it_and_posts(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    sim.create_market("KXSUB-1")
    sim.create_market("KXSUB-0")
    buy(sim, "KXSUB-0", 10)  # subaccount 0: well within the limit of 100
    buy(sim, "KXSUB-1", 101, subaccount=1)  # subaccount 1: over it
    alerting(tmp_path, receiver)
    result = check(tmp_path, "positions", environ=account_env(sim.account))
    assert result.exit_code == CRITICAL, result.stdout
    assert line(result) == (
        "KALSHI POSITIONS CRITICAL - 1 market over limit: KXSUB-1 101/100 on subaccount 1 | "
        "'over_limit'=1;0;0 'near_limit'=0;0 'largest'=101%;80;100;0 'markets'=2;;;0"
    )
    assert [(p["status"], p["fingerprint"]) for p in receiver.posts] == [
        ("firing", "check:positions")
    ]
    assert "KXSUB-1 101/100 on subaccount 1" in receiver.posts[0]["summary"]


def test_json_names_the_subaccount_of_each_breach(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market("KXSUB-2")
    sim.create_market("KXSUB-3")
    buy(sim, "KXSUB-2", 85)  # subaccount 0: at 85%, a WARNING
    buy(sim, "KXSUB-3", 101, subaccount=1)
    result = check(tmp_path, "positions", "--json", environ=account_env(sim.account))
    assert result.exit_code == CRITICAL, result.stdout
    doc = json.loads(result.stdout)
    assert doc["subaccounts"] == [0, 1]
    assert doc["breaches"] == [
        {
            "subaccount": 1,
            "ticker": "KXSUB-3",
            "position": "101",
            "limit": "100",
            "status": "CRITICAL",
        },
        {
            "subaccount": 0,
            "ticker": "KXSUB-2",
            "position": "85",
            "limit": "100",
            "status": "WARNING",
        },
    ]


def test_subaccount_narrows_the_check_to_one(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market("KXSUB-4")
    buy(sim, "KXSUB-4", 101, subaccount=1)
    env = account_env(sim.account)
    only_0 = check(tmp_path, "positions", "--subaccount", "0", environ=env)
    assert only_0.exit_code == OK, only_0.stdout
    assert line(only_0).startswith(
        "KALSHI POSITIONS OK - all 0 positions within limits on subaccount 0"
    )
    only_1 = check(tmp_path, "positions", "--subaccount", "1", "--json", environ=env)
    assert only_1.exit_code == CRITICAL, only_1.stdout
    doc = json.loads(only_1.stdout)
    assert doc["subaccounts"] == [1]
    assert [(b["subaccount"], b["ticker"]) for b in doc["breaches"]] == [(1, "KXSUB-4")]
    exposure_0 = check(tmp_path, "exposure", "--subaccount", "0", environ=env)
    assert exposure_0.exit_code == OK, exposure_0.stdout
    # `all` hands it to positions and exposure
    every = json.loads(check(tmp_path, "all", "--subaccount", "0", "--json", environ=env).stdout)
    by_name = {c["name"]: c for c in every["checks"]}
    assert by_name["positions"]["status"] == "OK"
    assert by_name["positions"]["subaccounts"] == [0]
    assert [e["subaccount"] for e in by_name["exposure"]["exposures"]] == [0]


def test_subaccount_is_refused_by_a_check_that_reads_no_positions(tmp_path: Path) -> None:
    result = check(tmp_path, "heartbeat", "--subaccount", "1")
    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith("KALSHI HEARTBEAT UNKNOWN - --subaccount applies to")


def test_exposure_is_graded_per_subaccount_and_the_account_total_is_shown(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    sim.create_market("KXSUB-5")
    sim.create_market("KXSUB-6")
    buy(sim, "KXSUB-5", 50)  # subaccount 0: $20
    buy(sim, "KXSUB-6", 100, subaccount=1)  # subaccount 1: $40
    alerting(tmp_path, receiver)
    env = account_env(sim.account)
    # cap $500: crit above 7% is $35, so 1's $40 breaches it and 0's $20 does not, while the
    # account's $60 is what neither a check of 0 alone nor the old check saw
    result = check(tmp_path, "exposure", "--warn", "0.05", "--crit", "0.07", environ=env)
    assert result.exit_code == CRITICAL, result.stdout
    assert line(result) == (
        "KALSHI EXPOSURE CRITICAL - exposure per subaccount against the $500.00 cap: "
        "subaccount 1 $40.00 (8%), subaccount 0 $20.00 (4%); account total $60.00 | "
        "'exposure'=40.0000;25;35;0;500 'account_exposure'=60.0000;;;0"
    )
    assert [p["fingerprint"] for p in receiver.posts] == ["check:exposure"]
    assert "subaccount 1 $40.00 (8%)" in receiver.posts[0]["summary"]
    flags = ("--no-alert", "--json", "--warn", "0.03", "--crit", "0.07")
    doc = json.loads(check(tmp_path, "exposure", *flags, environ=env).stdout)
    assert doc["account_exposure"] == "60.000000"
    assert doc["exposures"] == [
        {"subaccount": 1, "exposure": "40.000000", "status": "CRITICAL"},
        {"subaccount": 0, "exposure": "20.000000", "status": "WARNING"},
    ]


def test_an_account_without_subaccounts_prints_and_exits_exactly_as_before(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Cron users parse these lines: an account with subaccount 0 only gets today's output."""
    sim.create_market("KXONE-1")
    buy(sim, "KXONE-1", 85)
    env = account_env(sim.account)
    positions = check(tmp_path, "positions", environ=env)
    assert (positions.exit_code, positions.stdout) == (WARNING, POSITIONS_BEFORE)
    exposure = check(tmp_path, "exposure", environ=env)
    assert (exposure.exit_code, exposure.stdout) == (OK, EXPOSURE_BEFORE)
    doc = json.loads(check(tmp_path, "positions", "--json", environ=env).stdout)
    assert sorted(doc) == ["exit_code", "line", "name", "perfdata", "status", "summary"]
    doc = json.loads(check(tmp_path, "exposure", "--json", environ=env).stdout)
    assert sorted(doc) == ["exit_code", "line", "name", "perfdata", "status", "summary"]


POSITIONS_BEFORE = (
    "KALSHI POSITIONS WARNING - 1 market at 80% of the limit or more: KXONE-1 85/100 | "
    "'over_limit'=0;0;0 'near_limit'=1;0 'largest'=85%;80;100;0 'markets'=1;;;0\n"
)
EXPOSURE_BEFORE = (
    "KALSHI EXPOSURE OK - total exposure $34.00 of the $500.00 cap (7%) | "
    "'exposure'=34.0000;400;500;0;500\n"
)


def test_a_key_restricted_to_a_subaccount_checks_that_subaccount(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Such a key "may only read and trade on that sub-account": the listing shows it its own,
    and the check reads that one, rather than asking for subaccount 0 and being refused."""
    sim.create_market("KXSUB-7")
    buy(sim, "KXSUB-7", 101, subaccount=1)
    with client_for(sim.account) as me:
        generated = me.api_keys.generate_api_key("sub-1 only", subaccount=1)
    pem = tmp_path / "sub1.pem"
    pem.write_text(generated.private_key_pem)
    env = {**account_env(sim.account), "KALSHI_API_KEY_ID": generated.api_key_id}
    env["KALSHI_PRIVATE_KEY_PATH"] = str(pem)
    result = check(tmp_path, "positions", environ=env)
    assert result.exit_code == CRITICAL, result.stdout
    assert "KXSUB-7 101/100 on subaccount 1" in line(result)


def test_a_subaccount_the_account_does_not_have_is_unknown_not_ok(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The exchange answers an empty listing for a subaccount never created: a mistyped
    `--subaccount` in a crontab must not pass as "all 0 positions within limits", nor its money
    be graded, in the words every command names such a subaccount with."""
    sim.create_market("KXSUB-8")
    buy(sim, "KXSUB-8", 101, subaccount=1)
    env = account_env(sim.account)
    for name in ("positions", "exposure", "balance"):
        result = check(tmp_path, name, "--subaccount", "2", environ=env)
        assert result.exit_code == UNKNOWN, result.stdout
        assert result.stdout.splitlines() == [
            f"KALSHI {name.upper()} UNKNOWN - the account has no subaccount 2 (`kalshi "
            "subaccount list` shows them; `kalshi subaccount create` adds the next one and "
            "`kalshi subaccount transfer` funds it)"
        ]


def test_all_of_a_subaccount_the_account_does_not_have_grades_nothing_and_posts_one_alert(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    """`check all --subaccount N` of an N the account lacks is refused as every command refuses
    it: one UNKNOWN line, no check graded beside it (a heartbeat's CRITICAL, or OKs, would make
    the mistyped crontab line read as a verdict), and one alert saying so."""
    alerting(tmp_path, receiver)
    result = check(tmp_path, "all", "--subaccount", "63", environ=account_env(sim.account))
    assert result.exit_code == UNKNOWN, result.stdout
    assert result.stdout.splitlines() == [
        "KALSHI ALL UNKNOWN - the account has no subaccount 63 (`kalshi subaccount list` shows "
        "them; `kalshi subaccount create` adds the next one and `kalshi subaccount transfer` "
        "funds it)"
    ]
    assert [(p["status"], p["fingerprint"]) for p in receiver.posts] == [
        ("firing", "check:all:subaccount:63")
    ]


def test_the_alert_of_a_subaccount_not_yet_created_clears_once_its_checks_are_graded(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    """A crontab's `check all --subaccount 1` installed before `kalshi subaccount create`: its
    one alert says the account has no subaccount 1. Once it has, the checks are graded each
    under its own name, and that alert is cleared, not left firing for ever beside them."""
    alerting(tmp_path, receiver)
    env = account_env(sim.account)
    assert check(tmp_path, "all", "--subaccount", "1", environ=env).exit_code == UNKNOWN
    assert [(p["status"], p["fingerprint"]) for p in receiver.posts] == [
        ("firing", "check:all:subaccount:1")
    ]
    with client_for(sim.account) as me:
        assert me.subaccounts.create_subaccount() == 1
    check(tmp_path, "all", "--subaccount", "1", environ=env)
    cleared = [p for p in receiver.posts if p["fingerprint"] == "check:all:subaccount:1"]
    assert [p["status"] for p in cleared] == ["firing", "resolved"], receiver.posts
    assert cleared[1]["summary"].startswith("each check graded and alerted on its own: ")
    assert "(was: the account has no subaccount 1 (" in cleared[1]["summary"]
    # each check now speaks for itself: the summary line of `all` is never posted
    graded = {p["fingerprint"] for p in receiver.posts[1:]} - {"check:all:subaccount:1"}
    assert graded and all(not f.startswith("check:all") for f in graded), graded


class OneSubaccountFails(httpx.HTTPTransport):
    """The simulator, except that subaccount `number`'s positions read answers 500."""

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = str(number)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/portfolio/positions") and (
            request.url.params.get("subaccount") == self.number
        ):
            return httpx.Response(500, json={"code": "internal_server_error", "message": "down"})
        return super().handle_request(request)


@pytest.mark.parametrize("name", ["positions", "exposure"])
def test_a_breach_read_is_critical_though_another_subaccount_cannot_be_read(
    sim: SimHarness, name: str
) -> None:
    """A breach seen on one subaccount is the verdict: a read of another that fails beside it
    is said, not made the whole verdict (UNKNOWN goes to the `warning` route, not the pager).
    Without a breach read, the failure is UNKNOWN as before: nothing read is graded OK."""
    sim.create_market("KXSUB-8")
    sim.create_market("KXSUB-9")
    buy(sim, "KXSUB-8", 101)  # subaccount 0: over the limit of 100, $40.40 against a $30 cap
    buy(sim, "KXSUB-9", 1, subaccount=1)
    limit = Decimal(100) if name == "positions" else Decimal(30)
    grade = check_positions if name == "positions" else check_exposure
    with client_for(sim.account, transport=OneSubaccountFails(1), max_attempts=1) as client:
        result = grade(client, resolve(None), limit)
        assert result.status is CheckStatus.CRITICAL, result.summary
        seen, failed = result.summary.split("; subaccount 1 not read: ")
        assert failed.startswith("GET /portfolio/positions failed: HTTP 500")
        assert seen == (
            "1 market over limit: KXSUB-8 101/100 on subaccount 0"
            if name == "positions"
            else "exposure per subaccount against the $30.00 cap: subaccount 0 $40.40 (135%); "
            "account total $40.40"
        )
        # nothing over the limit read: `run_check`'s UNKNOWN, saying what was not read
        with pytest.raises(KalshiError, match=r"^subaccount 1 not read: GET /portfolio/positions"):
            grade(client, resolve(None), Decimal(1000))
