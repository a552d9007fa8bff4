"""Real money is the endpoint's: an `api_base` on Kalshi's production domain (a
`KALSHI_API_BASE` left in a shell) is prod whatever `env` names, for the prompt a prod write
asks and for `kalshi trade`'s `--live`, as for the assistant's `agent.writes.prod`."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.vocabulary.exit_codes import ExitCode

from .fakes import FakeClient, run

PRODUCTION = {
    "KALSHI_ENV": "demo",
    "KALSHI_API_BASE": "https://external-api.kalshi.com/trade-api/v2",
}


def test_an_order_to_the_production_host_asks_as_on_prod(tmp_path: Path) -> None:
    client = FakeClient()
    place = ["order", "place", "KXANY-26JAN01-T3", "--side", "yes", "--action", "buy"]
    result = run(
        [*place, "--count", "1", "--price", "0.30"],
        client=client,
        home=tmp_path,
        environ=PRODUCTION,
    )

    assert result.exit_code != 0, result.output
    assert "on PROD (real money). Proceed?" in result.output
    assert not [name for name, _ in client.calls if "order" in name], client.calls


def test_trade_on_the_production_host_needs_live(tmp_path: Path) -> None:
    result = run(
        ["trade", "--strategy", "market-maker", "--markets", "KXANY-26JAN01-T3"],
        home=tmp_path,
        environ=PRODUCTION,
    )

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "needs --live" in result.stderr


def test_the_dashboards_banner_on_the_production_host_is_prod(tmp_path: Path) -> None:
    """The badge the dashboard draws (red for PROD) names the money at stake, not the env."""
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.dashboard import build_wiring

    app = AppContext(environ={"KALSHI_HOME": str(tmp_path), **PRODUCTION})
    wiring, feed = build_wiring(app, None)  # no credentials: no client, nothing sent

    assert (wiring.client, feed) == (None, None)
    assert wiring.sources.env == "prod"
    app.close()
