"""`markets`, `market`, `orderbook` against a fake client: arguments in, rendering out."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from kalshi_cli.cli.markets import MarketSort, select_markets, watch_loop
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Market, decode_answer

from .fakes import FakeClient, market, run

BOOK = {
    "orderbook_fp": {
        "yes_dollars": [["0.4400", "5.00"], ["0.4500", "10.00"]],
        "no_dollars": [["0.5300", "7.00"]],
    }
}


def three_markets() -> list[dict[str, object]]:
    return [
        market("KXB-1", volume_fp="5.00", close_time="2026-03-01T00:00:00Z"),
        market("KXA-1", volume_fp="500.00", close_time="2026-02-01T00:00:00Z"),
        market("KXC-1", volume_fp="50.00", close_time=""),
    ]


def test_markets_json_shape_and_filters_passed(tmp_path: Path) -> None:
    client = FakeClient(market_rows=three_markets())
    result = run(
        ["markets", "--status", "open", "--series", "KX", "--tickers", "KXA-1, KXB-1", "--json"],
        client=client,
        home=tmp_path,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["count"] == 3
    first = document["markets"][0]
    assert first["ticker"] == "KXB-1"
    assert first["yes_bid"] == "0.4500" and first["volume"] == "5.00"
    assert set(first) == {
        "ticker", "event_ticker", "title", "status", "yes_bid", "yes_ask", "no_bid", "no_ask",
        "last_price", "volume", "volume_24h", "open_interest", "open_time", "close_time",
        "latest_expiration_time", "strike_type", "floor_strike", "cap_strike", "exchange_index",
    }  # fmt: skip
    # what the market pays on, as the wire has it: a script can tell "above 96999.99"
    assert (first["strike_type"], first["floor_strike"], first["cap_strike"]) == (
        "greater",
        96999.99,
        None,
    )
    name, kwargs = client.calls[0]
    assert name == "get_markets_page"
    assert kwargs == {
        "limit": 100,
        "status": "open",
        "series_ticker": "KX",
        "tickers": ["KXA-1", "KXB-1"],
    }


def test_markets_sort_min_volume_and_plain_output(tmp_path: Path) -> None:
    client = FakeClient(market_rows=three_markets())
    result = run(
        ["markets", "--sort", "volume", "--min-volume", "10"], client=client, home=tmp_path
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ticker", "shard", "status", "yes"]
    assert [line.split()[0] for line in lines[1:]] == ["KXA-1", "KXC-1"]


def test_markets_all_pages_through_with_limit(tmp_path: Path) -> None:
    client = FakeClient(market_rows=three_markets(), page_size=1)
    result = run(
        ["markets", "--all", "--limit", "2", "--sort", "ticker", "--format", "csv"],
        client=client,
        home=tmp_path,
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["ticker"] for r in rows] == ["KXA-1", "KXB-1"]
    assert client.calls[0][0] == "iter_markets"
    # stderr is not a terminal here: the progress counter stays silent
    assert result.stderr == ""


def test_select_markets_close_sort_puts_unknown_last() -> None:
    markets = [decode_answer(Market, m) for m in three_markets()]
    ordered = select_markets(markets, sort=MarketSort.CLOSE)
    assert [m.ticker for m in ordered] == ["KXA-1", "KXB-1", "KXC-1"]
    assert select_markets(markets, min_volume=Decimal("50")) == [markets[1], markets[2]]


def test_market_details(tmp_path: Path) -> None:
    client = FakeClient(
        market_rows=[market("KXA-1", price_level_structure="deci_cent", price_ranges=[])]
    )
    result = run(["market", "KXA-1", "--json"], client=client, home=tmp_path)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["price_level_structure"] == "deci_cent"
    assert document["min_tick"] == "0.0010"
    assert document["price_ranges"] == [{"start": "0.0010", "end": "0.9990", "step": "0.0010"}]
    assert document["rules_primary"] == "Resolves YES if it happens."
    assert document["close_time"] == "2026-12-31T00:00:00Z"
    assert document["expiration_value"] is None  # nothing settled yet
    settled = FakeClient(
        market_rows=[market("KXA-1", status="finalized", result="yes", expiration_value="97125.4")]
    )
    read = json.loads(run(["market", "KXA-1", "--json"], client=settled, home=tmp_path).stdout)
    # what a settled market's result was read from, as the wire has it
    assert (read["result"], read["expiration_value"]) == ("yes", "97125.4")

    plain = run(["market", "KXA-1"], client=client, home=tmp_path)
    assert "tick structure  deci_cent" in plain.stdout
    assert "expires         2027-01-07T00:00:00Z" in plain.stdout


def test_market_markdown_and_table_formats(tmp_path: Path) -> None:
    client = FakeClient(market_rows=[market("KXA-1")])
    markdown = run(["market", "KXA-1", "-f", "markdown"], client=client, home=tmp_path)
    assert "| field" in markdown.stdout and "| KXA-1" in markdown.stdout
    table = run(["market", "KXA-1", "--format", "table"], client=client, home=tmp_path)
    assert "KXA-1" in table.stdout and "\x1b[" not in table.stdout  # NO_COLOR is set
    assert max(len(line) for line in table.stdout.splitlines()) <= 100


def one_sided_markets() -> list[dict[str, object]]:
    """How the exchange lists a market with an empty side: a bid of 0.0000 and an ask of
    1.0000, prices no order can have (the simulator's quote answers so); and a listing that
    leaves the fields out."""
    no_yes_bids = {"yes_bid_dollars": "0.0000", "no_ask_dollars": "1.0000"}
    no_no_bids = {"no_bid_dollars": "0.0000", "yes_ask_dollars": "1.0000"}
    return [
        market("KXA-1", **no_yes_bids),
        market("KXB-1", **no_no_bids),
        {
            k: v
            for k, v in market("KXC-1").items()
            if not k.endswith(("_bid_dollars", "_ask_dollars"))
        },
    ]


def test_a_side_without_bids_shows_as_a_dash_never_as_a_price(tmp_path: Path) -> None:
    """A market nobody bids YES in was shown with a YES bid of $0.00 and, with no NO bids, a
    YES ask of $1.00: prices that read as quotes nobody made. Every text format shows `-`
    there; `--json` keeps the exchange's figures, its documented shape (a string, always)."""
    client = FakeClient(market_rows=one_sided_markets())
    for fmt in ("plain", "table", "markdown"):
        listing = run(["markets", "--format", fmt], client=client, home=tmp_path)
        assert listing.exit_code == 0, listing.output
        assert "$0.00" not in listing.stdout and "$1.00" not in listing.stdout, fmt
        assert listing.stdout.count(" - ") >= 4, fmt  # two sides of KXC-1, one each of the rest
    rows = list(
        csv.DictReader(
            io.StringIO(run(["markets", "--format", "csv"], client=client, home=tmp_path).stdout)
        )
    )
    shown = [(r["ticker"], r["yes bid"], r["yes ask"]) for r in rows]
    assert shown == [("KXA-1", "-", "0.4700"), ("KXB-1", "0.4500", "-"), ("KXC-1", "-", "-")]

    details = run(["market", "KXA-1"], client=client, home=tmp_path).stdout
    assert "yes bid / ask   - / 0.4700" in details
    assert "no bid / ask    0.5300 / -" in details
    record = run(["market", "KXB-1", "--format", "csv"], client=client, home=tmp_path).stdout
    fields = dict(csv.reader(io.StringIO(record)))
    assert (fields["yes ask"], fields["no bid"], fields["yes bid"]) == ("-", "-", "0.4500")

    document = json.loads(run(["markets", "--json"], client=client, home=tmp_path).stdout)
    quotes = [(m["yes_bid"], m["yes_ask"]) for m in document["markets"]]
    assert quotes == [("0.0000", "0.4700"), ("0.4500", "1.0000"), ("0.0000", "0.0000")]


def test_a_market_never_traded_shows_no_last_price(tmp_path: Path) -> None:
    """A market with no trade yet is listed with a last price of 0.0000, a price no trade can
    have; it was shown as a last price of $0.00. `--json` keeps the exchange's figure."""
    client = FakeClient(market_rows=[market("KXA-1", last_price_dollars="0.0000")])
    listing = run(["markets", "--format", "csv"], client=client, home=tmp_path).stdout
    (row,) = csv.DictReader(io.StringIO(listing))
    assert row["last"] == "-"
    details = run(["market", "KXA-1"], client=client, home=tmp_path).stdout
    assert "last price      -" in details, details
    document = json.loads(run(["markets", "--json"], client=client, home=tmp_path).stdout)
    assert document["markets"][0]["last_price"] == "0.0000"


def test_orderbook_json_has_implied_asks_spread_and_mid(tmp_path: Path) -> None:
    client = FakeClient(books={"KXA-1": BOOK})
    result = run(["orderbook", "KXA-1", "--depth", "3", "--json"], client=client, home=tmp_path)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["best_yes_bid"] == {"price": "0.4500", "size": "10.00"}
    assert document["best_yes_ask"] == {"price": "0.4700", "size": "7.00"}
    assert document["best_no_ask"] == {"price": "0.5500", "size": "10.00"}
    assert document["spread"] == "0.0200"
    assert document["mid"] == "0.4600"
    assert [lv["price"] for lv in document["yes_bids"]] == ["0.4500", "0.4400"]
    assert client.calls == [("get_orderbook", {"ticker": "KXA-1", "depth": 3})]


def test_orderbook_plain_shows_levels_and_summary(tmp_path: Path) -> None:
    client = FakeClient(books={"KXA-1": BOOK})
    result = run(["orderbook", "KXA-1"], client=client, home=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["0.4500", "10.00", "0.5500", "0.5300", "7.00", "0.4700"]
    assert lines[2].split() == ["0.4400", "5.00", "0.5600"]
    assert lines[-1] == (
        "KXA-1: YES bid 0.4500 x 10.00, YES ask 0.4700 x 7.00, spread 0.0200, mid 0.4600"
    )


def test_orderbook_empty_book(tmp_path: Path) -> None:
    client = FakeClient(books={"KXA-1": {"orderbook_fp": {}}})
    result = run(["orderbook", "KXA-1", "--json"], client=client, home=tmp_path)
    document = json.loads(result.stdout)
    assert document["spread"] is None and document["best_yes_ask"] is None


def test_orderbook_watch_prints_one_json_line_per_refresh(tmp_path: Path) -> None:
    client = FakeClient(books={"KXA-1": BOOK})
    result = run(
        ["orderbook", "KXA-1", "--watch", "--count", "2", "--interval", "0.2", "--json"],
        client=client,
        home=tmp_path,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(json.loads(line)["mid"] == "0.4600" for line in lines)


def test_watch_loop_sleeps_between_steps_only() -> None:
    clock = ManualClock()
    seen: list[float] = []
    done = watch_loop(lambda: seen.append(clock.monotonic()), interval=2.0, count=3, clock=clock)
    assert done == 3
    assert seen == [0.0, 2.0, 4.0]


def test_watch_loop_stops_on_ctrl_c(tmp_path: Path) -> None:
    client = FakeClient(books={"KXA-1": BOOK}, errors={"get_orderbook": KeyboardInterrupt()})
    result = run(["orderbook", "KXA-1", "--watch"], client=client, home=tmp_path)
    assert result.exit_code == 0


def test_every_listing_command_has_an_example_in_its_help(tmp_path: Path) -> None:
    for command in (
        ["markets"],
        ["market"],
        ["orderbook"],
        ["balance"],
        ["positions"],
        ["fills"],
        ["settlements"],
        ["health-check"],
        ["config", "show"],
    ):
        result = run([*command, "--help"], home=tmp_path)
        assert result.exit_code == 0
        assert "Example: kalshi " in result.stdout, command
        assert "--json" in result.stdout and "--format" in result.stdout, command


def test_a_page_that_is_not_the_last_says_more_markets_match(tmp_path: Path) -> None:
    client = FakeClient(market_rows=three_markets())
    result = run(["markets", "--limit", "2"], client=client, home=tmp_path)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3  # the header and the page's two
    assert "more markets match" in result.stderr and "--all" in result.stderr
    # the whole set in one page: no hint
    result = run(["markets", "--limit", "5"], client=client, home=tmp_path)
    assert result.stderr == ""


def test_filters_that_match_nothing_say_so_on_stderr(tmp_path: Path) -> None:
    client = FakeClient(market_rows=three_markets())
    result = run(["markets", "--min-volume", "100000"], client=client, home=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stderr == "nothing matched\n"
    result = run(["markets", "--min-volume", "100000", "--json"], client=client, home=tmp_path)
    assert json.loads(result.stdout)["count"] == 0
