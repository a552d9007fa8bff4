"""What one `kalshi trade` run is asked to do, from the flags and the config file.

Two sources, flags first: `TradeOptions` holds the command line; `TradeConfig` holds the config
file's nested sections the trade loop reads (`strategies.NAME.*`, `risk.*`, `trade.*`,
`alerts.*`). Those sections are read here, straight from the YAML file, because they are
mappings the flat settings schema of `kalshi_cli.config` does not describe.

    trade:
      markets: [TICKER, ...]   # or `series: S` or `event: E`; none of them: every open market
      log_file: PATH           # default <state dir>/trade.log
      pause_file: PATH         # default <state dir>/trade.pause
      status_interval_s: 60
      tick_interval_s: 1.0     # a full pass over every market at least this often
      log_max_bytes: 52428800  # the log rotates at this size (50 MiB) ...
      log_backups: 5           # ... keeping this many older files (trade.log.1 ...)
      log_coalesce_s: 60       # repeats of one denial or signal: one summary line per interval
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalshi_cli.errors import ConfigError, UsageError

TRADE_KEYS = frozenset(
    {
        "markets",
        "series",
        "event",
        "log_file",
        "pause_file",
        "status_interval_s",
        "tick_interval_s",
        "log_max_bytes",
        "log_backups",
        "log_coalesce_s",
    }
)


@dataclass(frozen=True)
class Selection:
    """Which markets to trade: explicit tickers, a series, an event, or every open market."""

    tickers: tuple[str, ...] = ()
    series: str | None = None
    event: str | None = None

    def describe(self) -> str:
        if self.tickers:
            return "markets " + ",".join(self.tickers)
        if self.series:
            return f"series {self.series}"
        if self.event:
            return f"event {self.event}"
        return "every open market"

    @property
    def given(self) -> bool:
        return bool(self.tickers or self.series or self.event)


@dataclass(frozen=True)
class TradeOptions:
    """The command line of `kalshi trade`."""

    strategy: str
    selection: Selection = Selection()
    dry_run: bool = False
    once: bool = False
    duration_s: float | None = None
    max_ticks: int | None = None
    live: bool = False
    log_file: Path | None = None

    def __post_init__(self) -> None:
        given = [
            n for n, v in (("--duration", self.duration_s), ("--max-ticks", self.max_ticks)) if v
        ]
        if self.once and given:
            raise UsageError(f"--once runs one pass; it cannot be combined with {given[0]}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be positive")
        if self.max_ticks is not None and self.max_ticks < 1:
            raise UsageError("--max-ticks must be at least 1")


@dataclass(frozen=True)
class TradeConfig:
    strategies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    risk: Mapping[str, Any] = field(default_factory=dict)
    trade: Mapping[str, Any] = field(default_factory=dict)
    alerts: Mapping[str, Any] = field(default_factory=dict)

    def strategy_params(self, name: str) -> Mapping[str, Any]:
        return self.strategies.get(name) or {}

    def selection(self) -> Selection:
        raw = self.trade.get("markets")
        if isinstance(raw, str):
            tickers = tuple(t.strip() for t in raw.split(",") if t.strip())
        elif isinstance(raw, list):
            tickers = tuple(str(t) for t in raw)
        elif raw is None:
            tickers = ()
        else:
            raise ConfigError("trade.markets: expected a list of tickers")
        series, event = self.trade.get("series"), self.trade.get("event")
        return Selection(tickers, None if series is None else str(series), _opt(event))

    def path(self, key: str, default: Path) -> Path:
        value = self.trade.get(key)
        return default if value is None else Path(str(value)).expanduser()

    def seconds(self, key: str, default: float) -> float:
        value = self.trade.get(key, default)
        try:
            seconds = float(value)  # float-ok: a duration in seconds
        except (TypeError, ValueError):
            raise ConfigError(f"trade.{key}: expected a number of seconds, got {value!r}") from None
        if seconds <= 0:
            raise ConfigError(f"trade.{key}: must be positive, got {value!r}")
        return seconds

    def whole(self, key: str, default: int) -> int:
        """A positive whole number (a size in bytes, a count of files)."""
        value = self.trade.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"trade.{key}: expected a whole number of at least 1, got {value!r}")
        return value


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def load_trade_config(path: Path | None) -> TradeConfig:
    """The loop's sections of the config file; a missing file means every default."""
    if path is None or not path.exists():
        return TradeConfig()
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    if not isinstance(document, dict):
        return TradeConfig()
    sections = {name: _section(document, name, path) for name in ("strategies", "risk", "trade")}
    unknown = sorted(set(sections["trade"]) - TRADE_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key trade.{unknown[0]}",
            hint=f"known: {', '.join(sorted(TRADE_KEYS))}",
        )
    strategies = {
        str(k): _mapping(v, f"strategies.{k}", path) for k, v in sections["strategies"].items()
    }
    return TradeConfig(
        strategies=strategies,
        risk=sections["risk"],
        trade=sections["trade"],
        alerts=_section(document, "alerts", path),
    )


def _section(document: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    return _mapping(document.get(name), name, path)


def _mapping(value: object, where: str, path: Path) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: `{where}` must be a mapping")
    return {str(k): v for k, v in value.items()}
