"""A settlement closes the account's position in its market at what each contract paid, less
its fee, and closes every strategy's part there at the same payout, counted in that strategy's
P&L of the day: also when the part is rebuilt by a fill given to its owner late."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.services.owner_parts import PositionBook
from kalshi_cli.store import FillRecord
from kalshi_cli.store.records import SettlementRecord
from kalshi_cli.strategy_api import FLAT
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import ZERO, BookSide

D = Decimal
TICKER = "KXTEST-26JAN02-A"
NOON = datetime(2026, 1, 2, 12, tzinfo=UTC).timestamp()
TODAY = utc_day(NOON)


def bought(portfolio: Portfolio, count: int, price: str, strategy: str | None, at: float) -> None:
    portfolio.apply_fill(
        TICKER, BookSide.BID, D(price), D(count), ZERO, ts=at, strategy=strategy, fill_id=None
    )


def test_a_settlement_closes_the_account_position_at_its_payout_less_its_fee() -> None:
    portfolio = Portfolio([Market(ticker=TICKER)])
    bought(portfolio, 10, "0.40", None, NOON)
    # a floored market: YES paid its floor, 0.70, not $1
    portfolio.apply_settlement(TICKER, "yes", ts=NOON + 60, fee=D("0.05"), yes_value=D("0.70"))
    assert portfolio.position(TICKER) == 0
    assert portfolio.open_positions() == []
    assert portfolio.view(TICKER).position == 0
    assert portfolio.pnl.realized == D("2.95")  # 10 x 0.70 - 4.00 paid - 0.05 fee
    assert portfolio.total_exposure() == ZERO


def test_a_settlement_closes_each_strategys_part_at_the_same_payout_counted_today() -> None:
    portfolio = Portfolio([Market(ticker=TICKER)])
    for name in ("mm", "spike"):
        portfolio.owners.own(name)
    bought(portfolio, 10, "0.40", "mm", NOON)
    bought(portfolio, 4, "0.50", "spike", NOON + 1)
    portfolio.apply_settlement(TICKER, "yes", ts=NOON + 60, fee=ZERO, yes_value=D("0.70"))
    assert portfolio.owners.realized_today("mm", TODAY) == D("3.00")  # 10 x 0.70 - 4.00
    assert portfolio.owners.realized_today("spike", TODAY) == D("0.80")  # 4 x 0.70 - 2.00
    for name in ("mm", "spike"):
        assert portfolio.owners.holding(name, TICKER, D(14)) == FLAT
        assert portfolio.owners.held[name][TICKER].position == 0


def test_a_fill_given_late_is_settled_again_at_the_payout_the_settlement_named() -> None:
    """The replay of a market whose order's answer was lost settles the parts at the same
    floored payout as the settlement did when it came."""
    portfolio = Portfolio([Market(ticker=TICKER)])
    for name in ("mm", "spike"):
        portfolio.owners.own(name)
    portfolio.owners.keep_replay(TICKER)  # an order of spike's is of unknown outcome
    late = FillRecord(
        "f-late", "o-late", None, TICKER, BookSide.BID, D("0.50"), D(4), ZERO, False, NOON
    )
    portfolio.apply_fill(
        TICKER,
        late.book_side,
        late.yes_price,
        late.count,
        late.fee,
        ts=late.ts,
        strategy=None,
        fill_id=late.fill_id,
    )
    bought(portfolio, 10, "0.40", "mm", NOON + 1)
    portfolio.apply_settlement(TICKER, "yes", ts=NOON + 60, fee=ZERO, yes_value=D("0.70"))
    assert portfolio.owners.realized_today("spike", TODAY) == ZERO  # not spike's yet
    portfolio.give_fills("spike", [late])
    assert portfolio.owners.realized_today("spike", TODAY) == D("0.80")  # 4 x 0.70 - 2.00
    assert portfolio.owners.realized_today("mm", TODAY) == D("3.00")


def test_a_settlement_record_of_a_floored_market_books_the_floor_it_paid() -> None:
    """The running loop books a settlement as the state file keeps it (`book_settlement`): a
    floored market's NO result still paid YES its floor, read from the record's revenue, so
    10 YES bought at 0.40 that paid 0.30 each lost $1.00, not the $4.00 a plain NO takes."""
    from kalshi_cli.store.records import SettlementRecord

    portfolio = Portfolio([Market(ticker=TICKER)])
    portfolio.owners.own("mm")
    bought(portfolio, 10, "0.40", "mm", NOON)
    record = SettlementRecord(
        ticker=TICKER,
        event_ticker="KXTEST-26JAN02",
        result="no",
        yes_count=D(10),
        no_count=ZERO,
        yes_total_cost=D("4.00"),
        no_total_cost=ZERO,
        revenue=D("3.00"),
        fee=ZERO,
        settled_at=NOON + 60,
    )
    portfolio.book_settlement(record)
    assert portfolio.position(TICKER) == 0
    assert portfolio.pnl.realized == record.realized_pnl == D("-1.00")
    assert portfolio.owners.realized_today("mm", TODAY) == D("-1.00")


def _floored_no(yes_count: int, revenue: str, fee: str, cost: str) -> SettlementRecord:
    from kalshi_cli.store.records import SettlementRecord

    return SettlementRecord(
        ticker=TICKER,
        event_ticker="KXTEST-26JAN02",
        result="no",
        yes_count=D(yes_count),
        no_count=ZERO,
        yes_total_cost=D(cost),
        no_total_cost=ZERO,
        revenue=D(revenue),
        fee=D(fee),
        settled_at=NOON + 60,
    )


def test_a_sub_cent_settlement_is_booked_as_the_balance_moved() -> None:
    """Kalshi pays a settlement in whole cents and lists what rounding kept as its fee (docs,
    "Market Settlement"): three YES of a market floored at $0.2525 are worth $0.7575, $0.75 is
    paid and $0.0075 is the fee. The P&L is what the balance got less what they cost: the fee
    is out of the revenue already, never taken from it twice."""
    portfolio = Portfolio([Market(ticker=TICKER)])
    bought(portfolio, 3, "0.40", None, NOON)
    record = _floored_no(3, "0.75", "0.0075", "1.20")
    assert record.yes_value == D("0.2525")
    portfolio.book_settlement(record)
    assert portfolio.pnl.realized == record.realized_pnl == D("0.75") - D("1.20")


def test_each_strategy_bears_its_share_of_a_settlement_fee_and_the_shares_add_up() -> None:
    """The settlement fee is shared by the contracts each part held, rounded on the running
    total: two strategies' parts of 2 and 1 contracts of a $0.0075 fee bear $0.0050 and
    $0.0025, and their day's P&L adds up to the account's."""
    portfolio = Portfolio([Market(ticker=TICKER)])
    for name in ("mm", "spike"):
        portfolio.owners.own(name)
    bought(portfolio, 2, "0.40", "mm", NOON)
    bought(portfolio, 1, "0.40", "spike", NOON + 1)
    portfolio.book_settlement(_floored_no(3, "0.75", "0.0075", "1.20"))
    mm = portfolio.owners.realized_today("mm", TODAY)
    spike = portfolio.owners.realized_today("spike", TODAY)
    assert mm == D("2") * D("0.2525") - D("0.80") - D("0.0050")
    assert spike == D("0.2525") - D("0.40") - D("0.0025")
    assert mm + spike == portfolio.pnl.realized


def test_a_floored_settlement_read_back_from_the_state_file_pays_the_floor() -> None:
    """What `kalshi status` and a restart's budget book from the state file
    (`PositionBook.book`): the floor the record's revenue shows, as the running loop books."""
    book = PositionBook()
    book.fill((TICKER, BookSide.BID, D("0.40"), D(10), ZERO, NOON, "mm"))
    book.book(_floored_no(10, "3.00", "0", "4.00"))
    assert book.owners.realized() == {"mm": D("-1.00")}
