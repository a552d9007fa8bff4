"""`kalshi order batch`: a file is read as written (a duplicated column or key is refused, not
silently resolved to its last value; a spreadsheet's byte-order mark is no part of the first
column's name), its rows' terms are the terms `order place` accepts, and a dry run asks the
exchange about each market once, however many rows name it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_order_batch import batch_requests, creates, intents
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets


def requests_to(harness: SimHarness, prefix: str) -> int:
    accounts = harness.stats()["accounts"]
    return sum(
        n for a in accounts.values() for path, n in a["requests"].items() if path.startswith(prefix)
    )


def test_a_csv_with_a_column_twice_is_refused_naming_it_and_nothing_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    path = tmp_path / "orders.csv"
    path.write_text(f"ticker,side,action,count,price,count\n{ticker},yes,buy,1,0.40,500\n")
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:1:" in result.output
    assert "column count appears twice" in result.output
    assert (creates(prime), batch_requests(prime), intents(tmp_path)) == (0, 0, [])


def test_a_json_order_with_a_key_twice_is_refused_naming_row_and_key(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    path = tmp_path / "orders.json"
    path.write_text(
        "[\n"
        f'  {{"ticker": "{ticker}", "side": "yes", "action": "buy", "count": 1, "price": 0.40}},\n'
        f'  {{"ticker": "{ticker}", "side": "yes", "action": "buy", "count": 1,\n'
        '    "price": 0.41, "count": 500}\n'
        "]\n"
    )
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:3: key count appears twice" in result.output
    assert f"{path}:2:" not in result.output
    assert (creates(prime), batch_requests(prime), intents(tmp_path)) == (0, 0, [])


def test_a_key_twice_is_refused_before_the_row_is_read(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    path = tmp_path / "orders.json"
    path.write_text('[{"ticker": "X", "ticker": "Y"}]')
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert "key ticker appears twice" in result.output


def test_a_csv_saved_with_a_byte_order_mark_is_read(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    path = tmp_path / "orders.csv"
    path.write_bytes(
        b"\xef\xbb\xbfticker,side,action,count,price\n" + f"{ticker},yes,buy,2,0.40\n".encode()
    )
    result = kalshi("order", "batch", "--file", str(path), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["batch"]["rows"]
    assert [(r["ticker"], r["count"], r["status"]) for r in rows] == [(ticker, "2.00", "resting")]
    assert creates(prime) == 1


def test_a_dry_run_asks_for_each_market_once(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    rows = [f"{tickers[i % 2]},yes,buy,1,0.{10 + i % 30:02d}\n" for i in range(60)]
    path.write_text("ticker,side,action,count,price\n" + "".join(rows))
    before = requests_to(prime, "GET /markets/")
    result = kalshi(
        "order",
        "batch",
        "--file",
        str(path),
        "--dry-run",
        "--json",
        KALSHI_CONFIG=str(_limits(tmp_path)),
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["batch"]["rows"]) == 60
    assert requests_to(prime, "GET /markets/") - before == 2
    # the position limit's reads (positions, resting orders) are per market too
    assert requests_to(prime, "GET /portfolio/positions") <= 2
    assert requests_to(prime, "GET /portfolio/orders") <= 2
    assert creates(prime) == 0


def _limits(tmp_path: Path) -> Path:
    config = tmp_path / "limits.yaml"
    config.write_text("limits:\n  max_position_per_market: 1000\n  max_order_cost: 100\n")
    return config


def test_a_batch_row_takes_the_expiry_order_place_takes(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    path = tmp_path / "orders.csv"
    path.write_text(f"ticker,side,action,count,price,expires\n{ticker},yes,buy,1,0.40,30m\n")
    result = kalshi("order", "batch", "--file", str(path), "--json")
    assert result.exit_code == 0, result.output
    listed = prime.signed(prime.account, "GET", "/portfolio/orders", params={"limit": 10})
    (order,) = listed.json()["orders"]
    assert order["expiration_time"]


def test_place_and_batch_refuse_the_same_terms_with_the_same_words(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    cases = [
        # (place flags, batch cells: count, price, tif, post_only, expires)
        (["--count", "1.005", "--price", "0.40"], ["1.005", "0.40", "", "", ""]),
        (["--count", "1", "--price", "0.40001"], ["1", "0.40001", "", "", ""]),
        (["--count", "1", "--price", "1.2"], ["1", "1.2", "", "", ""]),
        (
            ["--count", "1", "--price", "0.4", "--tif", "ioc", "--post-only"],
            ["1", "0.4", "ioc", "true", ""],
        ),
        (
            ["--count", "1", "--price", "0.4", "--tif", "fok", "--expires", "2h"],
            ["1", "0.4", "fok", "", "2h"],
        ),
        (
            ["--count", "1", "--price", "0.4", "--expires", "yesterday"],
            ["1", "0.4", "", "", "yesterday"],
        ),
    ]
    for flags, cells in cases:
        placed = kalshi("order", "place", ticker, "--side", "yes", "--action", "buy", *flags)
        assert placed.exit_code == ExitCode.USAGE, (flags, placed.output)
        path = tmp_path / "one.csv"
        path.write_text(
            "ticker,side,action,count,price,tif,post_only,expires\n"
            f"{ticker},yes,buy,{','.join(cells)}\n"
        )
        batched = kalshi("order", "batch", "--file", str(path))
        assert batched.exit_code == ExitCode.REJECTED, (cells, batched.output)
        said = batched.output.split(f"{path}:2: ", 1)[1].splitlines()[0].split(" (fix the")[0]
        column, message = said.split(": ", 1)
        assert f"--{column.replace('_', '-')}: {message}" in placed.output, (said, placed.output)
    assert creates(prime) == 0


def test_a_json_file_nested_deeper_than_any_batch_is_refused_in_one_line(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Before: exit 1, "unexpected RecursionError ... (a bug)"."""
    path = tmp_path / "orders.json"
    path.write_text("[" * 50_000 + "]" * 50_000)
    result = kalshi("order", "batch", "--file", str(path), "--dry-run")
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:1: nested too deeply" in result.output and "a bug" not in result.output
    assert (creates(prime), batch_requests(prime), intents(tmp_path)) == (0, 0, [])


@pytest.mark.parametrize("name", ["orders.yaml", "orders.yml", "orders.txt", "orders"])
def test_a_file_neither_csv_nor_json_is_refused_in_one_line_naming_both(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, name: str
) -> None:
    # it was read as CSV whatever its ending: a YAML list became rows of one odd column
    (ticker,) = make_markets(prime, 1)
    path = tmp_path / name
    path.write_text(f"- ticker: {ticker}\n  side: yes\n  action: buy\n  count: 1\n  price: 0.40\n")
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.USAGE, result.output
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and ".csv" in line and ".json" in line
    assert (creates(prime), batch_requests(prime), intents(tmp_path)) == (0, 0, [])
