"""What a YAML file a person writes may cost is bounded (docs/configuration.md "Limits"): an alias
repeated past the value limit is refused, not expanded; a number is plain decimal digits of a
bounded length, or refused with its key and line; a file over the size limit is refused before it
is parsed. The config file and a params file are read by the one loader alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.config import load_settings, read_params_file
from kalshi_cli.vocabulary.decode import YAML_MAX_BYTES
from kalshi_cli.vocabulary.errors import ConfigError


def laughs(levels: int, indent: str = "    ") -> str:
    """A billion laughs: each level a list of ten aliases of the one before, 10**levels leaves."""
    lines = [f"{indent}l0: &l0 [{', '.join(['1'] * 10)}]"]
    for n in range(1, levels):
        lines.append(f"{indent}l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(20)  # the old loader expanded 10**7 leaves for seconds, 10**10 for ever
@pytest.mark.parametrize("levels", [7, 10])
def test_an_alias_bomb_is_refused_not_expanded(tmp_path: Path, levels: int) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("strategies:\n  spike:\n" + laughs(levels))
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: `strategies\.spike\.l\d` holds more than"):
        load_settings(config_path=config, environ={})


def test_aliases_within_the_limit_are_read(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("a: &l [1, 2]\nb: [*l, *l]\n")
    assert read_params_file(params)["b"] == [[1, 2], [1, 2]]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("timeout: 0x10\n", r"c\.yaml:1: `timeout`: 0x10 is not a plain decimal number"),
        ("timeout: 010\n", r"c\.yaml:1: `timeout`: 010 is not a plain decimal number"),
        ("timeout: 1:30\n", r"c\.yaml:1: `timeout`: 1:30 is not a plain decimal number"),
        ("risk:\n  max_order_count: 1_000\n", r"c\.yaml:2: `risk\.max_order_count`: 1_000 is"),
        ("risk:\n  min_edge: 1.5e-2\n", r"c\.yaml:2: `risk\.min_edge`: 1\.5e-2 is not a plain"),
        (f"timeout: {'9' * 5000}\n", r"c\.yaml:1: `timeout`: a number of 5,000 characters"),
        (f"risk:\n  min_edge: 0.{'1' * 60}\n", r"c\.yaml:2: `risk\.min_edge`: a number of 62"),
    ],
)
def test_a_number_that_is_not_plain_decimal_or_too_long_is_refused_with_its_key(
    tmp_path: Path, text: str, pattern: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_settings(config_path=config, environ={})
    assert "\n" not in info.value.one_line()


def test_plain_numbers_are_read_as_written(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("timeout: 16\nread_lag: 0.5\nrisk:\n  min_edge: -0.0\n  x: '0x10'\n")
    assert load_settings(config_path=config, environ={}).timeout == 16


@pytest.mark.timeout(20)
def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    # malformed past the limit: a parse would name line 2, the size refusal names none
    config.write_text("timeout: 5\n" + "#" * YAML_MAX_BYTES + "\n[")
    with pytest.raises(ConfigError, match=r"c\.yaml is larger than 1,000,000 bytes"):
        load_settings(config_path=config, environ={})
    params = tmp_path / "p.yaml"
    params.write_text("take_profit: 0.03\n" + "#" * YAML_MAX_BYTES)
    with pytest.raises(ConfigError, match=r"p\.yaml is larger than"):
        read_params_file(params)
