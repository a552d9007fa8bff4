"""The `alerts:` section of the config file: named channels and routes from each tier to them.

Frozen msgspec Structs decoded by the one config decoder (`vocabulary.decode`), so a refusal names
the file and line of its key. `channels.base.ChannelConfig` holds what every channel takes; each
channel module subclasses it tagged with its `kind` (the `type:` a config names), making one tagged
union. A channel's own rules are its Struct's `__post_init__`; what needs the environment (a
`url_env` not set) is checked when the router builds the channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec

from kalshi_cli.alerts.channels.base import Seconds
from kalshi_cli.alerts.model import Severity
from kalshi_cli.vocabulary.errors import ConfigError

if TYPE_CHECKING:
    from kalshi_cli.alerts.channels.base import Channel

DEFAULT_REPEAT_INTERVAL_S = 3600.0


class Routes(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Each tier's channels: one name or a list of names."""

    critical: str | list[str] | None = None
    warning: str | list[str] | None = None
    info: str | list[str] | None = None

    def by_severity(self) -> dict[Severity, list[str]]:
        routes: dict[Severity, list[str]] = {}
        for sev in Severity:
            names = getattr(self, str(sev))
            if names is not None:
                routes[sev] = [names] if isinstance(names, str) else list(names)
        return routes


@dataclass(frozen=True)
class RouterSettings:
    """What the `alerts:` section asks of the router, checked; `AlertRouter.from_config` builds
    the router from it (so this module, which the router imports, never imports the router)."""

    channels: dict[str, Channel]
    routes: dict[Severity, list[str]]
    repeat_interval_s: float
    runbook_base_url: str | None


@cache
def section_type() -> type[Any]:
    """The `alerts:` section as a Struct: its channels the tagged union of every channel
    module's config (`channels.channel_types()`), built once the modules are found."""
    from kalshi_cli.alerts.channels import channel_types

    configs = tuple(c.config_type for c in channel_types().values())
    channel = configs[0] if len(configs) == 1 else Any if not configs else _union(configs)
    return msgspec.defstruct(
        "AlertsSection",
        [
            ("channels", dict[str, channel], {}),  # type: ignore[valid-type]
            ("routes", Routes, Routes()),
            ("repeat_interval_s", Seconds, DEFAULT_REPEAT_INTERVAL_S),
            ("runbook_base_url", str | None, None),
        ],
        frozen=True,
        forbid_unknown_fields=True,
        kw_only=True,
    )


def _union(members: tuple[type[Any], ...]) -> Any:
    from typing import Union

    return Union[members]  # noqa: UP007 - built from a tuple at run time


def parse_alerts_section(
    section: Mapping[str, Any], *, environ: Mapping[str, str]
) -> RouterSettings:
    """The `alerts:` section decoded (refusals at file and line) and its channels built."""
    from kalshi_cli.alerts.channels import channel_types
    from kalshi_cli.vocabulary.decode import decode_config

    decoded = decode_config(section_type(), section, where="alerts")
    by_config = {c.config_type: c for c in channel_types().values()}
    raw_channels = section.get("channels")
    channels: dict[str, Channel] = {}
    for name, cfg in decoded.channels.items():
        try:
            channels[name] = by_config[type(cfg)].build(name, cfg, environ)
        except ValueError as exc:
            locate = getattr(raw_channels, "where", None)
            at = f"{locate(name)}: " if callable(locate) else ""
            raise ConfigError(f"{at}alerts.channels.{name}: {exc}") from None
    return RouterSettings(
        channels,
        decoded.routes.by_severity(),
        repeat_interval_s=decoded.repeat_interval_s,
        runbook_base_url=decoded.runbook_base_url,
    )
