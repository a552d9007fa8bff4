"""The dashboard names an order placed here, and each of its fills, by the side and action the
trader placed it with (the intent the state file keeps under its client order id), as
`kalshi order list` and `kalshi fills` do: a NO sale is `sell no` at the NO price, though on the
book it is a YES bid, which an order placed elsewhere would read as `buy yes`."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.dashboard.snapshot import Sources, local_snapshot, remote_snapshot
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets, state_path


def _place(kalshi: Kalshi, ticker: str, action: str, count: str, price: str) -> None:
    placed = kalshi(
        "order", "place", ticker, "--side", "no", "--action", action,
        "--count", count, "--price", price,
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output


def test_fill_and_order_lines_read_in_the_terms_the_order_was_placed(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        # a YES bid at 0.33 is a NO offer at 0.67; a YES offer at 0.56, a NO bid at 0.44
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.33"), D(10)))
        _place(kalshi, ticker, "buy", "10", "0.67")
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.56"), D(4)))
        _place(kalshi, ticker, "sell", "4", "0.44")
    _place(kalshi, ticker, "sell", "6", "0.40")  # nobody's offer to take: it rests
    sources = Sources(state_path=state_path(tmp_path), pause_file=tmp_path / "pause", log_path=None)

    fills = local_snapshot(sources, SystemClock()).fills
    assert [(f.action, f.side, f.price, f.count) for f in fills] == [
        ("sell", "no", D("0.44"), D(4)),  # newest first
        ("buy", "no", D("0.67"), D(10)),
    ]
    snap = remote_snapshot(sources, client, SystemClock())
    assert snap.error is None
    assert [(o.action, o.side, o.price, o.remaining) for o in snap.orders] == [
        ("sell", "no", D("0.40"), D(6))
    ]
