"""Focused tests of the exchange core's semantics (Kalshi's), one behaviour each."""

from __future__ import annotations

import copy
from decimal import Decimal as D
from typing import Any

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    BookChanged,
    ExchangeError,
    FillHappened,
    MarketLifecycle,
    OrderChanged,
    PlaceResult,
    PositionChanged,
    SimEvent,
    SimMarket,
    SimNotice,
    SimOrder,
    SimSeries,
    TradeHappened,
)
from kalshi_cli.sim.core.serialize import event_positions_json, position_json
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import (
    PRICE_STRUCTURES,
    TAKER_FEE_RATE,
    FeeModel,
    FeeType,
    trading_fee,
)
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, Side, TimeInForce
from tests.conftest import NO_FEES, STANDARD_FEES
from tests.runner.fakes import place_on_desk
from tests.sim.test_journal import state as exchange_state

BID, ASK = BookSide.BID, BookSide.ASK
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
TAC, MAKER = SelfTradePrevention.TAKER_AT_CROSS, SelfTradePrevention.MAKER


def market(ticker: str, structure: str = "linear_cent", **kw: Any) -> SimMarket:
    fields: dict[str, Any] = {
        "ticker": ticker,
        "event_ticker": "EV",
        "series_ticker": "SER",
        "title": ticker,
        "yes_sub_title": "yes",
        "no_sub_title": "no",
        "status": "open",
        "price_level_structure": structure,
        "price_ranges": PRICE_STRUCTURES[structure],
        "open_time": 0.0,
        "close_time": 2_000_000_000.0,
        "latest_expiration_time": 2_000_000_000.0,
        "created_time": 0.0,
        "updated_time": 0.0,
    }
    fields.update(kw)
    return SimMarket(**fields)


class Env:
    def __init__(self, fees: FeeModel = STANDARD_FEES, cash: int = 100_00) -> None:
        self.clock = ManualClock()
        self.ex = Exchange(self.clock, fees=fees)
        self.ex.reference.add_series(SimSeries("SER", "series"))
        self.ex.reference.add_event(SimEvent("EV", "SER", "event"))
        self.ex.add_market(market("M"))
        self.ex.add_market(market("SUB", "tapered_deci_cent"))
        self.ex.add_market(market("FR", fractional_trading_enabled=True))
        self.a = self.ex.accounts.create_account(
            key_id="a", public_key_pem="", cash_cents=cash
        ).account_id
        self.b = self.ex.accounts.create_account(
            key_id="b", public_key_pem="", cash_cents=cash
        ).account_id
        self.c = self.ex.accounts.create_account(
            key_id="c", public_key_pem="", cash_cents=cash
        ).account_id

    def place(  # noqa: PLR0917 (tests read best with positional tif)
        self,
        acct: str,
        side: BookSide,
        price: str,
        count: str | int,
        tif: TimeInForce = GTC,
        ticker: str = "M",
        **kw: Any,
    ) -> PlaceResult:
        stp = kw.pop("stp", TAC)
        return place_on_desk(
            self.ex,
            acct,
            ticker,
            side,
            price,
            count,
            time_in_force=tif,
            self_trade_prevention=stp,
            **kw,
        )

    def cash(self, acct: str) -> int:
        return self.ex.accounts.account(acct).cash_cents

    def pos(self, acct: str, ticker: str = "M") -> D:
        for p in self.ex.accounts.positions(acct):
            if p.ticker == ticker:
                return p.position
        return D(0)

    def state(self) -> str:
        """Everything observable, to prove a refused call changed nothing."""
        return exchange_state(self.ex)


def refused(env: Env, status: int, code: str, call: object) -> None:
    before = env.state()
    with pytest.raises(ExchangeError) as info:
        call()  # type: ignore[operator]
    assert (info.value.status, info.value.code) == (status, code)
    assert env.state() == before


# ---- book and matching -------------------------------------------------------------------------


def test_resting_bid_holds_its_cost_and_shows_in_the_book() -> None:
    env = Env()
    r = env.place(env.a, BID, "0.40", 10)
    assert r.order.status == "resting" and r.fills == []
    assert env.cash(env.a) == 100_00 - 400
    assert env.ex.accounts.resting_collateral_cents(env.a) == 400
    env.place(env.a, BID, "0.38", 5)
    env.place(env.b, ASK, "0.45", 7)  # a NO bid at 0.55
    yes, no = env.ex.engine.book("M")
    assert yes == [(D("0.38"), D(5)), (D("0.40"), D(10))]  # ascending, best last
    assert no == [(D("0.55"), D(7))]
    assert env.ex.engine.book("M", depth=1) == ([(D("0.40"), D(10))], [(D("0.55"), D(7))])


def test_yes_bid_crosses_no_bid_at_the_resting_price() -> None:
    env = Env()
    env.place(env.b, ASK, "0.45", 10)  # NO bid at 0.55, i.e. YES ask 0.45
    r = env.place(env.a, BID, "0.50", 4)
    assert r.order.status == "executed"
    [fill] = r.fills
    assert fill.price == D("0.45") and fill.count == 4 and fill.is_taker
    # the fee is 0.07 x 4 x 0.45 x 0.55 = 0.0693 exactly; the balance keeps it to $0.0001 and
    # the integer-cent balance truncates
    assert fill.fee == trading_fee(D(4), D("0.45"), TAKER_FEE_RATE) == D("0.0693")
    assert env.ex.accounts.account(env.a).balance == D("100") - D("1.80") - D("0.0693")
    assert env.cash(env.a) == 98_13
    assert env.pos(env.a) == 4 and env.pos(env.b) == -4
    assert env.ex.reference.markets["M"].open_interest == 4
    assert env.ex.reference.markets["M"].last_price == D("0.45")
    assert env.ex.engine.book("M")[1] == [(D("0.55"), D(6))]


