"""kalshi-cli: trade Kalshi event contracts from the terminal, cron and systemd."""

from __future__ import annotations

__version__ = "0.1.0"
