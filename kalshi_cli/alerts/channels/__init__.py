"""Alert channels: one module per kind of receiver.

A channel module defines a `Channel` subclass with its `config_type` (tagged with the `type:` a
config names, which is the channel's `kind`) and its `build()`, and exports it as `CHANNEL`;
`channel_types()` finds every module here that does, so a new channel is one new module. Shared
sending and config: `base.py`.
"""

from __future__ import annotations

import importlib
import pkgutil

from kalshi_cli.alerts.channels.base import Channel

# the order `type:` choices are listed in messages; a kind not named here follows, by name
_LISTED_FIRST = ("slack", "discord", "telegram", "email", "generic", "deadman")


def channel_types() -> dict[str, type[Channel]]:
    """Every channel type by its `kind`, from the modules of this package that define CHANNEL."""
    found: dict[str, type[Channel]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        channel = getattr(module, "CHANNEL", None)
        if isinstance(channel, type) and issubclass(channel, Channel):
            found[channel.kind] = channel
    order = {kind: i for i, kind in enumerate(_LISTED_FIRST)}
    return dict(sorted(found.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