def test_best_price_first_then_time_priority() -> None:
    env = Env()
    first = env.place(env.b, ASK, "0.46", 3).order
    second = env.place(env.c, ASK, "0.46", 3).order
    better = env.place(env.c, ASK, "0.44", 2).order
    r = env.place(env.a, BID, "0.46", 6)
    assert [(f.price, f.count) for f in r.fills] == [
        (D("0.44"), D(2)),
        (D("0.46"), D(3)),
        (D("0.46"), D(1)),
    ]
    assert env.ex.history.order(env.c, better.order_id).status == "executed"
    assert env.ex.history.order(env.b, first.order_id).status == "executed"
    assert env.ex.history.order(env.c, second.order_id).remaining_count == 2


def test_partial_fill_rests_the_remainder() -> None:
    env = Env()
    env.place(env.b, ASK, "0.30", 4)
    r = env.place(env.a, BID, "0.35", 10)
    assert r.order.status == "resting"
    assert (r.order.fill_count, r.order.remaining_count) == (D(4), D(6))
    assert env.ex.engine.book("M") == ([(D("0.35"), D(6))], [])


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    env = Env()
    env.place(env.b, ASK, "0.30", 4)
    r = env.place(env.a, BID, "0.35", 10, IOC)
    assert r.order.status == "canceled"
    assert (r.order.fill_count, r.order.remaining_count) == (D(4), D(0))
    assert env.ex.engine.book("M") == ([], [])
    nothing = env.place(env.a, BID, "0.10", 1, IOC)
    assert nothing.order.status == "canceled" and nothing.fills == []
    assert env.ex.accounts.resting_collateral_cents(env.a) == 0


def test_fok_fills_entirely_or_changes_nothing() -> None:
    env = Env()
    env.place(env.b, ASK, "0.30", 4)
    refused(
        env,
        409,
        "fill_or_kill_insufficient_resting_volume",
        lambda: env.place(env.a, BID, "0.35", 5, FOK),
    )
    r = env.place(env.a, BID, "0.35", 4, FOK)
    assert r.order.status == "executed" and sum(f.count for f in r.fills) == 4


def test_post_only_that_would_cross_is_refused() -> None:
    env = Env()
    env.place(env.b, ASK, "0.30", 4)
    refused(env, 400, "invalid_order", lambda: env.place(env.a, BID, "0.30", 1, post_only=True))
    r = env.place(env.a, BID, "0.29", 1, post_only=True)
    assert r.order.status == "resting" and r.fills == []
    refused(
        env, 400, "invalid_parameters", lambda: env.place(env.a, BID, "0.2", 1, IOC, post_only=True)
    )


def test_self_trade_taker_at_cross_cancels_the_takers_rest() -> None:
    env = Env()
    env.place(env.b, ASK, "0.30", 2)
    own = env.place(env.a, ASK, "0.32", 5).order
    env.place(env.c, ASK, "0.33", 5)
    r = env.place(env.a, BID, "0.40", 10, stp=TAC)
    assert [f.count for f in r.fills] == [D(2)]
    assert r.order.status == "canceled" and r.order.remaining_count == 0
    assert env.ex.history.order(env.a, own.order_id).status == "resting"
    assert env.ex.engine.book("M")[0] == []  # nothing of the taker rests


def test_self_trade_maker_mode_cancels_own_resting_and_continues() -> None:
    env = Env()
    own = env.place(env.a, ASK, "0.30", 5).order
    env.place(env.c, ASK, "0.33", 5)
    r = env.place(env.a, BID, "0.40", 3, stp=MAKER)
    assert [(f.price, f.count) for f in r.fills] == [(D("0.33"), D(3))]
    assert env.ex.history.order(env.a, own.order_id).status == "canceled"
    assert env.ex.accounts.resting_collateral_cents(env.a) == 0


# ---- amend, decrease, cancel -------------------------------------------------------------------


def test_amend_down_keeps_queue_priority() -> None:
    env = Env()
    first = env.place(env.a, ASK, "0.50", 10).order
    env.place(env.c, ASK, "0.50", 10)
    old, new, fills = env.ex.desk.amend_order(
        env.a, first.order_id, ticker="M", book_side=ASK, price=D("0.50"), count=D(4)
    )
    assert (old.remaining_count, new.remaining_count, fills) == (D(10), D(4), [])
    env.place(env.b, BID, "0.50", 4)
    assert env.ex.history.order(env.a, first.order_id).status == "executed"  # still first in line
    assert env.ex.history.fills(env.c) == []


def test_amend_up_or_to_a_new_price_goes_to_the_back() -> None:
    env = Env()
    first = env.place(env.a, ASK, "0.50", 5).order
    second = env.place(env.c, ASK, "0.50", 5).order
    env.ex.desk.amend_order(
        env.a, first.order_id, ticker="M", book_side=ASK, price=D("0.50"), count=D(6)
    )
    env.place(env.b, BID, "0.50", 5)
    assert env.ex.history.order(env.c, second.order_id).status == "executed"
    assert env.ex.history.fills(env.a) == []
    moved = env.place(env.c, ASK, "0.51", 5).order
    env.ex.desk.amend_order(
        env.c, moved.order_id, ticker="M", book_side=ASK, price=D("0.50"), count=D(5)
    )
    env.place(env.b, BID, "0.50", 6)
    assert env.ex.history.order(env.a, first.order_id).status == "executed"
    assert env.ex.history.order(env.c, moved.order_id).remaining_count == 5


