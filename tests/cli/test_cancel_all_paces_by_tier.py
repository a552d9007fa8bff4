"""`kalshi cancel-all` with a filter sends its cancels in batches paced by the write bucket: it
paces them by the account's own tier, asked of the exchange after the halt (client/pacing.py),
unless the config names a tier; without a filter (one exchange cancel-all) it asks nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.ratelimit import SAFETY_RATE
from kalshi_cli.config import Settings
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.prime_tier import cli_env, make_markets, resting_count, seed_resting


def _cancel_all(
    prime: SimHarness, home: Path, *args: str, **env: str
) -> tuple[Result, KalshiClient]:
    """`kalshi cancel-all ARGS` in-process with no tier configured (unless `env` names one), and
    the client it built."""
    environ = {k: v for k, v in cli_env(prime.account, home).items() if k != "KALSHI_TIER"}
    built: list[KalshiClient] = []

    def build(_app: Any, settings: Settings, _anonymous: bool) -> KalshiClient:
        key, _ = load_private_key(path=prime.account.private_key_path)
        client = KalshiClient(
            api_base=prime.account.api_base,
            key_id=prime.account.key_id,
            private_key=key,
            tier=settings.tier,
        )
        built.append(client)
        return client

    context = AppContext(environ=environ | env, client_factory=build)
    result = CliRunner().invoke(
        app, ["cancel-all", *args], obj=context, env={"NO_COLOR": "1"}, prog_name="kalshi"
    )
    (client,) = built
    return result, client


def _asked(prime: SimHarness) -> int:
    requests = prime.stats()["accounts"][prime.account.key_id]["requests"]
    asked: int = requests.get("GET /account/limits", 0)
    return asked


def test_batched_cancels_go_at_the_accounts_own_tier(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    seed_resting(prime, make_markets(prime, 2, event="KXT-A"), 5)
    result, used = _cancel_all(prime, tmp_path / "home", "--event", "KXT-A", "--json")
    assert result.exit_code == 0, result.output
    assert "rate limits: prime, as the exchange states for this account" in result.stderr
    assert used.connection.limiter.buckets["write"].refill_rate == 4000 * SAFETY_RATE
    assert _asked(prime) == 1
    assert resting_count(client) == 0


def test_a_configured_tier_is_kept_and_nothing_is_asked(prime: SimHarness, tmp_path: Path) -> None:
    seed_resting(prime, make_markets(prime, 1, event="KXT-A"), 3)
    result, client = _cancel_all(
        prime, tmp_path / "home", "--event", "KXT-A", KALSHI_TIER="advanced"
    )
    assert result.exit_code == 0, result.output
    assert "rate limits: advanced, as configured (env: KALSHI_TIER)" in result.stderr
    assert client.connection.limiter.buckets["write"].refill_rate == 300 * SAFETY_RATE
    assert _asked(prime) == 0


def test_the_exchanges_cancel_all_asks_nothing(prime: SimHarness, tmp_path: Path) -> None:
    seed_resting(prime, make_markets(prime, 1), 3)
    result, _ = _cancel_all(prime, tmp_path / "home", "--yes")
    assert result.exit_code == 0, result.output
    assert "rate limits" not in result.stderr
    assert _asked(prime) == 0
