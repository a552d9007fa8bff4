"""What the trade loop's components share that changes while the loop runs, built once by
runner/assembly.py and handed to the components that read it: `Tuning`, the settings and the
strategies with their params (a reload replaces a strategy), in one place so no component keeps a
stale copy; and `Alert`, how a component posts an operator alert. Everything else a component is
given is a component, each built once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.loop.lineup import Lineup, Member
    from kalshi_cli.runner.loop.settings import LoopSettings

# (kind, key, summary, details): post an operator alert, if the loop has a channel
Alert = Callable[[str, str, str, dict[str, str]], None]
# (kind, key, summary): resolve what an `Alert` of that kind and key posted, once it has ended
Resolve = Callable[[str, str, str], None]


def alert_through(alerts: TradeAlerts | None) -> Alert:
    """Post an operator alert through `alerts`, if the loop has a channel (else nowhere)."""
    return alerts.post if alerts is not None else lambda kind, key, summary, details: None


def resolve_through(alerts: TradeAlerts | None) -> Resolve:
    """Resolve an operator alert through `alerts`, if the loop has a channel (else nowhere)."""
    return alerts.resolve if alerts is not None else lambda kind, key, summary: None


@dataclass
class Tuning:
    settings: LoopSettings
    lineup: Lineup

    def replace_member(self, member: Member) -> Member:
        """A strategy of the loop with new params (a reload) or a new implementation, read by
        every component from its next call; the member it replaced."""
        lineup = self.lineup
        self.lineup = lineup.replaced(member)
        return lineup.members[lineup.names.index(member.name)]
