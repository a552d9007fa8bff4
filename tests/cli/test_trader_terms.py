"""Money in the terms of the side the trader traded, against the simulator: a NO buy at 0.67
reports its average fill price as 0.67 (not the YES book's 0.33), and `kalshi fills` says
"sell no @ $0.44" for a NO sale (not "yes 0.5600 bid")."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal as D

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets


def test_a_no_round_trip_reads_in_no_terms(prime: SimHarness, kalshi: Kalshi) -> None:
    (ticker,) = make_markets(prime, 1)
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        # a resting YES bid at 0.33 is a NO offer at 0.67; then a YES offer at 0.56 is a NO
        # bid at 0.44
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.33"), D(10)))
        bought = kalshi(
            "order", "place", ticker, "--side", "no", "--action", "buy",
            "--count", "10", "--price", "0.67", "--json",
        )  # fmt: skip
        assert bought.exit_code == 0, bought.output
        order = json.loads(bought.stdout)["order"]
        assert order["fill_count"] == "10.00"
        assert order["average_fill_price"] == "0.6700"  # NO terms, as the order was placed
        assert order["average_fill_yes_price"] == "0.3300"  # and the book's, alongside

        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.56"), D(10)))
        sold = kalshi(
            "order", "place", ticker, "--side", "no", "--action", "sell",
            "--count", "10", "--price", "0.44",
        )  # fmt: skip
        assert sold.exit_code == 0, sold.output
        assert "average fill" in sold.stdout and "$0.44" in sold.stdout

    listed = kalshi("fills", "--format", "csv")
    assert listed.exit_code == 0, listed.output
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    terms = [(r["action"], r["side"], r["price"], r["amount"]) for r in rows]
    # CSV keeps the exact decimals a spreadsheet sums; a person's formats read dollars, every
    # amount of the listing to four places when one (a fee) has a sub-cent part
    assert terms == [("sell", "no", "0.4400", "4.4000"), ("buy", "no", "0.6700", "6.7000")]
    table = kalshi("fills", "--format", "markdown").stdout.splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert [(c[2], c[3], c[4], c[6]) for c in cells] == [
        ("sell", "no", "$0.4400", "$4.4000"),
        ("buy", "no", "$0.6700", "$6.7000"),
    ]
    document = json.loads(kalshi("fills", "--json").stdout)
    assert [(f["action"], f["side"], f["price"]) for f in document["fills"]] == [
        ("sell", "no", "0.4400"),
        ("buy", "no", "0.6700"),
    ]
