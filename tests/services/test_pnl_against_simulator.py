"""P&L to the cent on scripted sequences, against the simulator's own accounting: partial
fills, buys and sells on both sides, settlement yes and no, taker fees."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.pnl import summarize
from kalshi_cli.services.positions import mark_to_market
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce, parse_decimal
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets, state_path

LIMITS = RiskLimits(max_position_per_market=D(10), max_order_cost=D(5))


def rest(other: KalshiClient, ticker: str, book_side: BookSide, price: str, count: int) -> None:
    other.orders.create_order(CreateOrder(ticker, book_side, D(price), D(count)))


def trade(service: OrderService, ticker: str, order: str) -> None:
    """`order` in the trader's words: "buy 6 yes @ 0.40"."""
    action, count, side, _, price = order.split()
    request = OrderRequest(
        ticker, Side(side), Action(action), D(count), D(price), strategy="script"
    )
    service.place(service.prepare(request))


@pytest.fixture
def scripted(prime: SimHarness, client: KalshiClient, tmp_path: Path) -> Store:
    """Three markets traded by a script; W settles yes, L settles no, O stays open."""
    w, lose, o = make_markets(prime, 3)
    db = state_path(tmp_path)
    store = Store.open(db)
    service = OrderService(client, store)
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        # W: buy 6 YES from their resting ask, taker fee
        rest(other, w, BookSide.ASK, "0.40", 6)
        trade(service, w, "buy 6 yes @ 0.40")
        # our bid rests and is partly filled: 4 of 10 at 0.35, maker (no fee)
        trade(service, w, "buy 10 yes @ 0.35")
        rest(other, w, BookSide.ASK, "0.35", 4)
        # sell 3 YES into their bid at 0.52
        rest(other, w, BookSide.BID, "0.52", 3)
        trade(service, w, "sell 3 yes @ 0.52")
        # L: buy 8 NO at 0.45 (= their YES bid at 0.55 hit), sell 2 NO back at 0.50
        rest(other, lose, BookSide.BID, "0.55", 8)
        trade(service, lose, "buy 8 no @ 0.45")
        rest(other, lose, BookSide.ASK, "0.50", 2)
        trade(service, lose, "sell 2 no @ 0.50")
        # O: buy 5 YES at 0.61, then through zero: sell 7 YES at 0.66 (5 closed, 2 NO opened)
        rest(other, o, BookSide.ASK, "0.61", 5)
        trade(service, o, "buy 5 yes @ 0.61")
        rest(other, o, BookSide.BID, "0.66", 7)
        trade(service, o, "sell 7 yes @ 0.66")
        # a book for the mark: their bids on both sides of O
        rest(other, o, BookSide.BID, "0.60", 1)
        rest(other, o, BookSide.ASK, "0.70", 1)
    prime.settle(w, "yes")
    prime.settle(lose, "no")
    service.reconcile()
    return store


def exchange_positions(prime: SimHarness) -> dict[str, dict[str, str]]:
    """Every market traded, flat ones included (the simulator's own per-market accounting)."""
    response = prime.signed(
        prime.account, "GET", "/portfolio/positions", params={"count_filter": "total_traded"}
    )
    return {p["ticker"]: p for p in response.json()["market_positions"]}


def test_realized_pnl_and_fees_match_the_simulator_to_the_cent(
    prime: SimHarness, client: KalshiClient, scripted: Store
) -> None:
    summary = summarize(scripted.fills.iter_fills(), scripted.settlements.read())
    theirs = exchange_positions(prime)
    assert set(theirs) == set(summary.engine.markets)
    for ticker, market in summary.engine.markets.items():
        assert market.realized_gross == parse_decimal(theirs[ticker]["realized_pnl_dollars"])
        assert market.fees == parse_decimal(theirs[ticker]["fees_paid_dollars"])
        assert market.position == parse_decimal(theirs[ticker]["position_fp"])

    w, lose, o = sorted(summary.engine.markets)
    # W: basis 6x0.40 + 4x0.35 = 3.80 for 10; sold 3 at 0.52 releasing 1.14; 7 won at $1
    assert summary.engine.markets[w].realized_gross == D("0.42") + D("7") - D("2.66")
    # L: 8 NO at 0.45 = 3.60; 2 sold at 0.50 (+0.10); 6 won at $1 (+3.30)
    assert summary.engine.markets[lose].realized_gross == D("3.40")
    # O: 5 YES at 0.61 sold at 0.66 (+0.25); 2 NO at 0.34 still open
    assert summary.engine.markets[o].realized_gross == D("0.25")
    assert summary.engine.markets[o].basis == D("0.68")

    # reconcile gave every fill its realized P&L: the day's total the circuit breaker reads
    ((day, bucket),) = summary.groups["day"].items()
    assert scripted.trading.daily_realized_pnl(day) == bucket.net == summary.realized

    # cash exactly (fees are charged to $0.0001): what the account gained is realized net less
    # what the open position cost
    balance = client.portfolio.get_balance().balance
    assert balance - D("1000.00") == summary.realized - summary.engine.markets[o].basis
    assert summary.fees > 0

    view = mark_to_market(client, scripted, limit=D(100))
    (row,) = view.rows
    assert row.ticker == o and row.held_side is Side.NO and row.contracts == 2
    assert row.mark_bid == D("0.30")  # best NO bid: their YES ask at 0.70
    assert row.unrealized == D("2") * D("0.30") - D("0.68")
    assert row.differences == ()
    assert row.exposure == 2 and not row.over_limit


