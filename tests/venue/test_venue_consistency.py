"""What the local venue counts as our resting orders is what its exchange core rests, through
any mix of requests and recorded data: our orders on two subaccounts crossing each other's
levels, amends, decreases, cancels, both self-trade preventions, orders at one instant and
recorded trades and books in between (kalshi_cli/venue/venue.py)."""

from __future__ import annotations

from contextlib import suppress
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.venue import FillModel, LocalVenue, MarketInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, Side, TimeInForce
from tests.fakes import ticks

D = Decimal
T = "KXTEST-26JAN01-A"
PRICES = ["0.38", "0.39", "0.40", "0.41", "0.42"]

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)),
        st.tuples(st.just("trade"), st.sampled_from(PRICES), st.integers(1, 30), st.booleans()),
        st.tuples(st.just("wait"), st.integers(0, 3)),
        st.tuples(
            st.just("place"),
            st.booleans(),  # a bid (else an ask)
            st.sampled_from(PRICES),
            st.integers(1, 30),
            st.booleans(),  # good till cancelled (else immediate or cancel)
            st.integers(0, 1),  # subaccount
            st.booleans(),  # self-trade prevention that cancels our resting order
            st.booleans(),  # at the same instant as the request before
        ),
        st.tuples(
            st.just("amend"), st.integers(0, 50), st.sampled_from(PRICES), st.integers(1, 30)
        ),
        st.tuples(st.just("decrease"), st.integers(0, 50), st.integers(1, 10)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
    ),
    max_size=40,
)


def _venue(model: FillModel) -> tuple[LocalVenue, ManualClock]:
    clock = ManualClock()
    v = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(1000),
        fill_model=model,
    )
    v.core.subaccounts.create_subaccount(v.account)
    v.core.subaccounts.transfer(
        v.account, client_transfer_id="f", from_subaccount=0, to_subaccount=1, amount_cents=40_000
    )
    v.book_changed(T, ticks({D("0.40"): D(20)}), ticks({D("0.58"): D(20)}))
    return v, clock


def _step(
    v: LocalVenue, clock: ManualClock, step: tuple[Any, ...], ids: list[tuple[str, int]]
) -> None:
    kind = step[0]
    if kind == "book":
        _, a, b, c = step
        yes = {p: D(n) for p, n in ((D("0.40"), a), (D("0.39"), b)) if n}
        no = {p: D(n) for p, n in ((D("0.58"), c), (D("0.59"), b)) if n}
        v.book_changed(T, ticks(yes), ticks(no))
    elif kind == "trade":
        _, price, n, no_taker = step
        v.trade(T, D(price), D(n), Side.NO if no_taker else Side.YES)
    elif kind == "wait":
        clock.advance(step[1] * 0.6)
    elif kind == "place":
        _, bid, price, n, gtc, sub, maker, same_instant = step
        if not same_instant:
            clock.advance(0.001)
        placed = v.client.on_subaccount(sub).orders.create_order(
            CreateOrder(
                T,
                BookSide.BID if bid else BookSide.ASK,
                D(price),
                D(n),
                time_in_force=TimeInForce.GTC if gtc else TimeInForce.IOC,
                self_trade_prevention=SelfTradePrevention.MAKER
                if maker
                else SelfTradePrevention.TAKER_AT_CROSS,
            )
        )
        ids.append((placed.order_id, sub))
    elif ids:
        order_id, sub = ids[step[1] % len(ids)]
        orders = v.client.on_subaccount(sub).orders
        live = orders.get_order(order_id)
        if live.status != "resting":
            return
        if kind == "cancel":
            orders.cancel_order(order_id)
        elif kind == "decrease":
            orders.decrease_order(order_id, reduce_by=D(step[2]))
        else:
            clock.advance(0.001)
            orders.amend_order(
                order_id,
                AmendOrder(
                    ticker=T,
                    book_side=live.book_side,
                    price=D(step[2]),
                    count=live.fill_count + D(step[3]),
                ),
            )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, model=st.sampled_from(list(FillModel)))
def test_the_venues_resting_orders_are_the_cores(
    steps: list[tuple[Any, ...]], model: FillModel
) -> None:
    v, clock = _venue(model)
    ledgers = [v.ledger(0), v.ledger(1)]
    crowd = [a.account_id for a in v.core.accounts.accounts if a.key_id == "recorded-crowd"]
    ids: list[tuple[str, int]] = []
    for step in steps:
        with suppress(ApiError):  # refused: nothing changed
            _step(v, clock, step, ids)
        core = {o.order_id: o for ledger in ledgers for o in v.core.accounts.resting_orders(ledger)}
        assert sorted(v.resting_order_ids()) == sorted(core)
        for order_id, order in core.items():
            ahead = v.queue_ahead(order_id)
            assert ahead is not None and ahead >= 0
            positions = v.queue_positions(ledgers)
            # the recorded queue estimated ahead, and our own orders ahead at that price
            ours_ahead = sum(
                (
                    o.remaining_count
                    for o in core.values()
                    if o.book_side is order.book_side
                    and o.price == order.price
                    and v.core.desk.queue_position(o.account_id, o.order_id)
                    < v.core.desk.queue_position(order.account_id, order_id)
                ),
                D(0),
            )
            assert positions[order_id] == ahead + ours_ahead
            assert order.remaining_count > 0
        assert not [o for a in crowd for o in v.core.accounts.resting_orders(a)]
