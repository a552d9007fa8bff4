"""Telegram, through the Bot API's `sendMessage`.

POST {api_url}/bot<token>/sendMessage with `chat_id`, `text` and `disable_web_page_preview`.
The bot token sits in the URL path, so it is a secret twice over: the target prints only
`https://api.telegram.org/***` and every error is scrubbed of the token. The text is plain (no
`parse_mode`), so data in an alert cannot inject markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kalshi_cli.alerts.channels.base import (
    Channel,
    ChannelSettings,
    HttpChannel,
    clip,
    http_url_setting,
    plain_text,
    secret_setting,
)
from kalshi_cli.alerts.model import Delivery, Notification
from kalshi_cli.clock import Clock
from kalshi_cli.errors import ConfigError

TELEGRAM_API_URL = "https://api.telegram.org"
TELEGRAM_TEXT_MAX = 4096


class TelegramBot(HttpChannel):
    """A Telegram chat, reached by a bot: `token` (or `token_env`) and `chat_id`."""

    kind = "telegram"
    config_keys = frozenset({"token", "token_env", "chat_id", "api_url"})

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
    def from_config(
        cls,
        name: str,
        cfg: Mapping[str, Any],
        settings: ChannelSettings,
        *,
        environ: Mapping[str, str],
    ) -> Channel:
        where = f"alerts.channels.{name}"
        token = secret_setting(where, cfg, "token", environ, required=True)
        assert token is not None  # required=True
        chat_id = cfg.get("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, str | int) or chat_id == "":
            raise ConfigError(
                f"{where} needs a chat_id", hint="the numeric id or @channelusername of the chat"
            )
        api_url = http_url_setting(where, "api_url", str(cfg.get("api_url") or TELEGRAM_API_URL))
        return cls(name, token, str(chat_id), settings, api_url=api_url)

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), self._token, f"bot{self._token}"]

    def payload(self, n: Notification) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "text": clip(plain_text(n), TELEGRAM_TEXT_MAX),
            "disable_web_page_preview": True,
        }

    def send(self, n: Notification, clock: Clock) -> Delivery:
        body = json.dumps(self.payload(n)).encode()
        return self._post(self._url, body, "application/json", clock)


CHANNEL = TelegramBot
