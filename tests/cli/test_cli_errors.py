"""Every failure the issue names reaches a person as one line on stderr with its exit code."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import FORMER_NAMES, app
from kalshi_cli.vocabulary.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimitedError,
    TransportError,
)
from kalshi_cli.vocabulary.exit_codes import ExitCode

from .fakes import FakeClient, run

DEMO_BASE = {"KALSHI_ENV": "demo"}


def one_line(result: Result) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def run_real(args: list[str], home: Path, environ: dict[str, str], debug: bool = False) -> Result:
    """Through the real client factory: credentials are loaded, nothing is sent before that."""
    context = AppContext(environ={"KALSHI_HOME": str(home), **environ})
    env = {"KALSHI_DEBUG": "1" if debug else None, "COLUMNS": "100"}
    return CliRunner().invoke(app, args, obj=context, env=env, prog_name="kalshi")


# --------------------------------------------------------------------------------------------
# Credentials (exit 4), before any request


@pytest.mark.parametrize("env", ["demo", "prod"])
def test_no_credentials_for_demo_or_prod(tmp_path: Path, env: str) -> None:
    result = run_real(["balance"], tmp_path, {"KALSHI_ENV": env})
    assert result.exit_code == ExitCode.CREDENTIALS
    line = one_line(result)
    assert line.startswith(f"Error: no API credentials for env {env} (set KALSHI_API_KEY_ID")
    assert f"under `{env}:` in {tmp_path / 'config.yaml'}" in line


def key_env(path: Path) -> dict[str, str]:
    return {**DEMO_BASE, "KALSHI_API_KEY_ID": "key-id-123456", "KALSHI_PRIVATE_KEY_PATH": str(path)}


def test_key_file_missing(tmp_path: Path) -> None:
    result = run_real(["balance"], tmp_path, key_env(tmp_path / "missing.pem"))
    assert result.exit_code == ExitCode.CREDENTIALS
    assert f"private key file {tmp_path / 'missing.pem'} does not exist" in one_line(result)


def test_key_file_unreadable(tmp_path: Path) -> None:
    # A directory cannot be read as a file, even by root (file modes do not stop root).
    (tmp_path / "dir.pem").mkdir()
    result = run_real(["balance"], tmp_path, key_env(tmp_path / "dir.pem"))
    assert result.exit_code == ExitCode.CREDENTIALS
    assert "cannot be read: Is a directory" in one_line(result)


def test_key_file_not_pem(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("hello")
    path.chmod(0o600)
    result = run_real(["balance"], tmp_path, key_env(path))
    assert result.exit_code == ExitCode.CREDENTIALS
    assert f"{path} is not a PEM private key" in one_line(result)


def encrypted_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    from kalshi_cli.vocabulary.keys import generate_private_key

    pem = generate_private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    )
    path = tmp_path / "locked.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def test_key_encrypted_without_passphrase(tmp_path: Path) -> None:
    path = encrypted_key(tmp_path)
    result = run_real(["balance"], tmp_path, key_env(path))
    assert result.exit_code == ExitCode.CREDENTIALS
    assert f"{path} is encrypted and no passphrase was given" in one_line(result)


def test_key_id_without_key(tmp_path: Path) -> None:
    result = run_real(["balance"], tmp_path, {**DEMO_BASE, "KALSHI_API_KEY_ID": "key-id-123456"})
    assert result.exit_code == ExitCode.CREDENTIALS
    assert "api_key_id is set for env demo but no private key" in one_line(result)


PRODUCTION_BASE = "https://api.elections.kalshi.com/trade-api/v2"


def test_loose_key_file_is_refused_on_prod(tmp_path: Path) -> None:
    from kalshi_cli.vocabulary.keys import generate_private_key, private_key_pem

    path = tmp_path / "key.pem"
    path.write_bytes(private_key_pem(generate_private_key()))
    path.chmod(0o644)
    result = run_real(["balance"], tmp_path, {**key_env(path), "KALSHI_ENV": "prod"})
    assert result.exit_code == ExitCode.CREDENTIALS
    assert "is readable by group or others (mode 644)" in one_line(result)
    # Kalshi's production host is prod whatever the env is named: refused before any request
    production = {"KALSHI_ENV": "demo", "KALSHI_API_BASE": PRODUCTION_BASE}
    result = run_real(["balance"], tmp_path, {**key_env(path), **production})
    assert result.exit_code == ExitCode.CREDENTIALS
    assert "is readable by group or others (mode 644)" in one_line(result)


# --------------------------------------------------------------------------------------------
# The exchange's answers (through a fake client raising the client's typed errors)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ApiError.from_response(401, {"error": {"code": "authentication_error"}}), ExitCode.AUTH),
        (NotFoundError("unknown ticker KXNOPE", status=404), ExitCode.NOT_FOUND),
        (TransportError("GET /markets: no answer from x: refused"), ExitCode.UNREACHABLE),
        (ApiError.from_response(429, {"error": "too many requests"}), ExitCode.RATE_LIMITED),
        (ApiError.from_response(503, {}), ExitCode.EXCHANGE_ERROR),
    ],
)
def test_exchange_errors(tmp_path: Path, error: Exception, code: ExitCode) -> None:
    client = FakeClient(errors={"get_market": error})
    result = run(["market", "KXNOPE"], client=client, home=tmp_path)
    assert result.exit_code == code
    line = one_line(result)
    assert line == f"Error: {error.one_line()}"  # type: ignore[attr-defined]


def test_401_message_points_at_key_and_environment(tmp_path: Path) -> None:
    error = ApiError.from_response(401, {}, what="GET /portfolio/balance")
    assert isinstance(error, AuthError)
    result = run(["balance"], client=FakeClient(errors={"get_balance": error}), home=tmp_path)
    assert result.exit_code == ExitCode.AUTH
    assert "belong to the chosen --env" in one_line(result)


def test_rate_limited_message_says_to_wait(tmp_path: Path) -> None:
    error = ApiError.from_response(429, {"error": "too many requests"})
    assert isinstance(error, RateLimitedError)
    result = run(["markets"], client=FakeClient(errors={"get_markets_page": error}), home=tmp_path)
    assert "wait and try again" in one_line(result)


def test_a_ctrl_c_while_a_command_waits_on_the_exchange_says_interrupted_and_exits_130(
    tmp_path: Path,
) -> None:
    """Ctrl-C (a KeyboardInterrupt where the command is) while `kalshi markets` waits for its
    page: one line says why the command stopped, with exit 130 (docs/exit-codes.md)."""
    client = FakeClient(errors={"get_markets_page": KeyboardInterrupt()})
    result = run(["markets"], client=client, home=tmp_path)
    assert result.exit_code == ExitCode.INTERRUPTED == 130
    assert result.stdout == ""
    assert result.stderr == "Interrupted.\n"


# --------------------------------------------------------------------------------------------
# Config (exit 3) and flags (exit 2)


def test_malformed_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("env: demo\ndemo:\n  tier: [advanced\n")
    result = run(["config", "show"], home=tmp_path)
    assert result.exit_code == ExitCode.CONFIG
    assert one_line(result).startswith(f"Error: {config}:4: malformed YAML")


@pytest.mark.parametrize("key", ["timeout", "risk.min_edge"])
def test_config_set_on_a_malformed_file_names_its_line_on_one_line(
    tmp_path: Path, key: str
) -> None:
    config = tmp_path / "config.yaml"
    text = "env: sim\nrisk:\n  min_edge: [0.1\n"
    config.write_text(text)
    result = run(["config", "set", key, "5"], home=tmp_path)
    assert result.exit_code == ExitCode.CONFIG
    line = one_line(result)
    assert line.startswith(f"Error: {config}:4: malformed YAML: ") and "expected ','" in line
    assert config.read_text() == text


def test_bad_environment_value(tmp_path: Path) -> None:
    result = run(["config", "show"], home=tmp_path, environ={"KALSHI_TIMEOUT": "-1"})
    assert result.exit_code == ExitCode.CONFIG
    assert one_line(result) == "Error: KALSHI_TIMEOUT: timeout: expected `float` > 0.0"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["markets", "--limit", "0"], "Invalid value for '--limit' / '-n'"),
        (["markets", "--limit", "1001"], "Invalid value for --limit: at most 1000 without --all"),
        (["markets", "--sort", "price"], "Invalid value for '--sort'"),
        (["markets", "--status", "live"], "Invalid value for '--status'"),
        (["market", "X", "--format", "yaml"], "Invalid value for '--format' / '-f'"),
        (["--env", "staging", "balance"], "Invalid value for '--env'"),
        (["orderbook", "X", "--depth", "-1"], "Invalid value for '--depth' / '-d'"),
        (["markets", "--nope"], "No such option: --nope"),
        (["balanse"], "No such command 'balanse'. Did you mean 'balance'?"),
        (["config", "unsett"], "No such command 'unsett'. Did you mean 'unset'?"),
        # no command is close: no guess (`positions` for `deposit` sent a trader astray)
        (["deposit"], "No such command 'deposit'. (see `kalshi --help`)"),
        (["market"], "Missing argument 'ticker'"),
        (["sim", "serve", "--balance", "ten"], "Invalid value for --balance"),
        (["sim", "serve", "--tier", "gold"], "Invalid value for --tier"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = run(args, home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    line = one_line(result)
    assert fragment in line
    assert line.endswith("--help`)")


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["pnl", "--state", "x.db"], "kalshi --state ... pnl"),
        (["state", "bind", "--state", "x.db"], "kalshi --state ... state bind"),
        (["order", "place", "X", "--state", "x.db"], "kalshi --state ... order place"),
        (["order", "--config", "c.yaml", "list"], "kalshi --config ... order"),
        (["trade", "--version"], "kalshi --version trade"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_a_global_option_after_the_command_says_where_it_goes(
    tmp_path: Path, args: list[str], where: str
) -> None:
    result = run(args, home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    name = next(a for a in args if a.startswith("--"))
    assert one_line(result) == (
        f"Error: No such option: {name} ({name} is an option of `kalshi` itself: put it "
        f"before the command, `{where}`)"
    )


def test_a_check_says_where_a_misplaced_option_goes_in_its_nagios_line(tmp_path: Path) -> None:
    """A cron line with `--state` after `check` read `No such option: --state (Possible options:
    --set)`: a check's usage error is UNKNOWN (3), its line says what every command's says."""
    result = run(["check", "positions", "--state", "x.db"], home=tmp_path)
    assert result.exit_code == 3
    said = (
        "No such option: --state (--state is an option of `kalshi` itself: put it before the "
        "command, `kalshi --state ... check`)"
    )
    assert result.stdout == f"KALSHI CHECK UNKNOWN - {said}\n"
    assert result.stderr == f"Error: {said}\n"


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["shard", "move", "-5", "--from", "0", "--to", "2"], "kalshi shard move"),
        (["config", "set", "timeout", "-1"], "kalshi config set"),
        (["config", "set", "risk.min_edge", "-0.1"], "kalshi config set"),
        (["config", "set", "risk.daily_loss_limit", "-100"], "kalshi config set"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_a_negative_number_given_as_an_argument_says_it_reads_as_an_option(
    tmp_path: Path, args: list[str], path: str
) -> None:
    """Click reads `-0.1` as the options -0, -. and -1: it said `No such option: -0`, and a
    first rule named the wrong argument (`key` for `config set timeout -1`)."""
    result = run(args, home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    number = next(a for a in args if a.startswith("-"))
    assert one_line(result) == (
        f"Error: Invalid value: {number} is a negative number, read as an option (a value "
        f"that starts with '-' goes after `--`: see `{path} --help`)"
    )
    assert not (tmp_path / "config.yaml").exists()


def test_json_and_format_can_be_combined_json_wins(tmp_path: Path) -> None:
    client = FakeClient(balance_cents=100)
    result = run(["balance", "--json", "--format", "csv"], client=client, home=tmp_path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["balance"] == "1.00"


# --------------------------------------------------------------------------------------------
# Tracebacks


def test_debug_shows_a_traceback_without_locals(tmp_path: Path) -> None:
    marker = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    environ = {
        **DEMO_BASE,
        "KALSHI_API_KEY_ID": "key-id-123456",
        "KALSHI_PRIVATE_KEY": f"-----BEGIN PRIVATE KEY-----\n{marker}\n-----END PRIVATE KEY-----\n",
    }
    quiet = run_real(["balance"], tmp_path, environ)
    assert quiet.exit_code == ExitCode.CREDENTIALS
    assert "Traceback" not in quiet.stderr
    loud = run_real(["balance"], tmp_path, environ, debug=True)
    assert loud.exit_code == ExitCode.CREDENTIALS
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.splitlines()[-1].startswith("Error: KALSHI_PRIVATE_KEY could not be loaded")
    assert marker not in loud.stderr


def test_unexpected_error_is_one_line_and_code_1(tmp_path: Path) -> None:
    client = FakeClient(errors={"get_balance": ZeroDivisionError("boom")})
    result = run(["balance"], client=client, home=tmp_path)
    assert result.exit_code == ExitCode.FAILURE
    assert one_line(result) == (
        "Error: unexpected ZeroDivisionError: boom (a bug; KALSHI_DEBUG=1 shows the traceback)"
    )


def test_app_disables_locals_in_pretty_tracebacks() -> None:
    assert app.pretty_exceptions_show_locals is False


def test_an_api_base_without_the_trade_api_path_is_refused_at_once(tmp_path: Path) -> None:
    result = run(
        ["markets"],
        home=tmp_path,
        environ={"KALSHI_ENV": "demo", "KALSHI_API_BASE": "https://demo-api.kalshi.co"},
    )
    assert result.exit_code == ExitCode.CONFIG
    assert one_line(result) == (
        "Error: KALSHI_API_BASE: https://demo-api.kalshi.co does not end in /trade-api/v2 "
        "(Kalshi's bases end so, e.g. https://demo-api.kalshi.co/trade-api/v2)"
    )


def test_an_option_that_is_a_value_of_another_points_at_it(tmp_path: Path) -> None:
    result = run(["markets", "--csv"], home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert one_line(result) == (
        "Error: No such option: --csv (it is `kalshi markets --format csv`: see "
        "`kalshi markets --help`)"
    )


def test_a_top_level_command_asked_for_in_a_group_points_at_it(tmp_path: Path) -> None:
    result = run(["data", "record", "--tickers", "X"], home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert one_line(result) == (
        "Error: No such command 'record' (it is `kalshi record`: see `kalshi record --help`)"
    )


@pytest.mark.parametrize(
    ("args", "pointer"),
    [
        (["cancel", "X"], "kalshi order cancel"),
        (["buy"], "kalshi order place TICKER --action buy"),
        (["orders"], "kalshi order list"),
        (["kill-switch"], "kalshi cancel-all"),
        (["order", "create"], "kalshi order place"),
        (["order", "get", "X"], "kalshi order show"),
        (["market", "--ticker", "X"], "kalshi market TICKER"),
        (["order", "place", "--ticker", "X"], "kalshi order place TICKER"),
        (["order", "place", "X", "--quantity", "3"], "kalshi order place --count"),
        (["version"], "kalshi --version"),
        # a command of a group another tool has under another name (two words at the root)
        (["portfolio", "balance"], "kalshi balance"),
        (["portfolio", "fills"], "kalshi fills"),
        # a group's name in the plural, with its command after it
        (["orders", "cancel", "X"], "kalshi order cancel"),
        (["subaccounts", "list"], "kalshi subaccount list"),
        # the API's name of an option (`series_ticker`) or of an argument (`order_id`)
        (["markets", "--series-ticker", "S"], "kalshi markets --series"),
        (["order", "cancel", "--order-id", "X"], "kalshi order cancel ORDER_ID"),
        (["order", "place", "X", "--yes-price", "50"], "kalshi order place --price"),
        (["order", "cancel-all", "--deadline", "5"], "kalshi cancel-all --deadline"),
        (["candlesticks", "X"], "kalshi candles"),
        # another tool's option, at every command that has what it is called here
        (["markets", "--output", "json"], "kalshi markets --format"),
        (["order", "amend", "X", "--quantity", "2"], "kalshi order amend --count"),
        (["order", "amend", "X", "--yes-price", "50"], "kalshi order amend --price"),
        # a verb another tool's groups take, after a command that lists or shows by itself
        (["fills", "list"], "kalshi fills"),
        (["exchange", "schedule", "get"], "kalshi exchange schedule"),
        (["market", "get", "KX-A"], "kalshi market KX-A"),
        # the exchange's batch cancel takes the orders' ids (openapi.yaml BatchCancelOrdersRequest):
        # never every order of a market, which `order cancel-all --ticker` cancels
        (["order", "batch-cancel", "ID-1", "ID-2"], "kalshi order cancel"),
        # markets given as arguments where they are an option's
        (["watch", "ticker", "KX-A", "KX-B"], "kalshi watch ticker --tickers KX-A,KX-B"),
        # a position is closed by selling it; every order is a limit order at its price;
        # a cost cap is a fill-or-kill order's price
        (["close", "KX-A"], "kalshi order place TICKER --action sell"),
        (["order", "place", "KX-A", "--type", "limit"], "kalshi order place --price"),
        (["order", "place", "KX-A", "--buy-max-cost", "5"], "kalshi order place --tif fok --price"),
        # a command's option typed before the command
        (["--output", "json", "markets"], "kalshi markets --format json"),
        (["--json", "markets"], "kalshi markets --json"),
        # a plural group's verb, where the one thing is the singular command's
        (["events", "get", "E"], "kalshi event E"),
    ],
    ids=" ".join,
)
def test_a_name_of_an_older_release_or_another_tool_points_at_the_new_one(
    tmp_path: Path, args: list[str], pointer: str
) -> None:
    result = run(args, home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert f"(it is `{pointer}`: see `kalshi" in one_line(result)


@pytest.mark.parametrize("command", ["place X --side no --action buy --count 1", "amend X"])
def test_another_tools_yes_price_is_said_to_be_a_no_orders_one_less_it(
    tmp_path: Path, command: str
) -> None:
    """`--price` is the price of the side traded: another tool's `--yes-price 0.70` on a NO
    order is `--price 0.30`, and a trader told only "it is --price" pays 0.70 for that NO."""
    result = run(["order", *command.split(), "--yes-price", "0.70"], home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert "--price is the price of the side traded: a NO order's is 1 - its YES price" in (
        one_line(result)
    )


@pytest.mark.parametrize("former", FORMER_NAMES)
def test_every_former_name_points_at_a_command_that_takes_what_it_names(
    tmp_path: Path, former: str
) -> None:
    words = FORMER_NAMES[former].split()
    command = list(itertools.takewhile(lambda w: w[0].isalpha() and w.islower(), words))
    options = [w for w in words if w.startswith("-")]
    result = run([*command, "--help"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert all(o in result.stdout for o in options), (options, result.stdout)


@pytest.mark.parametrize("host", ["", " ", "nowhere.invalid"])
def test_a_simulator_host_this_machine_cannot_listen_on_is_a_usage_error(
    tmp_path: Path, host: str
) -> None:
    """An unknown host name was `unexpected gaierror (a bug)`, exit 1; an empty one listened on
    every interface."""
    result = run(["sim", "serve", "--host", host, "--port", "0"], home=tmp_path)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "host" in one_line(result)


def test_time_in_force_is_the_long_name_of_tif(tmp_path: Path) -> None:
    result = run(["order", "place", "--time-in-force", "ioc"], home=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert "No such option" not in one_line(result)
    assert "Missing argument 'ticker'" in one_line(result)
