"""Telegram, through the Bot API's `sendMessage`. The bot token sits in the URL path: the target
prints only `https://api.telegram.org/***` and every error is scrubbed of it. The text is plain
(no `parse_mode`), so an alert's data cannot inject markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from kalshi_cli.alerts.channels.base import (
    Channel,
    ChannelConfig,
    ChannelSettings,
    HttpChannel,
    check_http_url,
    clip,
    need_one,
    plain_text,
    secret,
)
from kalshi_cli.alerts.model import Alert, Delivery
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.decode import SECRET

TELEGRAM_API_URL = "https://api.telegram.org"
TELEGRAM_TEXT_MAX = 4096


class TelegramConfig(ChannelConfig, frozen=True, tag="telegram"):
    """`alerts.channels.NAME` of `type: telegram`."""

    token: Annotated[str, SECRET] | None = None
    token_env: str | None = None
    chat_id: str | int | None = None
    api_url: str = TELEGRAM_API_URL

    def __post_init__(self) -> None:
        need_one(self.token, self.token_env, "token")
        if self.chat_id is None or self.chat_id == "":
            raise ValueError("needs a chat_id (the numeric id or @channelusername of the chat)")
        check_http_url(self.api_url, "api_url")


class TelegramBot(HttpChannel):
    """A Telegram chat, reached by a bot: `token` (or `token_env`) and `chat_id`."""

    config_type = TelegramConfig

    def __init__(
        self,
        name: str,
        token: str,
        chat_id: str,
        settings: ChannelSettings | None = None,
        *,
        api_url: str = TELEGRAM_API_URL,
    ) -> None:
        super().__init__(name, f"{api_url.rstrip('/')}/bot{token}/sendMessage", settings)
        self._token = token
        self.chat_id = chat_id

    @classmethod
    def build(cls, name: str, cfg: Any, environ: Mapping[str, str]) -> Channel:
        token = secret(cfg.token, cfg.token_env, "token", environ)
        assert token is not None  # TelegramConfig needs one of token and token_env
        return cls(name, token, str(cfg.chat_id), cfg.settings, api_url=cfg.api_url)

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), self._token, f"bot{self._token}"]

    def payload(self, n: Alert) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "text": clip(plain_text(n), TELEGRAM_TEXT_MAX),
            "disable_web_page_preview": True,
        }

    def send(self, n: Alert, clock: Clock) -> Delivery:
        body = json.dumps(self.payload(n)).encode()
        return self._post(self._url, body, "application/json", clock)


CHANNEL = TelegramBot
