"""`kalshi config show|get|set|unset` and `kalshi config init`. None touches the network;
`set` and `unset` are `kalshi_cli.config.edit` (the file edited as text, checked whole, replaced
atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt, FormatOpt, JsonOpt
from kalshi_cli.cli._output import Column
from kalshi_cli.cli.app import command_group
from kalshi_cli.vocabulary.errors import DataWriteError, KalshiError, UsageError

if TYPE_CHECKING:
    from kalshi_cli.cli._options import Environment
    from kalshi_cli.config import Settings
    from kalshi_cli.config.edit import Entry

ENVIRONMENTS = ("sim", "demo", "prod")

config_app = command_group("config")


COLUMNS = (Column("key", "key"), Column("value", "value"), Column("source", "source"))
FileKeyArg = Annotated[str, typer.Argument(help="A setting (timeout, demo.tier) or a dotted key.")]


@config_app.command("show")
def show_command(as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None) -> None:
    """Print every setting, its value and where it came from.

    The source is flag, env, file (with the line) or default. Secrets are masked.

    Example: kalshi config show --env demo --json
    """
    app = current()
    settings = app.settings(env.value if env else None)
    # the file as every command reads it: a value only the trade loop reads is refused here too
    validate_file(settings.config_path)
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
    from kalshi_cli.config.edit import section_entries

    entries = with_params_defaults(section_entries(settings.config_path))
    rows += [{"key": e.key, "value": e.display() or "-", "source": _source(e)} for e in entries]
    out.table(COLUMNS, rows, document=show_json(settings, entries))


def _source(entry: Entry) -> str:
    return "default" if entry.source == "default" else f"file: {entry.origin}"


def show_json(settings: Settings, entries: list[Entry] | None = None) -> dict[str, Any]:
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
        "sections": {
            e.key: {"value": e.display(), "source": e.source, "origin": e.origin}
            for e in entries or []
        },
    }


@config_app.command("get")
def get_command(
    key: Annotated[
        str, typer.Argument(help="A setting (timeout) or a dotted key (risk.min_edge).")
    ],
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Print one value as it is in force (secrets masked), or every value below a section.

    Example: kalshi config get risk.max_orders_per_minute
    """
    app = current()
    named = key.split(".", 1)[0] if "." in key else None
    if named in ENVIRONMENTS and env is not None and env.value != named:
        raise UsageError(
            f"{key} is a setting of {named}, not of --env {env.value}",
            hint=f"drop --env, or ask for {env.value}.{key.split('.', 1)[1]}",
        )
    # `demo.tier` is demo's tier whatever environment is selected
    settings = app.settings(named if named in ENVIRONMENTS else (env.value if env else None))
    out = app.output(as_json=as_json)
    found = find_values(settings, key)
    if as_json:
        out.json({"key": key, "values": found})
        return
    for item in found:
        shown = "-" if item["value"] is None else item["value"]
        out.line(shown if len(found) == 1 else f"{item['key']}  {shown}")


def find_values(settings: Settings, key: str) -> list[dict[str, Any]]:
    """`key` (a setting, or a dotted key of a nested section, or a section) as
    `{"key", "value", "source", "origin"}` items; an unknown key is a usage error."""
    from kalshi_cli.config import KEYS_BY_NAME
    from kalshi_cli.config.edit import lookup, section_entries
    from kalshi_cli.vocabulary.decode import did_you_mean

    name = key.split(".", 1)[1] if key.split(".", 1)[0] in ENVIRONMENTS else key
    if name in KEYS_BY_NAME and name in {k.name for k in settings.applicable_keys()}:
        origin = settings.origins[name]
        return [
            {
                "key": key,
                "value": settings.display(name),
                "source": origin.source.value,
                "origin": origin.where,
            }
        ]
    entries = with_params_defaults(section_entries(settings.config_path), key)
    found = lookup(entries, key)
    if not found:
        names = sorted({*KEYS_BY_NAME, *(e.key for e in entries)})
        close = did_you_mean(key, names)
        hint = f"did you mean `{close}`?" if close else "`kalshi config show` lists every key"
        raise UsageError(f"unknown key `{key}`", hint=hint)
    return [
        {"key": e.key, "value": e.display(), "source": e.source, "origin": e.origin} for e in found
    ]


def with_params_defaults(entries: list[Entry], key: str = "") -> list[Entry]:
    """`entries`, and each parameter the file does not set of every built-in strategy (and of
    the one `key` names below `strategies.NAME`) at the strategy's own default: the value in
    force."""
    from kalshi_cli.config.edit import Entry
    from kalshi_cli.strategies import get_strategy, strategy_names
    from kalshi_cli.strategy_api import params_dict

    words = key.split(".")
    named = [words[1]] if words[0] == "strategies" and len(words) > 1 else []
    given = {e.key for e in entries}
    defaults = []
    for name in dict.fromkeys([*strategy_names(), *named]):
        try:
            params = params_dict(get_strategy(name).params())
        except KalshiError:
            continue
        defaults += [
            Entry(f"strategies.{name}.{k}", v, "default", "default") for k, v in params.items()
        ]
    return [*entries, *(d for d in defaults if d.key not in given)]


