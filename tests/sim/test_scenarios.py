"""The builtin scenarios and the background participants, driven by a ManualClock."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.participants import SpikePath
from kalshi_cli.sim.core.scenarios import (
    ScenarioError,
    build_exchange,
    list_scenarios,
    load_scenario,
    scenario_path,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import TAKER_FEE_RATE, FeeModel, FeeType, trading_fee
from kalshi_cli.vocabulary.units import ONE, BookSide, TimeInForce
from tests.runner.fakes import place_on_desk

SPIKE = "KXNBAGAME-SIM-LALGSW-LAL"
BOS, NYK = "KXNBAGAME-SIM-BOSNYK-BOS", "KXNBAGAME-SIM-BOSNYK-NYK"
SUB = "KXBTCD-SIM-T105000"


def run(ex: Exchange, clock: ManualClock, seconds: float, step: float = 0.1) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        ex.tick()


def yes_ask(ex: Exchange, ticker: str) -> D:
    _, best_no = ex.engine.best_bids(ticker)
    assert best_no is not None
    return ONE - best_no


def test_builtin_scenarios_are_listed_and_build() -> None:
    assert {"default", "quiet", "empty", "zero_fee"} <= set(list_scenarios())
    assert scenario_path("quiet").is_file()
    with pytest.raises(ScenarioError):
        scenario_path("nope")
    assert build_exchange(None, clock=ManualClock()).reference.markets == {}
    assert build_exchange("empty", clock=ManualClock()).accounts.accounts == []
    zero = build_exchange("zero_fee", clock=ManualClock())
    assert zero.reference.fees.fee_model(SPIKE).rates(at=0.0) == (0, 0)
    default = build_exchange("default", clock=ManualClock())
    assert default.reference.fees.fee_model(SPIKE) == FeeModel(FeeType.QUADRATIC, D(1), None)
    assert default.reference.fees.fee_model(SPIKE).rates(at=0.0) == (D("0.07"), 0)


def test_default_has_sports_crypto_and_a_sub_penny_market() -> None:
    ex = build_exchange("default", clock=ManualClock())
    categories = {
        ex.reference.series[m.series_ticker].category for m in ex.reference.markets.values()
    }
    assert {"Sports", "Crypto"} <= categories
    assert ex.reference.markets[SUB].price_level_structure == "tapered_deci_cent"
    assert all(m.status == "open" for m in ex.reference.markets.values())


def test_spike_within_the_first_minute_and_an_order_at_the_quote_fills() -> None:
    clock = ManualClock()
    ex = build_exchange("default", clock=clock)
    trader = ex.accounts.create_account(
        key_id="t", public_key_pem="", cash_cents=1000_00
    ).account_id
    run(ex, clock, 1)
    base_bid, _ = ex.engine.best_bids(SPIKE)
    assert base_bid is not None and D("0.45") <= base_bid <= D("0.52")
    # rest an ask a little above the market: the spike lifts the quotes through it
    place_on_desk(ex, trader, SPIKE, BookSide.ASK, "0.60", 20)
    seconds_to_peak = None
    for tenth in range(600):
        run(ex, clock, 0.1)
        bid, _ = ex.engine.best_bids(SPIKE)
        assert bid is not None
        if seconds_to_peak is None and bid - base_bid >= D("0.15"):
            seconds_to_peak = tenth / 10
    assert seconds_to_peak is not None and seconds_to_peak < 15
    assert sum(f.count for f in ex.history.fills(trader)) == 20  # the resting ask was taken
    run(ex, clock, 30)
    bid, _ = ex.engine.best_bids(SPIKE)
    assert bid is not None and bid <= base_bid + D("0.02")  # reverted
    # an IOC at the quoted ask fills now (real size at the quote)
    ask = yes_ask(ex, SPIKE)
    r = place_on_desk(ex, trader, SPIKE, BookSide.BID, ask, 50, time_in_force=TimeInForce.IOC)
    assert sum(f.count for f in r.fills) == 50


def test_two_yes_asks_of_a_two_outcome_event_dip_below_a_dollar_periodically() -> None:
    clock = ManualClock()
    ex = build_exchange("default", clock=clock)
    sums = []
    for _ in range(100):
        run(ex, clock, 1)
        sums.append(yes_ask(ex, BOS) + yes_ask(ex, NYK))
    assert min(sums) < ONE
    assert max(sums) > ONE
    assert sum(1 for s in sums if s < ONE) >= 10  # "for a while", not a blip
    # and by enough to pay both taker fees (each about 0.0174 at these prices, rounded up to
    # $0.0001): a real arbitrage, not one the fees eat
    fees = trading_fee(D(1), yes_ask(ex, BOS), TAKER_FEE_RATE) * 2
    assert ONE - min(sums) > fees + D("0.01")


def test_sub_penny_market_is_quoted_off_the_cent() -> None:
    clock = ManualClock()
    ex = build_exchange("default", clock=clock)
    prices = set()
    for _ in range(30):
        run(ex, clock, 2)
        bid, _ = ex.engine.best_bids(SUB)
        assert bid is not None and bid < D("0.1")
        prices.add(bid)
    assert any(p % D("0.01") for p in prices)


def test_speed_runs_price_paths_faster() -> None:
    path = SpikePath(D("0.5"), D("0.68"), 45, 10, 2, 6, 15)
    assert path.at(0) == D("0.5") and path.at(13) == D("0.68") and path.at(40) == D("0.5")
    clock = ManualClock()
    ex = build_exchange("default", clock=clock, speed=5)
    run(ex, clock, 2.6)  # 13 s of scenario time
    bid, _ = ex.engine.best_bids(SPIKE)
    assert bid is not None and bid >= D("0.65")


def test_noise_traders_trade_and_quiet_never_moves() -> None:
    clock = ManualClock()
    ex = build_exchange("default", clock=clock)
    run(ex, clock, 120, step=0.5)
    noise = [a for a in ex.accounts.accounts if a.key_id.startswith("sim-noise")]
    assert len(noise) == 2 and all(ex.history.fills(a.account_id) for a in noise)
    quiet_clock = ManualClock()
    quiet = build_exchange("quiet", clock=quiet_clock)
    books = {t: quiet.engine.book(t) for t in quiet.reference.markets}
    assert books["KXHIGHNY-SIM-D1-T60"] == ([(D("0.452"), D(50))], [(D("0.531"), D(50))])
    run(quiet, quiet_clock, 120, step=1)
    assert {
        t: quiet.engine.book(t) for t in quiet.reference.markets
    } == books and quiet.history.trades() == []


def test_a_scenario_file_by_path_and_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "mine.yaml"
    good.write_text(
        """
