"""Identifiers are never cut: every ticker and order id a listing shows is printed whole in a
rich table at 80 and 100 columns (four tickers sharing a long prefix, order ids sharing their
first 18 characters: a cut one is ambiguous). The rendered tables are kept as snapshots under
tests/cli/snapshots/ (KALSHI_UPDATE_SNAPSHOTS=1 rewrites them after a deliberate change)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .fakes import FakeClient, market, run

SNAPSHOTS = Path(__file__).parent / "snapshots"
WIDTHS = (80, 100)

TICKERS = (
    "KXNBAGAME-26JAN31LALBOS-LAL",
    "KXNBAGAME-26JAN31LALBOS-BOS",
    "KXNBAGAME-26FEB02NYKMIA-NYK",
    "KXNBAGAME-26FEB02NYKMIA-MIA",
)
ORDER_IDS = tuple(f"341b5af5-8b41-4c2e-9d1a-{n:012x}" for n in (0xA01, 0xB02, 0xC03, 0xD04))
FILL_IDS = tuple(f"9f0c2d11-77aa-4e10-b3c4-{n:012x}" for n in (0x1, 0x2, 0x3, 0x4))


def position(ticker: str, n: int) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "position_fp": f"{(n + 1) * (-1) ** n * 10}.00",
        "market_exposure_dollars": "4.4000",
        "realized_pnl_dollars": "-0.3300",
        "fees_paid_dollars": "0.0175",
        "total_traded_dollars": "4.4000",
        "exchange_index": n % 3,
    }


def order(ticker: str, order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "client_order_id": "",
        "ticker": ticker,
        "book_side": "bid",
        "outcome_side": "yes",
        "status": "resting",
        "yes_price_dollars": "0.5600",
        "fill_count_fp": "2.00",
        "remaining_count_fp": "8.00",
        "initial_count_fp": "10.00",
        "created_time": "2026-01-31T14:00:00.123456Z",
    }


def fill(ticker: str, order_id: str, fill_id: str, **extra: str) -> dict[str, Any]:
    return {
        **extra,
        "fill_id": fill_id,
        "trade_id": fill_id,
        "order_id": order_id,
        "market_ticker": ticker,
        "book_side": "bid",
        "count_fp": "10.00",
        "yes_price_dollars": "0.5600",
        "is_taker": True,
        "fee_cost": "0.0175",
        "created_time": "2026-01-31T14:00:00.123456Z",
        "ts": 1769868000,
    }


def client() -> FakeClient:
    return FakeClient(
        market_rows=[
            market(t, title=f"Will the game {t} end in a win for the home side?") for t in TICKERS
        ],
        positions=[position(t, n) for n, t in enumerate(TICKERS)],
        order_rows=[order(t, o) for t, o in zip(TICKERS, ORDER_IDS, strict=True)],
        fills=[
            # the second: the exchange's deprecated words say "sell no"; the listing reads the
            # spec's canonical side, a bid: YES bought at $0.56, as the dashboard reads it
            fill(t, o, f, **({"side": "no", "action": "sell"} if n == 1 else {}))
            for n, (t, o, f) in enumerate(zip(TICKERS, ORDER_IDS, FILL_IDS, strict=True))
        ],
    )


LISTINGS = {
    "positions": (["positions"], TICKERS),
    "fills": (["fills"], TICKERS + ORDER_IDS + FILL_IDS),
    "orders": (["order", "list"], TICKERS + ORDER_IDS),
    "markets": (["markets"], TICKERS),
}


def render(tmp_path: Path, args: list[str], width: int) -> str:
    result = run([*args, "--format", "table"], client=client(), home=tmp_path, width=width)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_every_identifier_is_shown_whole(tmp_path: Path, listing: str, width: int) -> None:
    args, identifiers = LISTINGS[listing]
    text = render(tmp_path, args, width)
    assert all(len(line) <= width for line in text.splitlines()), text
    words = set(text.replace("│", " ").replace("┃", " ").split())
    for identifier in identifiers:
        assert identifier in words, f"{identifier} cut at {width} columns:\n{text}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("listing", ["positions", "fills"])
def test_rendered_tables_match_their_snapshots(tmp_path: Path, listing: str, width: int) -> None:
    text = render(tmp_path, LISTINGS[listing][0], width)
    snapshot = SNAPSHOTS / f"{listing}-{width}.txt"
    if os.environ.get("KALSHI_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert text == snapshot.read_text(encoding="utf-8")
