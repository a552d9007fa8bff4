"""A webhook URL is a secret (Slack's and Discord's carry the token in the path): every URL that
reaches a message goes through `mask_url()`, and every error text through `scrub()`."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def mask_url(url: str) -> str:
    """Keep scheme and host, hide the rest: `https://hooks.slack.com/***`."""
    try:
        address = urlsplit(url)
        host = address.hostname
        port = address.port
    except ValueError:
        return "***"
    if not address.scheme or not host:
        return "***"
    if ":" in host:
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    hidden = address.path not in ("", "/") or bool(address.query) or bool(address.fragment)
    return f"{address.scheme}://{host}{'/***' if hidden else ''}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def url_secrets(url: str) -> list[str]:
    try:
        address = urlsplit(url)
    except ValueError:
        return [url]
    pieces = [url, address.path, address.query, address.netloc if "@" in address.netloc else ""]
    # Each path segment separately too: an error may quote only the token.
    pieces.extend(seg for seg in address.path.split("/") if len(seg) >= 8)
    return [p for p in pieces if p]
