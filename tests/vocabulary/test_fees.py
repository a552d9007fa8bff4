"""The one fee model (models.py "Fees"): Kalshi's per-fill trade fee rounded up to $0.0001,
the maker rates by fee type, the series multiplier, fee waivers, and the per-order rounding
accumulator of Kalshi's fee-rounding page."""

from __future__ import annotations

from decimal import ROUND_CEILING
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.vocabulary.models import (
    COMBO_MAKER_FEE_RATE,
    FEE_QUANTUM,
    MAKER_FEE_RATE,
    TAKER_FEE_RATE,
    FeeModel,
    FeeModelError,
    FeeType,
    charge_fill,
    trading_fee,
)
from kalshi_cli.vocabulary.units import ONE
from tests.conftest import NO_FEES, STANDARD_FEES


def test_the_observed_taker_fill_of_one_contract_at_52_cents_costs_0_0175() -> None:
    # REFERENCE.md "Observed on the real wire": fee_cost "0.017500" (0.07 x 0.52 x 0.48 =
    # 0.017472, rounded up to $0.0001), not $0.02 (rounded up to the cent)
    assert trading_fee(D(1), D("0.52"), TAKER_FEE_RATE) == D("0.0175")
    assert STANDARD_FEES.fee(D(1), D("0.52"), taker=True, at=0.0) == D("0.0175")


def test_maker_rates_follow_the_fee_type() -> None:
    assert FeeModel(FeeType.QUADRATIC, ONE, None).rates(at=0.0) == (TAKER_FEE_RATE, D(0))
    assert FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, ONE, None).rates(at=0.0) == (
        TAKER_FEE_RATE,
        D("0.0175"),
    )
    assert FeeModel(FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES, ONE, None).rates(at=0.0) == (
        TAKER_FEE_RATE,
        D("0.035"),
    )
    # 100 contracts at 0.50 as a maker: 0.0175 x 100 x 0.25 = 0.4375
    maker = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, ONE, None)
    assert maker.fee(D(100), D("0.50"), taker=False, at=0.0) == D("0.4375")
    assert STANDARD_FEES.fee(D(100), D("0.50"), taker=False, at=0.0) == 0


def test_the_multiplier_scales_both_rates_and_zero_means_no_fee() -> None:
    half = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, D("0.5"), None)
    assert half.rates(at=0.0) == (D("0.035"), D("0.00875"))
    assert NO_FEES.fee(D(10), D("0.50"), taker=True, at=0.0) == 0


def test_a_fee_waiver_means_no_fee_until_it_expires() -> None:
    waived = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, ONE, 1_000.0)
    assert waived.rates(at=999.0) == (D(0), D(0))
    assert waived.fee(D(1), D("0.52"), taker=True, at=999.0) == 0
    assert waived.fee(D(1), D("0.52"), taker=True, at=1_000.0) == D("0.0175")


def test_a_fee_model_is_never_built_from_defaults() -> None:
    """No defaults in money: a model names its type, its multiplier and its waiver (None for
    none), so a new call site cannot price an order at a fee nobody chose."""
    with pytest.raises(TypeError):
        FeeModel()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        FeeModel(FeeType.QUADRATIC)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        FeeModel(FeeType.QUADRATIC, ONE)  # type: ignore[call-arg]


def test_unknown_and_unmodelled_fee_types_are_refused_by_name() -> None:
    # "flat" is Kalshi's Specific Trading Fees Table, whose rates the reference does not give:
    # pricing it as quadratic would be a guess, so it is refused, as is a type never heard of
    with pytest.raises(FeeModelError, match="flat"):
        FeeModel.from_api("flat", 1)
    with pytest.raises(FeeModelError, match="cubic"):
        FeeModel.from_api("cubic", 1)
    with pytest.raises(FeeModelError, match="multiplier"):
        FeeModel.from_api("quadratic", -1)


def test_from_api_reads_the_series_fields_and_an_event_override() -> None:
    model = FeeModel.from_api("quadratic_with_maker_fees", 1.0)
    assert model == FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, ONE, None)
    override = FeeModel.from_api(
        "quadratic", 2, override_type="quadratic_with_combo_maker_fees", override_multiplier=0.5
    )
    assert override.rates(at=0.0) == (D("0.035"), D("0.0175"))
    cleared = FeeModel.from_api("quadratic", 2, override_type=None, override_multiplier=None)
    assert cleared.rates(at=0.0) == (D("0.14"), D(0))
    waived = FeeModel.from_api("quadratic", 1, waiver_expiration_time="2026-06-01T00:00:00Z")
    assert waived.waiver_until == 1_780_272_000.0