def test_pnl_command_cross_checks_and_writes_accountant_files(
    scripted: Store, kalshi: Kalshi
) -> None:
    scripted.close()
    document = json.loads(kalshi("pnl", "--json").stdout)
    assert document["cross_checked"] and document["differences"] == []
    assert document["method"] == "average_cost"
    assert D(document["realized"]) == D(document["realized_gross"]) - D(document["fees"])
    assert D(document["total_pnl"]) == D(document["realized"]) + D(document["unrealized_pnl"])

    daily = kalshi("pnl", "--by", "day", "--format", "csv", "--local")
    rows = list(csv.DictReader(io.StringIO(daily.stdout)))
    assert list(rows[0]) == [
        "date",
        "fills",
        "settlements",
        "realized gross",
        "fees",
        "realized net",
        "cumulative",
    ]
    assert sum(D(r["realized net"]) for r in rows) == D(document["realized"])

    by_strategy = json.loads(kalshi("pnl", "--by", "strategy", "--json", "--local").stdout)
    assert [r["strategy"] for r in by_strategy["rows"]] == ["script"]
    chart = kalshi("pnl", "--by", "day", "--chart", "--local")
    assert chart.exit_code == 0 and "█" in chart.stdout


def test_a_missing_fill_shows_as_a_difference(
    prime: SimHarness, client: KalshiClient, scripted: Store
) -> None:
    o = sorted(exchange_positions(prime))[2]
    view = mark_to_market(client, scripted, limit=D(1), engine=None)
    assert view.rows[0].over_limit
    sparse = summarize(
        (
            f
            for f in scripted.fills.iter_fills()
            if not (f.ticker == o and f.book_side is BookSide.ASK)
        ),
        scripted.settlements.read(),
    )
    view = mark_to_market(client, scripted, engine=sparse.engine)
    assert {d.what for d in view.differences} >= {"position", "realized_gross", "fees"}


def test_limits_refuse_orders_that_would_pass_them(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(
        client, store, limits=RiskLimits(max_position_per_market=D(10), max_order_cost=D(5))
    )
    trade(service, ticker, "buy 6 yes @ 0.20")  # resting: counts toward the limit
    with pytest.raises(ValidationError, match="over the limit of 10") as position:
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(5), D("0.20")))
    assert position.value.code == "POSITION_LIMIT"
    with pytest.raises(ValidationError, match="maximum order cost") as cost:
        service.prepare(OrderRequest(ticker, Side.NO, Action.BUY, D(9), D("0.60")))
    assert cost.value.code == "MAX_ORDER_COST"
    # the opposite side is within its own worst case
    service.prepare(OrderRequest(ticker, Side.NO, Action.BUY, D(8), D("0.60")))


def test_settled_markets_are_cross_checked_too(
    prime: SimHarness, client: KalshiClient, scripted: Store
) -> None:
    """A market closed out by settlement has no row in `positions`, but `pnl` still compares
    its realized P&L and fees with the exchange's, so a lost fill there is not hidden."""
    won = sorted(exchange_positions(prime))[0]
    sparse = summarize(
        (
            f
            for f in scripted.fills.iter_fills()
            if not (f.ticker == won and f.book_side is BookSide.ASK)
        ),
        scripted.settlements.read(),
    )
    only_open = mark_to_market(client, scripted, engine=sparse.engine)
    assert all(d.ticker != won for d in only_open.differences)
    with_flat = mark_to_market(client, scripted, engine=sparse.engine, include_flat=True)
    assert {d.what for d in with_flat.differences if d.ticker == won} >= {"realized_gross", "fees"}
    assert won not in {r.ticker for r in with_flat.rows}


