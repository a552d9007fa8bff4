"""Every number a person gives on the command line is finite and in its range, or refused with
one line and exit 2 before anything is built or sent.

The walk covers the whole command tree: every float option takes `FiniteFloat` (Click's own
FLOAT takes `nan` and `inf`: `kalshi trade --duration nan` ran with no time limit), and each is
given nan, inf and -inf; every option given as text that holds a number (a count, a price, an
amount, a threshold) is listed in NUMERIC_TEXT and given the same, and a text option that is in
neither list fails the walk until someone says which it is. Every time option (`--since`,
`--from`, `--to`) is read while the line is parsed: a blank or unreadable time is refused there,
never taken as no bound."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import Result

from kalshi_cli.cli._options import FiniteFloat
from kalshi_cli.cli.app import COMMANDS, load_command
from kalshi_cli.vocabulary.exit_codes import ExitCode

from .fakes import run

BAD = ("nan", "inf", "-inf", "NaN", "Infinity", "-Infinity")


def _walk() -> Iterator[tuple[tuple[str, ...], Any]]:
    seen: set[str] = set()
    for entry in COMMANDS:
        if entry.name in seen:
            continue
        seen.add(entry.name)
        stack: list[tuple[tuple[str, ...], Any]] = [((entry.name,), load_command(entry))]
        while stack:
            path, command = stack.pop()
            yield path, command
            if hasattr(command, "list_commands"):  # a group (Typer's own Click, duck-typed)
                ctx = command.context_class(command)
                for name in command.list_commands(ctx):
                    stack.append(((*path, name), command.get_command(ctx, name)))


def _params() -> list[tuple[tuple[str, ...], Any, Any]]:
    return [(path, command, p) for path, command in _walk() for p in command.params]


def _parser(param: Any) -> Any:
    return getattr(param.type, "func", None)


def _case_id(value: Any) -> str:
    """A case's name: its command path and option, the other arguments left out."""
    if isinstance(value, tuple):
        return " ".join(value)
    return value if isinstance(value, str) else ""


