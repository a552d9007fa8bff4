"""Options shared by many commands, declared once as `Annotated` aliases. `--env` is accepted on the
root and after a command, where it wins over the root one.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.models import TyperPath

from kalshi_cli.cli._output import TableFormat
from kalshi_cli.vocabulary.names import names_in
from kalshi_cli.vocabulary.request_ranges import SHARD_MAX, SUBACCOUNT_MAX


class Environment(StrEnum):
    SIM = "sim"
    DEMO = "demo"
    PROD = "prod"


class MarketStatus(StrEnum):
    """The states `--status` filters markets on (and events, by their markets)."""

    OPEN = "open"
    CLOSED = "closed"
    SETTLED = "settled"
    UNOPENED = "unopened"


class Period(StrEnum):
    """A candle's length, as `--period` names it."""

    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"


PeriodOpt = Annotated[Period, typer.Option("--period", "-p", help="Candle length: 1m, 1h or 1d.")]


JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print JSON in the stable shape documented in docs/output.md."),
]
FormatOpt = Annotated[
    TableFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format: table (default on a terminal), plain (default in a pipe), "
        "csv or markdown.",
        case_sensitive=False,
    ),
]
EnvOpt = Annotated[
    Environment | None,
    typer.Option(
        "--env",
        help="Exchange environment: sim (local simulator, the default), demo or prod. "
        "[env: KALSHI_ENV]",
        case_sensitive=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Config file. [env: KALSHI_CONFIG; default: config.yaml in the user config dir]",
        dir_okay=False,
    ),
]
StateOpt = Annotated[
    Path | None, typer.Option("--state", help="State file of this environment. [env: KALSHI_STATE]")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
_LIMIT = typer.Option("--limit", "-n", min=1, help="At most this many rows.")
LimitOpt = Annotated[int, _LIMIT]
LimitOrAllOpt = Annotated[int | None, _LIMIT]  # left out: every one


def narrowing(value: str) -> str:
    """The parser of every option that narrows what a command touches or shows (`--ticker`,
    `--event`, `--series`, `--assign`): given blank (an unset `$EVENT` in a script), it is a usage
    error, never "every market", which would widen a loop, a backtest, the kill switch, a stream
    or a listing to the whole exchange (tests/cli/test_blank_selections_are_refused.py)."""
    if not value.strip():
        raise typer.BadParameter("is empty: name one (an empty value would mean every market)")
    return value.strip()


narrowing.__name__ = "str"  # Typer names the option's type after its parser


def _list_naming(what: str, instead: str) -> Any:
    """`narrowing` for a comma-separated list of `what` (`--tickers A,B`, `--index BRTI`): it must
    name at least one; `instead` says what to do."""

    def parse(value: str) -> str:
        if not names_in(value):
            raise typer.BadParameter(f"names no {what}: {instead}")
        return value

    parse.__name__ = "str"  # Typer names the option's type after its parser
    return parse


narrowing_list = _list_naming("ticker", "name one (an empty list would mean every market)")


def tickers_option(help_text: str) -> Any:
    """The option naming the markets a command narrows to, in all its spellings, refused blank
    (`narrowing_list`): one declaration, each command's own help."""
    return typer.Option("--tickers", "--ticker", "--markets", parser=narrowing_list, help=help_text)


def index_option(help_text: str) -> Any:
    """`--index ID,...`, the reference indices a stream or recording takes, refused blank (for
    `watch cfbenchmarks` blank meant every index): one declaration, each command's own help."""
    parser = _list_naming("index ID", "name one, or leave --index out")
    return typer.Option("--index", parser=parser, help=help_text)


def event_option(help_text: str) -> Any:
    """`--event TICKER`, refused blank (`narrowing`): one declaration, each command's own help."""
    return typer.Option("--event", parser=narrowing, help=help_text)


def series_option(help_text: str) -> Any:
    """`--series TICKER`, refused blank (`narrowing`): one declaration, each command's own help."""
    return typer.Option("--series", parser=narrowing, help=help_text)


def subaccount_option(help_text: str, flag: str = "--subaccount") -> Any:
    """`--subaccount N` (or another flag naming one): 0 is the primary account, 1-63 the numbered
    ones."""
    return typer.Option(flag, min=0, max=SUBACCOUNT_MAX, help=help_text)


def shard_option(flag: str, help_text: str) -> Any:
    """An option naming an exchange shard (`exchange_index`): 0 to `SHARD_MAX`, so a digit too
    many is a usage error here, not a request the exchange refuses (`order-group
    --exchange-index`)."""
    return typer.Option(flag, min=0, max=SHARD_MAX, help=help_text)


def market_option(help_text: str) -> Any:
    """`--ticker`/`--market` naming one market, refused blank (`narrowing`): one declaration,
    each command's own help."""
    return typer.Option("--ticker", "--market", parser=narrowing, help=help_text)


MarketOpt = Annotated[str | None, market_option("Only this market.")]
TickersOpt = Annotated[str | None, tickers_option("Comma-separated market tickers.")]
SubaccountOpt = Annotated[
    int | None,
    subaccount_option("Subaccount number (0 is the primary account, 1-63 numbered ones)."),
]
# a cancel, amend or decrease acts on the order's own subaccount (`OrderContext.subaccount_of`)
OrderSubaccountOpt = Annotated[
    int | None,
    subaccount_option(
        "Subaccount number (0 is the primary account, 1-63 numbered ones): the order's own is "
        "acted on (as the exchange names it, else as the state file placed it); naming another "
        "is refused, the order left as it is."
    ),
]


def parse_since(text: str, option: str = "--since") -> int:
    """`today` (midnight UTC), a date (YYYY-MM-DD, midnight UTC) or an ISO 8601 time (UTC unless
    it says otherwise) -> unix seconds; refused as the value of `option`."""
    import time

    from kalshi_cli.vocabulary.clock import parse_time

    if text.strip().lower() == "today":
        return int(time.time()) // 86_400 * 86_400
    try:
        return int(parse_time(text))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _time_checked(param: typer.CallbackParam, value: str | None) -> str | None:
    if value is not None:
        parse_since(value, param.opts[0])
    return value


def _start_checked(param: typer.CallbackParam, value: str | None) -> str | None:
    """`_time_checked`, and not in the future: nothing can have happened since then (a
    mistyped year listed nothing and exited 0)."""
    import time

    if value is not None and parse_since(value, param.opts[0]) > time.time():
        raise typer.BadParameter(f"{value} is in the future", param_hint=param.opts[0])
    return value


def time_option(flag: str, help_text: str, *, end: bool = False) -> Any:
    """A moment a command starts (`--since`, `--from`: never in the future) or stops at (`--to`,
    `end`): read by `parse_since` while the line is parsed, so a bad one is refused before
    anything is asked; one declaration, each command's own help."""
    return typer.Option(flag, help=help_text, callback=_time_checked if end else _start_checked)


def non_empty(text: str, hint: str | None = None) -> str:
    """An id or a ticker as given, stripped; a blank one is a usage error under `hint` (as a
    parser, Click names the argument)."""
    if not text.strip():
        raise typer.BadParameter("cannot be empty", param_hint=hint)
    return text.strip()


def non_empty_text(text: str) -> str:
    """`non_empty` as a parser: Click names the option or argument."""
    return non_empty(text)


non_empty_text.__name__ = "str"  # Typer names the option's type after its parser


def directory(text: str) -> Path:
    """The parser of an option naming a directory a command keeps its state in (`--data-dir`):
    given blank (an unset `$DIR` in a script) it is a usage error, never the current directory;
    naming a file is one too, as Click's own directory type says."""
    path = Path(non_empty(text))
    if path.is_file():
        raise typer.BadParameter(f"{text} is a file, not a directory")
    return path


directory.__name__ = "directory"  # Typer names the option's type after its parser


class _GivenPath(TyperPath):
    """A file or directory as Typer reads it, refused blank."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("cannot be empty", param, ctx)
        return super().convert(value, param, ctx)


def refuse_blank_paths(command: Any) -> Any:
    """Every file or directory `command` and its subcommands take refuse a blank value while the
    line is parsed: blank (a script's unset `$OUT`) would name the current directory, and a
    command then wrote its data set there, read it as one, or failed after it had started
    (tests/cli/test_blank_selections_are_refused.py walks the tree). One rule for every path
    parameter, present and future, applied as each command is built."""
    for param in command.params:
        if type(param.type) is TyperPath:
            given = _GivenPath.__new__(_GivenPath)
            given.__dict__.update(vars(param.type))
            param.type = given
    for sub in getattr(command, "commands", {}).values():
        refuse_blank_paths(sub)
    return command


def exchange_uuid(text: str, hint: str | None = None) -> str:
    """An id the exchange makes as a UUID (an RFQ's, a quote's, a transfer's), as given: one of
    another shape is a usage error here, where the exchange would answer 400 and nothing else
    (openapi.yaml: "malformed IDs return HTTP 400")."""
    import uuid

    given = non_empty(text, hint)
    try:
        uuid.UUID(given)
    except ValueError:
        said = f"{given!r} is not an id of the exchange's (a UUID)"
        raise typer.BadParameter(said, param_hint=hint) from None
    return given


def exchange_uuid_text(text: str) -> str:
    """`exchange_uuid` as a parser: Click names the option or argument."""
    return exchange_uuid(text)


exchange_uuid_text.__name__ = "str"


def identifier_argument(help_text: str) -> Any:
    """An argument naming one thing (a ticker, an order id, a key id), refused blank while the
    line is parsed (`non_empty`): `kalshi market ""` asked the exchange for `/markets/` and
    `order cancel ""` for an order of no id (tests/cli/test_blank_selections_are_refused.py)."""
    return typer.Argument(parser=non_empty_text, help=help_text)


TickerArg = Annotated[str, identifier_argument("Market ticker, e.g. KXBTCD-25DEC31-T100000.")]
OrderIdArg = Annotated[str, identifier_argument("Order id (from `kalshi order list`).")]


def _strategy_names(incomplete: str) -> list[str]:
    """Shell completion of --strategy: the registered names."""
    from kalshi_cli.strategies import strategy_names

    return [n for n in strategy_names() if n.startswith(incomplete)]


# The lineup a trade loop or a backtest runs, one set of options for both (`choose_lineup`)
StrategiesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--strategy",
        help="A built-in (spike, mean-reversion, arbitrage, market-maker, model, crypto), a "
        ".py file, package.module:attr or an installed entry point (docs/strategies.md). "
        "Repeat it to run several in one loop, each trading only what it owns. "
        "[default: the config's trade.strategies]",
        autocompletion=_strategy_names,
    ),
]
ParamsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--params",
        parser=non_empty_text,  # blank (an unset `$PARAMS`) would name the current directory
        help="A strategy's parameters (YAML) instead of the config's: FILE with one --strategy, "
        "NAME=FILE with several (repeat it).",
    ),
]
BudgetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--budget",
        metavar="NAME:KEY=VALUE",
        help="A strategy's own budget over the config's (max_contracts, max_exposure, "
        "daily_loss_limit), e.g. spike:max_exposure=50; repeat it.",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="The model strategy's source of fair values: python:package.module:function, "
        "command:'COMMAND' or file:PATH (docs/models.md).",
    ),
]


class FiniteFloat:
    """A float option's parser (built by `number_option`): a finite number inside [min, max], or a
    usage error (exit 2); Click's FLOAT takes `nan` and `inf`. Every float option is parsed by
    one (tests/cli/test_numeric_options.py)."""

    __name__ = "float"  # Typer names the option's type after its parser

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min = min
        self.max = max

    def __call__(self, value: Any) -> float:
        if isinstance(value, float):  # a default, already a number
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise typer.BadParameter(f"{value!r} is not a finite number")
        if (self.min is not None and number < self.min) or (
            self.max is not None and number > self.max
        ):
            raise typer.BadParameter(f"{value} is not in the range {self.describe()}")
        return number

    def describe(self) -> str:
        """The range in Click's words for an int option's (`x>=1`, `1<=x<=3600`)."""
        if self.min is None:
            return "x" if self.max is None else f"x<={self.max:g}"
        return f"x>={self.min:g}" if self.max is None else f"{self.min:g}<=x<={self.max:g}"


def number_option(
    flag: str, help_text: str, *, min: float | None = None, max: float | None = None
) -> Any:
    """A float option: a finite number in [min, max], its help ending with that range written
    from the same figures, as Click writes an int option's (`[x>=0.2]`)."""
    parser = FiniteFloat(min, max)
    return typer.Option(flag, parser=parser, help=f"{help_text} [{parser.describe()}]")


def deadline_option(help_text: str) -> Any:
    """`--deadline`: seconds a command may spend asking the exchange."""
    return number_option("--deadline", help_text, min=1, max=3600)


DurationOpt = Annotated[
    float | None, number_option("--duration", "Stop after this many seconds.", min=0)
]


class OnOff(StrEnum):
    ON = "on"
    OFF = "off"


def on_off(value: OnOff | None) -> bool | None:
    return None if value is None else value is OnOff.ON


NettingOpt = Annotated[
    OnOff | None,
    typer.Option(
        "--netting",
        case_sensitive=False,
        help="Collateral-return netting on the local venue's subaccount: with it on, an "
        "event's positions hold only their worst-case loss (docs/backtesting.md). "
        "[default: the config's trade.venue_netting, else off, as on a new Kalshi account]",
    ),
]
