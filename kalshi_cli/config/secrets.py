"""What a secret looks like, so `config show`, `config get` and `config set` hide it by what it is,
not only by the last word of its key: a header value, a credential-shaped value, a URL carrying
a credential or a webhook's path. A masked URL keeps its scheme and host, so a person can tell
which service it is. See docs/configuration.md (the masking rules, at the top).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "********"
_SECRET_WORDS = ("url", "token", "password", "secret", "webhook")
# headers whose values are no secret; every other header's value is masked
_PLAIN_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "cache-control",
        "content-type",
        "content-language",
        "user-agent",
        "x-request-source",
    }
)
_CREDENTIAL = re.compile(
    r"""^(?:
        (?:bearer|basic|token|bot|digest|apikey|api-key)\s+\S+   # an authorization scheme
      | ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*     # a JWT
      | \d{5,}:[A-Za-z0-9_-]{20,}                                # a Telegram bot token
      | (?:xox[abposr]|xapp|ghp|gho|ghs|github_pat|sk|sk_live|rk_live|glpat)[-_]\S{8,}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_TOKEN_SEGMENT = re.compile(r"^[A-Za-z0-9_.:~-]{16,}$")
_LONG_SEGMENT = re.compile(r"^[A-Za-z0-9_]{24,}$")
# webhook services whose URL path is the credential itself
_WEBHOOK_HOSTS = frozenset(
    {
        "hooks.slack.com",
        "discord.com",
        "discordapp.com",
        "ptb.discord.com",
        "canary.discord.com",
        "api.telegram.org",
        "hc-ping.com",
        "outlook.office.com",
        "maker.ifttt.com",
    }
)


def names_secret(key: str) -> bool:
    """The key's last word names a secret."""
    last = key.rsplit(".", 1)[-1].lower()
    return not last.endswith("_env") and any(w in last for w in _SECRET_WORDS)


def is_secret(key: str, text: str) -> bool:
    """`text`, the value of `key` (dotted), is or holds a secret (see the module docstring)."""
    if names_secret(key):
        return True
    words = key.lower().split(".")
    if len(words) >= 2 and words[-2] == "headers" and words[-1] not in _PLAIN_HEADERS:
        return True
    return looks_secret(text)


def looks_secret(text: str) -> bool:
    """The value itself reads as a credential or a URL carrying one, whatever its key."""
    value = text.strip()
    if _CREDENTIAL.match(value):
        return True
    return "://" in value and _url_carries_secret(value)


def _url_carries_secret(url: str) -> bool:
    try:
        address = urlsplit(url)
    except ValueError:
        return True
    if address.username is not None or address.password is not None or address.query:
        return True
    if (address.hostname or "").lower() in _WEBHOOK_HOSTS and address.path.strip("/"):
        return True
    return any(_token_like(segment) for segment in address.path.split("/"))


def _token_like(segment: str) -> bool:
    return (
        bool(_LONG_SEGMENT.match(segment))
        or bool(
            _TOKEN_SEGMENT.match(segment)
            and any(c.isdigit() for c in segment)
            and any(c.isalpha() for c in segment)
        )
        or bool(_CREDENTIAL.match(segment))
    )


def mask_text(text: str) -> str:
    """A secret masked; a URL keeps its scheme and host (never its user part or port's
    neighbours), so a person can tell which service it is."""
    if "://" in text:
        try:
            address = urlsplit(text.strip())
            host = address.hostname
            port = address.port
        except ValueError:
            return MASK
        if address.scheme and host:
            where = f"[{host}]" if ":" in host else host
            if port is not None:
                where = f"{where}:{port}"
            return f"{address.scheme}://{where}/{MASK}"
    return MASK


def shown(key: str, text: str) -> str:
    """`text` as it may be printed under `key`: masked when it is a secret."""
    return mask_text(text) if is_secret(key, text) else text