def _one_usage_line(result: Result) -> str:
    """A usage error's refusal: exit 2 and one line on stderr, returned."""
    assert result.exit_code == ExitCode.USAGE, (result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


FLOAT_OPTIONS = [
    (path, param.opts[0]) for path, _, param in _params() if isinstance(_parser(param), FiniteFloat)
]

RFQ_ID = "00000000-0000-4000-8000-000000000000"  # of the exchange's shape: the value is checked
# options given as text that hold a number: (command path, option, the other arguments it needs)
NUMERIC_TEXT: list[tuple[tuple[str, ...], str, list[str]]] = [
    (("order", "place"), "--count", ["X", "--side", "yes", "--action", "buy", "--price", "0.5"]),
    (("order", "place"), "--price", ["X", "--side", "yes", "--action", "buy", "--count", "1"]),
    (("order", "amend"), "--price", ["OID", "--count", "1"]),
    (("order", "amend"), "--count", ["OID", "--price", "0.5"]),
    (("order", "decrease"), "--by", ["OID"]),
    (("order", "decrease"), "--to", ["OID"]),
    (("order-group", "create"), "--limit", []),
    (("order-group", "limit"), "--limit", ["GID"]),
    (("subaccount", "transfer"), "--amount", ["--from", "0", "--to", "1"]),
    (("rfq", "create"), "--count", ["X"]),
    (("rfq", "create"), "--target-cost", ["X"]),
    (("quote", "create"), "--yes-bid", [RFQ_ID, "--no-bid", "0.5"]),
    (("quote", "create"), "--no-bid", [RFQ_ID, "--yes-bid", "0.5"]),
    (("trade",), "--paper-balance", ["--strategy", "spike", "--paper"]),
    (("sim", "serve"), "--balance", []),
    (("backtest",), "--balance", ["--strategy", "spike", "--data", "."]),
    (("backtest",), "--holdout", ["--strategy", "spike", "--data", "."]),
    (("backtest",), "--overfit-gap", ["--strategy", "spike", "--data", ".", "--holdout", "0.3"]),
    (("check",), "--warn", ["heartbeat"]),
    (("check",), "--crit", ["heartbeat"]),
]
# a check is a Nagios plugin: its usage errors are UNKNOWN (exit 3), one line on stdout
NAGIOS = {("check",)}
# text options that are not numbers (names, tickers, ids, times, KEY=VALUE pairs checked below)
NOT_NUMBERS = {
    "series", "event", "tickers", "ticker", "since", "strategy", "markets", "overrides", "key",
    "value", "host", "scenario", "tier", "expires", "client_order_id", "order_id", "batch_id",
    "order_group_id", "start", "end", "from_", "to", "param", "rank_by", "channel", "words",
    "event_ticker", "category", "client_transfer_id", "name", "scope", "key_id", "market",
    "rfq_id", "rfq", "quote_id", "reason", "model", "run", "a", "b", "spec", "index", "study",
    "scheduler", "params_file", "assign", "unassign", "budget", "shares", "reserve",
}  # fmt: skip
# arguments that hold a number: (command path, argument, the options it needs)
NUMERIC_ARGUMENTS: list[tuple[tuple[str, ...], str, list[str]]] = [
    (("shard", "move"), "amount", ["--from", "0", "--to", "2"]),
]


def test_every_float_option_is_parsed_as_a_finite_number() -> None:
    plain = [
        (" ".join(path), param.name)
        for path, _, param in _params()
        if type(param.type).__name__ in ("FloatParamType", "FloatRange")
    ]
    assert plain == [], "a float option without FiniteFloat takes nan and inf"
    assert len(FLOAT_OPTIONS) >= 9  # the walk found them: trade, cancel-all, dashboard...


def test_a_float_option_states_in_its_help_the_range_its_parser_holds_to() -> None:
    """An int option's range is shown by Click (`[x>=1]`); a float option's help ends with its own,
    written from the parser's figures (`--duration` said "above 0" and took -5)."""
    unstated = [
        (" ".join(path), param.opts[0])
        for path, _, param in _params()
        if isinstance(_parser(param), FiniteFloat)
        and not (param.help or "").endswith(f"[{_parser(param).describe()}]")
    ]
    assert unstated == []


def test_every_text_option_is_known_to_hold_a_number_or_not() -> None:
    numeric = {(path, option) for path, option, _ in [*NUMERIC_TEXT, *NUMERIC_ARGUMENTS]}
    unknown = [
        (" ".join(path), param.opts[0])
        for path, _, param in _params()
        if type(param.type).__name__ == "StringParamType"
        and param.name not in NOT_NUMBERS
        and (path, param.opts[0]) not in numeric
    ]
    assert unknown == []


def _args_for(path: tuple[str, ...], option: str, value: str) -> list[str]:
    command = dict(_walk())[path]
    needed = ["X" for p in command.params if p.param_type_name == "argument" and p.required]
    return [*path, *needed, f"{option}={value}"]


# every float option counts seconds or a speed: a negative one is out of its range
# (`trade --duration -5` was taken, its help saying "above 0")
@pytest.mark.parametrize("value", [*BAD, "-1"])
@pytest.mark.parametrize(("path", "option"), FLOAT_OPTIONS, ids=_case_id)
def test_a_float_option_refuses_what_is_not_a_finite_number_in_its_range(
    tmp_path: Path, path: tuple[str, ...], option: str, value: str
) -> None:
    said = "range" if value == "-1" else "finite"
    if path in NAGIOS:  # a check needs a check's name, and refuses as a Nagios plugin does
        result = run([*path, "heartbeat", f"{option}={value}"], home=tmp_path)
        assert result.exit_code == 3, result.stdout
        assert "UNKNOWN" in result.stdout and said in result.stdout, result.stdout
        assert option in result.stdout, result.stdout
        return
    result = run(_args_for(path, option, value), home=tmp_path)  # no client: nothing is sent
    line = _one_usage_line(result)
    assert said in line and option in line, line


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(("path", "option", "rest"), NUMERIC_TEXT, ids=_case_id)
def test_a_number_given_as_text_refuses_what_is_not_finite(
    tmp_path: Path, path: tuple[str, ...], option: str, rest: list[str], value: str
) -> None:
    result = run([*path, *rest, f"{option}={value}"], home=tmp_path)
    if path in NAGIOS:
        assert result.exit_code == 3, result.stdout
        assert "UNKNOWN" in result.stdout and "finite" in result.stdout, result.stdout
        return
    line = _one_usage_line(result)
    assert line.startswith("Error: "), line


@pytest.mark.parametrize(
    ("path", "option", "rest"),
    [entry for entry in NUMERIC_TEXT if entry[0] not in NAGIOS],
    ids=_case_id,
)
def test_a_number_given_as_text_refuses_one_past_what_the_rules_compute_with(
    tmp_path: Path, path: tuple[str, ...], option: str, rest: list[str]
) -> None:
    """A count of 30 digits reached Decimal arithmetic (28 digits) and failed there as a bug."""
    result = run([*path, *rest, f"{option}={'9' * 30}"], home=tmp_path)
    line = _one_usage_line(result)
    assert option.lstrip("-") in line, line


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(
    "args",
    [
        ["check", "heartbeat", "--set", "warn=%s"],
        ["backtest", "--strategy", "spike", "--data", ".", "--param", "take_profit=%s"],
        ["trade", "--strategy", "spike", "--budget", "spike:max_exposure=%s"],
        ["backtest", "--strategy", "spike", "--data", ".", "--budget", "spike:max_exposure=%s"],
    ],
    ids=["check --set", "backtest --param", "trade --budget", "backtest --budget"],
)
def test_a_number_in_key_value_pairs_refuses_what_is_not_finite(
    tmp_path: Path, args: list[str], value: str
) -> None:
    result = run([a.replace("%s", value) for a in args], home=tmp_path)
    if args[0] == "check":
        assert result.exit_code == 3, result.stdout
        assert "UNKNOWN" in result.stdout and "finite" in result.stdout, result.stdout
        return
    line = _one_usage_line(result)
    assert "finite" in line, line


def test_typer_is_the_source_of_the_bad_parameter() -> None:
    # FiniteFloat raises Typer's own BadParameter: the one the app turns into exit 2
    with pytest.raises(typer.BadParameter):
        FiniteFloat(min=0)("nan")


@pytest.mark.parametrize("value", ["1000.005", "0.001", "1e3", "1_000"])
@pytest.mark.parametrize(
    ("path", "option", "rest"),
    [
        (("trade",), "--paper-balance", ["--strategy", "spike", "--paper"]),
        (("backtest",), "--balance", ["--strategy", "spike", "--data", "."]),
    ],
    ids=["trade --paper-balance", "backtest --balance"],
)
def test_a_starting_balance_is_a_plain_amount_of_whole_cents(
    tmp_path: Path, path: tuple[str, ...], option: str, rest: list[str], value: str
) -> None:
    """A local venue holds its cash in cents, as the exchange does: a starting balance with a
    fraction of a cent was cut to the cent while the run's report and the paper session's
    header named the amount given ($1,000.005 start, an equity curve from $1,000.00), so it is
    refused, as is a number that is no plain decimal."""
    result = run([*path, *rest, f"{option}={value}"], home=tmp_path)
    line = _one_usage_line(result)
    assert option in line, line


@pytest.mark.parametrize("value", [*BAD, "9" * 30])
@pytest.mark.parametrize(("path", "argument", "rest"), NUMERIC_ARGUMENTS, ids=_case_id)
def test_a_number_given_as_an_argument_refuses_what_is_not_finite_or_too_long(
    tmp_path: Path, path: tuple[str, ...], argument: str, rest: list[str], value: str
) -> None:
    result = run([*path, *rest, "--", value], home=tmp_path)
    line = _one_usage_line(result)
    assert f"for {argument.upper()}:" in line, line  # an argument, never named as a flag


# every option that takes a time: (command path, option, the other arguments it needs)
TIME_OPTIONS: list[tuple[tuple[str, ...], str, list[str]]] = [
    (("pnl",), "--since", []),
    (("fills",), "--since", []),
    (("trades",), "--since", ["X"]),
    (("candles",), "--from", ["X"]),
    (("candles",), "--to", ["X"]),
    (("data", "download"), "--from", ["trades", "--out", "."]),
    (("data", "download"), "--to", ["trades", "--out", "."]),
]


def test_every_time_option_is_listed() -> None:
    listed = {(path, option) for path, option, _ in TIME_OPTIONS}
    read_as_times = {
        (path, param.opts[0])
        for path, _, param in _params()
        if getattr(param.callback, "__name__", "") in ("_time_checked", "_start_checked")
    }
    assert read_as_times == listed


# a moment before 1970 or past 9999: `fills --since 1e30` was sent and refused by the exchange
# (400), `candles --from -99999999999` asked for centuries of candles and did not end
@pytest.mark.parametrize("value", ["", " ", "soon", "-99999999999", "1e30", "0001-01-01"])
@pytest.mark.parametrize(("path", "option", "rest"), TIME_OPTIONS, ids=_case_id)
def test_a_time_option_refuses_a_blank_or_unreadable_time(
    tmp_path: Path, path: tuple[str, ...], option: str, rest: list[str], value: str
) -> None:
    """A blank `--since` (a script's unset `$SINCE`) listed every trade of the tape."""
    result = run([*path, *rest, f"{option}={value}"], home=tmp_path)  # no client: nothing asked
    line = _one_usage_line(result)
    assert option in line, line


@pytest.mark.parametrize(
    ("path", "option", "rest"),
    [(path, option, rest) for path, option, rest in TIME_OPTIONS if option != "--to"],
    ids=_case_id,
)
def test_a_moment_a_listing_starts_at_is_not_in_the_future(
    tmp_path: Path, path: tuple[str, ...], option: str, rest: list[str]
) -> None:
    """`fills --since 2099-01-01` (2019 mistyped) said "nothing matched" and `pnl --since` $0.00,
    exit 0: a start in the future is a usage error, with no client built (nothing asked)."""
    result = run([*path, *rest, f"{option}=2099-01-01"], home=tmp_path)
    line = _one_usage_line(result)
    assert f"Invalid value for {option}: 2099-01-01 is in the future" in line, line


ORDER_EXPIRY = {
    "order place": ["order", "place", "X", "--side", "yes", "--action", "buy", "--count", "1",
                    "--price", "0.5"],
    "order amend": ["order", "amend", "X"],
}  # fmt: skip


@pytest.mark.parametrize(
    "value", ["", " ", "-5m", "99999999999999999999", "99999999999999d", "10000-01-01"]
)
@pytest.mark.parametrize("command", ORDER_EXPIRY)
def test_an_order_expiry_is_a_moment_the_exchange_can_hold(
    tmp_path: Path, command: str, value: str
) -> None:
    """`--expires ""` placed a GTC order with no expiry at all, and one past 9999 (a digit too
    many) was written to the state file and sent, for the exchange to refuse (400, exit 9): each
    is a usage error now, with no client built (nothing read, written or sent)."""
    result = run([*ORDER_EXPIRY[command], f"--expires={value}"], home=tmp_path)
    line = _one_usage_line(result)
    assert "--expires" in line, line


SHARD_OPTIONS = [
    (path, param.opts[0])
    for path, _, param in _params()
    if param.opts[0] == "--exchange-index"
    or (path == ("shard", "move") and param.opts[0] in ("--from", "--to"))
]


def test_the_walk_finds_the_shard_options() -> None:
    assert {("order-group", "trigger"), ("order-group", "create"), ("shard", "move")} <= {
        path for path, _ in SHARD_OPTIONS
    }


@pytest.mark.parametrize(("path", "option"), SHARD_OPTIONS, ids=_case_id)
def test_a_shard_is_an_index_the_exchange_can_have(
    tmp_path: Path, path: tuple[str, ...], option: str
) -> None:
    """`order-group trigger X --exchange-index 99999999999999999999` was sent for the exchange
    to refuse (HTTP 400, exit 9)."""
    rest = ["1", "--from", "0", "--to", "2"] if path == ("shard", "move") else ["X"]
    result = run([*path, *rest, f"{option}=99999999999999999999"], home=tmp_path)
    line = _one_usage_line(result)
    assert option in line, line


def test_an_order_book_depth_past_what_the_exchange_serves_is_a_usage_error(
    tmp_path: Path,
) -> None:
    """`orderbook --depth 101` passed the option and was refused by the client (exit 9): the
    range is the option's, refused while the line is parsed (no client built) and stated in its
    help as Click states every int option's."""
    line = _one_usage_line(run(["orderbook", "X", "--depth", "101"], home=tmp_path))
    assert "--depth" in line and "0<=x<=100" in line, line
    command = dict(_walk())[("orderbook",)]
    (depth,) = [p for p in command.params if p.name == "depth"]
    assert "0<=x<=100" in "".join(depth.get_help_record(command.context_class(command)) or ())