def test_amend_of_the_expiry_alone_keeps_queue_priority_and_sets_or_removes_it() -> None:
    """API 3.31.0 `expiration_time` on amend: omitted keeps the expiry, 0 removes it, a
    nonzero one must be in the future; amending only the expiry keeps the queue position."""
    env = Env()
    now = int(env.clock.wall())
    first = env.place(env.a, ASK, "0.50", 5, expiration_time=now + 60).order
    env.place(env.c, ASK, "0.50", 5)

    def amend(expiry: int | None) -> SimOrder:
        _, new, fills = env.ex.desk.amend_order(
            env.a,
            first.order_id,
            ticker="M",
            book_side=ASK,
            price=D("0.50"),
            count=D(5),
            expiration_time=expiry,
        )
        assert fills == []
        return new

    assert amend(now + 600).expiration_time == now + 600
    assert amend(None).expiration_time == now + 600  # omitted: kept
    for past in (now, now - 1, -5):
        refused(env, 400, "invalid_parameters", lambda past=past: amend(past))
    env.clock.advance(120)  # past the original expiry: the new one holds
    env.ex.tick()
    assert env.ex.history.order(env.a, first.order_id).status == "resting"
    assert amend(0).expiration_time is None  # removed: good till canceled
    env.clock.advance(600)
    env.ex.tick()
    assert env.ex.history.order(env.a, first.order_id).status == "resting"
    env.place(env.b, BID, "0.50", 5)
    assert env.ex.history.order(env.a, first.order_id).status == "executed"  # still first in line
    assert env.ex.history.fills(env.c) == []

    later = env.place(env.a, BID, "0.30", 2).order
    now = int(env.clock.wall())
    env.ex.desk.amend_order(
        env.a,
        later.order_id,
        ticker="M",
        book_side=BID,
        price=D("0.31"),
        count=D(2),
        expiration_time=now + 30,
    )
    env.clock.advance(30)
    env.ex.tick()
    assert env.ex.history.order(env.a, later.order_id).status == "canceled"  # expired as amended


def test_amend_can_cross_and_fill_and_counts_the_filled_part() -> None:
    env = Env()
    env.place(env.b, ASK, "0.40", 3)
    mine = env.place(env.a, BID, "0.35", 5).order
    _, new, fills = env.ex.desk.amend_order(
        env.a, mine.order_id, ticker="M", book_side=BID, price=D("0.40"), count=D(5)
    )
    assert [(f.price, f.count) for f in fills] == [(D("0.40"), D(3))]
    assert (new.fill_count, new.remaining_count, new.status) == (D(3), D(2), "resting")
    refused(
        env,
        400,
        "invalid_count",
        lambda: env.ex.desk.amend_order(
            env.a, mine.order_id, ticker="M", book_side=BID, price=D("0.40"), count=D(3)
        ),
    )
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.ex.desk.amend_order(
            env.a, mine.order_id, ticker="M", book_side=ASK, price=D("0.40"), count=D(5)
        ),
    )


def test_decrease_by_and_to_and_to_zero() -> None:
    env = Env()
    o = env.place(env.a, BID, "0.40", 10).order
    assert (
        env.ex.desk.decrease_order(
            env.a, o.order_id, reduce_by=D(3), reduce_to=None
        ).remaining_count
        == 7
    )
    assert env.cash(env.a) == 100_00 - 280
    assert (
        env.ex.desk.decrease_order(
            env.a, o.order_id, reduce_by=None, reduce_to=D(2)
        ).remaining_count
        == 2
    )
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.ex.desk.decrease_order(env.a, o.order_id, reduce_by=D(1), reduce_to=D(1)),
    )
    refused(
        env,
        400,
        "invalid_count",
        lambda: env.ex.desk.decrease_order(env.a, o.order_id, reduce_by=None, reduce_to=D(5)),
    )
    done = env.ex.desk.decrease_order(env.a, o.order_id, reduce_by=None, reduce_to=D(0))
    assert done.status == "canceled" and env.cash(env.a) == 100_00
    assert env.ex.engine.book("M") == ([], [])


def test_cancel_returns_reduced_by_and_refuses_twice_and_strangers() -> None:
    env = Env()
    env.place(env.b, ASK, "0.40", 3)
    o = env.place(env.a, BID, "0.40", 10).order
    canceled, reduced_by = env.ex.desk.cancel_order(env.a, o.order_id)
    assert (canceled.status, reduced_by, canceled.fill_count) == ("canceled", D(7), D(3))
    # cancelled, another account's, or unknown: one identical not_found (as on Kalshi's wire)
    refused(env, 404, "not_found", lambda: env.ex.desk.cancel_order(env.a, o.order_id))
    other = env.place(env.a, BID, "0.30", 1).order
    refused(env, 404, "not_found", lambda: env.ex.desk.cancel_order(env.b, other.order_id))
    refused(env, 404, "not_found", lambda: env.ex.desk.cancel_order(env.a, "nope"))


def test_cancel_all_cancels_every_resting_order_of_the_account_only() -> None:
    env = Env()
    env.place(env.a, BID, "0.40", 10)
    env.place(env.a, ASK, "0.60", 10)
    env.place(env.a, BID, "0.050", 10, ticker="SUB")
    theirs = env.place(env.b, BID, "0.41", 1).order
    result = env.ex.desk.cancel_all(env.a)
    assert sorted(r for _, r in result) == [D(10)] * 3
    assert env.ex.accounts.resting_orders(env.a) == []
    assert env.cash(env.a) == 100_00
    assert env.ex.history.order(env.b, theirs.order_id).status == "resting"
    assert env.ex.desk.cancel_all(env.a) == []


# ---- accounts, collateral, netting ---------------------------------------------------------------


def test_buying_yes_while_holding_no_closes_no_and_pays_back() -> None:
    env = Env(fees=NO_FEES)
    env.place(env.c, BID, "0.40", 10)
    env.place(env.a, ASK, "0.40", 10)  # a buys 10 NO at 0.60
    assert env.pos(env.a) == -10 and env.cash(env.a) == 100_00 - 600
    env.place(env.b, ASK, "0.30", 10)
    env.place(env.a, BID, "0.30", 10)  # closes NO at 1 - 0.30 = 0.70
    assert env.pos(env.a) == 0 and env.cash(env.a) == 100_00 - 600 + 700
    [p] = [p for p in env.ex.accounts.positions(env.a) if p.ticker == "M"]
    assert p.realized_pnl == D("1.00") and p.cost_basis == 0


