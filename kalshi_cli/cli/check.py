"""`kalshi check NAME`: one look, one Nagios line, a Nagios exit code, and de-duplicated alerts.

The exit codes are the Nagios plugin protocol's: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Every way
of failing to run the check (a bad flag, a broken config, an exchange that does not answer) is
UNKNOWN with its one `KALSHI NAME UNKNOWN - reason` line on stdout (`NagiosCommand`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from kalshi_cli.checks import DEFAULT_DEADLINE_S, CheckResult, CheckStatus, format_nagios
from kalshi_cli.cli._context import AppContext, current, refuse_a_missing_state_dir
from kalshi_cli.cli._options import (
    Environment,
    EnvOpt,
    JsonOpt,
    deadline_option,
    subaccount_option,
)
from kalshi_cli.vocabulary.errors import KalshiError, UsageError

if TYPE_CHECKING:
    from kalshi_cli.alerts.router import AlertRouter
    from kalshi_cli.checks.run import CheckInputs
    from kalshi_cli.checks.thresholds import Thresholds
    from kalshi_cli.config import Settings

UNKNOWN = int(CheckStatus.UNKNOWN)


class CheckName(StrEnum):
    POSITIONS = "positions"
    PNL = "pnl"
    HEARTBEAT = "heartbeat"
    ORDERS = "orders"
    EXPOSURE = "exposure"
    API = "api"
    FEED = "feed"
    EXCHANGE = "exchange"
    BALANCE = "balance"
    ALL = "all"


class NagiosCommand(TyperCommand):
    """A usage error is UNKNOWN (3) with a Nagios line (the JSON document with `--json`), not
    Click's exit code 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # read before Click parses them: its error leaves no value of `--json` behind, and a
        # machine reading the JSON must not be handed a line in its place
        as_json = "--json" in args[: args.index("--") if "--" in args else len(args)]
        try:
            return list(super().parse_args(ctx, args))
        except typer.TyperException as exc:
            if getattr(exc, "exit_code", None) != 2:
                raise
            from kalshi_cli.cli.app import report, usage_line

            reason = usage_line(exc, args)  # every command's words (`--state` goes before it)
            _render(None, [CheckResult("check", CheckStatus.UNKNOWN, reason)], as_json)
            report(reason, exc)
            raise typer.Exit(UNKNOWN) from None


COMMAND_CLASS = NagiosCommand  # `check` is built of it (cli/app.py `load_command`)


def check_command(
    *,
    name: Annotated[
        CheckName,
        typer.Argument(
            help="positions, pnl, heartbeat, orders, exposure, api, feed, exchange, balance, "
            "or all.",
            case_sensitive=False,
        ),
    ],
    as_json: JsonOpt = False,
    warn: Annotated[
        str | None, typer.Option("--warn", help="The check's WARNING threshold (docs/checks.md).")
    ] = None,
    crit: Annotated[
        str | None, typer.Option("--crit", help="The check's CRITICAL threshold.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Any other threshold, e.g. --set resting_max_age_s=600 (or heartbeat.warn=30 "
            "with all). Repeatable.",
        ),
    ] = None,
    no_alert: Annotated[
        bool, typer.Option("--no-alert", help="Look and print; post nothing.")
    ] = False,
    subaccount: Annotated[
        int | None,
        subaccount_option(
            "positions, exposure, balance (and all): this subaccount only. Default: every "
            "subaccount's positions, the primary's money."
        ),
    ] = None,
    deadline: Annotated[
        float,
        deadline_option(
            "Seconds the checks may spend asking the exchange, all together; "
            "a check still asking then is UNKNOWN."
        ),
    ] = DEFAULT_DEADLINE_S,
    env: EnvOpt = None,
) -> None:
    """Run a monitoring check once, for cron or Nagios.

    Prints one line (`KALSHI POSITIONS CRITICAL - 1 market over limit | 'over_limit'=1;0;0`) and
    exits 0 OK, 1 WARNING, 2 CRITICAL or 3 UNKNOWN. A breach is posted to the `alerts:` channels,
    once until it clears (then once more). Thresholds come from `checks:` in the config; see
    docs/checks.md. The checks that ask the exchange share one deadline (--deadline, default
    60 s, inside cron's usual 120 s): one still asking when it passes is UNKNOWN, and alerted as
    any UNKNOWN is.

    Example: kalshi check api --warn 500 --crit 2000 --deadline 30
    """
    from kalshi_cli.checks.run import run_named

    app = current()
    try:
        plan = _plan(
            app,
            name,
            warn=warn,
            crit=crit,
            overrides=overrides or (),
            no_alert=no_alert,
            env=env,
            subaccount=subaccount,
        )
    except KalshiError as exc:
        _render(name, [CheckResult(name.value, CheckStatus.UNKNOWN, exc.one_line())], as_json)
        raise typer.Exit(UNKNOWN) from None
    inputs = plan.inputs(app, subaccount, deadline)
    if plan.refused is None:
        shown = run_named(name.value, inputs)
    else:
        shown = [CheckResult(name.value, CheckStatus.UNKNOWN, plan.refused.one_line())]
    _render(name, shown, as_json)
    plan.alert(shown, inputs)
    raise typer.Exit(int(shown[0].status))


