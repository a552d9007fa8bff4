"""Production books hold fractions of a contract ("12.37"): a data set imported from such frames
keeps that granularity, and a backtest of it fills what the recorded book could fill, to the
0.01 contract Kalshi counts in, with P&L to match. A market marked whole-contract by the data
would refuse the recorded liquidity and every order sized from it, and fill nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kalshi_cli.backtest.engine import BacktestSpec, execute
from kalshi_cli.backtest.report import build_report
from kalshi_cli.data.importer import import_jsonl
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.vocabulary.units import BookSide

TICKER = "KXFRAC-26JAN01-T50"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _frames(path: Path) -> None:
    book = {"market_ticker": TICKER, "market_id": "m"}
    frames = [
        # YES bid 0.40 for 12.37, NO bid 0.55 for 8.41: YES offered at 0.45 for 8.41
        (0, "orderbook_snapshot", 1, {
            **book,
            "yes_dollars_fp": [["0.4000", "12.37"]],
            "no_dollars_fp": [["0.5500", "8.41"]],
        }),
        # the NO bid leaves, then YES is bid 0.52 for 3.19: the take-profit sells into it
        (5_000, "orderbook_delta", 2, {
            **book, "price_dollars": "0.5500", "delta_fp": "-8.41", "side": "no",
        }),
        (5_000, "orderbook_delta", 3, {
            **book, "price_dollars": "0.5200", "delta_fp": "3.19", "side": "yes",
        }),
        (20_000, "orderbook_delta", 4, {
            **book, "price_dollars": "0.4000", "delta_fp": "-0.37", "side": "yes",
        }),
    ]  # fmt: skip
    lines = [
        json.dumps({"recv_ms": T0_MS + at, "frame": {"type": kind, "sid": 1, "seq": seq, "msg": m}})
        for at, kind, seq, m in frames
    ]
    path.write_text("\n".join(lines) + "\n")


def test_an_import_of_fractional_books_fills_what_the_book_could_fill(tmp_path: Path) -> None:
    source = tmp_path / "capture.jsonl"
    _frames(source)
    data = tmp_path / "set"
    import_jsonl(source, data)
    manifest = read_manifest(data)
    assert manifest is not None
    assert manifest["markets"][TICKER]["fractional"] is True

    spec = BacktestSpec(
        data=str(data),
        strategy=str(EXAMPLE),
        params=(("fair", "0.90"), ("take_profit", "0.05"), ("order_count", "20")),
    )
    run = execute(spec)
    report = build_report(run)
    with run.store as store:
        fills = [
            (f.book_side, f.yes_price, f.count, f.is_taker)
            for f in store.fills.iter_fills(ticker=TICKER)
        ]
    # the IOC buy takes the whole 8.41 offered; the reducing IOC sell the 3.19 bid at 0.52
    assert fills == [
        (BookSide.BID, Decimal("0.4500"), Decimal("8.41"), True),
        (BookSide.ASK, Decimal("0.5200"), Decimal("3.19"), True),
    ]
    totals = report["totals"]
    assert (totals["fills"], totals["contracts_filled"]) == (2, "11.60")
    market = report["markets"][TICKER]
    assert market["position"] == "5.22"
    # the fees Kalshi charges on these counts: ceil(0.07 x C x P x (1 - P)) to $0.0001
    assert totals["fees"] == "0.2016"  # 0.1458 on 8.41 at 0.45 + 0.0558 on 3.19 at 0.52
    # realized: 3.19 x (0.52 - 0.45) = 0.2233 gross, less the fees paid, to the $0.0001
    assert Decimal(market["realized"]) == Decimal("3.19") * Decimal("0.07") - Decimal("0.2016")


def _whole_frames(path: Path) -> None:
    """`_frames` with every size a whole number of contracts."""
    _frames(path)
    whole = path.read_text()
    for fraction, integer in (
        ("12.37", "12.00"),
        ("8.41", "8.00"),
        ("3.19", "3.00"),
        ("0.37", "1"),
    ):
        whole = whole.replace(f'"{fraction}"', f'"{integer}"').replace(
            f'"-{fraction}"', f'"-{integer}"'
        )
    path.write_text(whole)


def test_an_import_of_whole_books_stays_whole(tmp_path: Path) -> None:
    source = tmp_path / "capture.jsonl"
    _whole_frames(source)
    import_jsonl(source, tmp_path / "set")
    manifest = read_manifest(tmp_path / "set")
    assert manifest is not None
    assert manifest["markets"][TICKER]["fractional"] is False


def test_a_fractional_order_count_on_a_whole_contract_market_is_refused_as_the_exchange_does(
    tmp_path: Path,
) -> None:
    """A strategy asking for 1.5 contracts of a market its data shows in whole contracts only:
    the venue answers each order as the exchange does (400 `invalid_count`), so the run fills
    nothing and counts the orders rejected, where a whole count of the same strategy fills."""
    source = tmp_path / "capture.jsonl"
    _whole_frames(source)
    data = tmp_path / "set"
    import_jsonl(source, data)
    runs = {}
    for count in ("1.5", "2"):
        spec = BacktestSpec(
            data=str(data),
            strategy=str(EXAMPLE),
            params=(("fair", "0.90"), ("take_profit", "0.05"), ("order_count", count)),
        )
        run = execute(spec)
        with run.store as store:
            runs[count] = (
                build_report(run)["totals"],
                [f.count for f in store.fills.iter_fills(ticker=TICKER)],
                [i.error or "" for i in store.orders.intents()],
            )
    totals, fills, errors = runs["1.5"]
    assert fills == [] and totals["fills"] == 0
    assert totals["rejected"] == totals["orders"] > 0
    assert all("invalid_count" in e and "whole contracts only" in e for e in errors), errors
    totals, fills, errors = runs["2"]
    assert fills == [2, 2] and errors == ["", ""]  # the entry and its take-profit exit