@config_app.command("set")
def set_command(
    key: FileKeyArg,
    value: Annotated[str, typer.Argument(help="One value, as YAML writes it.")],
    env: EnvOpt = None,
) -> None:
    """Write one value to the config file, keeping its comments, if the whole file then passes
    every check; otherwise nothing is written.

    A setting of an environment (api_base, tier, state...) goes to the --env section. The file
    is --config, else $KALSHI_CONFIG, else config.yaml in the config directory. An empty or
    null value is refused (a script's empty variable resets nothing): `config unset` resets.

    Example: kalshi config set risk.max_orders_per_minute 60
    """
    from kalshi_cli.config.edit import set_value
    from kalshi_cli.config.secrets import shown

    path, keys = where_edited(key, env)
    line = set_value(path, keys, value, validate_file)
    typer.echo(f"{path}:{line}: {'.'.join(keys)} = {shown('.'.join(keys), value)}")


@config_app.command("unset")
def unset_command(
    key: FileKeyArg,
    env: EnvOpt = None,
) -> None:
    """Take one value out of the config file, keeping its comments, and say the value now in
    force and where it comes from (an environment variable, or the default).

    Example: kalshi config unset risk.max_orders_per_minute
    """
    from kalshi_cli.config.edit import unset_value

    path, keys = where_edited(key, env)
    line = unset_value(path, keys, validate_file)
    dotted = ".".join(keys)
    done = (
        f"{path}: {dotted} is not set; nothing changed"
        if line is None
        else f"{path}:{line}: {dotted} unset"
    )
    settings = current().settings(keys[0] if keys[0] in ENVIRONMENTS else None)
    found = find_values(settings, dotted)
    typer.echo(f"{done}; now {in_force(found[0])}" if len(found) == 1 else done)


def in_force(item: dict[str, Any]) -> str:
    """A `find_values` item as the value in force and where it comes from."""
    where = "default" if item["source"] == "default" else f"{item['source']}: {item['origin']}"
    return f"{'-' if item['value'] is None else item['value']} ({where})"


def where_edited(key: str, env: Environment | None) -> tuple[Path, list[str]]:
    """Where `config set` and `config unset` edit `key`: the config file (--config, else
    $KALSHI_CONFIG, else the config directory's) and the keys in it (`file_keys`: a setting of
    an environment under the section of the command's --env, else of `kalshi --env`)."""
    from kalshi_cli.config import config_file_path

    app = current()
    path, _origin = config_file_path(app.config_path, app.environ)
    return path, file_keys(key, env.value if env else app.root_env)


def file_keys(key: str, env: str | None) -> list[str]:
    """Where `key` is written in the file: a setting of an environment under its section."""
    from kalshi_cli.config import KEYS_BY_NAME

    words = key.split(".")
    setting = KEYS_BY_NAME.get(words[0]) if len(words) == 1 else None
    if setting is not None and not setting.in_file:
        raise UsageError(f"{key} is not accepted in the config file", hint=setting.doc)
    if setting is not None and setting.section != "top":
        section = env or "sim"
        if setting.section == "sim" and section != "sim":
            raise UsageError(f"{key} belongs to the sim section only")
        return [section, key]
    return words


def validate_file(path: Path) -> None:
    """The file as every command would read it: its own environment choice, the settings of
    each environment and every nested section, checked by the layers that own them. `config set`
    writes nothing that fails it and `config show` shows nothing that fails it."""
    from kalshi_cli.agent.settings import load_agent_config
    from kalshi_cli.config import load_settings
    from kalshi_cli.runner.config import load_trade_config

    if not path.is_file():
        return
    # with no --env given, the file's own `env` is the one in force: checked as it is read
    load_settings(flags={}, config_path=path, environ={})
    for env in ENVIRONMENTS:
        load_settings(flags={"env": env}, config_path=path, environ={})
    load_trade_config(path)
    load_agent_config(path)


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
    from kalshi_cli.vocabulary.files import write_whole

    app = current()
    path, _origin = config_file_path(app.config_path, app.environ)
    if path.exists() and not force:
        # a config file is there, which is what was asked: `config init && config show` goes on
        typer.echo(f"{path} already exists; left as it is (--force overwrites it)", err=True)
        return
    try:
        # 0600: the file may come to hold a key id or a passphrase (its new directory 0700)
        write_whole(path, example_config(), mode=0o600)
    except OSError as exc:
        raise DataWriteError(f"cannot write {path}: {exc.strerror}") from None
    typer.echo(f"Wrote {path}")
