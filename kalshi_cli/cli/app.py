"""The root `kalshi` command: global options, lazily loaded commands, and the error policy.

`COMMANDS` maps every top-level command to its module (which holds its `NAME_app` or
`NAME_command`, `load_command`) and the summary `--help` prints, so `--help` imports no command
module and `kalshi balance` imports only its own. A test keeps each summary equal to the
command's help.

Every failure reaches a person as one line on stderr with a distinct exit code
(`vocabulary.exit_codes`). `KALSHI_DEBUG=1` adds the traceback, without local variables (they
can hold the private key); Typer's pretty tracebacks keep `show_locals` off too.

The root callback's hints are evaluated with the module (Typer would compile text hints twice).
"""

import errno
import importlib
import itertools
import os
import re
import sys
import traceback
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any, NamedTuple

import typer
from typer.core import TyperGroup

import kalshi_cli
from kalshi_cli.cli._context import AppContext, activate, refuse_a_missing_state_dir
from kalshi_cli.cli._options import ConfigOpt, EnvOpt, StateOpt, refuse_blank_paths
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.process import interruptible


class LazyCommand(NamedTuple):
    """A row of the command table."""

    name: str
    module: str  # under kalshi_cli.cli
    summary: str


COMMANDS = (
    LazyCommand("markets", "markets", "List markets, filtered and sorted."),
    LazyCommand("market", "markets", "Show one market: prices, tick structure, rules, times."),
    LazyCommand("orderbook", "markets", "Show the order book: bids, implied asks, spread, mid."),
    LazyCommand(
        "balance",
        "portfolio",
        "Show the cash balance on each exchange shard, its total and the portfolio value.",
    ),
    LazyCommand("positions", "portfolio", "List open positions, marked to market."),
    LazyCommand("fills", "portfolio", "List your fills, newest first."),
    LazyCommand("settlements", "portfolio", "List settled markets you held, with what each paid."),
    LazyCommand(
        "trade",
        "trade",
        "Run the trading loop: strategies on live market data, every order through the risk rules.",
    ),
    LazyCommand("health-check", "health", "Check everything needed to trade."),
    LazyCommand("check", "check", "Run a monitoring check once, for cron or Nagios."),
    LazyCommand(
        "metrics", "metrics_cmd", "Write Prometheus metrics for node_exporter's textfile collector."
    ),
    LazyCommand("config", "config_cmd", "Show or create the configuration."),
    LazyCommand("sim", "sim", "The local Kalshi-compatible exchange simulator."),
    LazyCommand("order", "orders", "Place, change, list and cancel orders."),
    LazyCommand("cancel-all", "trading", "Halt, cancel every resting order, prove none is left."),
    LazyCommand("halt", "trading", "Halt trading without cancelling anything."),
    LazyCommand("resume", "trading", "Lift HALTED or SAFE_MODE: trading is ACTIVE again."),
    LazyCommand("status", "trading", "Show the trading state and why."),
    LazyCommand("reconcile", "trading", "Bring orders, fills and settlements into the state file."),
    LazyCommand("state", "state_cmd", "Where the state file is, its migrations, what it keeps."),
    LazyCommand("pnl", "pnl_cmd", "Realized and unrealized P&L, cross-checked with the exchange."),
    LazyCommand(
        "dashboard", "dashboard", "A live dashboard of a running bot, full screen, over SSH too."
    ),
    LazyCommand("watch", "watch", "Stream a WebSocket channel as NDJSON, one message per line."),
    LazyCommand(
        "record",
        "data",
        "Record orderbook, trade, ticker and lifecycle frames raw, with receive times, to "
        "hourly compressed segments; runs until --duration, SIGTERM or Ctrl-C.",
    ),
    LazyCommand(
        "data", "data", "Local market data: list, describe, export, import and download data sets."
    ),
    LazyCommand(
        "order-group",
        "order_groups",
        "Exchange-side order groups: a contracts limit per 15 s, and a kill switch.",
    ),
    LazyCommand(
        "strategy",
        "strategy_cmd",
        "Write, list and check strategies (built in, installed, your own files).",
    ),
    LazyCommand(
        "backtest",
        "backtest",
        "Replay recorded data through a strategy, the risk rules and the order bookkeeping.",
    ),
    LazyCommand(
        "mcp",
        "mcp_cmd",
        "Serve the Model Context Protocol to an assistant: reads, research, writes.",
    ),
    LazyCommand("exchange", "exchange", "The exchange's status and its maintenance schedule."),
    LazyCommand("events", "browse", "List events, with their markets on request."),
    LazyCommand("event", "browse", "Show one event and its markets."),
    LazyCommand("series", "browse", "List series, with their fee type and multiplier."),
    LazyCommand("trades", "browse", "The trades tape of one market, newest first."),
    LazyCommand("candles", "browse", "Candlesticks of one market, as a table or a chart."),
    LazyCommand("search", "browse", "Find series and open events by words in their title."),
    # subaccounts and API keys
    LazyCommand(
        "subaccount", "subaccount_cmd", "List, create and fund subaccounts; set their netting."
    ),
    LazyCommand(
        "shard",
        "shard_cmd",
        "Exchange shards: your money and markets on each, moves between them, the allocation.",
    ),
    LazyCommand("key", "key_cmd", "List, create, generate and delete API keys."),
    # RFQs and quotes
    LazyCommand("rfq", "rfq", "Requests for quote: ask makers for a price on a size."),
    LazyCommand(
        "quote", "rfq", "Quotes on RFQs: answer one, accept one on your RFQ, confirm yours."
    ),
)


