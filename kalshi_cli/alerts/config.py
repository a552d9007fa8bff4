"""The `alerts:` section of the config file: named channels and routes from each tier to them.

A channel's `type` is the `kind` of one of the channel modules (see `channels/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kalshi_cli.alerts.channels import channel_types
from kalshi_cli.alerts.channels.base import (
    COMMON_KEYS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    MAX_ATTEMPTS_LIMIT,
    Channel,
    ChannelSettings,
)
from kalshi_cli.alerts.model import Severity
from kalshi_cli.errors import ConfigError

_TOP_KEYS = {"channels", "routes", "repeat_interval_s", "runbook_base_url"}


DEFAULT_REPEAT_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class RouterSettings:
    """What the `alerts:` section asks of the router, checked; `AlertRouter.from_config` builds
    the router from it (so this module, which the router imports, never imports the router)."""

    channels: dict[str, Channel]
    routes: dict[Severity, list[str]]
    repeat_interval_s: float
    runbook_base_url: str | None


def parse_alerts_section(
    section: Mapping[str, Any], *, environ: Mapping[str, str]
) -> RouterSettings:
    if not isinstance(section, Mapping):
        raise ConfigError("alerts: must be a mapping", hint="see docs/alerts.md")
    _no_unknown_keys("alerts", section, _TOP_KEYS)
    channels_cfg = section.get("channels") or {}
    if not isinstance(channels_cfg, Mapping):
        raise ConfigError("alerts.channels must be a mapping of name -> channel")
    channels = {
        str(name): _parse_channel(str(name), cfg, environ) for name, cfg in channels_cfg.items()
    }
    routes_cfg = section.get("routes") or {}
    if not isinstance(routes_cfg, Mapping):
        raise ConfigError("alerts.routes must map a tier (critical, warning, info) to channels")
    routes: dict[Severity, list[str]] = {}
    for tier, names in routes_cfg.items():
        try:
            sev = Severity(str(tier))
        except ValueError:
            raise ConfigError(
                f"alerts.routes has an unknown tier {tier!r}",
                hint="the tiers are critical, warning and info",
            ) from None
        listed = [names] if isinstance(names, str) else names
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise ConfigError(f"alerts.routes.{sev} must be a channel name or a list of names")
        routes[sev] = listed
    repeat = _positive(
        "alerts.repeat_interval_s", section.get("repeat_interval_s"), DEFAULT_REPEAT_INTERVAL_S
    )
    base = section.get("runbook_base_url")
    if base is not None and not isinstance(base, str):
        raise ConfigError("alerts.runbook_base_url must be a URL string")
    return RouterSettings(channels, routes, repeat_interval_s=repeat, runbook_base_url=base)


def _parse_channel(name: str, cfg: Any, environ: Mapping[str, str]) -> Channel:
    where = f"alerts.channels.{name}"
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{where} must be a mapping with a type")
    kind = cfg.get("type")
    types = channel_types()
    if kind not in types:
        raise ConfigError(
            f"{where}.type is {kind!r}",
            hint=f"use one of: {', '.join(types)}",
        )
    channel_type = types[kind]
    if cfg.get("headers") and not channel_type.takes_headers:
        takers = ", ".join(k for k, c in types.items() if c.takes_headers)
        raise ConfigError(f"{where}.headers is only for type {takers}")
    _no_unknown_keys(where, cfg, set(COMMON_KEYS | channel_type.config_keys))
    timeout = _positive(f"{where}.timeout_s", cfg.get("timeout_s"), DEFAULT_TIMEOUT_S)
    attempts = cfg.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise ConfigError(f"{where}.max_attempts must be a whole number")
    if not 1 <= attempts <= MAX_ATTEMPTS_LIMIT:
        raise ConfigError(f"{where}.max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}")
    deadline = cfg.get("deadline_s")
    deadline_s = None if deadline is None else _positive(f"{where}.deadline_s", deadline, 0.0)
    settings = ChannelSettings(timeout_s=timeout, max_attempts=attempts, deadline_s=deadline_s)
    return channel_type.from_config(name, cfg, settings, environ=environ)


def _positive(where: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where} must be a positive number of seconds, got {value!r}")
    return float(value)


def _no_unknown_keys(where: str, cfg: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(str(k) for k in cfg if k not in known)
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s): {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(known))}",
        )
