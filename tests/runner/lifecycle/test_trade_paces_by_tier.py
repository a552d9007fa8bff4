"""`kalshi trade` paces by the account's own tier (client/pacing.py): at start the loop asks the
exchange (`GET /account/limits`) and its client's buckets become the account's, named in the
banner and the `started` event; an exchange that does not answer leaves the Basic tier, and the
banner says why; a tier the config names explicitly wins without asking. In-process against the
simulator over loopback at the Premier tier, and as a process for the config's tier.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.ratelimit import SAFETY_CAPACITY, SAFETY_RATE
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.runner.config import Selection, StrategyChoice, TradeOptions, load_trade_config
from kalshi_cli.runner.lifecycle.session import trade
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.fakes import OneRouteFails
from tests.openapi_check import RECORDER
from tests.runner.simproc import log_events, trade_command, trade_env

TICKER = "KXPACE-26-A"


@pytest.fixture
def premier(tmp_path: Path) -> Iterator[SimHarness]:
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim", scenario="empty", tier="premier", response_hook=RECORDER.hook
        )
    )
    harness.create_market(TICKER)
    yield harness
    harness.close()


def _run_once(
    sim: SimHarness,
    tmp_path: Path,
    transport: httpx.BaseTransport | None = None,
    *,
    tickers: tuple[str, ...] = (TICKER,),
    dry_run: bool = True,
) -> tuple[KalshiClient, str, Path]:
    """One pass of the loop (a dry run unless said) with a client built at the Basic tier (as
    `kalshi trade` builds it with no tier configured): the client, the banner and the log
    file."""
    account = sim.new_account()
    key, _ = load_private_key(path=Path(account.private_key_path))
    client = KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, transport=transport
    )
    out, log = io.StringIO(), tmp_path / "trade.log"
    options = TradeOptions(
        strategies=(StrategyChoice("market-maker"),),
        selection=Selection(tickers=tickers),
        once=True,
        dry_run=dry_run,
        log_file=log,
    )
    with client:
        trade(
            options,
            env="sim",
            state_path=tmp_path / "state.db",
            config=load_trade_config(None),
            client=client,
            ws_url=account.ws_url,
            signer=KalshiAuth(account.key_id, key),
            out=out,
            read_lag_s=0.0,
        )
    return client, out.getvalue(), log


def _started_rate_limits(log: Path) -> dict[str, Any]:
    (started,) = [e for e in log_events(log) if e["event"] == "started"]
    paced = started["rate_limits"]
    assert isinstance(paced, dict)
    return paced


def test_the_loop_paces_by_the_premier_tier_the_exchange_states(
    premier: SimHarness, tmp_path: Path
) -> None:
    client, banner, log = _run_once(premier, tmp_path)
    write = client.connection.limiter.buckets["write"]
    assert write.refill_rate == 1000 * SAFETY_RATE  # not Basic's 100
    assert write.capacity == 2000 * SAFETY_CAPACITY  # Premier's write bucket holds 2 s
    assert client.connection.limiter.buckets["read"].refill_rate == 1000 * SAFETY_RATE
    assert (
        "rate limits     premier, as the exchange states for this account: "
        "reads 1000 tokens/s (bucket 1000; 100 requests/s at 10 tokens each), "
        "writes 1000 tokens/s (bucket 2000; 100 requests/s at 10 tokens each)" in banner
    )
    assert _started_rate_limits(log) == {
        "tier": "premier",
        "source": "exchange",
        "detail": "GET /account/limits",
        "read": {"refill_rate": 1000, "bucket_capacity": 1000},
        "write": {"refill_rate": 1000, "bucket_capacity": 2000},
    }


def test_the_loop_falls_back_to_basic_when_the_limits_call_fails(
    premier: SimHarness, tmp_path: Path
) -> None:
    failing = OneRouteFails("GET", "/account/limits", status=500)
    client, banner, log = _run_once(premier, tmp_path, transport=failing)
    assert failing.failed >= 1
    assert client.connection.limiter.buckets["write"].refill_rate == 100 * SAFETY_RATE
    assert "rate limits     basic, the configured tier: the exchange did not answer (" in banner
    assert "HTTP 500" in banner
    paced = _started_rate_limits(log)
    assert (paced["tier"], paced["source"]) == ("basic", "fallback")


def test_a_tier_the_config_names_wins_without_asking(premier: SimHarness, tmp_path: Path) -> None:
    account = premier.new_account()
    env = trade_env(account, tmp_path / "home", tmp_path / "state.db") | {"KALSHI_TIER": "advanced"}
    log = tmp_path / "trade.log"
    done = subprocess.run(
        trade_command("market-maker", TICKER, log, "--once", "--dry-run"),
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "rate limits     advanced, as configured (env: KALSHI_TIER): reads 300 tokens/s"
        in done.stdout
    )
    requests = premier.stats()["accounts"][account.key_id]["requests"]
    assert "GET /account/limits" not in requests


def test_the_start_says_how_long_the_write_budget_takes_to_quote_every_market(
    premier: SimHarness, tmp_path: Path
) -> None:
    """Paced at Basic (the exchange did not say its tier), 120 markets take the write budget
    about 13 s at one order each: the start says so; one market says nothing of it."""
    tickers = tuple(f"KXPACE-SIM-M{n:03d}" for n in range(120))
    for ticker in tickers:
        premier.create_market(ticker)  # no book: the market maker quotes none of them
    failing = OneRouteFails("GET", "/account/limits", status=500)
    _, banner, _ = _run_once(premier, tmp_path, failing, tickers=tickers, dry_run=False)
    assert (
        "write budget    about 9.5 orders a second (basic): one order in each of 120 markets "
        "takes about 13 s; the markets not yet quoted go first" in banner
    )
    (tmp_path / "one").mkdir()
    fails = OneRouteFails("GET", "/account/limits")
    _, one, _ = _run_once(premier, tmp_path / "one", fails, dry_run=False)
    assert "write budget" not in one