base: quiet
series:
  - ticker: KXONE
    title: One
    events:
      - event_ticker: KXONE-1
        title: One
        markets:
          - ticker: KXONE-1-A
            path: {kind: flat, price: "0.30"}
            quote: {half_spread: "0.02", size: "10", levels: 1}
liquidity_provider: {cash_cents: 100000}
"""
    )
    clock = ManualClock()
    ex = build_exchange(good, clock=clock)
    run(ex, clock, 2)
    assert ex.engine.book("KXONE-1-A") == ([(D("0.28"), D(10))], [(D("0.68"), D(10))])
    assert ex.reference.fees.default == FeeModel(FeeType.QUADRATIC, D(1), None)  # from the base
    bad = tmp_path / "bad.yaml"
    bad.write_text("series:\n  - ticker: X\n")
    with pytest.raises(ScenarioError, match="title"):
        build_exchange(bad, clock=ManualClock())
    bad.write_text(
        "series:\n  - {ticker: X, title: X, events: [{event_ticker: E, title: E, markets: "
        "[{ticker: M, path: {kind: wobble}, quote: {half_spread: '0.01', size: '1'}}]}]}\n"
        "liquidity_provider: {}\n"
    )
    with pytest.raises(ScenarioError, match="wobble"):
        build_exchange(bad, clock=ManualClock())
    # the old rate keys are refused by name, and a fee type the model cannot price too
    bad.write_text('fees: {taker_rate: "0.07", maker_rate: "0"}\n')
    with pytest.raises(ScenarioError, match="taker_rate"):
        build_exchange(bad, clock=ManualClock())
    bad.write_text("series:\n  - {ticker: X, title: X, fee_type: flat}\n")
    with pytest.raises(ScenarioError, match="flat"):
        build_exchange(bad, clock=ManualClock())
    # scheduled fee changes: priceable ones, with their time
    bad.write_text(
        "series:\n  - {ticker: X, title: X, fee_changes: [{fee_type: flat, after_seconds: 1}]}\n"
    )
    with pytest.raises(ScenarioError, match="flat"):
        build_exchange(bad, clock=ManualClock())
    bad.write_text("series:\n  - {ticker: X, title: X, fee_changes: [{fee_type: quadratic}]}\n")
    with pytest.raises(ScenarioError, match="after_seconds"):
        build_exchange(bad, clock=ManualClock())


@pytest.mark.parametrize(
    "change", ["{fee_type_override: quadratic}", "{fee_type: quadratic, after_seconds: 1}"]
)
def test_an_event_fee_change_without_its_time_or_with_another_term_is_refused(
    tmp_path: Path, change: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "series:\n  - {ticker: X, title: X, events: [{event_ticker: E, title: E, "
        f"fee_changes: [{change}]}}]}}\n"
    )
    says = "event E fee_changes: each takes fee_type_override, fee_multiplier_override and"
    with pytest.raises(ScenarioError, match=f"^{says} after_seconds$"):
        build_exchange(bad, clock=ManualClock())


def test_series_fees_and_a_market_fee_waiver_from_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "fees.yaml"
    path.write_text(
        """