def test_a_holder_can_rest_a_closing_order_with_no_cash() -> None:
    env = Env(fees=NO_FEES, cash=0)
    rich = env.ex.accounts.create_account(
        key_id="rich", public_key_pem="", cash_cents=1000_00
    ).account_id
    env.ex.accounts.create_account(key_id="x", public_key_pem="", cash_cents=0)
    # give `a` 10 YES for free: deposit then spend exactly
    poor = env.ex.accounts.create_account(key_id="p", public_key_pem="", cash_cents=400).account_id
    env.place(rich, ASK, "0.40", 10)
    env.place(poor, BID, "0.40", 10)
    assert env.cash(poor) == 0 and env.pos(poor) == 10
    r = env.place(poor, ASK, "0.60", 10)  # closing: needs no collateral
    assert r.order.status == "resting" and env.ex.accounts.resting_collateral_cents(poor) == 0
    refused(env, 400, "insufficient_balance", lambda: env.place(poor, ASK, "0.60", 1))
    env.place(rich, BID, "0.60", 10)
    assert env.pos(poor) == 0 and env.cash(poor) == 600


def test_hold_grows_back_when_the_position_it_relied_on_is_sold() -> None:
    env = Env(fees=NO_FEES)
    env.place(env.b, ASK, "0.50", 10)
    env.place(env.a, BID, "0.50", 10)  # a: 10 YES, cash 95.00
    env.place(env.a, ASK, "0.70", 10)  # free: it would close the YES
    assert env.ex.accounts.resting_collateral_cents(env.a) == 0
    env.place(env.c, BID, "0.55", 10)
    env.place(env.a, ASK, "0.55", 10, IOC)  # sells the YES elsewhere: +5.50
    assert env.pos(env.a) == 0
    # the resting ask now opens NO at 0.30 each: held again, and still affordable
    assert env.ex.accounts.resting_collateral_cents(env.a) == 300
    assert env.cash(env.a) == 100_00 - 500 + 550 - 300


def test_insufficient_balance_changes_nothing() -> None:
    env = Env(cash=500)
    refused(env, 400, "insufficient_balance", lambda: env.place(env.a, BID, "0.51", 10))
    env.place(env.a, BID, "0.50", 10)
    assert env.cash(env.a) == 0
    refused(env, 400, "insufficient_balance", lambda: env.place(env.a, ASK, "0.99", 1))


def test_taker_fee_is_charged_at_the_fill_price_not_the_limit() -> None:
    env = Env()
    env.place(env.b, ASK, "0.20", 10)
    r = env.place(env.a, BID, "0.50", 10)
    # 0.07 x 10 x 0.20 x 0.80 = 0.112 (at the 0.50 limit it would be 0.175)
    assert r.fills[0].fee == D("0.1120")
    assert env.ex.accounts.account(env.a).balance == D("97.8880")
    assert env.cash(env.a) == 97_88
    assert env.ex.engine.fees_collected == D("0.112")


def test_taker_and_maker_fees_are_charged_per_fill_rounded_up_to_a_hundredth_of_a_cent() -> None:
    env = Env(fees=FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, D(1), None))
    maker = env.place(env.b, ASK, "0.45", 10).order
    maker_fills = []
    for _ in range(3):
        r = env.place(env.a, BID, "0.45", 3)
        # 0.07 x 3 x 0.45 x 0.55 = 0.051975 -> 0.0520
        assert r.fills[0].fee == D("0.0520")
        maker_fills.append(env.ex.history.fills(env.b)[0])  # newest first
    last = env.place(env.a, BID, "0.45", 1)
    assert last.fills[0].fee == D("0.0174")  # 0.017325
    # the maker pays 0.0175 x C x P x (1 - P) at its own price (NO at 0.55) on each fill:
    # 0.01299375 -> 0.0130 for 3, 0.00433125 -> 0.0044 for 1
    assert [f.fee for f in maker_fills] == [D("0.0130")] * 3
    assert env.ex.history.fills(env.b)[0].fee == D("0.0044")
    done = env.ex.history.order(env.b, maker.order_id)
    assert done.status == "executed"
    assert done.maker_fees == D("0.0434")
    assert env.ex.engine.fees_collected == 3 * D("0.0520") + D("0.0174") + D("0.0434")
    # fees are all the maker paid beyond the contracts: 10 NO at 0.55 cost 5.50
    assert env.ex.accounts.account(env.b).balance == D("100") - D("5.50") - D("0.0434")


def test_a_series_without_maker_fees_charges_makers_nothing() -> None:
    env = Env()  # quadratic: takers only
    env.place(env.b, ASK, "0.45", 10)
    env.place(env.a, BID, "0.45", 10)
    [maker_fill] = env.ex.history.fills(env.b)
    assert maker_fill.fee == 0
    assert env.ex.accounts.account(env.b).balance == D("94.50")


def test_series_fee_type_multiplier_and_a_market_fee_waiver() -> None:
    env = Env()
    env.ex.reference.add_series(
        SimSeries("COMBO", "combo", fee_type="quadratic_with_combo_maker_fees", fee_multiplier="2")
    )
    env.ex.reference.add_event(SimEvent("CEV", "COMBO", "event"))
    env.ex.add_market(market("C", event_ticker="CEV", series_ticker="COMBO"))
    waiver_end = env.clock.wall() + 60
    env.ex.add_market(
        market(
            "W",
            event_ticker="CEV",
            series_ticker="COMBO",
            fee_waiver_expiration_time=waiver_end,
        )
    )
    env.place(env.b, ASK, "0.50", 10, ticker="C")
    r = env.place(env.a, BID, "0.50", 10, ticker="C")
    assert r.fills[0].fee == D("0.35")  # 2 x 0.07 x 10 x 0.25
    assert env.ex.history.fills(env.b)[0].fee == D("0.175")  # 2 x 0.035 x 10 x 0.25
    # a waiver: no fee at all until it expires, then the series' fees
    env.place(env.b, ASK, "0.50", 10, ticker="W")
    r = env.place(env.a, BID, "0.50", 5, ticker="W")
    assert r.fills[0].fee == 0 and env.ex.history.fills(env.b)[0].fee == 0
    env.clock.advance(60)
    r = env.place(env.a, BID, "0.50", 5, ticker="W")
    assert r.fills[0].fee == D("0.175")
    assert env.ex.history.fills(env.b)[0].fee == D("0.0875")


