"""What the matching core shares between orders to keep fewer objects:
a fee charge shared by fills whose charges print the same, and a count remembered as valid
once. Neither may change what a later fill or order gets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    ExchangeError,
    PlaceResult,
    SimEvent,
    SimSeries,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import FEE_QUANTUM, charge_fill, trading_fee
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention
from tests.conftest import STANDARD_FEES
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market


def _exchange() -> tuple[Exchange, str, str]:
    ex = Exchange(ManualClock(), fees=STANDARD_FEES)
    ex.reference.add_series(SimSeries("S", "taker fees", fee_type="quadratic", fee_multiplier="1"))
    ex.reference.add_event(SimEvent("EV", "S", "event"))
    for ticker, structure, fractional in [
        ("WHOLE", "deci_cent", False),
        ("FRAC", "linear_cent", True),
    ]:
        ex.add_market(
            market(ticker, structure, series_ticker="S", fractional_trading_enabled=fractional)
        )
    a, b = (
        ex.accounts.create_account(key_id=k, public_key_pem="", cash_cents=10**8).account_id
        for k in ("ka", "kb")
    )
    return ex, a, b


def _place(  # noqa: PLR0917
    ex: Exchange, account: str, ticker: str, side: BookSide, price: str, count: str
) -> PlaceResult:
    return place_on_desk(
        ex, account, ticker, side, price, count, self_trade_prevention=SelfTradePrevention.MAKER
    )


def test_fills_with_equal_but_differently_printed_rounding_keep_their_own_digits() -> None:
    """3 and 3.00 contracts at $0.505 pay the same trade fee, and their rounding fees are both
    zero, but printed 0.0000 and 0.00000 (the revenue's digits): a shared charge keyed by value
    would give the second fill the first one's digits."""
    ex, a, b = _exchange()
    _place(ex, b, "WHOLE", BookSide.ASK, "0.505", "10")
    rate = ex.reference.fees.fee_model("WHOLE", 0.0).rates(at=0.0)[0]
    printed = []
    for count in ("3", "3.00", "3"):
        fill = _place(ex, a, "WHOLE", BookSide.BID, "0.505", count).fills[0]
        price, n = Decimal("0.505"), Decimal(count)
        fee = trading_fee(n, price, rate)
        expected, _ = charge_fill(-(n * price), fee, Decimal(0), FEE_QUANTUM)
        assert fill.charge is not None
        got = (fill.charge.trade_fee, fill.charge.rounding_fee, fill.charge.rebate)
        want = (expected.trade_fee, expected.rounding_fee, expected.rebate)
        assert [str(x) for x in got] == [str(x) for x in want]
        printed.append(str(fill.charge.rounding_fee))
    assert printed == ["0.0000", "0.00000", "0.0000"]


@pytest.mark.parametrize("first", ["FRAC", "WHOLE"])
def test_a_count_valid_on_a_fractional_market_is_still_refused_where_contracts_are_whole(
    first: str,
) -> None:
    """1.5 contracts pass on a fractional market and never on a whole-contract one, whichever
    market sees the count first; 2 passes on both."""
    ex, a, _ = _exchange()
    price = {"FRAC": "0.40", "WHOLE": "0.400"}
    for ticker in (first, "WHOLE" if first == "FRAC" else "FRAC"):
        for count in ("1.5", "1.50", "2"):
            if ticker == "WHOLE" and count != "2":
                with pytest.raises(ExchangeError) as refused:
                    _place(ex, a, ticker, BookSide.BID, price[ticker], count)
                assert (refused.value.status, refused.value.code) == (400, "invalid_count")
                assert refused.value.message == "WHOLE trades whole contracts only"
            else:
                order = _place(ex, a, ticker, BookSide.BID, price[ticker], count).order
                assert order.status == "resting"
                assert order.remaining_count == Decimal(count)
