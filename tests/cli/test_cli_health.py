"""`kalshi health-check`: one line per check, exit 12 when any fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from kalshi_cli.vocabulary.errors import AuthError, TransportError

from .fakes import FakeClient, market
from .fakes import run as run_cli

# An explicit API base: the fake client stands in for the exchange, no simulator is started.
API_BASE = {"KALSHI_API_BASE": "http://127.0.0.1:1/trade-api/v2"}


def run(
    args: list[str], *, client: FakeClient, home: Path, environ: dict[str, str] | None = None
) -> Result:
    return run_cli(args, client=client, home=home, environ={**API_BASE, **(environ or {})})


def checks(stdout: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(stdout)["checks"]}


def key_file(tmp_path: Path, mode: int) -> Path:
    from kalshi_cli.vocabulary.keys import generate_private_key, private_key_pem

    path = tmp_path / "key.pem"
    path.write_bytes(private_key_pem(generate_private_key()))
    path.chmod(mode)
    return path


def _signed(tmp_path: Path) -> dict[str, str]:
    """The environment of a key id and a private key file readable by its owner alone."""
    key = key_file(tmp_path, 0o600)
    return {"KALSHI_API_KEY_ID": "key-id-123456", "KALSHI_PRIVATE_KEY_PATH": str(key)}


def test_all_green(tmp_path: Path) -> None:
    key = key_file(tmp_path, 0o600)
    environ = {
        "KALSHI_API_KEY_ID": "key-id-123456",
        "KALSHI_PRIVATE_KEY_PATH": str(key),
    }
    result = run(["health-check", "--json"], client=FakeClient(), home=tmp_path, environ=environ)
    assert result.exit_code == 0, result.output
    found = checks(result.stdout)
    assert list(found) == [
        "exchange",
        "credentials",
        "shards",
        "clock skew",
        "rate-limit tier",
        "state location",
        "key file",
        "state integrity",
    ]
    assert {c["status"] for name, c in found.items() if name != "state integrity"} == {"ok"}
    assert found["state integrity"] == {
        "name": "state integrity",
        "status": "skip",
        "detail": "no state file yet",
    }
    assert "(created on first use)" in found["state location"]["detail"]
    assert not (tmp_path / "state").exists()  # the check never creates the state file
    assert found["key file"]["detail"].endswith("(mode 600)")
    assert json.loads(result.stdout)["ok"] is True


def test_plain_output_is_one_line_per_check(tmp_path: Path) -> None:
    result = run(["health-check"], client=FakeClient(has_key=False), home=tmp_path, environ={})
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 8
    assert lines[2].split()[:2] == ["fail", "credentials"]


def test_failures_exit_12_and_others_still_run(tmp_path: Path) -> None:
    client = FakeClient(
        skew=7.5,
        usage_tier="advanced",
        errors={"get_exchange_status": TransportError("no answer from x")},
    )
    result = run(["health-check", "--json"], client=client, home=tmp_path)
    assert result.exit_code == 12
    found = checks(result.stdout)
    assert found["exchange"] == {"name": "exchange", "status": "fail", "detail": "no answer from x"}
    assert found["clock skew"]["status"] == "fail"
    assert "+7.50 s" in found["clock skew"]["detail"]
    # no tier configured: the long runs pace by the exchange's, nothing to warn about
    assert found["rate-limit tier"] == {
        "name": "rate-limit tier",
        "status": "ok",
        "detail": "advanced (the exchange's; `trade` and `cancel-all` pace by it)",
    }


def test_a_configured_tier_the_exchange_contradicts_is_a_warning(tmp_path: Path) -> None:
    """A tier set in the config wins over the exchange's in `trade` and `cancel-all`: one that
    differs paces them too slowly, or into 429s."""
    client = FakeClient(usage_tier="advanced")
    result = run(
        ["health-check", "--json"], client=client, home=tmp_path, environ={"KALSHI_TIER": "basic"}
    )
    found = checks(result.stdout)
    assert found["rate-limit tier"]["status"] == "warn"
    assert found["rate-limit tier"]["detail"] == (
        "the exchange says advanced, the config says basic (env: KALSHI_TIER), and the config's "
        "wins (set tier: advanced under `sim:`, or remove it)"
    )


def test_an_exchange_that_does_not_answer_is_reported_once(tmp_path: Path) -> None:
    down = TransportError(
        "GET /exchange/status: no answer from x",
        hint="is the exchange reachable? `kalshi health-check`",
    )
    methods = ("get_exchange_status", "get_balance", "clock_skew_seconds", "get_account_limits")
    client = FakeClient(errors=dict.fromkeys(methods, down))
    environ = _signed(tmp_path)
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    assert result.exit_code == 12
    found = checks(result.stdout)
    # No advice to run the very command that printed it.
    assert found["exchange"]["detail"] == "GET /exchange/status: no answer from x"
    assert found["exchange"]["status"] == "fail"
    for name in ("credentials", "clock skew", "rate-limit tier"):
        assert found[name] == {
            "name": name,
            "status": "skip",
            "detail": "the exchange did not answer",
        }
    assert found["state location"]["status"] == "ok"


def test_rejected_key_fails_credentials(tmp_path: Path) -> None:
    client = FakeClient(errors={"get_balance": AuthError("HTTP 401", status=401)})
    result = run(["health-check", "--json"], client=client, home=tmp_path)
    assert result.exit_code == 12
    assert checks(result.stdout)["credentials"]["status"] == "fail"


def test_broken_key_is_reported_and_network_checks_still_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    bad.chmod(0o600)
    environ = {
        "KALSHI_ENV": "demo",
        "KALSHI_API_KEY_ID": "key-id-123456",
        "KALSHI_PRIVATE_KEY_PATH": str(bad),
    }
    anonymous_calls: list[bool] = []

    from typer.testing import CliRunner

    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.app import app

    def factory(context: AppContext, settings: object, anonymous: bool) -> Any:  # a FakeClient
        anonymous_calls.append(anonymous)
        context.connection(auth=False, anonymous=anonymous)  # loads (and rejects) the key
        return FakeClient(has_key=not anonymous)

    context = AppContext(environ={"KALSHI_HOME": str(tmp_path), **environ}, client_factory=factory)
    result = CliRunner().invoke(app, ["health-check", "--json"], obj=context)
    assert result.exit_code == 12
    found = checks(result.stdout)
    assert found["exchange"]["status"] == "ok"
    assert found["credentials"]["status"] == "fail"
    assert "is not a PEM private key" in found["credentials"]["detail"]
    assert anonymous_calls == [False, True]


PRODUCTION_BASE = "https://api.elections.kalshi.com/trade-api/v2"


def test_loose_key_file_warns_on_demo_and_fails_on_prod(tmp_path: Path) -> None:
    key = key_file(tmp_path, 0o644)
    base = {"KALSHI_API_KEY_ID": "key-id-123456", "KALSHI_PRIVATE_KEY_PATH": str(key)}
    demo = run(
        ["health-check", "--json"],
        client=FakeClient(),
        home=tmp_path,
        environ={**base, "KALSHI_ENV": "demo"},
    )
    assert checks(demo.stdout)["key file"]["status"] == "warn"
    assert demo.exit_code == 0
    prod = run(
        ["health-check", "--json"],
        client=FakeClient(),
        home=tmp_path,
        environ={**base, "KALSHI_ENV": "prod"},
    )
    assert checks(prod.stdout)["key file"]["status"] == "fail"
    assert prod.exit_code == 12
    # Kalshi's production host is prod whatever the env is named
    production = run(
        ["health-check", "--json"],
        client=FakeClient(),
        home=tmp_path,
        environ={**base, "KALSHI_ENV": "demo", "KALSHI_API_BASE": PRODUCTION_BASE},
    )
    assert checks(production.stdout)["key file"]["status"] == "fail"


def test_unwritable_state_location_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    environ = {"KALSHI_STATE": str(blocker / "sub" / "state.db")}
    result = run(["health-check", "--json"], client=FakeClient(), home=tmp_path, environ=environ)
    assert checks(result.stdout)["state location"]["status"] == "fail"
    assert result.exit_code == 12


def test_a_symlink_to_a_missing_state_file_fails_the_state_checks_and_nothing_is_made(
    tmp_path: Path,
) -> None:
    """A link at the state path whose target is gone (a volume not mounted, a file moved) is a
    broken state file: `state location` said it would be created on first use, but no command
    creates a file through the link, and every one that opens it exits 17."""
    target = tmp_path / "volume" / "state.db"
    state = tmp_path / "state.db"
    state.symlink_to(target)
    environ = {"KALSHI_STATE": str(state)}
    result = run(["health-check", "--json"], client=FakeClient(), home=tmp_path, environ=environ)
    found = checks(result.stdout)
    named = f"{state} is a symbolic link to {target}, which does not exist"
    for name in ("state location", "state integrity"):
        assert found[name]["status"] == "fail", found[name]
        assert found[name]["detail"].startswith(named), found[name]
    assert json.loads(result.stdout)["ok"] is False
    assert result.exit_code == 12
    assert state.is_symlink() and not target.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]

    plain = run(["health-check"], client=FakeClient(), home=tmp_path, environ=environ)
    [location] = [ln for ln in plain.stdout.splitlines() if "state location" in ln]
    assert location.split()[:3] == ["fail", "state", "location"]
    assert named in location


def test_a_directory_at_the_state_path_fails_the_state_checks_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    state.mkdir()
    environ = {"KALSHI_STATE": str(state)}
    result = run(["health-check", "--json"], client=FakeClient(), home=tmp_path, environ=environ)
    found = checks(result.stdout)
    for name in ("state location", "state integrity"):
        assert found[name]["status"] == "fail", found[name]
        assert found[name]["detail"].startswith(f"{state} is a directory"), found[name]
    assert result.exit_code == 12


@pytest.mark.parametrize("named_by", ["--state", "KALSHI_STATE"])
def test_a_state_file_in_a_missing_directory_fails_state_location_and_nothing_is_made(
    tmp_path: Path, named_by: str
) -> None:
    """A typo in --state or KALSHI_STATE is refused by every command that would use it (only the
    default state directory is made on first use), so `state location` cannot call it a file
    "created on first use"."""
    state = tmp_path / "typo" / "state.db"
    flags = ["--state", str(state)] if named_by == "--state" else []
    environ = {"KALSHI_STATE": str(state)} if named_by == "KALSHI_STATE" else {}
    result = run(
        [*flags, "health-check", "--json"], client=FakeClient(), home=tmp_path, environ=environ
    )
    location = checks(result.stdout)["state location"]
    assert location["status"] == "fail", location
    assert f"the directory {state.parent} does not exist" in location["detail"]
    assert checks(result.stdout)["state integrity"]["status"] == "skip"
    assert result.exit_code == 12
    assert not state.parent.exists()


def _exchange_status(*shards: int) -> dict[str, Any]:
    """`GET /exchange/status` with each of `shards` open for trading and transfers."""
    each = {
        "exchange_active": True,
        "trading_active": True,
        "intra_exchange_transfers_active": True,
    }
    return {
        "exchange_active": True,
        "trading_active": True,
        "exchange_index_statuses": [
            {**each, "exchange_index": n, "description": f"shard {n}"} for n in shards
        ],
    }


def test_a_traded_shard_short_of_its_floor_or_paused_warns(tmp_path: Path) -> None:
    """Each shard's money beside the markets the config trades there: the total passes any
    floor, the shard the markets live on does not."""
    key = key_file(tmp_path, 0o600)
    (tmp_path / "config.yaml").write_text("risk:\n  min_shard_balance: 50\n", encoding="utf-8")
    environ = {"KALSHI_API_KEY_ID": "key-id-123456", "KALSHI_PRIVATE_KEY_PATH": str(key)}
    client = FakeClient(
        market_rows=[market("KXBTC-A", exchange_index=2), market("KXNBA-A", exchange_index=0)],
        balance_dollars="1012.0000",
        balance_breakdown=[
            {"exchange_index": 0, "balance": "1000.0000"},
            {"exchange_index": 2, "balance": "12.0000"},
        ],
        exchange_status=_exchange_status(0, 2),
    )
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    assert result.exit_code == 0, result.output  # a warning, not a failure
    shards = checks(result.stdout)["shards"]
    assert shards["status"] == "warn"
    assert shards["detail"] == (
        "shard 2 holds $12.00, less than $50.00; `kalshi shard move` funds it | "
        "shard 0 ($1,000.00, 1 traded market); shard 2 ($12.00, 1 traded market)"
    )
    client.balance_breakdown = [
        {"exchange_index": 0, "balance": "900.0000"},
        {"exchange_index": 2, "balance": "112.0000"},
    ]
    client.exchange_status["exchange_index_statuses"][1]["trading_active"] = False
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    shards = checks(result.stdout)["shards"]
    assert shards["status"] == "warn"
    assert shards["detail"].startswith("shard 2 trades nothing now | ")
    assert "shard 2 ($112.00, 1 traded market, trading paused)" in shards["detail"]


def test_a_traded_shard_holding_nothing_fails_as_check_balance_is_critical(tmp_path: Path) -> None:
    """A shard the traded markets live on that holds nothing buys nothing there, however large
    the total: `health-check` fails (exit 12) where `kalshi check balance` is CRITICAL; a shard
    holding nothing where no traded market lives is shown, never graded."""
    environ = _signed(tmp_path)
    client = FakeClient(
        market_rows=[market("KXBTC-A", exchange_index=2), market("KXNBA-A", exchange_index=0)],
        balance_dollars="1000.0000",
        balance_breakdown=[
            {"exchange_index": 0, "balance": "1000.0000"},
            {"exchange_index": 2, "balance": "0.0000"},
            {"exchange_index": 3, "balance": "0.0000"},
        ],
        exchange_status=_exchange_status(0, 2, 3),
    )
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    assert result.exit_code == 12, result.output
    shards = checks(result.stdout)["shards"]
    assert shards["status"] == "fail", shards
    assert shards["detail"].startswith(
        "shard 2 holds nothing ($0.00): buys in its 1 traded market are refused; "
        "`kalshi shard move` funds it | "
    ), shards
    assert "shard 3" not in shards["detail"].split(" | ")[0]
    # funded with one order's cost (no floor set: `max_order_count` 50 contracts at $1), it
    # passes again
    client.balance_breakdown = [
        {"exchange_index": 0, "balance": "950.0000"},
        {"exchange_index": 2, "balance": "50.0000"},
        {"exchange_index": 3, "balance": "0.0000"},
    ]
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    assert result.exit_code == 0, result.output
    assert checks(result.stdout)["shards"]["status"] == "ok"


def test_a_traded_shard_whose_money_is_not_told_warns(tmp_path: Path) -> None:
    """A balance with no split by shard (a key restricted to a subaccount) cannot say what the
    shard the traded markets live on holds: a warning naming it, as `kalshi check balance` is
    UNKNOWN, never a pass."""
    environ = _signed(tmp_path)
    client = FakeClient(
        market_rows=[market("KXBTC-A", exchange_index=2)],
        balance_dollars="1000.0000",
        exchange_status=_exchange_status(0, 2),
    )
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    assert result.exit_code == 0, result.output  # a warning, not a failure
    shards = checks(result.stdout)["shards"]
    assert shards["status"] == "warn", shards
    assert shards["detail"].startswith(
        "what shard 2 holds is not told (the balance gives no split by shard)"
    ), shards


def test_a_traded_market_naming_no_shard_of_several_warns(tmp_path: Path) -> None:
    """Of two shards, the one a traded market naming none lives on is unknown (the spec leaves
    `exchange_index` out at will), and so is the money that pays for it: a warning naming it,
    as `kalshi check balance` is UNKNOWN, never a pass."""
    environ = _signed(tmp_path)
    client = FakeClient(
        market_rows=[market("KXOLD-A", exchange_index=None)],
        balance_dollars="1000.0000",
        balance_breakdown=[
            {"exchange_index": 0, "balance": "1000.0000"},
            {"exchange_index": 2, "balance": "0.0000"},
        ],
        exchange_status=_exchange_status(0, 2),
    )
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    assert result.exit_code == 0, result.output  # a warning, not a failure
    shards = checks(result.stdout)["shards"]
    assert shards["status"] == "warn", shards
    assert shards["detail"].startswith(
        "the exchange named no shard for 1 traded market (KXOLD-A), so the money that pays for "
        "it is unknown"
    ), shards


def test_a_shard_the_running_loop_holds_short_warns_though_the_configs_shards_are_funded(
    tmp_path: Path,
) -> None:
    """The config's markets are on a funded shard; a running `kalshi trade --tickers` trades a
    market of shard 3, which holds nothing, and denies every order there: its heartbeat names
    shard 3 short, and the shards line says so (a warning), never all well; once the loop's
    heartbeat no longer holds it, the line passes."""
    from kalshi_cli.store import Store

    key = key_file(tmp_path, 0o600)
    state = tmp_path / "state.db"
    (tmp_path / "config.yaml").write_text("trade:\n  markets: [KXNBA-A]\n", encoding="utf-8")
    environ = {
        "KALSHI_API_KEY_ID": "key-id-123456",
        "KALSHI_PRIVATE_KEY_PATH": str(key),
        "KALSHI_STATE": str(state),
    }
    client = FakeClient(
        market_rows=[market("KXNBA-A", exchange_index=0), market("KXGOLD-A", exchange_index=3)],
        balance_dollars="1000.0000",
        balance_breakdown=[
            {"exchange_index": 0, "balance": "1000.0000"},
            {"exchange_index": 3, "balance": "0.0000"},
        ],
        exchange_status=_exchange_status(0, 3),
    )
    with Store.open(state) as store:
        held = {"short": [3], "paused": []}
        store.entries.heartbeat(source="trade", detail={"shards_held": held})
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    shards = checks(result.stdout)["shards"]
    assert shards["status"] == "warn", shards
    assert shards["detail"].startswith(
        "the trade loop holds shard 3 short (its orders there are denied or refused for the "
        "shard's balance until it is funded: `kalshi shard move`) | "
    ), shards
    with Store.open(state) as store:
        store.entries.heartbeat(source="trade", detail={"shards_held": {"short": [], "paused": []}})
    result = run(["health-check", "--json"], client=client, home=tmp_path, environ=environ)
    assert checks(result.stdout)["shards"]["status"] == "ok", result.stdout