def test_a_scheduled_fee_change_charges_the_new_fees_from_its_time_on() -> None:
    env = Env()
    env.ex.reference.add_series(SimSeries("CHG", "changes"))  # the exchange's default: the standard
    env.ex.reference.add_event(SimEvent("CHGEV", "CHG", "event"))
    env.ex.add_market(market("G", event_ticker="CHGEV", series_ticker="CHG"))
    at = env.clock.wall() + 60
    change = env.ex.schedule_fee_change("CHG", "quadratic_with_maker_fees", "2", at)
    assert (
        env.ex.reference.fees.fee_changes("CHG") == [change]
        and env.ex.reference.fees.fee_changes("OTHER") == []
    )
    env.place(env.b, ASK, "0.50", 20, ticker="G")
    r = env.place(env.a, BID, "0.50", 10, ticker="G")
    assert r.fills[0].fee == D("0.175")  # before: 0.07 x 10 x 0.25, no maker fee
    assert env.ex.history.fills(env.b)[0].fee == 0
    # the resting maker's reserve already covers the higher maker rate to come
    assert env.ex.accounts.held_dollars(env.b) >= D("5.00") + D("0.0875")
    env.clock.advance(59)
    assert env.ex.reference.fees.series_fees("CHG").multiplier == 1
    env.clock.advance(1)
    assert env.ex.reference.fees.series_fees("CHG") == FeeModel(
        FeeType.QUADRATIC_WITH_MAKER_FEES, D(2), None
    )
    r = env.place(env.a, BID, "0.50", 10, ticker="G")
    assert r.fills[0].fee == D("0.35")  # 2 x 0.07 x 10 x 0.25
    assert env.ex.history.fills(env.b)[0].fee == D("0.0875")  # 2 x 0.0175 x 10 x 0.25
    refused(env, 404, "not_found", lambda: env.ex.schedule_fee_change("NOPE", "quadratic", "1", at))
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.ex.schedule_fee_change("CHG", "flat", "1", at),
    )


def test_a_fee_change_raising_the_maker_rate_re_holds_resting_orders() -> None:
    env = Env()  # quadratic: resting orders hold no maker fee
    env.place(env.b, ASK, "0.50", 10)
    held = env.ex.accounts.held_dollars(env.b)
    env.ex.schedule_fee_change(
        "SER",
        "quadratic_with_maker_fees",
        "1",
        env.clock.wall() + 3600,
    )
    # 10 NO at 0.50 hold their maker fee to come: per contract 0.0175 x 0.25 -> 0.0044
    assert env.ex.accounts.held_dollars(env.b) == held + D("0.044")
    env.ex.desk.cancel_all(env.b)
    assert env.ex.accounts.held_dollars(env.b) == 0


def test_a_fee_type_the_model_cannot_price_is_refused_at_series_creation() -> None:
    env = Env()
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.ex.reference.add_series(SimSeries("FLAT", "flat", fee_type="flat")),
    )
    assert "FLAT" not in env.ex.reference.series


def test_a_series_giving_half_of_its_fees_is_refused_not_completed_with_a_default() -> None:
    """A Series carries `fee_type` and `fee_multiplier` together (both required in the spec):
    a series that names its type but not its multiplier is not charged a multiplier of 1, nor
    one naming its multiplier charged the default type."""
    env = Env()
    for half in (
        SimSeries("HALFT", "type only", fee_type="quadratic_with_maker_fees"),
        SimSeries("HALFM", "multiplier only", fee_multiplier="2"),
    ):
        with pytest.raises(ExchangeError) as info:
            env.ex.reference.add_series(half)
        assert (info.value.status, info.value.code) == (400, "invalid_parameters")
        missing = "fee_multiplier" if half.fee_type else "fee_type"
        assert f"no {missing}" in str(info.value)
        assert half.ticker not in env.ex.reference.series


def test_an_exchange_without_default_fees_lists_nothing_it_could_only_price_at_a_guess() -> None:
    """An exchange built with no default fee model (a local venue's core) charges every market
    its own series' fees: a series naming none, or a market whose series it does not hold, is
    refused by name, not priced at a fee nobody chose."""
    ex = Exchange(ManualClock(), fees=None)
    with pytest.raises(ExchangeError) as info:
        ex.reference.add_series(SimSeries("BARE", "no fees"))
    assert (info.value.status, info.value.code) == (400, "invalid_parameters")
    assert "series BARE: no fee_type and fee_multiplier" in str(info.value)
    assert "BARE" not in ex.reference.series
    with pytest.raises(ExchangeError) as info:
        ex.add_market(market("LOOSE", series_ticker="NOWHERE"))
    assert (info.value.status, info.value.code) == (400, "invalid_parameters")
    assert "series NOWHERE not found" in str(info.value)
    assert "LOOSE" not in ex.reference.markets
    ex.reference.add_series(SimSeries("OWN", "own fees", fee_type="quadratic", fee_multiplier="2"))
    ex.reference.add_event(SimEvent("OWNEV", "OWN", "event"))
    ex.add_market(market("PRICED", event_ticker="OWNEV", series_ticker="OWN"))
    assert ex.reference.fees.fee_model("PRICED") == FeeModel(FeeType.QUADRATIC, D(2), None)