def test_each_half_of_an_event_override_falls_back_to_the_series_alone() -> None:
    """EventFeeChange: a null `fee_type_override` falls back to the series' fee structure, a
    null `fee_multiplier_override` to the series' multiplier; only both null clear the
    override. An event overriding only the multiplier is charged it at the series' type."""
    half = FeeModel.from_api("quadratic_with_maker_fees", 1, override_multiplier=0.5)
    assert half == FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, D("0.5"), None)
    double = FeeModel.from_api("quadratic", 1, override_type=None, override_multiplier=2)
    assert double.rates(at=0.0) == (D("0.14"), D(0))
    typed = FeeModel.from_api("quadratic", 3, override_type="quadratic_with_maker_fees")
    assert typed == FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, D(3), None)


prices = st.integers(min_value=1, max_value=999).map(lambda n: D(n) / 1000)
counts = st.integers(min_value=1, max_value=100_000).map(lambda n: D(n) / 100)
rates = st.sampled_from([TAKER_FEE_RATE, MAKER_FEE_RATE, COMBO_MAKER_FEE_RATE])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(count=counts, price=prices, rate=rates)
def test_a_fee_is_the_formula_rounded_up_to_a_hundredth_of_a_cent(
    count: D, price: D, rate: D
) -> None:
    exact = rate * count * price * (ONE - price)
    fee = trading_fee(count, price, rate)
    assert fee == exact.quantize(FEE_QUANTUM, rounding=ROUND_CEILING)
    assert fee >= 0
    assert fee - exact < FEE_QUANTUM
    assert fee == fee.quantize(FEE_QUANTUM)
    # the fee of P and of 1 - P is the same: buying YES at P is selling NO at 1 - P
    assert fee == trading_fee(count, ONE - price, rate)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(count=counts, price=prices, fee_type=st.sampled_from(list(FeeType)[:3]))
def test_taker_and_maker_fees_of_a_model_are_never_negative_and_symmetric(
    count: D, price: D, fee_type: FeeType
) -> None:
    model = FeeModel(fee_type, ONE, None)
    for taker in (True, False):
        fee = model.fee(count, price, taker=taker, at=0.0)
        assert fee >= 0
        assert fee == model.fee(count, ONE - price, taker=taker, at=0.0)
        assert fee == fee.quantize(FEE_QUANTUM)
    assert model.fee(count, price, taker=False, at=0.0) <= model.fee(
        count, price, taker=True, at=0.0
    )


def test_a_fill_on_a_whole_hundredth_of_a_cent_has_no_rounding_fee() -> None:
    charge, carried = charge_fill(D("-0.52"), D("0.0175"), D(0), FEE_QUANTUM)
    assert (charge.trade_fee, charge.rounding_fee, charge.rebate) == (D("0.0175"), 0, 0)
    assert charge.net == D("0.0175")
    assert carried == 0


def test_the_accumulator_refunds_a_whole_cent_once_rounding_passes_a_cent() -> None:
    # 0.01 contract at $0.555: revenue -0.00555, a trade fee of 0.0001; the balance moves by
    # floor(-0.00565) to $0.0001 = -0.0057, a rounding fee of 0.00005 per fill
    carried = D(0)
    net_total = D(0)
    rebated_at = []
    for i in range(250):
        charge, carried = charge_fill(D("-0.00555"), D("0.0001"), carried, FEE_QUANTUM)
        assert charge.rounding_fee == D("0.00005")
        net_total += charge.net
        if charge.rebate:
            rebated_at.append((i, charge.rebate))
        # what the order paid in all is never negative, and never less than its trade fees
        assert net_total >= (i + 1) * D("0.0001")
    # 201 x 0.00005 = 0.01005 passes a cent: that fill gets one cent back
    assert rebated_at == [(200, D("0.01"))]
    assert carried == D("0.0025")
    assert net_total == 250 * D("0.0001") + D("0.0125") - D("0.01")


def test_without_sub_precision_revenue_the_accumulator_never_moves() -> None:
    carried = D(0)
    for _ in range(1000):
        charge, carried = charge_fill(D("-0.52"), D("0.0175"), carried, FEE_QUANTUM)
        assert charge.net == D("0.0175")
    assert carried == 0