fees: {fee_type: quadratic_with_maker_fees, fee_multiplier: "0.5"}
series:
  - ticker: KXA
    title: A
    events:
      - event_ticker: KXA-1
        title: A
        markets:
          - {ticker: KXA-1-A}
  - ticker: KXB
    title: B
    fee_type: quadratic_with_combo_maker_fees
    fee_multiplier: "2"
    events:
      - event_ticker: KXB-1
        title: B
        markets:
          - {ticker: KXB-1-A, fee_waiver_seconds: 600}
"""
    )
    clock = ManualClock()
    ex = build_exchange(path, clock=clock)
    assert ex.reference.fees.fee_model("KXA-1-A").rates(at=clock.wall()) == (
        D("0.035"),
        D("0.00875"),
    )
    waived = ex.reference.fees.fee_model("KXB-1-A")
    assert waived.waiver_until == clock.wall() + 600
    assert waived.rates(at=clock.wall()) == (0, 0)
    assert waived.rates(at=clock.wall() + 600) == (D("0.14"), D("0.070"))


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("fees: {fee_type: quadratic_with_maker_fees}\n", "fee_multiplier"),
        ('fees: {fee_multiplier: "2"}\n', "fee_type"),
        (
            "series:\n  - {ticker: X, title: X, fee_type: quadratic_with_maker_fees}\n",
            "fee_multiplier",
        ),
        ('series:\n  - {ticker: X, title: X, fee_multiplier: "2"}\n', "fee_type"),
        (
            "series:\n  - {ticker: X, title: X, fee_changes: "
            "[{fee_type: quadratic_with_maker_fees, after_seconds: 60}]}\n",
            "fee_multiplier",
        ),
    ],
    ids=["fees-type", "fees-multiplier", "series-type", "series-multiplier", "fee-change-type"],
)
def test_a_scenario_giving_half_of_a_fee_model_is_refused(
    tmp_path: Path, text: str, missing: str
) -> None:
    """A fee type without its multiplier (or a multiplier without its type) names the half
    that is missing; it is never completed with the standard one."""
    path = tmp_path / "half.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=f"no {missing}"):
        build_exchange(path, clock=ManualClock())


@pytest.mark.parametrize(
    "text",
    [
        "fees: {fee_type: quadratic, fee_multiplier: null}\n",
        "series:\n  - {ticker: X, title: X, fee_type: quadratic, fee_multiplier: null}\n",
        "series:\n  - {ticker: X, title: X, fee_changes: "
        "[{fee_type: quadratic, fee_multiplier: null, after_seconds: 60}]}\n",
    ],
    ids=["fees", "series", "fee-change"],
)
def test_a_null_fee_multiplier_in_a_scenario_is_refused_as_missing(
    tmp_path: Path, text: str
) -> None:
    """A null multiplier is a multiplier not given (refused by name), never the text "None"."""
    path = tmp_path / "null.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="no fee_multiplier") as refused:
        build_exchange(path, clock=ManualClock())
    assert "None" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("env: sim\nrisk:\n  max_order_count: 5\n", "unknown key `env`"),  # a config file
        ("- a list\n", "a scenario is a mapping"),
        ("series: []\nmarkts: []\n", "unknown key `markts`"),  # a misspelt key beside good ones
    ],
)
def test_a_yaml_file_that_is_no_scenario_is_refused(tmp_path: Path, text: str, says: str) -> None:
    """Before: `sim serve --scenario FILE` served it, an exchange with no markets."""
    scenario = tmp_path / "not-a-scenario.yaml"
    scenario.write_text(text)
    with pytest.raises(ScenarioError, match=f"{scenario} is not a scenario: {says}"):
        build_exchange(scenario, clock=ManualClock())


@pytest.mark.timeout(20)  # expanded, 10**10 leaves would take for ever
def test_a_scenario_is_read_within_the_bounds_of_every_yaml_file(tmp_path: Path) -> None:
    from tests.config.test_config_input_is_bounded import laughs

    scenario = tmp_path / "bomb.yaml"
    scenario.write_text("description: laughs\nseries:\n  - ticker: X\n" + laughs(10, "    "))
    with pytest.raises(ScenarioError, match=r"bomb\.yaml:\d+: `series\.l\d` holds more than"):
        load_scenario(scenario)
    scenario.write_text("description: x\nbook_maker_cash_cents: 0x10\n")
    with pytest.raises(ScenarioError, match="`book_maker_cash_cents`: 0x10 is not a plain"):
        load_scenario(scenario)
