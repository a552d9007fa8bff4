"""Every `risk.*` limit at its bound: the first value accepted, the last one refused, and what
the refusal says (the key and the bound a person must fix). Mutation testing found these
unpinned (docs/mutation.md): a `>` turned `>=`, or a message emptied, went unnoticed."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.vocabulary.errors import ConfigError

# (key, the last value refused, the first value accepted, what the refusal says)
BOUNDS: list[tuple[str, object, object, str]] = [
    ("max_position_per_market", 0, "0.01", "max_position_per_market must be positive"),
    ("max_total_exposure", 0, "0.01", "max_total_exposure must be positive"),
    ("max_order_count", 0, "0.01", "max_order_count must be positive"),
    ("stop_loss_share", "-0.01", 0, "stop_loss_share must be in [0, 1)"),
    ("stop_loss_share", 1, "0.99", "stop_loss_share must be in [0, 1)"),
    ("daily_loss_limit", 0, "0.01", "daily_loss_limit must be positive"),
    ("max_consecutive_errors", 0, 1, "max_consecutive_errors must be at least 1"),
    ("backoff_base_s", 0, 0.001, "need 0 < backoff_base_s <= max"),
    ("backoff_base_s", 60.001, 60, "need 0 < backoff_base_s <= max"),
    ("max_orders_per_minute", 0, 1, "max_orders_per_minute must be at least 1"),
    ("stale_after_s", 0, 0.001, "stale_after_s must be positive"),
    ("min_edge", 1, "0.99", "min_edge must be below 1 dollar per contract"),
    ("api_outage_s", 0, 0.001, "api_outage_s must be positive"),
    ("maintenance_lead_s", -0.001, 0, "maintenance_lead_s must be at least 0"),
    (
        "maintenance_withdraw",
        "some",
        "none",
        "maintenance_withdraw must be one of quotes, all, none",
    ),
]


@pytest.mark.parametrize(("key", "refused", "accepted", "says"), BOUNDS)
def test_each_limit_refuses_past_its_bound_and_says_which(
    key: str, refused: object, accepted: object, says: str
) -> None:
    with pytest.raises(ConfigError) as error:
        RiskLimits.from_config({key: refused})
    assert error.value.message == f"risk: {says}"
    limits = RiskLimits.from_config({key: accepted})
    value = getattr(limits, key)
    assert value == (D(str(accepted)) if isinstance(value, D) else accepted)


def test_the_defaults_are_accepted_as_documented() -> None:
    assert RiskLimits() == RiskLimits.from_config({})
    limits = RiskLimits()
    assert (limits.max_position_per_market, limits.max_total_exposure) == (D(100), D(500))
    assert (limits.max_order_count, limits.min_edge) == (D(50), D("0.005"))
    assert (limits.stop_loss_share, limits.daily_loss_limit) == (D("0.5"), D(100))
    assert (limits.max_consecutive_errors, limits.max_orders_per_minute) == (5, 120)
    assert (limits.backoff_base_s, limits.backoff_max_s, limits.stale_after_s) == (1.0, 60.0, 10.0)


@pytest.mark.parametrize("written", ["1_000", "１０００", "1e3", "1E-2", "+1_0.5"])
def test_a_limit_written_as_no_plain_decimal_is_refused_as_the_flags_refuse_it(
    written: str,
) -> None:
    """`Decimal` reads digit groups (`1_000`), another script's digits (a full-width `１０００`)
    and a float's exponent (`1e3`); none is what a person means by an amount, and the `--count`
    and `--price` flags refuse them: a limit in the config is read by the same rule."""
    with pytest.raises(ConfigError, match=r"max_total_exposure.*plain decimal"):
        RiskLimits.from_config({"max_total_exposure": written})
    assert RiskLimits.from_config({"max_total_exposure": "1000"}).max_total_exposure == D(1000)


@pytest.mark.parametrize("written", ["9" * 26, 10**30, "-1000000000000", 1e13])
def test_a_limit_past_what_the_rules_can_compute_with_is_refused_naming_it(
    written: object,
) -> None:
    """A limit of 26 digits was taken, and the loop it armed then failed on its first order
    (Decimal arithmetic keeps 28 digits): such a number is refused where it is read."""
    with pytest.raises(ConfigError, match=r"risk\.max_order_count: expected a number below"):
        RiskLimits.from_config({"max_order_count": written})


def test_a_budget_key_spelt_wrong_is_refused_never_read_as_no_limit(tmp_path: Path) -> None:
    """`max_contract` for `max_contracts` would leave the strategy without its contracts limit:
    the config is refused, naming the key."""
    from kalshi_cli.services.pretrade.settings import load_budgets

    path = tmp_path / "config.yaml"
    path.write_text("trade:\n  budgets:\n    spike:\n      max_contract: 5\n")
    with pytest.raises(
        ConfigError, match=r"config\.yaml:4: unknown key `trade\.budgets\.spike\.max_contract`"
    ):
        load_budgets(path)
