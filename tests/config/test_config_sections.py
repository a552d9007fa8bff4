"""config.example.yaml documents every key of the other layers' sections with its default.

Each section of the example is fed to the code that reads it: the values it documents must be
exactly the defaults that code uses, and every key that code knows must be documented.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import yaml

from kalshi_cli.checks.thresholds import THRESHOLDS
from kalshi_cli.config import example_config
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.runner.books import entry_log
from kalshi_cli.runner.config import TradeConfig, TradeSection
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.strategies import get_strategy, strategy_names

EXAMPLE: dict[str, Any] = yaml.safe_load(example_config())


def test_risk_section_is_every_limit_at_its_default() -> None:
    section = EXAMPLE["risk"]
    assert set(section) == set(RiskLimits.__struct_fields__)
    assert RiskLimits.from_config(section) == RiskLimits()


def test_every_strategy_is_documented_with_its_defaults() -> None:
    """Commented out, so that a `trade.strategies` entry can configure any of them."""
    assert "strategies" not in EXAMPLE
    text = example_config()
    block = text[text.index("# strategies:") : text.index("\n\n", text.index("# strategies:"))]
    section = yaml.safe_load("\n".join(line[2:] for line in block.splitlines()))["strategies"]
    assert set(section) == set(strategy_names())
    for name in strategy_names():
        strategy = get_strategy(name)
        defaults = strategy.params(None)
        assert set(section[name]) == set(type(defaults).__struct_fields__), name
        assert strategy.params(section[name]) == defaults, name


def test_trade_section_lists_every_key_and_the_loop_defaults() -> None:
    section = EXAMPLE["trade"]
    assert set(section) == set(TradeSection.__struct_fields__)
    loop = {f.name: f.default for f in fields(LoopSettings)}
    assert section["status_interval_s"] == loop["status_interval_s"]
    assert section["tick_interval_s"] == loop["tick_interval_s"]
    assert section["deadman_interval_s"] == loop["deadman_interval_s"]
    assert section["log_max_bytes"] == entry_log.MAX_BYTES
    assert section["log_backups"] == entry_log.BACKUPS
    assert section["log_coalesce_s"] == entry_log.COALESCE_S
    assert all(section[k] is None for k in ("markets", "series", "event", "log_file", "pause_file"))
    # the loop's defaults are the decoded section's: the example as written decodes to them
    assert TradeConfig(trade=section).settings == TradeSection()
    assert section["max_revisit_s"] == loop["max_revisit_s"] == TradeSection().max_revisit_s


def test_checks_section_is_every_threshold_at_its_default() -> None:
    section = EXAMPLE["checks"]
    documented = {(check, key) for check, keys in section.items() for key in keys}
    assert documented == {(t.check, t.key) for t in THRESHOLDS}
    for t in THRESHOLDS:
        value = section[t.check][t.key]
        assert (None if value is None else str(value)) == (
            None if t.default is None else str(t.default)
        ), f"{t.check}.{t.key}"


def test_the_commented_alerts_example_is_a_valid_alerts_section() -> None:
    from kalshi_cli.alerts.router import AlertRouter

    text = example_config()
    block = text[text.index("# alerts:") :]
    uncommented = "\n".join(line[2:] for line in block.splitlines() if line.startswith("# "))
    section = yaml.safe_load(uncommented)["alerts"]
    router = AlertRouter.from_config(section, environ={"KALSHI_SLACK_URL": "https://h.example/x"})
    assert any("slack" in line for line in router.describe())


def test_retention_section_is_every_key_at_its_default() -> None:
    from kalshi_cli.store import RetentionPolicy

    section = EXAMPLE["retention"]
    assert set(section) == set(RetentionPolicy.__struct_fields__)
    assert RetentionPolicy.from_config(section) == RetentionPolicy()