@dataclass(frozen=True)
class _Plan:
    settings: Settings
    thresholds: Thresholds
    risk: Mapping[str, Any]
    router: AlertRouter | None
    # why the state file is not this account's to look at (`AppContext.own_state`): the checks
    # do not run, and the UNKNOWN is still alerted
    refused: KalshiError | None = None

    def alert(self, shown: list[CheckResult], inputs: CheckInputs) -> None:
        """The results shown posted to the `alerts:` channels (`all`'s summary line only when
        no check looked; beside its checks, its alert cleared), what could not be said on
        stderr."""
        from kalshi_cli.checks.run import deliver

        if self.router is None:
            return
        results, graded = (shown[1:], shown[0]) if len(shown) > 1 else (shown, None)
        # another account's file holds no alert state of this one's: sent without it
        state = self.settings.state if self.refused is None else None
        for problem in deliver(results, self.router, state, clock=inputs.clock, graded=graded):
            typer.echo(problem, err=True)

    def inputs(self, app: AppContext, subaccount: int | None, deadline: float) -> CheckInputs:
        """What the checks read: the state file, the thresholds, the risk limits, the clients,
        and how long they may ask the exchange."""
        from kalshi_cli.checks.run import CheckInputs
        from kalshi_cli.runner.config import load_selection

        config_path = self.settings.config_path
        return CheckInputs(
            state_path=self.settings.state,
            thresholds=self.thresholds,
            risk_section=self.risk,
            client=partial(app.client, read_key=True),
            anonymous_client=lambda: app.client(anonymous=True),
            subaccount=subaccount,
            deadline_s=deadline,
            traded=lambda client: load_selection(config_path).markets(client),
        )


def _plan(
    app: AppContext,
    name: CheckName,
    *,
    warn: str | None,
    crit: str | None,
    overrides: Sequence[str],
    no_alert: bool,
    env: Environment | None,
    subaccount: int | None,
) -> _Plan:
    """Everything that can make the check unable to run, before it looks."""
    from kalshi_cli.checks import SCOPED_CHECKS
    from kalshi_cli.checks.run import load_sections
    from kalshi_cli.checks.thresholds import resolve

    if subaccount is not None and name.value not in (*SCOPED_CHECKS, CheckName.ALL.value):
        narrowed = ", ".join(SCOPED_CHECKS)
        raise UsageError(f"--subaccount applies to {narrowed} and all, not {name.value}")
    # A typo in --state or KALSHI_STATE is a check that cannot look, never the OK of an absent
    # file, and the alert state must not make the directory the typo names.
    refuse_a_missing_state_dir(app.state, app.environ)
    settings = app.settings(env.value if env else None)
    sections = load_sections(settings.config_path)
    thresholds = resolve(
        sections["checks"],
        check=None if name is CheckName.ALL else name.value,
        warn=warn,
        crit=crit,
        overrides=overrides,
    )
    router = None
    # No `alerts:` section means no channels, so nothing to post: skip importing the router.
    if not no_alert and sections["alerts"]:
        from kalshi_cli.alerts.router import AlertRouter

        router = AlertRouter.from_config(sections["alerts"])
    try:
        app.own_state()  # another account's file: UNKNOWN, no look at it (docs/checks.md)
    except KalshiError as exc:
        return _Plan(settings, thresholds, sections["risk"], router, exc)
    return _Plan(settings, thresholds, sections["risk"], router)


def _render(name: CheckName | None, results: list[CheckResult], as_json: bool) -> None:
    if as_json:
        from kalshi_cli.cli._output import dumps

        document = results[0].as_dict()
        if name is CheckName.ALL and len(results) > 1:
            document["checks"] = [r.as_dict() for r in results[1:]]
        typer.echo(dumps(document))
        return
    for result in results:
        typer.echo(format_nagios(result))