def test_an_order_s_rounding_accumulator_refunds_a_whole_cent() -> None:
    # Kalshi's fee-rounding page: 0.01 contract at $0.555 is $0.00555 of revenue, below the
    # balance's $0.0001 precision; each fill's rounding fee goes into the order's accumulator,
    # and when that passes a cent, one cent comes back on that fill
    env = Env(fees=NO_FEES, cash=1000_00)
    env.ex.add_market(market("FD", "deci_cent", fractional_trading_enabled=True))
    resting = env.place(env.b, ASK, "0.555", 3, ticker="FD").order  # NO bid at 0.445
    start = env.ex.accounts.cash_dollars(env.b)
    taker_fills = []
    for _ in range(250):
        taker_fills += env.place(env.a, BID, "0.555", "0.01", ticker="FD").fills
    maker_fills = [
        f for f in reversed(env.ex.history.fills(env.b)) if f.order_id == resting.order_id
    ]
    assert len(maker_fills) == 250
    # the maker sells NO at 0.445: 0.00445 a fill, floored to 0.0044, rounding 0.00005
    assert {f.charge.rounding_fee for f in maker_fills if f.charge} == {D("0.00005")}
    rebated = [i for i, f in enumerate(maker_fills) if f.charge and f.charge.rebate]
    assert rebated == [200]  # the 201st fill passes a cent (0.01005)
    assert maker_fills[200].fee == D("0.00005") - D("0.01")
    assert env.ex.history.order(env.b, resting.order_id).fee_accumulator == D("0.0025")
    # every taker order is new: its one fill's rounding stays in its own accumulator
    assert all(f.charge and f.charge.rebate == 0 for f in taker_fills)
    # the cash moved by exactly revenue - fees, and stays on $0.0001
    paid = sum((f.fee for f in maker_fills), D(0))
    assert paid == 250 * D("0.00005") - D("0.01")
    end = env.ex.accounts.cash_dollars(env.b)
    assert end == start - 250 * D("0.00445") - paid
    assert end == end.quantize(D("0.0001"))


def test_settlement_yes_and_no_pay_a_dollar_and_book_pnl_to_the_cent() -> None:
    env = Env(fees=NO_FEES)
    env.place(env.b, ASK, "0.37", 10)
    env.place(env.a, BID, "0.37", 10)  # a: YES at 0.37, b: NO at 0.63
    resting = env.place(env.c, BID, "0.20", 5).order
    env.ex.settlement.settle("M", "yes")
    assert (
        env.ex.reference.markets["M"].status == "settled"
        and env.ex.reference.markets["M"].result == "yes"
    )
    assert env.ex.history.order(env.c, resting.order_id).status == "canceled"
    assert env.cash(env.c) == 100_00
    assert env.cash(env.a) == 100_00 - 370 + 1000
    assert env.cash(env.b) == 100_00 - 630
    [sa] = env.ex.accounts.settlements(env.a)
    assert (sa.revenue_cents, sa.yes_count, sa.yes_total_cost) == (1000, D(10), D("3.70"))
    [sb] = env.ex.accounts.settlements(env.b)
    assert (sb.revenue_cents, sb.no_count, sb.no_total_cost) == (0, D(10), D("6.30"))
    pa = next(p for p in env.ex.accounts.positions(env.a) if p.ticker == "M")
    pb = next(p for p in env.ex.accounts.positions(env.b) if p.ticker == "M")
    assert (pa.realized_pnl, pb.realized_pnl) == (D("6.30"), D("-6.30"))
    assert env.ex.reference.markets["M"].open_interest == 0
    refused(env, 409, "market_already_settled", lambda: env.ex.settlement.settle("M", "no"))
    refused(env, 409, "market_closed", lambda: env.place(env.a, BID, "0.5", 1))

    env2 = Env(fees=NO_FEES)
    env2.place(env2.b, ASK, "0.37", 10)
    env2.place(env2.a, BID, "0.37", 10)
    env2.ex.settlement.settle("M", "no")
    assert env2.cash(env2.a) == 100_00 - 370
    assert env2.cash(env2.b) == 100_00 - 630 + 1000
    assert env2.ex.accounts.settlements(env2.b)[0].revenue_cents == 1000


# ---- validation ----------------------------------------------------------------------------------


def test_bad_input_is_refused_with_kalshi_statuses_and_changes_nothing() -> None:
    env = Env()
    refused(env, 404, "market_not_found", lambda: env.place(env.a, BID, "0.5", 1, ticker="NOPE"))
    refused(env, 400, "invalid_price", lambda: env.place(env.a, BID, "0.505", 1))
    refused(env, 400, "invalid_price", lambda: env.place(env.a, BID, "1.00", 1))
    refused(env, 400, "invalid_price", lambda: env.place(env.a, BID, "0", 1))
    refused(env, 400, "invalid_count", lambda: env.place(env.a, BID, "0.5", 0))
    refused(env, 400, "invalid_count", lambda: env.place(env.a, BID, "0.5", -3))
    refused(env, 400, "invalid_count", lambda: env.place(env.a, BID, "0.5", "1.5"))
    refused(env, 400, "invalid_count", lambda: env.place(env.a, BID, "0.5", "1.005", ticker="FR"))
    assert env.place(env.a, BID, "0.5", "1.25", ticker="FR").order.remaining_count == D("1.25")
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.place(env.a, BID, "0.5", 1, IOC, expiration_time=2_000_000_000),
    )
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.place(env.a, BID, "0.5", 1, expiration_time=int(env.clock.wall()) - 1),
    )
    refused(env, 404, "account_not_found", lambda: env.place("ghost", BID, "0.5", 1))


