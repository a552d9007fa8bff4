"""`kalshi config show` and `kalshi config init`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from kalshi_cli.config import example_config

from .fakes import run


def test_show_reports_each_source(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timeout: 5\ndemo:\n  tier: premier\n")
    result = run(
        ["--env", "demo", "config", "show", "--json"],
        home=tmp_path,
        environ={"KALSHI_API_BASE": "https://example.test/trade-api/v2"},
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["env"] == "demo"
    assert document["config_file"] == {"path": str(config), "exists": True, "source": "default"}
    assert document["home"] == str(tmp_path)
    settings = document["settings"]
    assert settings["env"] == {"value": "demo", "source": "flag", "origin": "--env"}
    assert settings["api_base"]["source"] == "env"
    assert settings["api_base"]["origin"] == "KALSHI_API_BASE"
    assert settings["timeout"] == {"value": "5.0", "source": "file", "origin": f"{config}:1"}
    assert settings["tier"]["origin"] == f"{config}:3"
    assert settings["ws_url"] == {
        "value": "wss://demo-api.kalshi.co/trade-api/ws/v2",
        "source": "default",
        "origin": "default",
    }
    assert "data_dir" not in settings  # sim-only keys are not shown for demo


def test_command_env_flag_wins_over_root_flag(tmp_path: Path) -> None:
    result = run(["--env", "demo", "config", "show", "--env", "prod", "--json"], home=tmp_path)
    assert json.loads(result.stdout)["env"] == "prod"


def test_show_masks_secrets(tmp_path: Path) -> None:
    environ = {
        "KALSHI_API_KEY_ID": "0123abcd-0000-1111-2222-333344445555",
        "KALSHI_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n",
        "KALSHI_PRIVATE_KEY_PASSPHRASE": "hunter2",
    }
    for args in (["config", "show"], ["config", "show", "--json"], ["config", "show", "-f", "csv"]):
        result = run(args, home=tmp_path, environ=environ)
        assert result.exit_code == 0
        assert "MIIEvQIBADAN" not in result.stdout
        assert "hunter2" not in result.stdout
        assert "0000-1111" not in result.stdout
        assert "0123********" in result.stdout


def test_show_plain_lines(tmp_path: Path) -> None:
    result = run(["config", "show"], home=tmp_path)
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert lines["env"][1:] == ["sim", "default"]
    assert lines["api_base"][1:] == ["(embedded", "simulator)", "default"]
    assert lines["config"][2:] == ["(not", "found)", "default"]


def test_init_writes_the_example_privately_and_never_overwrites_unasked(tmp_path: Path) -> None:
    result = run(["config", "init"], home=tmp_path)
    path = tmp_path / "config.yaml"
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote {path}\n"
    assert path.read_text() == example_config()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # a second run leaves the file and succeeds, so `config init && config show` runs as written
    path.write_text("env: demo\n")
    again = run(["config", "init"], home=tmp_path)
    assert again.exit_code == 0
    assert again.stderr == f"{path} already exists; left as it is (--force overwrites it)\n"
    assert path.read_text() == "env: demo\n"

    forced = run(["config", "init", "--force"], home=tmp_path)
    assert forced.exit_code == 0
    assert path.read_text() == example_config()


def test_the_documented_lineup_added_to_the_starter_file_is_read(tmp_path: Path) -> None:
    """docs/strategies.md's `trade.strategies` block, put in place of the starter's
    `strategies: null` line, runs as written: nothing the tool wrote is in its way."""
    import re

    from kalshi_cli.runner.config import load_trade_config

    assert run(["config", "init"], home=tmp_path).exit_code == 0
    path = tmp_path / "config.yaml"
    docs = (Path(__file__).parents[2] / "docs" / "strategies.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", docs, re.S) if "- name:" in b)
    lineup = block.removeprefix("trade:\n")
    text = re.sub(r"^  strategies: null.*\n", lineup, path.read_text(), count=1, flags=re.M)
    assert text != path.read_text()
    path.write_text(text)
    config = load_trade_config(path)
    assert config.settings.strategies == ["market-maker", "spike"]
    assert str(config.settings.budgets["spike"].daily_loss_limit) == "10"


def test_init_honours_config_flag_and_the_file_loads(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "kalshi.yaml"
    assert run(["--config", str(target), "config", "init"], home=tmp_path).exit_code == 0
    shown = run(["--config", str(target), "config", "show", "--json"], home=tmp_path)
    assert json.loads(shown.stdout)["config_file"]["exists"] is True
