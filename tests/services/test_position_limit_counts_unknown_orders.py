"""The position limit of the order commands (`limits.max_position_per_market`) counts an order
of this state file whose answer was lost and that the exchange does not list yet: it may still
land, and an order placed beside it meanwhile would take the market past the limit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_order_batch import HEADER
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi
from tests.waiting import wait_until


def _resting_contracts(client: KalshiClient, ticker: str) -> Decimal:
    return sum(
        (o.remaining_count for o in client.orders.iter_orders(ticker=ticker, status="resting")),
        start=Decimal(0),
    )


def test_an_order_still_in_the_network_counts_toward_the_position_limit(
    prime: SimHarness, kalshi: Kalshi, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    """A bid of 4 is held in the network past the client's deadline (exit 10, unknown), with a
    limit of 5 contracts. A batch file's bid of 4 in the same market, sent while the first is
    still held, must be refused: once the held bid lands, 8 would rest."""
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("limits:\n  max_position_per_market: 5\n")
    prime.set_faults(hold_request_s=600)  # until cleared below
    # 2 s for the client to send the request whole: one cut short by its deadline never lands
    first = kalshi(
        "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "4",
        "--price", "0.40", KALSHI_TIMEOUT="2",
    )  # fmt: skip
    assert first.exit_code == ExitCode.OUTCOME_UNKNOWN, first.output
    assert _resting_contracts(client, ticker) == 0  # still in the network

    path = tmp_path / "orders.csv"
    path.write_text(HEADER + f"{ticker},yes,buy,4,0.39,gtc,,\n")
    second = kalshi("order", "batch", "--file", str(path))
    assert second.exit_code == ExitCode.REJECTED, second.output
    assert "unknown" in second.stderr, second.stderr

    prime.clear_faults()
    wait_until(lambda: _resting_contracts(client, ticker) >= 4, "the held order to land")
    assert _resting_contracts(client, ticker) <= 5
