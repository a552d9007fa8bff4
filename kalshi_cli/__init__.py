"""kalshi-cli: trade Kalshi event contracts from the terminal, cron and systemd."""

__version__ = "0.1.0"
