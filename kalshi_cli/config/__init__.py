"""Settings: what each value is, where it came from, and the YAML file that may hold it.

Every value is resolved by one rule, highest first: command-line flag > environment variable >
config file > default. `Settings.origins` records which of the four won for each key (and the
exact flag, variable or file line), so `kalshi config show` can say why a value is what it is.

The file is YAML. Environment-independent keys sit at the top level; everything that belongs to
one exchange environment (endpoints, the API key, the state file) sits in a `sim:`, `demo:` or
`prod:` section, so a demo key can never be picked up by a prod run. Environment variables apply to
whichever environment is selected.

The key table `KEYS` is the schema: the loader, `config show`, `config init` and
`config.example.yaml` are all derived from it, so adding a setting is one entry there. Unknown keys
in the file are an error (with a "did you mean"), because a misspelt limit that is silently ignored
is worse than a refusal to start. A private key's PEM text is accepted from the environment only,
never from the file.

The package has three seams, each a module: this one (the settings, their provenance and the
top-level file reader), `sections` (the nested sections of other layers, `NESTED_SECTIONS`:
limits, risk, strategies, trade, checks, alerts, read strictly with file and line by
`read_sections()`; re-exported here, so `from kalshi_cli.config import read_sections` keeps
working), and `edit` (what `kalshi config get` and `set` read and write). Each command reads and
checks every section it uses before it contacts the exchange.

This module is imported by `kalshi config show`, so it stays light: PyYAML and platformdirs only.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from kalshi_cli.config.sections import CONFIG_FILENAME as CONFIG_FILENAME
from kalshi_cli.config.sections import NESTED_SECTIONS as NESTED_SECTIONS
from kalshi_cli.config.sections import Located as Located
from kalshi_cli.config.sections import load_yaml as load_yaml
from kalshi_cli.config.sections import read_params_file as read_params_file
from kalshi_cli.config.sections import read_sections as read_sections
from kalshi_cli.config.sections import refuse_unknown as refuse_unknown
from kalshi_cli.config.sections import section as section
from kalshi_cli.config.sections import yaml_error_text
from kalshi_cli.vocabulary.errors import ConfigError, KalshiError, UsageError

ENVIRONMENTS = ("sim", "demo", "prod")
TIERS = ("basic", "advanced", "expert", "premier", "paragon", "prime", "prestige")
APP_NAME = "kalshi"
MASK = "********"

# The exchange's own hosts (shared/kalshi-api/REFERENCE.md, section 1).
_API_BASES = {
    "demo": "https://demo-api.kalshi.co/trade-api/v2",
    "prod": "https://external-api.kalshi.com/trade-api/v2",
}
_WS_URLS = {
    "demo": "wss://demo-api.kalshi.co/trade-api/ws/v2",
    "prod": "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
}


class Source(StrEnum):
    FLAG = "flag"
    ENV = "env"
    FILE = "file"
    DEFAULT = "default"


class Origin(NamedTuple):
    """Where a setting's value came from: a flag, the environment, the file (with its line)
    or the default."""

    source: Source
    where: str  # "--env", "KALSHI_ENV", "/home/me/.config/kalshi/config.yaml:3" or "default"

    def __str__(self) -> str:
        return (
            self.source.value if self.source is Source.DEFAULT else f"{self.source}: {self.where}"
        )


class Dirs(NamedTuple):
    """Where files live by default: under KALSHI_HOME when set, else the per-OS user dirs."""

    home: Path | None

    def config_file(self) -> Path:
        if self.home is not None:
            return self.home / CONFIG_FILENAME
        import platformdirs

        return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILENAME

    def state_file(self, env: str, exchange: str | None = None) -> Path:
        """The default state file of `env`, in the directory of one exchange endpoint and
        account (`exchange_slug`); without one, the per-environment file earlier versions used
        (`legacy_state_file`)."""
        root = (
            self.home / "state"
            if self.home is not None
            else Path(_platformdirs().user_state_dir(APP_NAME))
        )
        return root / env / exchange / "state.db" if exchange else root / env / "state.db"

    def legacy_state_file(self, env: str) -> Path:
        """Where every account of `env` shared one state file, before state was keyed by
        exchange endpoint and account; such a file is adopted (connection.choose_state_file)."""
        return self.state_file(env)

    def backtest_runs_dir(self) -> Path:
        """Where `kalshi backtest` keeps every run it made (backtest/history.py)."""
        if self.home is not None:
            return self.home / "backtests"
        return Path(_platformdirs().user_data_dir(APP_NAME)) / "backtests"

    def sim_data_dir(self) -> Path:
        if self.home is not None:
            return self.home / "sim"
        return Path(_platformdirs().user_data_dir(APP_NAME)) / "sim"


def _platformdirs() -> Any:
    import platformdirs

    return platformdirs


def exchange_slug(
    *, embedded: bool, api_base: str | None, key_id: str | None, data_dir: Path, dirs: Dirs
) -> str:
    """The directory name of one exchange endpoint and account under `state/<env>/`: readable
    (the host), and distinct per endpoint and key id (a digest of both, so no key id is
    written in a path). The embedded simulator is known by its data directory: it always
    serves that directory's one account, whatever port it listens on this time."""
    if embedded and data_dir.expanduser() == dirs.sim_data_dir():
        return "embedded"  # the common case, before importing hashlib (cold start)
    import hashlib

    if embedded:
        digest = hashlib.sha256(str(data_dir.expanduser().resolve()).encode()).hexdigest()
        return f"embedded-{digest[:10]}"
    from urllib.parse import urlsplit

    parts = urlsplit(api_base or "")
    host = (parts.hostname or "exchange") + (f"_{parts.port}" if parts.port else "")
    digest = hashlib.sha256(f"{api_base}\n{key_id or ''}".encode()).hexdigest()
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', host)}-{digest[:10]}"