def command_group(name: str) -> typer.Typer:
    """The Typer app of the group `name` in the table, its help the table's summary: one text
    for `kalshi --help` and `kalshi NAME --help`."""
    summary = next(e.summary for e in COMMANDS if e.name == name)
    return typer.Typer(name=name, help=summary, no_args_is_help=True, rich_markup_mode=None)


def load_command(entry: LazyCommand) -> Any:
    """Import the command's module and build its Click command (Typer's documented bridge): the
    module's `NAME_app` for a group, else its function `NAME_command` (NAME with `_` for `-`),
    of the module's `COMMAND_CLASS` when it names one (`check`'s)."""
    import typer.main

    module = importlib.import_module(f"kalshi_cli.cli.{entry.module}")
    attr = entry.name.replace("-", "_")
    # No completion options: Typer would add them to a single command built as its own app.
    # Only the command asked for is built, though a module may hold several (`markets`,
    # `market`, `orderbook`): Typer reads every signature's type hints to build each one, about
    # 1.5 ms of a cold start apiece (docs/benchmarks.md, "Cold starts").
    holder = typer.Typer(rich_markup_mode=None, add_completion=False)
    if hasattr(module, f"{attr}_app"):
        holder.add_typer(getattr(module, f"{attr}_app"), name=entry.name)
    else:
        command = getattr(module, f"{attr}_command")
        holder.command(entry.name, cls=getattr(module, "COMMAND_CLASS", None))(command)
    built = typer.main.get_command(holder)
    if isinstance(built, TyperGroup):
        built = built.commands[entry.name]
    return refuse_blank_paths(built)


# each command as built, once per process: Typer reads every signature's type hints to build one,
# and a process that runs commands in turn (a test, a notebook) would pay that at every run
_BUILT: dict[str, Any] = {}


class LazyCommands(MutableMapping[str, Any]):
    """The root group's command table: every name is known up front, each command is built on
    first lookup. Click's own lookups, "did you mean" suggestions and help all go through it."""

    def __init__(self, entries: tuple[LazyCommand, ...]) -> None:
        self.entries = {e.name: e for e in entries}
        self.loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            if name not in _BUILT:
                _BUILT[name] = load_command(self.entries[name])
            self.loaded[name] = _BUILT[name]
        return self.loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self.loaded.pop(name, None)
        self.entries.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter([*self.entries, *(n for n in self.loaded if n not in self.entries)])

    def __len__(self) -> int:
        return len(set(self.entries) | set(self.loaded))


def debug_enabled() -> bool:
    return os.environ.get("KALSHI_DEBUG", "") not in ("", "0")


