"""Every number a check compares against: its default, its config key, and its flag override.

The config's `checks:` holds one mapping per check (`checks.heartbeat.warn: 60`); `--warn X --crit
Y` override a check's two main thresholds and `--set KEY=VALUE` any other. A flag beats the file,
the file the default. `THRESHOLDS` is the schema (docs/checks.md); an unknown key is a configuration
error, since a misspelt threshold would be a check that never fires.

A pair is a ceiling (warn <= crit, e.g. a heartbeat's age) or a floor (warn >= crit, e.g. today's
P&L); one given the wrong way round is refused. A default of None means "derived" (the P&L floors
from `risk.daily_loss_limit`) or "not checked".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from kalshi_cli.vocabulary.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from kalshi_cli.config import Located


@dataclass(frozen=True)
class Threshold:
    check: str
    key: str
    default: Decimal | None
    doc: str


def _threshold(check: str, key: str, default: str | None, doc: str) -> Threshold:
    return Threshold(check, key, None if default is None else Decimal(default), doc)


THRESHOLDS: tuple[Threshold, ...] = (
    _threshold("heartbeat", "warn", "60", "seconds since the trade loop's last heartbeat: WARNING"),
    _threshold("heartbeat", "crit", "300", "seconds since the last heartbeat: CRITICAL"),
    _threshold(
        "heartbeat",
        "lag_warn",
        "5",
        "seconds from a book change to the trade loop's decision on it (p99 of the last "
        "heartbeat's window): WARNING, the loop is alive but behind",
    ),
    _threshold(
        "heartbeat",
        "revisit_warn",
        "30",
        "seconds a market went unvisited by the trade loop: WARNING, the loop is alive but behind",
    ),
    _threshold(
        "heartbeat",
        "orders_read_warn",
        "30",
        "seconds a market of the trade loop has waited for its resting orders' read (at the "
        "start, after a reconnect), trading nothing: WARNING",
    ),
    _threshold("feed", "warn", "30", "seconds since the last market-data message: WARNING"),
    _threshold("feed", "crit", "120", "seconds since the last market-data message: CRITICAL"),
    _threshold(
        "positions", "warn", "0.8", "share of a market's position limit: WARNING at or above"
    ),
    _threshold("positions", "crit", "1", "share of a market's position limit: CRITICAL above"),
    _threshold("exposure", "warn", "0.8", "share of the total exposure cap: WARNING at or above"),
    _threshold("exposure", "crit", "1", "share of the total exposure cap: CRITICAL above"),
    _threshold(
        "pnl",
        "warn",
        None,
        "today's realized P&L floor in dollars, WARNING at or below "
        "(default: -0.5 x risk.daily_loss_limit)",
    ),
    _threshold(
        "pnl",
        "crit",
        None,
        "today's realized P&L floor in dollars, CRITICAL at or below "
        "(default: -risk.daily_loss_limit)",
    ),
    _threshold(
        "pnl", "total_warn", None, "total realized P&L floor in dollars: WARNING (default: off)"
    ),
    _threshold(
        "pnl", "total_crit", None, "total realized P&L floor in dollars: CRITICAL (default: off)"
    ),
    _threshold(
        "pnl",
        "edge_warn",
        "0.5",
        "today's realized P&L as a share of the edge expected at the fills: WARNING below",
    ),
    _threshold(
        "pnl",
        "edge_min_expected",
        "1",
        "dollars of expected edge today before the edge share is judged at all",
    ),
    _threshold(
        "orders", "warn", "0.25", "share of orders rejected in the window: WARNING at or above"
    ),
    _threshold(
        "orders", "crit", "0.5", "share of orders rejected in the window: CRITICAL at or above"
    ),
    _threshold(
        "orders", "window_s", "3600", "seconds of order history the rejection rate looks at"
    ),
    _threshold(
        "orders", "min_orders", "4", "orders in the window before the rate is judged at all"
    ),
    _threshold("orders", "resting_max_age_s", "3600", "a resting order older than this: WARNING"),
    _threshold(
        "orders",
        "unknown_crit",
        "1",
        "orders in UNKNOWN state, left pending or with an amend left unanswered: CRITICAL at "
        "or above",
    ),
    _threshold("api", "warn", "1000", "milliseconds for GET /exchange/status: WARNING at or above"),
    _threshold(
        "api", "crit", "3000", "milliseconds for GET /exchange/status: CRITICAL at or above"
    ),
    _threshold("api", "skew_warn", "1", "seconds of clock skew against the exchange: WARNING"),
    _threshold(
        "api", "skew_crit", "5", "seconds of clock skew: CRITICAL (signed requests get refused)"
    ),
    _threshold(
        "exchange", "warn", "3600", "seconds before the next maintenance window: WARNING within"
    ),
    _threshold(
        "exchange", "crit", "300", "seconds before the next maintenance window: CRITICAL within"
    ),
    _threshold(
        "balance",
        "warn",
        None,
        "dollars a shard the config trades on holds: WARNING below (default: "
        "risk.min_shard_balance, else one order's cost: risk.max_order_count contracts at $1, "
        "or risk.max_order_cost when less)",
    ),
    _threshold(
        "balance", "crit", "0", "dollars a shard the config trades on holds: CRITICAL at or below"
    ),
)

# (check, low key, high key, "ceiling" | "floor")
_PAIRS = (
    ("heartbeat", "warn", "crit", "ceiling"),
    ("feed", "warn", "crit", "ceiling"),
    ("positions", "warn", "crit", "ceiling"),
    ("exposure", "warn", "crit", "ceiling"),
    ("orders", "warn", "crit", "ceiling"),
    ("api", "warn", "crit", "ceiling"),
    ("api", "skew_warn", "skew_crit", "ceiling"),
    ("pnl", "warn", "crit", "floor"),
    ("exchange", "warn", "crit", "floor"),
    ("balance", "warn", "crit", "floor"),
    ("pnl", "total_warn", "total_crit", "floor"),
)
_SIGNED = {("pnl", "warn"), ("pnl", "crit"), ("pnl", "total_warn"), ("pnl", "total_crit")}

# Every threshold is seconds, contracts, dollars or a count: a trillion of any is a typo (`1e999`
# was taken and printed as a thousand digits), so larger magnitudes are refused, by the file's
# decoder and the flags' parser alike (`bounds`).
_MAGNITUDE = "1000000000000"


def bounds(check: str, key: str) -> Any:
    """The `Range` a threshold must fall in: at least 0 (the P&L floors may be negative) and at
    most a trillion in magnitude."""
    from kalshi_cli.vocabulary.decode import Range

    low = "-" + _MAGNITUDE if (check, key) in _SIGNED else 0
    return Range(ge=low, le=_MAGNITUDE)


def known_keys(check: str) -> list[str]:
    return [t.key for t in THRESHOLDS if t.check == check]


@dataclass(frozen=True)
class Thresholds:
    """Resolved thresholds of every check; `get("heartbeat", "warn")`."""

    values: Mapping[tuple[str, str], Decimal | None]

    def get(self, check: str, key: str) -> Decimal | None:
        return self.values[(check, key)]

    def need(self, check: str, key: str) -> Decimal:
        value = self.values[(check, key)]
        if value is None:
            raise ConfigError(f"checks.{check}.{key} has no value")
        return value


def resolve(
    section: Mapping[str, Any] | None,
    *,
    check: str | None = None,
    warn: str | None = None,
    crit: str | None = None,
    overrides: Sequence[str] = (),
) -> Thresholds:
    """Defaults, then the `checks:` section (decoded by `file_thresholds`), then `--warn/--crit`
    (for `check`) and `--set`.

    A bad value in the file is a ConfigError, a bad flag a UsageError; the check command reports
    both as UNKNOWN.
    """
    values: dict[tuple[str, str], Decimal | None] = {
        (t.check, t.key): t.default for t in THRESHOLDS
    }
    values.update(file_thresholds(section))
    checks = {t.check for t in THRESHOLDS}
    if check is not None:
        for key, raw in (("warn", warn), ("crit", crit)):
            if raw is not None:
                _store(values, check, key, raw, prefix="--")
    elif warn is not None or crit is not None:
        raise UsageError("--warn and --crit need one check; use --set CHECK.KEY=VALUE with all")
    for item in overrides:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set warn=30")
        target, dot, key = name.strip().rpartition(".")
        if not dot:
            if check is None:
                raise UsageError(f"--set {item!r}: name the check, e.g. --set heartbeat.{key}=...")
            target = check
        if target not in checks:
            raise UsageError(f"--set {item!r}: {target!r} is not a check")
        _store(values, target, key, raw, prefix="--set ")
    for check_name in checks:
        problem = pair_problem(check_name, values)
        if problem:
            raise UsageError(f"{check_name}: {problem}")
    return Thresholds(values)


def check_section(document: Located) -> None:
    """The `checks:` section of a strictly read config (`config.read_sections`), decoded: see
    `file_thresholds`."""
    from kalshi_cli.config import section

    file_thresholds(section(document, "checks"))


def file_thresholds(section: Mapping[str, Any] | None) -> dict[tuple[str, str], Decimal]:
    """The thresholds the `checks:` section sets, decoded by the one config decoder
    (`vocabulary.decode`) into `section_type()`: an unknown check or threshold, a value that is
    not a finite number (or is negative, but for the P&L floors), and a pair the wrong way round
    once the defaults fill in, refused at their file and line."""
    if not section:
        return {}  # no section, no decoder: a cron check without one never loads msgspec
    import msgspec

    from kalshi_cli.vocabulary.decode import decode_config

    decoded = decode_config(section_type(), section, where="checks")
    found: dict[tuple[str, str], Decimal] = {}
    for name, entries in msgspec.structs.asdict(decoded).items():
        for key, value in msgspec.structs.asdict(entries).items() if entries else ():
            if value is not None:
                found[(name, key)] = value
    return found


@cache
def section_type() -> type[Any]:
    """The `checks:` section as a frozen msgspec Struct, built from `THRESHOLDS` (the one
    schema: the flags, docs/checks.md and this decode all read it) on first use: one Struct per
    check, each threshold `Decimal | None` (None: the default), at least 0 but for the signed
    P&L floors, its warn/crit pairs judged in `__post_init__` with the defaults filled in."""
    import msgspec

    per_check: dict[str, type[Any]] = {}
    for name in dict.fromkeys(t.check for t in THRESHOLDS):
        fields = [
            (t.key, Annotated[Decimal, bounds(name, t.key)] | None, None)
            for t in THRESHOLDS
            if t.check == name
        ]

        def post_init(self: Any, check: str = name) -> None:
            values = {(t.check, t.key): t.default for t in THRESHOLDS if t.check == check} | {
                (check, k): v for k, v in msgspec.structs.asdict(self).items() if v is not None
            }
            problem = pair_problem(check, values)
            if problem:
                raise ValueError(problem)

        per_check[name] = msgspec.defstruct(
            f"{name.title()}Thresholds",
            fields,
            namespace={"__post_init__": post_init},
            frozen=True,
            forbid_unknown_fields=True,
            kw_only=True,
        )
    return msgspec.defstruct(
        "ChecksSection",
        [(n, c | None, None) for n, c in per_check.items()],
        frozen=True,
        forbid_unknown_fields=True,
        kw_only=True,
    )


def _store(
    values: dict[tuple[str, str], Decimal | None],
    check: str,
    key: str,
    raw: str,
    *,
    prefix: str,
) -> None:
    """A flag's threshold (`--warn`, `--set KEY=VALUE`), checked; a UsageError if it is bad."""
    where = f"{prefix}{check}.{key}" if prefix != "--" else f"--{key}"
    if (check, key) not in values:
        raise UsageError(
            f"{where}: unknown threshold", hint=f"{check} knows: {', '.join(known_keys(check))}"
        )
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise UsageError(f"{where} must be a number, got {raw!r}") from None
    if not value.is_finite():
        raise UsageError(f"{where} must be a finite number, got {raw!r}")
    problem = bounds(check, key).problem(value)
    if problem:
        raise UsageError(f"{where} {problem}")
    values[(check, key)] = value


def pair_problem(check: str, values: Mapping[tuple[str, str], Decimal | None]) -> str | None:
    """What is wrong with `check`'s warn/crit pairs in `values`, or None."""
    for name, lo, hi, kind in _PAIRS:
        if name != check:
            continue
        warn, crit = values.get((check, lo)), values.get((check, hi))
        if warn is None or crit is None:
            continue
        if kind == "ceiling" and warn > crit:
            return f"{lo} {warn} is above {hi} {crit}; warn comes first"
        if kind == "floor" and warn < crit:
            return f"{lo} {warn} is below {hi} {crit}; a floor warns first"
    return None
