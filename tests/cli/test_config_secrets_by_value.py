"""`kalshi config show|get|set` mask a secret by what it is, not only by its key's last word: a
generic webhook's `Authorization` header, a cookie, an API key header, a bot token, a password,
a URL carrying credentials or a token (in its user part, its query or its path). Every
secret-bearing field of every alert channel type is written to a config file, and none of their
secret parts may appear in the text, `--json` or CSV output of `config show`, in `config get`,
or in what `config set` echoes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .fakes import run

CONFIG = """\
alerts:
  runbook_base_url: https://runbooks.example.test/book
  channels:
    slack: {type: slack, url: "https://hooks.slack.com/services/T0/B0/SLACKWEBHOOKSECRET"}
    discord:
      type: discord
      url: https://discord.com/api/webhooks/1234567/DISCORDWEBHOOKSECRET
    generic:
      type: generic
      url: "https://alertuser:GENERICURLPASSWORD@example.test/hook?token=GENERICQUERYTOKEN"
      headers:
        Authorization: Bearer GENERICAUTHORIZATION
        Proxy-Authorization: Basic GENERICPROXYAUTH
        X-Api-Key: GENERICAPIKEYHEADER
        Cookie: session=GENERICCOOKIEVALUE
        X-Custom-Signature: GENERICSIGNATUREVALUE
        Content-Type: application/json
    telegram:
      type: telegram
      token: "123456789:TELEGRAMBOTTOKENSECRET"
      chat_id: "42"
      api_url: https://api.telegram.org
    mail:
      type: email
      host: smtp.example.test
      username: alerts
      password: MAILPASSWORDSECRET
      from: alerts@example.test
      to: [ops@example.test]
    deadman: {type: deadman, url: "https://hc-ping.com/0f9e8d7c-DEADMANPINGSECRET"}
  routes: {critical: [slack, discord, generic, telegram, mail, deadman]}
"""

SECRETS = (
    "SLACKWEBHOOKSECRET",
    "DISCORDWEBHOOKSECRET",
    "GENERICURLPASSWORD",
    "GENERICQUERYTOKEN",
    "GENERICAUTHORIZATION",
    "GENERICPROXYAUTH",
    "GENERICAPIKEYHEADER",
    "GENERICCOOKIEVALUE",
    "GENERICSIGNATUREVALUE",
    "TELEGRAMBOTTOKENSECRET",
    "MAILPASSWORDSECRET",
    "DEADMANPINGSECRET",
)


def _home(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "config.yaml").chmod(0o600)
    return tmp_path


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.mark.parametrize(
    "args",
    [["config", "show"], ["config", "show", "--json"], ["config", "show", "-f", "csv"]],
)
def test_config_show_masks_every_secret_of_every_channel(tmp_path: Path, args: list[str]) -> None:
    result = run(args, home=_home(tmp_path), width=300)
    assert result.exit_code == 0, result.output
    assert "alerts.channels.generic.headers.Authorization" in result.stdout
    assert _leaks(result.stdout) == []
    # what is no secret stays readable: a person can tell which channel is which
    assert "application/json" in result.stdout
    assert "smtp.example.test" in result.stdout
    assert "https://hooks.slack.com/" in result.stdout


def test_config_show_json_names_each_masked_value(tmp_path: Path) -> None:
    result = run(["config", "show", "--json"], home=_home(tmp_path))
    sections = json.loads(result.stdout)["sections"]
    assert sections["alerts.channels.generic.headers.Authorization"]["value"] == "********"
    assert sections["alerts.channels.generic.headers.Content-Type"]["value"] == "application/json"
    assert sections["alerts.channels.generic.url"]["value"] == "https://example.test/********"
    assert sections["alerts.channels.telegram.token"]["value"] == "********"
    assert sections["alerts.channels.mail.password"]["value"] == "********"


@pytest.mark.parametrize("as_json", [False, True])
def test_config_get_masks_a_section_and_a_single_secret(tmp_path: Path, as_json: bool) -> None:
    home = _home(tmp_path)
    tail = ["--json"] if as_json else []
    for key in ("alerts", "alerts.channels.generic", "alerts.channels.generic.headers.Cookie"):
        result = run(["config", "get", key, *tail], home=home)
        assert result.exit_code == 0, result.output
        assert _leaks(result.stdout) == [], key
    single = run(["config", "get", "alerts.channels.generic.headers.X-Api-Key"], home=home)
    assert single.stdout.strip() == "********"


def test_a_url_with_credentials_is_masked_whatever_its_key(tmp_path: Path) -> None:
    environ = {"KALSHI_API_BASE": "https://trader:APIBASEPASSWORD@proxy.example.test/trade-api/v2"}
    for args in (["config", "show"], ["config", "show", "--json"], ["config", "get", "api_base"]):
        result = run(args, home=tmp_path, environ=environ, width=300)
        assert result.exit_code == 0, result.output
        assert "APIBASEPASSWORD" not in result.stdout
        assert "proxy.example.test" in result.stdout


def test_config_set_does_not_echo_a_secret(tmp_path: Path) -> None:
    home = _home(tmp_path)
    result = run(
        [
            "config",
            "set",
            "alerts.channels.generic.headers.Authorization",
            "Bearer NEWAUTHORIZATIONSECRET",
        ],
        home=home,
    )
    assert result.exit_code == 0, result.output
    assert "NEWAUTHORIZATIONSECRET" not in result.output
    assert "NEWAUTHORIZATIONSECRET" in (tmp_path / "config.yaml").read_text()
