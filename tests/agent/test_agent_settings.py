"""The config's `agent:` section: safe by default, checked strictly, and set with `kalshi config
set` only to what it may hold; the example in config.example.yaml is its defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.agent.settings import AgentConfig, agent_config, load_agent_config
from kalshi_cli.config.edit import defaults
from kalshi_cli.vocabulary.errors import ConfigError
from tests.cli.fakes import run


def test_every_write_is_off_by_default_and_prod_needs_its_own_switch(tmp_path: Path) -> None:
    config = load_agent_config(tmp_path / "absent.yaml")
    assert [config.writes.allowed(env) for env in ("sim", "demo", "prod")] == [False] * 3
    (tmp_path / "c.yaml").write_text("agent:\n  writes:\n    sim: true\n    demo: true\n")
    opened = load_agent_config(tmp_path / "c.yaml")
    assert [opened.writes.allowed(env) for env in ("sim", "demo", "prod")] == [True, True, False]


def test_the_example_section_is_the_defaults() -> None:
    assert agent_config(defaults()) == AgentConfig()


def test_a_misspelled_key_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("agent:\n  writes:\n    prd: true\n")
    with pytest.raises(ConfigError) as caught:
        load_agent_config(tmp_path / "c.yaml")
    assert "c.yaml:3" in caught.value.one_line()


def test_config_set_refuses_a_value_the_section_cannot_hold(tmp_path: Path) -> None:
    refused = run(["config", "set", "agent.budget.max_orders", "many"], home=tmp_path)
    assert refused.exit_code == 2, refused.output
    assert "not written" in refused.output and "agent.budget.max_orders" in refused.output
    assert (
        not (tmp_path / "config.yaml").exists()
        or "max_orders" not in (tmp_path / "config.yaml").read_text()
    )
    assert run(["config", "set", "agent.writes.sim", "true"], home=tmp_path).exit_code == 0
    assert load_agent_config(tmp_path / "config.yaml").writes.sim is True


@pytest.mark.parametrize("name", ["manual", "batch", "external", "stop-loss", "market-maker"])
def test_the_assistant_may_not_place_its_orders_under_another_owners_name(
    tmp_path: Path, name: str
) -> None:
    """The assistant changes only orders placed under `agent.strategy`: set to `manual`, it
    could amend and cancel the orders a person placed by hand (a built-in strategy's name: a
    loop's quotes)."""
    (tmp_path / "c.yaml").write_text(f"agent:\n  strategy: {name}\n")
    with pytest.raises(ConfigError) as caught:
        load_agent_config(tmp_path / "c.yaml")
    assert "c.yaml:2" in caught.value.one_line() and name in caught.value.one_line()


@pytest.mark.parametrize("name", ["assistant of the desk", "élan", "a" * 32])
def test_an_assistant_name_its_order_ids_cannot_carry_whole_is_refused(
    tmp_path: Path, name: str
) -> None:
    """Its orders' ids carry the name (31 characters of [A-Za-z0-9_.-]): an order of its
    that reconcile imports after a lost state file would be recorded under another spelling,
    and the assistant could no longer amend or cancel it."""
    (tmp_path / "c.yaml").write_text(f"agent:\n  strategy: {name}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_agent_config(tmp_path / "c.yaml")
    assert "c.yaml:2" in caught.value.one_line() and "at most 31 ASCII" in caught.value.one_line()