def test_sub_penny_grid() -> None:
    env = Env()
    assert env.place(env.a, BID, "0.053", 1, ticker="SUB").order.price == D("0.053")
    assert env.place(env.a, ASK, "0.951", 1, ticker="SUB").order.status == "resting"
    refused(env, 400, "invalid_price", lambda: env.place(env.a, BID, "0.155", 1, ticker="SUB"))
    refused(env, 400, "invalid_price", lambda: env.place(env.a, BID, "0.0005", 1, ticker="SUB"))
    r = env.place(env.b, BID, "0.050", 3, ticker="SUB", stp=MAKER)
    assert r.fills == []
    r = env.place(env.b, ASK, "0.053", 1, ticker="SUB")
    assert r.fills[0].price == D("0.053")
    assert env.ex.engine.book("SUB")[1] == [(D("0.049"), D(1))]


def test_market_must_be_open() -> None:
    env = Env()
    env.ex.settlement.set_market_status("M", "paused")
    refused(env, 409, "trading_paused", lambda: env.place(env.a, BID, "0.5", 1))
    env.ex.settlement.set_market_status("M", "closed")
    refused(env, 409, "market_closed", lambda: env.place(env.a, BID, "0.5", 1))
    env.ex.settlement.set_market_status("M", "unopened")
    refused(env, 409, "market_not_open", lambda: env.place(env.a, BID, "0.5", 1))


def test_duplicate_client_order_id_is_refused_never_a_second_order() -> None:
    env = Env()
    r = env.place(env.a, BID, "0.40", 1, client_order_id="k1")
    assert r.order.client_order_id == "k1"
    env.ex.desk.cancel_order(env.a, r.order.order_id)
    refused(
        env,
        409,
        "order_already_exists",
        lambda: env.place(env.a, BID, "0.40", 1, client_order_id="k1"),
    )
    assert len(env.ex.history.orders(env.a)) == 1
    assert env.place(env.b, BID, "0.40", 1, client_order_id="k1").order.status == "resting"
    generated = env.place(env.a, BID, "0.30", 1).order
    assert generated.client_order_id


def test_reduce_only_is_immediate_or_cancel_only() -> None:
    """API 3.31.0: reduce_only orders are rejected unless immediate_or_cancel."""
    env = Env(fees=NO_FEES)
    env.place(env.b, ASK, "0.50", 5)
    env.place(env.a, BID, "0.50", 5)  # a holds 5 YES
    for tif in (GTC, TimeInForce.FOK):
        refused(
            env,
            400,
            "invalid_parameters",
            lambda tif=tif: env.place(env.a, ASK, "0.55", 1, tif, reduce_only=True),
        )
    env.place(env.c, BID, "0.55", 3)
    r = env.place(env.a, ASK, "0.55", 5, IOC, reduce_only=True)  # 3 fill, the rest is cancelled
    assert sum(f.count for f in r.fills) == 3
    assert r.order.status == "canceled"
    assert env.pos(env.a) == 2


def test_a_reduce_only_sale_of_more_than_is_held_sells_what_is_held() -> None:
    """API 3.31.0 (CreateOrderV2Request.reduce_only): the order's "place count should be
    capped by the member's current position": a sale of 10 with 4 held sells the 4, and the
    6 above the position are cancelled as an IOC remainder is, the order keeping the count it
    was sent with."""
    env = Env(fees=NO_FEES)
    env.place(env.b, ASK, "0.50", 4)
    env.place(env.a, BID, "0.50", 4)  # a holds 4 YES
    env.place(env.c, BID, "0.55", 10)
    r = env.place(env.a, ASK, "0.55", 10, IOC, reduce_only=True)
    assert [(f.count, f.price) for f in r.fills] == [(4, D("0.55"))]
    o = env.ex.history.order(env.a, r.order.order_id)
    assert (o.status, o.initial_count, o.fill_count, o.remaining_count) == ("canceled", 10, 4, 0)
    assert (r.order.status, r.order.fill_count, r.order.remaining_count) == ("canceled", 4, 0)
    assert env.pos(env.a) == 0
    assert env.cash(env.a) == 100_00 - 4 * 50 + 4 * 55
    assert env.ex.engine.book("M")[0] == [(D("0.55"), D(6))]  # c's bid keeps what a did not sell
    assert env.pos(env.c) == 4


def test_a_reduce_only_purchase_closes_a_no_position_across_levels_and_no_further() -> None:
    """The cap is the position the order reduces, whichever side it is on: a bid for YES
    reduces a NO position (a negative one), over as many price levels as it takes."""
    env = Env(fees=NO_FEES)
    env.place(env.b, BID, "0.50", 4)
    env.place(env.a, ASK, "0.50", 4)  # a holds 4 NO
    assert env.pos(env.a) == -4
    env.place(env.c, ASK, "0.44", 2)
    env.place(env.c, ASK, "0.45", 8)
    r = env.place(env.a, BID, "0.45", 10, IOC, reduce_only=True)
    assert [(f.count, f.price) for f in r.fills] == [(2, D("0.44")), (2, D("0.45"))]
    assert (r.order.status, r.order.fill_count, r.order.remaining_count) == ("canceled", 4, 0)
    assert env.pos(env.a) == 0
    assert env.ex.engine.book("M")[1] == [(D("0.55"), D(6))]  # c's ask at 0.45 (a NO bid at 0.55)


def test_a_capped_reduce_only_order_fills_no_more_than_the_book_offers() -> None:
    """Capping the count does not make liquidity: with 4 held and 2 bid for, a reduce-only
    sale of 10 sells 2 and a holds the other 2."""
    env = Env(fees=NO_FEES)
    env.place(env.b, ASK, "0.50", 4)
    env.place(env.a, BID, "0.50", 4)
    env.place(env.c, BID, "0.55", 2)
    r = env.place(env.a, ASK, "0.55", 10, IOC, reduce_only=True)
    assert sum(f.count for f in r.fills) == 2
    assert (r.order.status, r.order.fill_count, r.order.remaining_count) == ("canceled", 2, 0)
    assert env.pos(env.a) == 2


