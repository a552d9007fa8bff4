"""`kalshi config show` and `kalshi config init`. Neither touches the network."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt, FormatOpt, JsonOpt
from kalshi_cli.cli._output import Column
from kalshi_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from kalshi_cli.config import Settings

config_app = typer.Typer(
    name="config",
    help="Show or create the configuration.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app)


COLUMNS = (Column("key", "key"), Column("value", "value"), Column("source", "source"))


@config_app.command("show")
def show_command(as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None) -> None:
    """Print every setting, its value and where it came from.

    The source is flag, env, file (with the line) or default. Secrets are masked.

    Example: kalshi config show --env demo --json
    """
    app = current()
    settings = app.settings(env.value if env else None)
    out = app.output(as_json=as_json, fmt=fmt)
    config_origin = settings.origins["config"]
    config_text = str(settings.config_path) + ("" if settings.config_exists else " (not found)")
    rows = [{"key": "config", "value": config_text, "source": str(config_origin)}]
    if settings.home is not None:
        rows.append({"key": "home", "value": str(settings.home), "source": "env: KALSHI_HOME"})
    rows += [
        {
            "key": key.name,
            "value": settings.display(key.name) or "-",
            "source": str(settings.origins[key.name]),
        }
        for key in settings.applicable_keys()
    ]
    out.table(COLUMNS, rows, document=show_json(settings))


def show_json(settings: Settings) -> dict[str, Any]:
    origin = settings.origins["config"]
    return {
        "env": settings.env,
        "config_file": {
            "path": str(settings.config_path),
            "exists": settings.config_exists,
            "source": origin.source.value,
        },
        "home": None if settings.home is None else str(settings.home),
        "settings": {
            key.name: {
                "value": settings.display(key.name),
                "source": settings.origins[key.name].source.value,
                "origin": settings.origins[key.name].where,
            }
            for key in settings.applicable_keys()
        },
    }


@config_app.command("init")
def init_command(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter config file listing every key with its default.

    It goes to --config, else $KALSHI_CONFIG, else config.yaml in the user config directory
    ($KALSHI_HOME/config.yaml when KALSHI_HOME is set). Mode 600.

    Example: kalshi config init && kalshi config show
    """
    from kalshi_cli.config import config_file_path, example_config

    app = current()
    path, _origin = config_file_path(app.config_path, app.environ)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="--force overwrites it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600: the file may come to hold a key id or a passphrase.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(example_config())
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    typer.echo(f"Wrote {path}")