# --------------------------------------------------------------------------------------------
# Value parsers: raw (a YAML scalar or an environment string) -> typed value, or ValueError


def _text(raw: object) -> str:
    if isinstance(raw, (dict, list)):
        raise ValueError("expected a single value, not a list or mapping")
    text = str(raw).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _choice(options: tuple[str, ...]) -> Callable[[object], str]:
    def parse(raw: object) -> str:
        text = _text(raw).lower()
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}, not {_text(raw)!r}")
        return text

    return parse


def _url(*schemes: str) -> Callable[[object], str]:
    def parse(raw: object) -> str:
        text = _text(raw).rstrip("/")
        if not text.startswith(tuple(f"{s}://" for s in schemes)):
            raise ValueError(f"must be a {' or '.join(schemes)} URL, not {text!r}")
        return text

    return parse


def _path(raw: object) -> Path:
    return Path(_text(raw)).expanduser()


def _number_of_seconds(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError("must be a number of seconds")
    try:
        return float(_text(raw))  # a duration in seconds
    except ValueError:
        raise ValueError(f"must be a number of seconds, not {raw!r}") from None


def _seconds(raw: object) -> float:
    value = _number_of_seconds(raw)
    if not 0 < value <= 600:
        raise ValueError("must be more than 0 and at most 600 seconds")
    return value


def _idle_seconds(raw: object) -> float:
    value = _number_of_seconds(raw)
    if not 0 <= value <= 604_800:
        raise ValueError("must be at least 0 (never) and at most 604800 seconds (a week)")
    return value


def _lag_seconds(raw: object) -> float:
    value = _number_of_seconds(raw)
    if not 0 <= value <= 60:
        raise ValueError("must be at least 0 and at most 60 seconds")
    return value


# --------------------------------------------------------------------------------------------
# The schema


class Key(NamedTuple):
    """One setting of the schema: its name, variable, parser, default, documentation and
    where it may be set."""

    name: str
    env_var: str
    parse: Callable[[object], Any]
    default: Callable[[str, Dirs], Any]  # (environment, dirs) -> default value (None = unset)
    doc: str
    section: str = "top"  # "top", "env" (in the sim/demo/prod section) or "sim" (sim only)
    flag: str | None = None
    secret: bool = False
    in_file: bool = True


KEYS: tuple[Key, ...] = (
    Key(
        "env",
        "KALSHI_ENV",
        _choice(ENVIRONMENTS),
        lambda env, dirs: "sim",
        "Exchange environment: sim (the local simulator), demo or prod. Nothing real happens "
        "unless demo or prod is chosen explicitly.",
        flag="--env",
    ),
    Key(
        "timeout",
        "KALSHI_TIMEOUT",
        _seconds,
        lambda env, dirs: 10.0,
        "Seconds to wait for the exchange (connect, read, write) before giving up.",
    ),
    Key(
        "read_lag",
        "KALSHI_READ_LAG",
        _lag_seconds,
        lambda env, dirs: 1.0,
        "Seconds a read of orders or positions may lag a write (Kalshi was seen ~360 ms "
        "behind): the kill switch proves nothing from a listing taken sooner after its cancels, "
        "and an order read right after a write is read again after it.",
    ),
    Key(
        "api_base",
        "KALSHI_API_BASE",
        _url("http", "https"),
        lambda env, dirs: _API_BASES.get(env),
        "REST base URL, ending in /trade-api/v2. For sim, unset means: join the embedded "
        "simulator of data_dir, starting it as a background process if none serves it.",
        section="env",
    ),
    Key(
        "ws_url",
        "KALSHI_WS_URL",
        _url("ws", "wss"),
        lambda env, dirs: _WS_URLS.get(env),
        "WebSocket URL, ending in /trade-api/ws/v2. For the embedded simulator it is its own.",
        section="env",
    ),
    Key(
        "api_key_id",
        "KALSHI_API_KEY_ID",
        _text,
        lambda env, dirs: None,
        "API key id (a UUID) for this environment; keys belong to one environment.",
        section="env",
        secret=True,
    ),
    Key(
        "private_key_path",
        "KALSHI_PRIVATE_KEY_PATH",
        _path,
        lambda env, dirs: None,
        "PEM file holding the RSA private key of the API key; should be mode 600 "
        "(looser modes warn, and are refused on prod).",
        section="env",
    ),
    Key(
        "private_key",
        "KALSHI_PRIVATE_KEY",
        _text,
        lambda env, dirs: None,
        "The private key's PEM text itself; environment only, never in this file.",
        section="env",
        secret=True,
        in_file=False,
    ),
    Key(
        "private_key_passphrase",
        "KALSHI_PRIVATE_KEY_PASSPHRASE",
        _text,
        lambda env, dirs: None,
        "Passphrase of an encrypted private key.",
        section="env",
        secret=True,
    ),
    Key(
        "tier",
        "KALSHI_TIER",
        _choice(TIERS),
        lambda env, dirs: "basic",
        "Your API rate-limit tier; the client paces requests to it.",
        section="env",
    ),
    Key(
        "state",
        "KALSHI_STATE",
        _path,
        lambda env, dirs: dirs.state_file(env),
        "The SQLite state file of this environment (orders, fills, trading state). "
        "Default: one per exchange endpoint and account, <user state dir>/kalshi/<env>/"
        "<exchange>/state.db (or under $KALSHI_HOME/state/), where <exchange> is `embedded` "
        "for the embedded simulator, else the host and a digest of the endpoint and key id.",
        section="env",
        flag="--state",
    ),
    Key(
        "data_dir",
        "KALSHI_SIM_DATA_DIR",
        _path,
        lambda env, dirs: dirs.sim_data_dir(),
        "Where the embedded simulator keeps its exchange state. "
        "Default: <user data dir>/kalshi/sim, or $KALSHI_HOME/sim.",
        section="sim",
    ),
    Key(
        "scenario",
        "KALSHI_SIM_SCENARIO",
        _text,
        lambda env, dirs: "default",
        "Scenario of the embedded simulator: default, quiet, empty, or a YAML file.",
        section="sim",
    ),
    Key(
        "idle_stop",
        "KALSHI_SIM_IDLE_STOP",
        _idle_seconds,
        lambda env, dirs: 900.0,
        "Seconds the embedded simulator's background process waits with no request and no "
        "WebSocket open before it stops by itself (0: never; `kalshi sim stop` stops it now).",
        section="sim",
    ),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Settings:
    """Every setting of one run, resolved, with where each came from (`origins`)."""

    env: str
    timeout: float
    read_lag: float
    api_base: str | None
    ws_url: str | None
    api_key_id: str | None
    private_key_path: Path | None
    private_key: str | None = field(repr=False)
    private_key_passphrase: str | None = field(repr=False)
    tier: str
    state: Path
    data_dir: Path
    scenario: str
    idle_stop: float
    config_path: Path
    config_exists: bool
    home: Path | None
    origins: dict[str, Origin] = field(compare=False)

    @property
    def embedded_simulator(self) -> bool:
        """True when commands join the simulator of `data_dir`, starting it in the background
        if none serves it."""
        return self.env == "sim" and self.api_base is None

    @property
    def exchange_endpoint(self) -> str:
        """The exchange a state file is bound to (with the key id): the REST base, or the
        embedded simulator of a data directory (its port changes from run to run)."""
        if self.embedded_simulator:
            return f"embedded simulator {self.data_dir}"
        return str(self.api_base)

    @property
    def legacy_state(self) -> Path:
        """The per-environment state file of before state was keyed by endpoint and account."""
        return Dirs(self.home).legacy_state_file(self.env)

    @property
    def has_credentials(self) -> bool:
        return (
            self.api_key_id is not None
            or self.private_key_path is not None
            or bool(self.private_key)
        )

    def applicable_keys(self) -> list[Key]:
        """The keys that apply to this environment, in schema order."""
        return [k for k in KEYS if k.section != "sim" or self.env == "sim"]

    def display(self, name: str) -> str | None:
        """The value as `config show` prints it: secrets masked, paths as text."""
        value = getattr(self, name)
        if value is None:
            if name in ("api_base", "ws_url") and self.embedded_simulator:
                return "(embedded simulator)"
            return None
        if KEYS_BY_NAME[name].secret:
            return mask(str(value), partial=name == "api_key_id")
        from kalshi_cli.config.secrets import looks_secret, mask_text

        # a value no key calls secret can still hold one: a URL with a password or a token
        return mask_text(str(value)) if looks_secret(str(value)) else str(value)


def mask(value: str, *, partial: bool = False) -> str:
    """Hide a secret; a key id keeps its first 4 characters so a person can tell keys apart."""
    if partial and len(value) > 8:
        return value[:4] + MASK
    return MASK


def load_settings(
    *,
    flags: Mapping[str, object | None] | None = None,
    config_path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting. `flags` maps key names to command-line values (None = not given);
    `config_path` is `--config`. Raises ConfigError for a malformed file or value."""
    environ = os.environ if environ is None else environ
    flags = flags or {}
    env_value = _env_lookup(environ)

    dirs = dirs_from(environ)
    path, path_origin = config_file_path(config_path, environ)
    # A file named explicitly must exist; the default one is optional.
    document = read_config_file(path, must_exist=path_origin.source is not Source.DEFAULT)
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {"config": path_origin}

    # `env` first: it selects the file section every per-environment key is read from.
    for key in KEYS:
        section = "top" if key.section == "top" else str(values["env"])
        value, origin = _resolve(
            key,
            section=section,
            flags=flags,
            env_value=env_value,
            document=document,
            dirs=dirs,
            values=values,
        )
        values[key.name] = value
        origins[key.name] = origin
    if origins["state"].source is Source.DEFAULT:
        values["state"] = dirs.state_file(
            str(values["env"]),
            exchange_slug(
                embedded=values["env"] == "sim" and values["api_base"] is None,
                api_base=values["api_base"],
                key_id=values["api_key_id"],
                data_dir=values["data_dir"],
                dirs=dirs,
            ),
        )

    return Settings(
        **values,
        config_path=path,
        config_exists=document.exists,
        home=dirs.home,
        origins=origins,
    )


def dirs_from(environ: Mapping[str, str]) -> Dirs:
    home = _env_lookup(environ)("KALSHI_HOME")
    return Dirs(Path(home).expanduser() if home else None)


def config_file_path(
    config_path: Path | str | None, environ: Mapping[str, str]
) -> tuple[Path, Origin]:
    """`--config`, else KALSHI_CONFIG, else config.yaml in the config dir (or KALSHI_HOME)."""
    if config_path is not None:
        return Path(config_path).expanduser(), Origin(Source.FLAG, "--config")
    from_env = _env_lookup(environ)("KALSHI_CONFIG")
    if from_env:
        return Path(from_env).expanduser(), Origin(Source.ENV, "KALSHI_CONFIG")
    return dirs_from(environ).config_file(), Origin(Source.DEFAULT, "default")


def _env_lookup(environ: Mapping[str, str]) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        # An empty variable counts as unset, as shells make it easy to export one by accident.
        value = environ.get(name)
        return value if value else None

    return lookup


def _resolve(
    key: Key,
    *,
    section: str,
    flags: Mapping[str, object | None],
    env_value: Callable[[str], str | None],
    document: ConfigDocument,
    dirs: Dirs,
    values: Mapping[str, Any],
) -> tuple[Any, Origin]:
    flag_value = flags.get(key.name)
    if flag_value is not None:
        where = key.flag or key.name
        return _parse(key, flag_value, where, UsageError), Origin(Source.FLAG, where)
    raw_env = env_value(key.env_var)
    if raw_env is not None:
        return _parse(key, raw_env, key.env_var, ConfigError), Origin(Source.ENV, key.env_var)
    if key.section != "sim" or section == "sim":
        entry = document.get(section, key.name)
        if entry is not None:
            raw, line = entry
            where = f"{document.path}:{line}"
            return _parse(key, raw, where, ConfigError), Origin(Source.FILE, where)
    env = str(values.get("env", "sim"))
    return key.default(env, dirs), Origin(Source.DEFAULT, "default")


def _parse(key: Key, raw: object, where: str, error: type[KalshiError]) -> Any:
    try:
        return key.parse(raw)
    except ValueError as exc:
        raise error(f"{where}: {key.name} {exc}") from None


# --------------------------------------------------------------------------------------------
# The file


class ConfigDocument(NamedTuple):
    """A parsed config file: values with the line each came from."""

    path: Path
    exists: bool
    top: dict[str, tuple[object, int]]
    sections: dict[str, dict[str, tuple[object, int]]]

    def get(self, section: str, name: str) -> tuple[object, int] | None:
        table = self.top if section == "top" else self.sections.get(section, {})
        entry = table.get(name)
        # `key: null` (or an empty value) means "not set here", as in the starter file.
        return None if entry is None or entry[0] is None else entry


def read_config_file(path: Path, *, must_exist: bool) -> ConfigDocument:
    """Read and validate the YAML file; a missing file is empty unless it was named explicitly."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(
                f"config file {path} does not exist", hint="`kalshi config init` writes one"
            ) from None
        return ConfigDocument(path, False, {}, {})
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"config file {path} cannot be read: {reason}") from None
    return parse_config_text(text, path)


def parse_config_text(text: str, path: Path) -> ConfigDocument:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_text(exc, path)) from None
    if root is None:
        return ConfigDocument(path, True, {}, {})
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: expected a mapping of settings")

    top_names = {k.name for k in KEYS if k.section == "top" and k.in_file}
    env_names = {k.name for k in KEYS if k.section == "env" and k.in_file}
    sim_names = env_names | {k.name for k in KEYS if k.section == "sim" and k.in_file}
    top: dict[str, tuple[object, int]] = {}
    sections: dict[str, dict[str, tuple[object, int]]] = {}
    for name, value_node, line in _entries(root, path):
        if name in ENVIRONMENTS:
            if _is_null(value_node):
                continue
            if not isinstance(value_node, yaml.MappingNode):
                raise ConfigError(f"{path}:{line}: `{name}:` must be a mapping of settings")
            allowed = sim_names if name == "sim" else env_names
            table: dict[str, tuple[object, int]] = {}
            for sub, sub_node, sub_line in _entries(value_node, path):
                _check_known(sub, allowed, path, sub_line, section=name)
                table[sub] = (_scalar(sub_node, path, sub_line), sub_line)
            sections[name] = table
            continue
        if name in NESTED_SECTIONS:
            if not (_is_null(value_node) or isinstance(value_node, yaml.MappingNode)):
                raise ConfigError(f"{path}:{line}: `{name}:` must be a mapping")
            continue
        _check_known(name, top_names, path, line, section=None)
        top[name] = (_scalar(value_node, path, line), line)
    return ConfigDocument(path, True, top, sections)