def test_a_reduce_only_sale_with_no_cash_left_sells_the_whole_position() -> None:
    """The cap comes before the balance check: what is planned is the sale of what is held,
    which needs no collateral, never the uncapped count."""
    env = Env(fees=NO_FEES)
    poor = env.ex.accounts.create_account(key_id="d", public_key_pem="", cash_cents=2_00).account_id
    env.place(env.b, ASK, "0.50", 4)
    env.place(poor, BID, "0.50", 4)  # 4 YES held and $0.00
    assert env.cash(poor) == 0
    env.place(env.c, BID, "0.40", 10)
    r = env.place(poor, ASK, "0.40", 10, IOC, reduce_only=True)
    assert sum(f.count for f in r.fills) == 4
    assert env.pos(poor) == 0
    assert env.cash(poor) == 4 * 40


def test_a_reduce_only_order_with_nothing_to_reduce_is_refused() -> None:
    """A cap of zero: no position, or one on the side the order would add to. The spec says
    only that the count is capped; an order capped to no contracts at all is refused, as an
    order of zero contracts is (docs/simulator.md, "Reduce-only orders")."""
    env = Env(fees=NO_FEES)
    refused(
        env,
        400,
        "invalid_reduce_only",
        lambda: env.place(env.a, ASK, "0.5", 1, IOC, reduce_only=True),
    )
    env.place(env.b, ASK, "0.50", 5)
    env.place(env.a, BID, "0.50", 5)  # a holds 5 YES: a bid would grow the position
    env.place(env.c, ASK, "0.55", 5)
    refused(
        env,
        400,
        "invalid_reduce_only",
        lambda: env.place(env.a, BID, "0.55", 1, IOC, reduce_only=True),
    )


def test_expired_orders_are_canceled_by_tick() -> None:
    env = Env()
    now = int(env.clock.wall())
    o = env.place(env.a, BID, "0.40", 10, expiration_time=now + 60).order
    env.clock.advance(59)
    env.ex.tick()
    assert env.ex.history.order(env.a, o.order_id).status == "resting"
    env.clock.advance(1)
    env.ex.tick()
    assert env.ex.history.order(env.a, o.order_id).status == "canceled"
    assert env.cash(env.a) == 100_00


def test_tick_opens_and_closes_markets_on_schedule() -> None:
    env = Env()
    now = env.clock.wall()
    env.ex.add_market(market("LATER", status="unopened", open_time=now + 10, close_time=now + 20))
    env.ex.tick()
    assert env.ex.reference.markets["LATER"].status == "unopened"
    env.clock.advance(10)
    env.ex.tick()
    assert env.ex.reference.markets["LATER"].status == "open"
    env.clock.advance(10)
    env.ex.tick()
    assert env.ex.reference.markets["LATER"].status == "closed"


# ---- events --------------------------------------------------------------------------------------


def test_notices_for_a_fill_come_in_order_with_both_sides() -> None:
    env = Env()
    notices: list[SimNotice] = []
    env.ex.reference.add_listener(notices.append)
    maker = env.place(env.b, ASK, "0.45", 5).order
    assert [type(e) for e in notices] == [BookChanged, OrderChanged]
    assert notices[0] == BookChanged(
        "M", Side.NO, D("0.55"), D(5), env.b, maker.client_order_id, env.clock.wall()
    )
    notices.clear()
    env.place(env.a, BID, "0.45", 2)
    kinds = [type(e) for e in notices]
    assert kinds == [
        BookChanged,
        TradeHappened,
        FillHappened,
        FillHappened,
        OrderChanged,
        PositionChanged,
        PositionChanged,
        OrderChanged,
    ]
    fills = [e.fill for e in notices if isinstance(e, FillHappened)]
    assert fills[0].trade_id == fills[1].trade_id
    assert {f.book_side for f in fills} == {BID, ASK}
    assert isinstance(notices[0], BookChanged) and notices[0].delta == -2
    notices.clear()
    env.ex.settlement.set_market_status("M", "closed")
    assert notices == [MarketLifecycle("M", "deactivated", {"status": "closed"}, env.clock.wall())]


def test_returned_orders_are_snapshots() -> None:
    env = Env()
    r = env.place(env.a, BID, "0.40", 10)
    snapshot = copy.deepcopy(r.order)
    env.place(env.b, ASK, "0.40", 4)
    assert r.order == snapshot
    assert env.ex.history.order(env.a, r.order.order_id).remaining_count == 6


def test_an_event_position_totals_what_was_spent_and_traded_as_a_market_position_does() -> None:
    """openapi.yaml `EventPosition`: `total_cost_dollars` is the "Total spent on this event",
    worded as `MarketPosition.total_traded_dollars` ("Total spent on this market"), and
    `total_cost_shares_fp` "the total number of shares traded on this event (including both
    YES and NO contracts)"; what is held now is `event_exposure_dollars`. A round trip leaves
    nothing held and keeps what it spent and traded."""
    env = Env()
    env.place(env.b, ASK, "0.40", "2")
    env.place(env.a, BID, "0.40", "2", IOC)  # 2 YES for $0.80
    env.place(env.b, ASK, "0.30", "1", ticker="SUB")
    env.place(env.a, BID, "0.30", "1", IOC, ticker="SUB")  # 1 YES for $0.30, held
    env.place(env.b, BID, "0.60", "2")
    env.place(env.a, ASK, "0.60", "2", IOC)  # the 2 YES sold: 2 NO for $0.80
    positions = env.ex.accounts.positions(env.a)
    spent = {position_json(p)["total_traded_dollars"] for p in positions}
    assert spent == {"1.600000", "0.300000"}
    (row,) = event_positions_json(env.ex, positions)
    assert row["total_cost_dollars"] == "1.900000"
    assert row["total_cost_shares_fp"] == "5.00"
    assert row["event_exposure_dollars"] == "0.300000"