def report(message: str, exc: BaseException | None = None) -> None:
    if exc is not None and debug_enabled():
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"Error: {message}", err=True)


class KalshiGroup(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        refuse_blank_paths(self)  # the root's own (`--config`, `--state`): none built yet below
        self.commands = LazyCommands(COMMANDS)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # The summaries, not the commands: listing must not import every command module.
        rows = [(e.name, e.summary) for e in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Said here, where the command stopped: Typer's `main` turns a Ctrl-C into a silent
            # exit 130 before `_run` could see it (a command whose Ctrl-C is its normal end,
            # `watch`, `orderbook --watch`, `sim serve`, catches it itself).
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        with interruptible():
            code = self._run(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        if standalone_mode:
            # Output to a pipe is buffered: a reader that left (`| head -1`) is often found only
            # here, by the last flush, which Python would otherwise report at exit.
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                _silence_stdout()
                code = int(ExitCode.BROKEN_PIPE)
            sys.exit(code)
        return code

    def _run(self, **kwargs: Any) -> int:
        try:
            result = super().main(standalone_mode=False, **kwargs)
        except KalshiError as exc:
            report(_with_tier_hint(exc).one_line(), exc)
            return int(exc.exit_code)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `kalshi config`: the group's help
                typer.echo(exc.format_message(), err=True)
                return int(ExitCode.USAGE)
            # Click's (vendored by Typer) usage errors: bad flags and values, exit code 2.
            report(usage_line(exc, kwargs.get("args") or sys.argv[1:]), exc)
            return int(getattr(exc, "exit_code", ExitCode.USAGE))
        except typer.Abort as exc:
            report("aborted", exc)
            return int(ExitCode.FAILURE)
        except SystemExit as exc:
            # Click catches a broken pipe (EPIPE) itself, wraps stdout and stderr so later
            # flushes are silent, and exits 1 ("a bug"); that is the reader leaving, not a bug.
            if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
                _silence_stdout()
                return int(ExitCode.BROKEN_PIPE)
            raise exc
        except BrokenPipeError:
            # The reader went away (`kalshi markets | head`): stop quietly, as the docs of the
            # signal module recommend, so Python does not complain again at exit, with the code
            # a shell shows for a tool that SIGPIPE ended (128 + 13), as `head` expects.
            _silence_stdout()
            return int(ExitCode.BROKEN_PIPE)
        except OSError as exc:
            fault = machine_fault(exc)
            if fault is None:
                report(_unexpected(exc), exc)
                return int(ExitCode.FAILURE)
            report(fault.one_line(), exc)
            return int(fault.exit_code)
        except Exception as exc:
            report(_unexpected(exc), exc)
            return int(ExitCode.FAILURE)
        # Non-standalone Click returns the code of a `typer.Exit`, or the command's return value
        # (always None here).
        return result if isinstance(result, int) else int(ExitCode.OK)


def _unexpected(exc: BaseException) -> str:
    return (
        f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
        "(a bug; KALSHI_DEBUG=1 shows the traceback)"
    )


# a file the machine would not let a command write: the disk full or over quota, the file too
# large for its limit, the filesystem read-only or failing, no permission
_WRITE_FAULTS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}
)


def machine_fault(exc: OSError) -> KalshiError | None:
    """A fault of the machine a command met where it did not expect one, as the error with its
    documented exit code and one line that says what to do; None for anything else (a bug)."""
    import socket

    from kalshi_cli.vocabulary.errors import DataWriteError, UsageError

    where = f"{exc.filename}: " if exc.filename else ""
    what = exc.strerror or str(exc)
    if exc.errno in _WRITE_FAULTS:
        return DataWriteError(
            f"{where}{what}",
            hint="free space, or choose a place this user may write, and run it again",
        )
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return UsageError(
            f"{what}: not a name or an address of this machine to listen on",
            hint="choose another host (127.0.0.1 listens on this machine alone)",
        )
    if exc.errno == errno.EADDRINUSE:
        return UsageError(
            f"{what}: another program listens on that address",
            hint="choose another port (for `kalshi trade`, --metrics-port)",
        )
    return None


_TIER_NEEDED = r"\b(advanced|premier|paragon|prime)\b[^.;]*\btier\b"


def _with_tier_hint(exc: KalshiError) -> KalshiError:
    """A refusal for the account's API tier says how to lift it, since on the simulator (the
    default environment, on the basic tier) it is a setting, not a letter to Kalshi."""
    from kalshi_cli.vocabulary.errors import ApiError

    found = re.search(_TIER_NEEDED, exc.message, re.IGNORECASE)
    if isinstance(exc, ApiError) and found is not None:
        tier = found.group(1).lower()
        exc.hint = (
            f"the account's API tier is below {tier}: on the simulator, `kalshi config set "
            f"sim.tier {tier}` lifts it (a simulator already running keeps its tier until it "
            "starts again); on Kalshi the tier is the account's"
        )
    return exc


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's own flush at exit has nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def usage_line(exc: typer.TyperException, words: Sequence[str]) -> str:
    """Click's line, and where a word is that belongs elsewhere (`pnl --state`, `markets --csv`);
    `words` are the command line's, for the word after a name no command has (`orders cancel`)."""
    line = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None or getattr(exc, "exit_code", None) != ExitCode.USAGE:
        return line
    line = _guessed(ctx, line)
    root, name, path = ctx.find_root(), getattr(exc, "option_name", None), ctx.command_path
    value = (name or "").lstrip("-")
    choice = next((p for p in ctx.command.params if value in getattr(p.type, "choices", ())), None)
    asked = re.match(r"No such command '([^']+)'", line)
    if name and (misread := _misread_option(ctx, name, words)):
        return misread
    if name and choice is not None:
        where = f"{path} {max(choice.opts, key=len)} {value}"
        return f"No such option: {name} (it is `{where}`: see `{path} --help`)"
    if asked and ctx is not root and asked.group(1) in {e.name for e in COMMANDS}:
        where = f"{root.command_path} {asked.group(1)}"
        return f"No such command '{asked.group(1)}' (it is `{where}`: see `{where} --help`)"
    typed = asked.group(1) if asked else name
    after = next(itertools.islice(itertools.dropwhile(lambda w: w != typed, words), 1, 2), None)
    return (
        _former_name(ctx, typed, after)
        or (name and _before_its_command(ctx, name, words))
        or _extra_words(ctx, line)
        or f"{line} (see `{path} --help`)"
    )


def _guessed(ctx: Any, line: str) -> str:
    """An unknown command's line with the product's one guess (`did_you_mean`), not Typer's,
    which named any command a little alike (`positions` for `deposit`) and several at once."""
    from kalshi_cli.vocabulary.decode import did_you_mean

    asked = re.match(r"(No such command '([^']+)'\.)( Did you mean .*\?)?$", line)
    if asked is None:
        return line
    close = did_you_mean(asked.group(2), getattr(ctx.command, "commands", {}))
    return asked.group(1) + (f" Did you mean '{close}'?" if close else "")


def _before_its_command(ctx: Any, name: str, words: Sequence[str]) -> str | None:
    """An option of a command typed before it (`kalshi --output json markets`): the command, with
    the option (or what it is called here) after it."""
    commands = getattr(ctx.command, "commands", {})
    later = list(itertools.dropwhile(lambda w: w != name, words))[1:]
    command = next((commands[w] for w in later if w in commands), None)
    if command is None:
        return None
    params = {o: p for p in command.params for o in p.opts}
    now = name if name in params else OPTION_NAMES.get(name, "")
    if now not in params:
        return None
    value = f" {later[0]}" if not params[now].is_flag and later[0] != command.name else ""
    where = f"{ctx.command_path} {command.name}"
    return f"No such option: {name} (it is `{where} {now}{value}`: see `{where} --help`)"


# what another tool's groups take after their name (`kalshi fills list`), where ours need nothing
_VERBS = {"list", "ls", "get", "show"}


def _extra_words(ctx: Any, line: str) -> str | None:
    """Words a command was given beyond its arguments, when they say what to type instead: a verb
    after a command that lists or shows by itself (`fills list`, `market get KX-A`), or markets
    where the command takes them as `--tickers` (`watch ticker KX-A`)."""
    extra = re.match(r"Got unexpected extra argument\S* \((.*)\)", line)
    if extra is None:
        return None
    words, path = extra.group(1).split(), ctx.command_path
    given = [str(ctx.params[p.name]) for p in ctx.command.params if p.param_type_name == "argument"]
    if words[0] in _VERBS and len(words) == 1:
        where = " ".join([path, *given])
    elif given and given[-1] in _VERBS:  # `market get KX-A`: the verb was taken as the ticker
        where = " ".join([path, *given[:-1], *words])
    elif words[0] in _VERBS and (one := _singular(ctx)) is not None:  # `events get E`
        where = " ".join([one, *words[1:]])
    elif any("--tickers" in p.opts for p in ctx.command.params):
        where = " ".join([path, *given, "--tickers", ",".join(words)])
    else:
        return None
    return f"{line} (it is `{where}`: see `{path} --help`)"


def _singular(ctx: Any) -> str | None:
    """The command that shows one of what a plural command lists (`event` beside `events`)."""
    parent, name = ctx.parent, ctx.command.name or ""
    if parent is None or not name.endswith("s"):
        return None
    one = parent.command.get_command(parent, name[:-1])
    return None if one is None else f"{parent.command_path} {one.name}"


def _misread_option(ctx: Any, name: str, words: Sequence[str]) -> str | None:
    """An option no command has that is something else: one of the root's typed after the
    command (`pnl --state`), or a negative number given as an argument (`shard move -5`)."""
    root, path = ctx.find_root(), ctx.command_path
    if ctx is not root and (own := next((p for p in root.command.params if name in p.opts), None)):
        # the whole command after the root's name, and a value only where the option takes one
        said = f"{root.command_path} {name}{'' if own.is_flag else ' ...'} {path.split(' ', 1)[1]}"
        where = f"`{root.command_path}` itself: put it before the command, `{said}`"
        return f"No such option: {name} ({name} is an option of {where})"
    # Click reads a negative number as options (`-0.1` as -0, -. and -1), the first one named
    number = next((w for w in words if w.startswith(name) and re.fullmatch(r"-\d[\d.,]*", w)), "")
    if number and any(p.param_type_name == "argument" for p in ctx.command.params):
        return (
            f"Invalid value: {number} is a negative number, read as an option (a value that "
            f"starts with '-' goes after `--`: see `{path} --help`)"
        )
    return None


# What a trader of an older release or of another Kalshi tool types, by the command path it is
# typed at (the root's name left out), and what does it here: `_former_name` points at it
FORMER_NAMES = {
    "buy": "order place TICKER --action buy",
    "sell": "order place TICKER --action sell",
    "close": "order place TICKER --action sell",
    "place": "order place",
    "cancel": "order cancel",
    "amend": "order amend",
    "decrease": "order decrease",
    "orders": "order list",
    "portfolio": "positions",
    "position": "positions",
    "history": "fills",
    "book": "orderbook",
    "kill": "cancel-all",
    "kill-switch": "cancel-all",
    "killswitch": "cancel-all",
    "version": "--version",
    "order create": "order place",
    "order buy": "order place TICKER --action buy",
    "order sell": "order place TICKER --action sell",
    "order get": "order show",
    "order cancel-all --event": "cancel-all --event",
    "order place --no-price": "order place --side no --price",
    "order place --type": "order place --price",  # every order is a limit order
    "order place --buy-max-cost": "order place --tif fok --price",  # the price caps the cost
    "order batch-create": "order batch",
    "order batch-cancel": "order cancel",
    "order cancel-all --deadline": "cancel-all --deadline",
    "portfolio balance": "balance",
    "portfolio positions": "positions",
    "portfolio position": "positions",
    "portfolio fills": "fills",
    "portfolio fill": "fills",
    "portfolio settlements": "settlements",
    "portfolio settlement": "settlements",
    "portfolio orders": "order list",
    "candlesticks": "candles",
    "exchange-status": "exchange status",
    "api-keys": "key",
    "completion": "--install-completion",
    "completions": "--install-completion",
}

# Another tool's option, at every command that has what it is called here
OPTION_NAMES = {
    "--quantity": "--count",
    "--qty": "--count",
    "--contracts": "--count",
    "--yes-price": "--price",
    "--expiration-ts": "--expires",
    "--output": "--format",
    "-o": "--format",
}

# What a pointer of `OPTION_NAMES` must say beside it, where the option here means another thing
OPTION_NOTES = {
    "--yes-price": "--price is the price of the side traded: a NO order's is 1 - its YES price",
}


def _former_name(ctx: Any, typed: str | None, after: str | None) -> str | None:
    """One line for a name of `FORMER_NAMES` (`kalshi cancel`, `kalshi portfolio balance`, with
    the word `after` it), a group named in the plural (`kalshi orders cancel`), or an argument
    or option given by the API's name of it (`kalshi market --ticker X`, `order cancel
    --order-id X`, `markets --series-ticker S`), saying what it is now; None for any other."""
    if not typed:
        return None
    root, path = ctx.find_root().command_path, ctx.command_path.split()[1:]
    former = _former(ctx, path, typed, after)
    if former is None:
        return None
    # the command's own words, without its arguments and options, for its --help
    command = " ".join(
        itertools.takewhile(lambda w: w[0].isalpha() and w.islower(), former.split())
    )
    where = f"{root} {command}".strip()
    said = f"option: {typed}" if typed.startswith("-") else f"command '{typed}'"
    note = f"; {OPTION_NOTES[typed]}" if typed in OPTION_NOTES else ""
    return f"No such {said} (it is `{root} {former}`: see `{where} --help`{note})"


def _former(ctx: Any, path: list[str], typed: str, after: str | None) -> str | None:
    """What `typed` (then `after`) at the command `path` is called now, without the root's name."""
    if after is not None and not typed.startswith("-"):
        former = FORMER_NAMES.get(" ".join([*path, typed, after]))
        group = ctx.command.get_command(ctx, typed.removesuffix("s")) if typed[-1] == "s" else None
        if former is None and group is not None and hasattr(group, "commands"):
            former = " ".join([*path, group.name, *([after] if after in group.commands else [])])
        if former is not None:
            return former
    if (former := FORMER_NAMES.get(" ".join([*path, typed]))) is not None:
        return former
    options = {o for p in ctx.command.params for o in p.opts}
    if (now := OPTION_NAMES.get(typed, "")) in options:
        return " ".join([*path, now])
    said = typed.lstrip("-").replace("-", "_")
    argument = next((p for p in ctx.command.params if p.param_type_name == "argument"), None)
    if argument is not None and said == argument.name:
        return " ".join([*path, said.upper()])
    # the API names a filter by its field (`series_ticker`), the option by what it filters
    option = typed.removesuffix("-ticker")
    if typed.startswith("--") and option in options:
        return " ".join([*path, option])
    return None


app = typer.Typer(
    cls=KalshiGroup,
    name="kalshi",
    help="Trade Kalshi event contracts from the terminal, cron and systemd.\n\n"
    "Works out of the box against a local simulator (env sim, the default); nothing real "
    "happens unless --env demo or --env prod is chosen.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kalshi {kalshi_cli.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    env: EnvOpt = None,
    config: ConfigOpt = None,
    state: StateOpt = None,
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    app_context = ctx.ensure_object(AppContext)
    app_context.root_env = env.value if env else None
    app_context.config_path = config
    app_context.state = state
    if ctx.invoked_subcommand not in _SEES_A_MISSING_STATE_DIR:
        refuse_a_missing_state_dir(state, app_context.environ)
    activate(app_context)
    ctx.call_on_close(app_context.close)


# commands that show where things are or diagnose them (health-check reports an unusable state
# location as a failed check; `check` refuses it itself, as UNKNOWN with its Nagios line): a
# wrong --state is what they help find, so they see it as it is. And the kill switch: it cancels
# whatever the state path, and says it recorded nothing there (`open_kill_switch_store`)
_SEES_A_MISSING_STATE_DIR = frozenset(
    {"config", "state", "health-check", "check", "cancel-all", None}
)
