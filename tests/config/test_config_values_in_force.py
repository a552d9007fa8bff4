"""Only the values a run uses are judged: another environment's section, and a file value a
flag or a variable overrides, cannot stop a command (the kill switch included) with a mistake
it would never read; their names are still checked, so a typo is refused wherever it is. A
file's text values are read without the spaces around them, and a blank one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.config import Source, load_settings
from kalshi_cli.vocabulary.errors import ConfigError


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_value_in_another_environments_section_does_not_stop_this_one(
    tmp_path: Path,
) -> None:
    config = _file(tmp_path, "env: demo\nprod:\n  tier: nope\n")
    settings = load_settings(config_path=config, environ={})
    assert (settings.env, settings.tier) == ("demo", "basic")
    with pytest.raises(ConfigError, match=r"config.yaml:3: .*tier"):
        load_settings(config_path=config, environ={"KALSHI_ENV": "prod"})


def test_a_file_value_a_flag_or_variable_overrides_is_not_judged(tmp_path: Path) -> None:
    config = _file(tmp_path, "env: bogus\ntimeout: 0\n")
    settings = load_settings(
        flags={"env": "demo"}, config_path=config, environ={"KALSHI_TIMEOUT": "5"}
    )
    assert (settings.env, settings.timeout) == ("demo", 5.0)
    assert settings.origins["timeout"].source is Source.ENV
    with pytest.raises(ConfigError, match=r"config.yaml:1: .*env"):
        load_settings(config_path=config, environ={"KALSHI_TIMEOUT": "5"})


def test_an_unknown_name_in_another_environments_section_is_still_refused(
    tmp_path: Path,
) -> None:
    config = _file(tmp_path, "env: demo\nprod:\n  tierr: basic\n")
    with pytest.raises(ConfigError, match=r"config.yaml:3: .*tierr") as refused:
        load_settings(config_path=config, environ={})
    assert refused.value.hint is not None and "tier" in refused.value.hint


def test_a_text_value_is_read_without_the_spaces_around_it(tmp_path: Path) -> None:
    key_id = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"
    config = _file(tmp_path, f'env: demo\ndemo:\n  api_key_id: " {key_id} "\n')
    assert load_settings(config_path=config, environ={}).api_key_id == key_id


def test_a_blank_text_value_is_refused_at_its_line(tmp_path: Path) -> None:
    config = _file(tmp_path, 'env: demo\ndemo:\n  state: "  "\n')
    with pytest.raises(ConfigError, match=r"config.yaml:3: .*state"):
        load_settings(config_path=config, environ={})


def test_a_private_key_in_any_section_is_refused_even_one_not_read(tmp_path: Path) -> None:
    config = _file(tmp_path, "env: demo\nprod:\n  private_key: secret-pem-text\n")
    with pytest.raises(ConfigError, match="private_key is not accepted") as refused:
        load_settings(config_path=config, environ={})
    assert "secret-pem-text" not in refused.value.message


def test_a_number_where_text_belongs_is_refused_with_the_way_to_write_it(tmp_path: Path) -> None:
    """YAML reads an unquoted 12345678 as a number: a passphrase written so is refused at its
    line, the refusal says to quote it and never shows it."""
    config = _file(tmp_path, "env: demo\ndemo:\n  private_key_passphrase: 12345678\n")
    with pytest.raises(ConfigError, match=r"config.yaml:3: .*expected text") as refused:
        load_settings(config_path=config, environ={})
    assert "12345678" not in refused.value.message
    assert refused.value.hint == "put the value in quotes to write it as text"


def test_a_websocket_address_is_shown_not_applied_where_the_embedded_simulator_chooses_its_own(
    tmp_path: Path,
) -> None:
    """The embedded simulator serves on an address of its own choosing: `config show` says a
    KALSHI_WS_URL does not apply there, and shows it in force beside a KALSHI_API_BASE."""
    ws = "ws://127.0.0.1:9/trade-api/ws/v2"
    environ = {"KALSHI_HOME": str(tmp_path), "KALSHI_WS_URL": ws}
    shown = load_settings(environ=environ).display("ws_url")
    assert shown is not None and "not applied" in shown and ws not in shown
    elsewhere = {**environ, "KALSHI_API_BASE": "http://127.0.0.1:9/trade-api/v2"}
    assert load_settings(environ=elsewhere).display("ws_url") == ws