def _entries(node: Any, path: Path) -> list[tuple[str, Any, int]]:
    import yaml

    seen: set[str] = set()
    result = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(f"{path}:{line}: keys must be plain names")
        name = str(key_node.value)
        if name in seen:
            raise ConfigError(f"{path}:{line}: `{name}` is set twice")
        seen.add(name)
        result.append((name, value_node, line))
    return result


def _is_null(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _scalar(node: Any, path: Path, line: int) -> object:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{path}:{line}: expected a single value, not a list or mapping")
    if _is_null(node):
        return None
    # Values stay text; each key's parser decides what a valid value is, as for env variables.
    return str(node.value)


def _check_known(
    name: str, allowed: set[str], path: Path, line: int, *, section: str | None
) -> None:
    if name in allowed:
        return
    where = f"in `{section}:`" if section else "at the top level"
    if name == "private_key":
        raise ConfigError(
            f"{path}:{line}: private_key is not accepted in the config file",
            hint="use private_key_path, or the KALSHI_PRIVATE_KEY environment variable",
        )
    key = KEYS_BY_NAME.get(name)
    if key is not None and key.in_file:
        place = (
            "the top level"
            if key.section == "top"
            else (
                "the `sim:` section"
                if key.section == "sim"
                else "a `sim:`, `demo:` or `prod:` section"
            )
        )
        raise ConfigError(f"{path}:{line}: `{name}` is not valid {where}; it belongs in {place}")
    candidates = allowed | set(ENVIRONMENTS) | (set(NESTED_SECTIONS) if section is None else set())
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    hint = f"did you mean `{close[0]}`?" if close else "see config.example.yaml for every key"
    raise ConfigError(f"{path}:{line}: unknown setting `{name}` {where}", hint=hint)


# --------------------------------------------------------------------------------------------
# The starter file (`kalshi config init`) and config.example.yaml


def example_config() -> str:
    """Every file key with its default and what it does; config.example.yaml is exactly this."""
    dirs = Dirs(None)
    lines = [
        "# kalshi-cli configuration (YAML).",
        "#",
        "# Precedence, highest first: command-line flag > environment variable > this file >",
        "# default. `kalshi config show` prints every value and where it came from.",
        "# Location: --config, else $KALSHI_CONFIG, else config.yaml in the user config directory",
        "# ($KALSHI_HOME/config.yaml when KALSHI_HOME is set). A value of null means 'not set",
        "# here': the default applies. KALSHI_PRIVATE_KEY (the PEM text) is environment-only.",
        "",
    ]

    def emit(key: Key, env: str, indent: str) -> None:
        default = key.default(env, dirs)
        if key.name in ("state", "data_dir"):
            default = None  # machine-dependent: the comment says where it goes
        env_text = f"env {key.env_var}" + (f", flag {key.flag}" if key.flag else "")
        for chunk in _wrap(f"{key.doc} ({env_text})", 96 - len(indent)):
            lines.append(f"{indent}# {chunk}")
        lines.append(f"{indent}{key.name}: {_yaml_scalar(default)}")

    for key in KEYS:
        if key.section == "top":
            emit(key, "sim", "")
    for env in ENVIRONMENTS:
        lines.append("")
        lines.append(f"{env}:")
        for key in KEYS:
            if key.in_file and (key.section == "env" or (key.section == "sim" and env == "sim")):
                emit(key, env, "  ")
    lines.append("")
    lines.append("# Sections read by the parts that use them, each documented there:")
    from importlib.resources import files

    # the other layers' sections, hand-written with comments; tests/config/test_config_sections.py
    # keeps every value there equal to the default in the code that reads it
    sections = files("kalshi_cli").joinpath("sections.example.yaml").read_text(encoding="utf-8")
    return "\n".join(lines) + "\n" + sections


def _yaml_scalar(value: object) -> str:
    if value is None:
        return "null"
    return str(value)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width) or [""]
