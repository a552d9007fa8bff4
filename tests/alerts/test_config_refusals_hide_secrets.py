"""A refusal of an `alerts:` channel never quotes a secret, even one of the wrong kind: a
password, a bot token, a webhook URL or a header value written as a number (or a list) is
refused for its kind without its value, while other keys still show what was written."""

from __future__ import annotations

from typing import Any

import pytest

from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.vocabulary.errors import ConfigError

SECRET_NUMBER = 4815.162342


def channel(**keys: Any) -> dict[str, Any]:
    return {"channels": {"x": keys}}


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        (
            channel(
                type="email",
                host="smtp.example.com",
                username="u",
                password=SECRET_NUMBER,
                **{"from": "a@example.com"},
                to="b@example.com",
            ),
            "alerts.channels.x.password",
        ),
        (channel(type="telegram", token=SECRET_NUMBER, chat_id=1), "alerts.channels.x.token"),
        (channel(type="slack", url=SECRET_NUMBER), "alerts.channels.x.url"),
        (
            channel(type="generic", url="https://h.example/x", headers={"X-Key": SECRET_NUMBER}),
            "alerts.channels.x.headers",
        ),
        (channel(type="slack", url=[str(SECRET_NUMBER)]), "alerts.channels.x.url"),
    ],
    ids=["email-password", "telegram-token", "slack-url", "generic-header", "url-a-list"],
)
def test_a_secret_of_the_wrong_kind_is_refused_without_its_value(
    cfg: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        AlertRouter.from_config(cfg, environ={})
    line = refused.value.one_line()
    assert key in line and "not shown" in line, line
    assert str(SECRET_NUMBER) not in line, line


def test_a_key_that_is_no_secret_still_shows_what_was_written() -> None:
    with pytest.raises(ConfigError) as refused:
        AlertRouter.from_config(channel(type="email", host=12345), environ={})
    assert "alerts.channels.x.host: expected text, not 12345" in refused.value.one_line()
