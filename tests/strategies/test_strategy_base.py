from decimal import Decimal as D

import pytest

from kalshi_cli.strategies import get_strategy, strategy_names
from kalshi_cli.strategies.spike import SpikeParams
from kalshi_cli.strategy_api import snap_to_grid
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.errors import ConfigError, UsageError
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES, TAKER_FEE_RATE, trading_fee
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce


def intent(side=Side.YES, action=Action.BUY, price="0.40", count="10", fair="0.50", **kw):
    return Intent("T", side, action, D(price), D(count), D(fair), "test", **kw)


def test_registry_has_the_six_strategies_and_refuses_unknown_names():
    assert strategy_names() == [
        "spike",
        "mean-reversion",
        "arbitrage",
        "market-maker",
        "model",
        "crypto",
    ]
    for name in strategy_names():
        strategy = get_strategy(name)
        assert strategy.name == name
        assert strategy.params() == strategy.params_type()
    with pytest.raises(UsageError, match="unknown strategy 'momentum'"):
        get_strategy("momentum")


def test_params_from_config_are_typed_and_yaml_floats_become_exact_decimals():
    params = get_strategy("spike").params({"spike_share": 0.15, "window_s": 30, "order_count": "5"})
    assert params == SpikeParams(spike_share=D("0.15"), window_s=30.0, order_count=D("5"))
    assert isinstance(params.window_s, float)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"spike_pct": 1}, r"unknown parameter `strategies\.spike\.spike_pct`"),
        ({"spike_share": "lots"}, r"strategies\.spike\.spike_share: expected a number, not 'lots'"),
        ({"spike_share": True}, r"strategies\.spike\.spike_share: expected a number, not true"),
        ({"window_s": "soon"}, r"strategies\.spike\.window_s: expected a number, not 'soon'"),
        ({"window_s": 600}, r"strategies\.spike: max_hold_s must be at least window_s"),
        ({"spike_share": 0}, r"strategies\.spike: spike_share must be positive"),
    ],
)
def test_bad_params_are_config_errors_naming_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        get_strategy("spike").params(raw)


def test_whole_number_params_refuse_fractions():
    with pytest.raises(ConfigError, match=r"min_samples: expected a whole number, not 2\.5"):
        get_strategy("mean-reversion").params({"min_samples": 2.5})


def test_edge_after_fees_for_a_buy_and_a_sell():
    buy = intent(price="0.40", fair="0.50", count="10")
    assert buy.edge_after_fees == D("0.10") - trading_fee(D(10), D("0.40"), TAKER_FEE_RATE) / 10
    # fee 0.07 x 10 x 0.40 x 0.60 = 0.168 on 10 contracts (to $0.0001: no rounding needed)
    assert buy.edge_after_fees == D("0.0832")
    sell = intent(action=Action.SELL, price="0.60", fair="0.50", count="10")
    assert sell.edge_after_fees == D("0.10") - D("0.0168")


def test_intent_refuses_zero_count_and_out_of_range_price():
    with pytest.raises(ValueError, match="count"):
        intent(count="0")
    with pytest.raises(ValueError, match="price"):
        intent(price="1.00")


@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.FOK])
def test_a_reduce_only_intent_must_be_immediate_or_cancel(tif):
    """Kalshi (3.31.0) rejects reduce_only unless IOC, so no exit the trade loop sends can be
    built otherwise; the stop-loss and close-at-bid exits are IOC."""
    with pytest.raises(ValueError, match="immediate_or_cancel"):
        intent(reduce_only=True, time_in_force=tif)
    assert intent(reduce_only=True, time_in_force=TimeInForce.IOC).reduce_only


@pytest.mark.parametrize(
    ("price", "up", "expected"),
    [
        ("0.455", False, "0.45"),
        ("0.455", True, "0.46"),
        ("0.45", True, "0.45"),
        ("0.001", False, None),
        ("0.995", True, None),
        ("0.995", False, "0.99"),
    ],
)
def test_snap_to_grid_linear_cent_rounds_conservatively(price, up, expected):
    got = snap_to_grid(D(price), PRICE_STRUCTURES["linear_cent"], up=up)
    assert got == (None if expected is None else D(expected))


def test_snap_to_grid_tapered_uses_the_range_the_price_falls_in():
    tapered = PRICE_STRUCTURES["tapered_deci_cent"]
    assert snap_to_grid(D("0.0555"), tapered, up=False) == D("0.055")
    assert snap_to_grid(D("0.555"), tapered, up=False) == D("0.55")
    assert snap_to_grid(D("0.555"), tapered, up=True) == D("0.56")
    assert snap_to_grid(D("0.9555"), tapered, up=True) == D("0.956")


def test_worst_case_counts_position_and_resting_orders_the_same_way():
    pos = PositionView(
        "T",
        position=D(5),
        resting=(
            RestingOrder("a", Side.YES, Action.BUY, D("0.40"), D(3)),
            RestingOrder("b", Side.NO, Action.SELL, D("0.55"), D(2)),  # = buy YES at 0.45
            RestingOrder("c", Side.NO, Action.BUY, D("0.50"), D(7)),
        ),
    )
    assert pos.worst_case(BookSide.BID) == D(10)
    assert pos.worst_case(BookSide.ASK) == D(2)  # 7 NO bought against 5 YES held


def test_exposure_counts_entry_cost_and_resting_cost_but_not_closing_orders():
    pos = PositionView(
        "T",
        position=D(10),
        entry_cost=D("4.00"),
        resting=(
            RestingOrder("a", Side.YES, Action.BUY, D("0.40"), D(5)),
            RestingOrder("b", Side.YES, Action.SELL, D("0.60"), D(12)),  # closes 10, opens 2 NO
        ),
    )
    assert pos.exposure() == D("4.00") + D("2.00") + 2 * D("0.40")


def test_after_drops_replaced_orders_and_adds_the_intent():
    pos = PositionView("T", resting=(RestingOrder("old", Side.YES, Action.BUY, D("0.40"), D(9)),))
    after = pos.after(intent(count="4", replaces=("old",)))
    assert after.worst_case(BookSide.BID) == D(4)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("mean_reversion", "mean-reversion"), ("market_maker", "market-maker"), ("spkie", "spike")],
)
def test_a_misspelled_strategy_is_refused_with_the_one_spelling(typed: str, meant: str) -> None:
    # the config refuses `strategies.market_maker:` pointing at `market-maker`; the flag agrees
    with pytest.raises(UsageError) as caught:
        get_strategy(typed)
    assert caught.value.hint == f"did you mean `{meant}`?"
