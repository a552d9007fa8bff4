"""The value rules of `kalshi_cli/config/secrets.py`: a credential is recognised by its shape, and
what is no secret (a plain URL, a path, a number, a word) is left readable."""

from __future__ import annotations

import pytest

from kalshi_cli.config.secrets import MASK, is_secret, looks_secret, mask_text, shown


@pytest.mark.parametrize(
    "value",
    [
        "Bearer abc.def",
        "Basic dXNlcjpwYXNz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
        "xoxb-1234-5678-abcdefghijkl",
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "https://discord.com/api/webhooks/123456789012345678/abcDEF123ghiJKL456",
        "https://api.telegram.org/bot123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0/sendMessage",
        "https://user:pw@example.test/",
        "https://example.test/hook?key=abc",
    ],
)
def test_a_credential_is_known_by_its_shape(value: str) -> None:
    assert looks_secret(value)
    assert shown("checks.anything", value) != value


@pytest.mark.parametrize(
    "value",
    [
        "https://demo-api.kalshi.co/trade-api/v2",
        "wss://api.elections.kalshi.com/trade-api/ws/v2",
        "~/.local/state/kalshi/state-prod.db",
        "0.01",
        "market-maker",
        "application/json",
    ],
)
def test_what_is_no_secret_stays_readable(value: str) -> None:
    assert not looks_secret(value)
    assert shown("checks.anything", value) == value


def test_header_values_are_secret_unless_the_header_is_known_plain() -> None:
    assert is_secret("alerts.channels.x.headers.Authorization", "anything")
    assert is_secret("alerts.channels.x.headers.X-Whatever", "plain")
    assert not is_secret("alerts.channels.x.headers.Content-Type", "application/json")
    assert not is_secret("alerts.channels.x.url_env", "KALSHI_SLACK_URL")


def test_a_masked_url_keeps_only_scheme_and_host() -> None:
    assert mask_text("https://u:p@hooks.example.test:8443/a/b?c=d") == (
        f"https://hooks.example.test:8443/{MASK}"
    )
    assert mask_text("not a url") == MASK
