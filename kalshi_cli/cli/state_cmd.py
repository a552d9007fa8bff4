"""`kalshi state path`, `kalshi state migrate [--list]` and `kalshi state prune`: where the state
file is, its schema, and what it keeps. `path` and `migrate --list` only read (they never create
the file); `migrate` applies the pending migrations, each with its record in one transaction (the
store does this on open); `prune` removes what the `retention:` policy lets go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._context import begin, current, refuse_a_missing_state_dir
from kalshi_cli.cli._options import EnvOpt, FormatOpt, JsonOpt, YesOpt
from kalshi_cli.cli._output import Column
from kalshi_cli.cli.app import command_group

state_app = command_group("state")


@state_app.callback()
def _state_in_a_directory_that_exists(ctx: typer.Context) -> None:
    # `state path` shows a --state or KALSHI_STATE in a directory that does not exist, which is
    # what it is for; the others refuse it as every command that uses the file does (the root
    # callback leaves `state` to this one): `bind` and `migrate` made the typo's directory and a
    # new, empty state file there, and `migrate --list` and `prune` read it as no state file yet.
    if ctx.invoked_subcommand != "path":
        app = current()
        refuse_a_missing_state_dir(app.state, app.environ)


@state_app.command("path")
def path_command(as_json: JsonOpt = False, env: EnvOpt = None) -> None:
    """Print the state file of this environment, exchange endpoint and account.

    Example: kalshi state path --env demo
    """
    from kalshi_cli.store import state_file_at

    app, out = begin(env, as_json=as_json)
    settings = app.settings()
    # Before anything is printed: a link to nothing or a directory at the path is a broken state
    # file (exit 17, naming it), never a path with no state file yet.
    exists = state_file_at(settings.state)
    if as_json:
        out.json(
            {
                "env": settings.env,
                "path": str(settings.state),
                "exists": exists,
                "source": str(settings.origins["state"]),
                "bound_to": _binding(settings.state),
            }
        )
        return
    out.line(str(settings.state))


def _binding(path: Path) -> dict[str, str] | None:
    """The exchange endpoint and (masked) account the file is bound to; None when it is not,
    or cannot be read."""
    from kalshi_cli.config import mask
    from kalshi_cli.store import Store

    binding = Store.read(path, lambda store: store.entries.exchange_binding())
    if binding is None:
        return None
    return {"endpoint": binding.endpoint, "account": mask(binding.account, partial=True)}


COLUMNS = (Column("name", "migration"), Column("applied", "applied"))


@state_app.command("migrate")
def migrate_command(
    list_only: Annotated[
        bool, typer.Option("--list", help="List the migrations and when each was applied.")
    ] = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Apply pending schema migrations, or `--list` them.

    Example: kalshi state migrate --list
    """
    from kalshi_cli.store import Store, StoreError, state_file_at

    app, out = begin(env, as_json=as_json, fmt=fmt)
    settings = app.settings()
    path = settings.state
    status: list[tuple[str, float | None]] = [(n, None) for n in Store.known_migrations()]
    applied_now: list[str] = []
    if list_only:
        # what cannot be a state file is refused (exit 17), not warned of and listed as a file
        # with every migration pending
        state_file_at(path)
        try:
            store = Store.open_readonly(path)
        except StoreError as exc:
            # behind on migrations: a read-only open refuses it, and listing must not migrate
            out.warn(exc.one_line())
            store = None
        if store is not None:
            with store:
                status = store.migration_status()
    else:
        report = Store.migrate(path)
        status, applied_now = report.status, report.applied_now
        out.note(
            f"applied: {', '.join(applied_now)}" if applied_now else "nothing to apply: up to date"
        )
    out.table(COLUMNS, _rows(status), document=_document(path, status, applied_now))


def _rows(status: list[tuple[str, float | None]]) -> list[dict[str, str]]:
    from kalshi_cli.vocabulary.clock import utc_datetime

    return [
        {
            "name": name,
            "applied": "pending" if at is None else utc_datetime(at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for name, at in status
    ]


def _document(
    path: Path, status: list[tuple[str, float | None]], applied_now: list[str]
) -> dict[str, object]:
    return {
        "path": str(path),
        "exists": path.is_file(),
        "migrations": [{"name": n, "applied_at": at} for n, at in status],
        "pending": [n for n, at in status if at is None],
        "applied_now": applied_now,
    }


PRUNE_COLUMNS = (Column("table", "table"), Column("removed", "removed", numeric=True))


@state_app.command("prune")
def prune_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; remove nothing.")
    ] = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Remove what the state file no longer needs, by the config's `retention:` policy.

    Finished orders past their age (with their history), old order history, events, alert
    logs, risk trips and trading-state history. Open orders, unknown intents, fills,
    settlements and the orders of the day of the assistant (`agent.strategy`: `kalshi mcp`'s
    budget counts them) stay (docs/state-file.md "Retention"). Safe while `kalshi trade` runs:
    it removes a hundred rows at a time. From cron, hourly:
    `0 * * * * kalshi state prune --env prod`.

    Example: kalshi state prune --dry-run
    """
    from kalshi_cli.cli._services import retention_policy
    from kalshi_cli.store import Store

    app, out = begin(env, as_json=as_json, fmt=fmt)
    settings = app.settings()
    policy, agent_strategy = retention_policy(app)
    report = Store.prune(settings.state, policy, agent_strategy=agent_strategy, dry_run=dry_run)
    rows = [{"table": t, "removed": str(n)} for t, n in report.removed.items()]
    verb = "would remove" if dry_run else "removed"
    out.note(f"{verb} {report.total} row(s) of {settings.state} in {report.seconds:.1f}s")
    document = {"path": str(settings.state), **report.to_json(), "policy": policy.to_json()}
    out.table(PRUNE_COLUMNS, rows, document=document)


@state_app.command("bind")
def bind_command(
    yes: YesOpt = False,
    env: EnvOpt = None,
    take_over: Annotated[
        bool,
        typer.Option(
            "--take-over",
            help="Bind a state file of another account or endpoint all the same, after "
            "copying it aside (the copy's path is printed).",
        ),
    ] = False,
) -> None:
    """Bind the state file in use to this exchange endpoint and account.

    For a new API key of the same account (a state file is bound to the key id it was first
    used with, and refused to any other: exit 20). Its orders, fills, trading state and risk
    trips become this key's. The account must be the file's: it lists the old key, or knows
    the file's orders; another account's file is refused (exit 20) whatever --yes says, unless
    --take-over. Asks on prod unless --yes.

    Example: kalshi state bind
    """
    from kalshi_cli.cli._services import confirm_on_prod
    from kalshi_cli.config import mask
    from kalshi_cli.services.connection import rebind_state

    app = current()
    settings = app.settings(env.value if env else None)
    confirm_on_prod(app, f"bind {settings.state} to this key", yes=yes)
    app.tolerate_state_mismatch = True  # what this command is for
    connection = app.connection(auth=True)
    rebound = rebind_state(settings, connection, app.client(), take_over=take_over)
    previous = rebound.previous
    if rebound.backup is not None:
        typer.echo(f"kept a copy of the file as it was: {rebound.backup}")
    if (
        previous is not None
        and previous.endpoint == settings.exchange_endpoint
        and previous.account == connection.key_id
    ):
        typer.echo(f"{settings.state}: already bound to this key; nothing changed")
        return
    was = "unbound" if previous is None else f"{mask(previous.account, partial=True)} at "
    was += "" if previous is None else previous.endpoint
    typer.echo(f"{settings.state}: bound to this key at {settings.exchange_endpoint} (was {was})")