def test_a_floored_market_settling_below_its_floor_pays_the_floor(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    """settlement_bounds_type `floor` (3.31.0): a NO result still pays each YES contract the
    floor and each NO contract the rest; the simulator's cash and per-market accounting, our
    settlement records and our P&L agree to the cent."""
    prime.create_market("KXF-EV-Y", settlement_floor_dollars="0.2500")
    prime.create_market("KXF-EV-N", settlement_floor_dollars="0.2500")
    prime.create_market("KXF-EV-D")
    store = Store.open(state_path(tmp_path))
    service = OrderService(client, store)
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        rest(other, "KXF-EV-Y", BookSide.ASK, "0.40", 10)
        trade(service, "KXF-EV-Y", "buy 10 yes @ 0.40")
        rest(other, "KXF-EV-N", BookSide.BID, "0.40", 4)
        trade(service, "KXF-EV-N", "buy 4 no @ 0.60")
    floored = client.markets.get_market("KXF-EV-Y")
    assert floored.settlement_bounds_type == "floor"
    assert floored.settlement_floor == D("0.25")
    default = client.markets.get_market("KXF-EV-D")
    assert (default.settlement_bounds_type, default.settlement_floor) == ("default", None)
    before = client.portfolio.get_balance().balance
    for ticker in ("KXF-EV-Y", "KXF-EV-N"):
        prime.settle(ticker, "no")
    assert client.markets.get_market("KXF-EV-Y").raw["settlement_value_dollars"] == "0.2500"
    service.reconcile()

    # YES: 10 x $0.25 back for $4.00 paid; NO won, but pays $0.75 a contract, not $1.00
    assert client.portfolio.get_balance().balance - before == D("2.50") + D("3.00")
    summary = summarize(store.fills.iter_fills(), store.settlements.read())
    theirs = exchange_positions(prime)
    yes, no = summary.engine.markets["KXF-EV-Y"], summary.engine.markets["KXF-EV-N"]
    assert yes.realized_gross == D("2.50") - D("4.00")
    assert no.realized_gross == D("3.00") - D("2.40")
    for ticker, market in (("KXF-EV-Y", yes), ("KXF-EV-N", no)):
        assert market.position == 0
        assert market.realized_gross == parse_decimal(theirs[ticker]["realized_pnl_dollars"])
        assert market.fees == parse_decimal(theirs[ticker]["fees_paid_dollars"])
    day_total = sum((s.realized_pnl for s in store.settlements.read()), D(0))
    assert day_total == yes.realized_gross + no.realized_gross
    store.close()


def test_a_sub_cent_settlement_pays_whole_cents_and_books_the_rest_as_its_fee(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    """Kalshi's docs ("Market Settlement", Fees): a payout is rounded to whole cents, and the
    rounding is a settlement fee (payout + fee = the value before rounding). Three YES contracts
    of a market floored at $0.2525 settling NO are worth $0.7575: $0.75 is paid, $0.0075 is the
    fee, and our P&L moves exactly as the balance does."""
    ticker = "KXFS-EV-Y"
    prime.create_market(ticker, settlement_floor_dollars="0.2525")
    store = Store.open(state_path(tmp_path))
    service = OrderService(client, store)
    start = client.portfolio.get_balance().balance
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        rest(other, ticker, BookSide.ASK, "0.40", 3)
        trade(service, ticker, "buy 3 yes @ 0.40")
    before = client.portfolio.get_balance().balance
    prime.settle(ticker, "no")
    service.reconcile()

    assert client.portfolio.get_balance().balance - before == D("0.75")
    (settled,) = [s for s in store.settlements.read() if s.ticker == ticker]
    assert (settled.revenue, settled.fee) == (D("0.75"), D("0.0075"))
    summary = summarize(store.fills.iter_fills(), store.settlements.read())
    market = summary.engine.markets[ticker]
    assert market.realized_gross == D("0.7575") - D("1.20")
    # what the trade and the settlement took, fees included, is what left the balance
    assert market.realized_gross - market.fees == client.portfolio.get_balance().balance - start
    theirs = exchange_positions(prime)[ticker]
    assert market.realized_gross == parse_decimal(theirs["realized_pnl_dollars"])
    assert market.fees == parse_decimal(theirs["fees_paid_dollars"])
    store.close()


def test_many_small_fills_sum_to_the_simulator_s_balance_change_exactly(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Kalshi charges each fill's fee rounded up to $0.0001: over a session of 1-contract
    fills, taker and maker, the sub-cent fees must add up in our P&L exactly as the exchange
    took them from the balance; no sub-cent amount may be lost in a total or a report."""
    ticker = "KXMK-EV-A"
    prime.create_market(
        ticker,
        event_ticker="KXMK-EV",
        series_ticker="KXMK",
        fee_type="quadratic_with_maker_fees",
        fee_multiplier="1",
    )
    store = Store.open(state_path(tmp_path))
    service = OrderService(client, store)
    start = client.portfolio.get_balance().balance
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        # 41 maker fills: our bid for 41 YES at 0.47 is hit one contract at a time
        trade(service, ticker, "buy 41 yes @ 0.47")
        for _ in range(41):
            ioc = TimeInForce.IOC
            other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.47"), D(1), ioc))
        # 20 taker buys of one contract at 0.52, 61 taker sells of one at 0.55
        for _ in range(20):
            rest(other, ticker, BookSide.ASK, "0.52", 1)
            trade(service, ticker, "buy 1 yes @ 0.52")
        for _ in range(61):
            rest(other, ticker, BookSide.BID, "0.55", 1)
            trade(service, ticker, "sell 1 yes @ 0.55")
    service.reconcile()
    fills = list(client.portfolio.iter_fills(ticker=ticker))
    assert len(fills) == 122
    assert {f.fee for f in fills if not f.is_taker} == {D("0.0044")}  # 0.00435925 up
    assert {f.fee for f in fills if f.is_taker and f.yes_price == D("0.52")} == {D("0.0175")}
    assert {f.fee for f in fills if f.is_taker and f.yes_price == D("0.55")} == {D("0.0174")}
    fees = 41 * D("0.0044") + 20 * D("0.0175") + 61 * D("0.0174")
    assert fees == D("1.5918")  # (cent-rounded fees would have been 0.41 + 0.40 + 1.22)

    store.close()
    document = json.loads(kalshi("pnl", "--json").stdout)
    assert document["cross_checked"] and document["differences"] == []
    assert D(document["fees"]) == fees
    # 41 at 0.47 + 20 at 0.52 = 29.67 for 61; all 61 sold at 0.55 = 33.55
    assert D(document["realized_gross"]) == D("33.55") - D("29.67")
    assert D(document["realized"]) == D("3.88") - fees
    # flat again, so the realized net is exactly what the balance gained
    assert client.portfolio.get_balance().balance - start == D(document["realized"])
    text = kalshi("pnl").stdout
    assert "realized (net of $1.5918 fees): $2.2882" in text


def test_pnl_report_is_the_document_the_command_prints(scripted: Store, kalshi: Kalshi) -> None:
    """`kalshi pnl` is one library call: the report's document is what `--json` prints, and
    without exchange access it neither connects nor cross-checks."""
    from kalshi_cli.services.pnl_report import pnl_report

    path = scripted.path
    scripted.close()
    printed = json.loads(kalshi("pnl", "--by", "day", "--json", "--local").stdout)
    report = pnl_report(path, since=None, since_ts=None, by="day", exchange=None)
    assert json.loads(json.dumps(report.document, default=str)) == printed
    assert report.view is None and report.unrealized is None
    assert [r["day"] for r in report.rows] == [r["day"] for r in printed["rows"]]
    assert sum(D(r["realized"]) for r in report.rows) == report.summary.realized


MONEY_CELL = re.compile(r"^-?\$\d{1,3}(,\d{3})*\.\d{2}\d*$")


def test_pnl_and_positions_tables_read_money_one_way(scripted: Store, kalshi: Kalshi) -> None:
    """Every money cell of `pnl` and `positions` is dollars to the cent with the sign first
    (`-$0.33`, `$1.20`): never `1.2` beside `0.35`, never `$-0.33`; sub-cent digits are kept
    only when the amount has them. The JSON keeps its exact decimal strings."""
    scripted.close()

    def markdown(*args: str) -> list[dict[str, str]]:
        result = kalshi(*args, "--format", "markdown")
        assert result.exit_code == 0, result.output
        lines = [
            [c.strip() for c in line.strip("|").split("|")] for line in result.stdout.splitlines()
        ]
        header, rows = lines[0], [r for r in lines[2:] if len(r) == len(lines[0])]
        assert rows
        return [dict(zip(header, row, strict=True)) for row in rows]

    for row in markdown("pnl", "--local"):
        for key in ("realized gross", "fees", "realized net"):
            assert MONEY_CELL.match(row[key]), (key, row[key])
    for row in markdown("positions"):
        for key in ("cost", "realized", "fees"):
            assert MONEY_CELL.match(row[key]), (key, row[key])
    # CSV and JSON keep the exact decimal strings, the same in both
    document = json.loads(kalshi("pnl", "--local", "--json").stdout)
    pnl = list(csv.DictReader(io.StringIO(kalshi("pnl", "--local", "--format", "csv").stdout)))
    assert [r["realized net"] for r in pnl] == [r["realized"] for r in document["rows"]]
