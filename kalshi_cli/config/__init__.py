"""Settings: what each value is, where it came from, and the YAML file that may hold it. Every value
is resolved highest first, flag > environment variable > config file > default, and
`Settings.origins` records which won (`kalshi config show`). Each environment's values sit in its
`sim:`, `demo:` or `prod:` section, so a demo key never reaches a prod run, and every value is
decoded strictly into frozen msgspec Structs: a misspelt limit is refused. The hints are
evaluated with the module (no `from __future__ import annotations`), so msgspec does not compile
them from text on every decode. docs/configuration.md ("Validation", "In the code").
"""

import os
import re
import typing
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from kalshi_cli.config.sections import CONFIG_FILENAME as CONFIG_FILENAME
from kalshi_cli.config.sections import NESTED_SECTIONS as NESTED_SECTIONS
from kalshi_cli.config.sections import Located as Located
from kalshi_cli.config.sections import agent_strategy as agent_strategy
from kalshi_cli.config.sections import lineup_entries as lineup_entries
from kalshi_cli.config.sections import load_yaml as load_yaml
from kalshi_cli.config.sections import read_params_file as read_params_file
from kalshi_cli.config.sections import read_sections as read_sections
from kalshi_cli.config.sections import refuse_unknown as refuse_unknown
from kalshi_cli.config.sections import risk_section as risk_section
from kalshi_cli.config.sections import section as section
from kalshi_cli.vocabulary.decode import SECRET, decode_config
from kalshi_cli.vocabulary.errors import ConfigError, KalshiError, UsageError

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


class Origin(msgspec.Struct, frozen=True):
    """Where a setting's value came from: a flag, the environment, the file (with its line)
    or the default."""

    source: Source
    where: str  # "--env", "KALSHI_ENV", "/home/me/.config/kalshi/config.yaml:3" or "default"

    def __str__(self) -> str:
        return (
            self.source.value if self.source is Source.DEFAULT else f"{self.source}: {self.where}"
        )


class Dirs(msgspec.Struct, frozen=True):
    """Where files live by default: under KALSHI_HOME when set, else the per-OS user dirs."""

    home: Path | None

    def config_file(self) -> Path:
        if self.home is not None:
            return self.home / CONFIG_FILENAME
        import platformdirs

        return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILENAME

    def state_file(self, env: str, exchange: str | None = None) -> Path:
        """The default state file of `env`, in the directory of one exchange endpoint and
        account (`exchange_slug`); without one, the unkeyed per-environment file, one for every
        account, which is adopted (connection.choose_state_file)."""
        root = (
            self.home / "state"
            if self.home is not None
            else Path(_platformdirs().user_state_dir(APP_NAME))
        )
        return root / env / exchange / "state.db" if exchange else root / env / "state.db"

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

    address = urlsplit(api_base or "")
    host = (address.hostname or "exchange") + (f"_{address.port}" if address.port else "")
    digest = hashlib.sha256(f"{api_base}\n{key_id or ''}".encode()).hexdigest()
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', host)}-{digest[:10]}"


# --------------------------------------------------------------------------------------------
# What each value must be: the file's sections, and the flags and variables, as frozen Structs
# decoded by the one config decoder (`vocabulary.decode.decode_config`). None is "not set here",
# so the next source down (flag > variable > file) or the default applies.

Environment = Literal["sim", "demo", "prod"]
Tier = Literal["basic", "advanced", "expert", "premier", "paragon", "prime", "prestige"]
Text = Annotated[str, msgspec.Meta(min_length=1)]
Secret = Annotated[str, msgspec.Meta(min_length=1), SECRET]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://\S")]
WsUrl = Annotated[str, msgspec.Meta(pattern=r"^wss?://\S")]
Timeout = Annotated[float, msgspec.Meta(gt=0, le=600)]  # seconds
ReadLag = Annotated[float, msgspec.Meta(ge=0, le=60)]  # seconds
IdleStop = Annotated[float, msgspec.Meta(ge=0, le=604_800)]  # seconds: 0 never, at most a week
ENVIRONMENTS: tuple[str, ...] = typing.get_args(Environment)
TIERS: tuple[str, ...] = typing.get_args(Tier)


class TopLevel(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The settings of every environment, at the top level of the file."""

    env: Environment | None = None
    timeout: Timeout | None = None
    read_lag: ReadLag | None = None


class EnvironmentSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The settings of one exchange environment: a `demo:` or `prod:` section."""

    api_base: HttpUrl | None = None
    ws_url: WsUrl | None = None
    api_key_id: Secret | None = None
    private_key_path: Text | None = None
    private_key: Secret | None = None  # refused in the file: the environment's only
    private_key_passphrase: Secret | None = None
    tier: Tier | None = None
    state: Text | None = None

    def __post_init__(self) -> None:
        if self.private_key is not None:
            raise ValueError(
                "private_key is not accepted in the config file: use private_key_path, or "
                "the KALSHI_PRIVATE_KEY environment variable"
            )


class SimSection(EnvironmentSection, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`sim:`: an environment's settings and the embedded simulator's."""

    data_dir: Text | None = None
    scenario: Text | None = None
    idle_stop: IdleStop | None = None


class ConfigFile(TopLevel, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole file. The nested sections are their owners' to decode (`NESTED_SECTIONS`);
    here each only has to be a mapping."""

    sim: SimSection | None = None
    demo: EnvironmentSection | None = None
    prod: EnvironmentSection | None = None
    limits: dict[str, Any] | None = None
    risk: dict[str, Any] | None = None
    trade: dict[str, Any] | None = None
    alerts: dict[str, Any] | None = None
    checks: dict[str, Any] | None = None
    strategies: dict[str, Any] | None = None
    retention: dict[str, Any] | None = None
    agent: dict[str, Any] | None = None


class Overrides(SimSection, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every setting as the flags or the environment variables give it, by key name."""

    env: Environment | None = None
    timeout: Timeout | None = None
    read_lag: ReadLag | None = None

    def __post_init__(self) -> None:
        pass  # the private key's PEM text is accepted here, from the environment


class _Named(dict[str, Any]):
    """Values from flags or variables, each refused under the name it was given by
    (`KALSHI_TIER`, `--env`), as a file's value is at its line."""

    def __init__(self, values: Mapping[str, Any], names: Mapping[str, str]) -> None:
        super().__init__(values)
        self.names = names

    def where(self, key: str | None = None) -> str:
        return self.names.get(key, "") if key is not None else ""


class Key(msgspec.Struct, frozen=True):
    """One setting: its name, variable, default, documentation and where it may be set (what
    its value must be is its field's type in the Structs above)."""

    name: str
    env_var: str
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
        lambda env, dirs: "sim",
        "Exchange environment: sim (the local simulator), demo or prod. Nothing real happens "
        "unless demo or prod is chosen explicitly.",
        flag="--env",
    ),
    Key(
        "timeout",
        "KALSHI_TIMEOUT",
        lambda env, dirs: 10.0,
        "Seconds to wait for the exchange (connect, read, write) before giving up.",
    ),
    Key(
        "read_lag",
        "KALSHI_READ_LAG",
        lambda env, dirs: 1.0,
        "Seconds a read of orders or positions may lag a write (Kalshi was seen ~360 ms "
        "behind): the kill switch proves nothing from a listing taken sooner after its cancels, "
        "and an order read right after a write is read again after it.",
    ),
    Key(
        "api_base",
        "KALSHI_API_BASE",
        lambda env, dirs: _API_BASES.get(env),
        "REST base URL, ending in /trade-api/v2. For sim, unset means: join the embedded "
        "simulator of data_dir, starting it as a background process if none serves it.",
        section="env",
    ),
    Key(
        "ws_url",
        "KALSHI_WS_URL",
        lambda env, dirs: _WS_URLS.get(env),
        "WebSocket URL, ending in /trade-api/ws/v2. For the embedded simulator it is its own.",
        section="env",
    ),
    Key(
        "api_key_id",
        "KALSHI_API_KEY_ID",
        lambda env, dirs: None,
        "API key id (a UUID) for this environment; keys belong to one environment.",
        section="env",
        secret=True,
    ),
    Key(
        "private_key_path",
        "KALSHI_PRIVATE_KEY_PATH",
        lambda env, dirs: None,
        "PEM file holding the RSA private key of the API key; should be mode 600 "
        "(looser modes warn, and are refused on prod).",
        section="env",
    ),
    Key(
        "private_key",
        "KALSHI_PRIVATE_KEY",
        lambda env, dirs: None,
        "The private key's PEM text itself; environment only, never in this file.",
        section="env",
        secret=True,
        in_file=False,
    ),
    Key(
        "private_key_passphrase",
        "KALSHI_PRIVATE_KEY_PASSPHRASE",
        lambda env, dirs: None,
        "Passphrase of an encrypted private key.",
        section="env",
        secret=True,
    ),
    Key(
        "tier",
        "KALSHI_TIER",
        lambda env, dirs: "basic",
        "Your API rate-limit tier; the client paces requests to it. Unset, `trade` and "
        "`cancel-all` pace by the account's own, as the exchange states it.",
        section="env",
    ),
    Key(
        "state",
        "KALSHI_STATE",
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
        lambda env, dirs: dirs.sim_data_dir(),
        "Where the embedded simulator keeps its exchange state. "
        "Default: <user data dir>/kalshi/sim, or $KALSHI_HOME/sim.",
        section="sim",
    ),
    Key(
        "scenario",
        "KALSHI_SIM_SCENARIO",
        lambda env, dirs: "default",
        "Scenario of the embedded simulator: default, quiet, empty, or a YAML file.",
        section="sim",
    ),
    Key(
        "idle_stop",
        "KALSHI_SIM_IDLE_STOP",
        lambda env, dirs: 900.0,
        "Seconds the embedded simulator's background process waits with no request and no "
        "WebSocket open before it stops by itself (0: never; `kalshi sim stop` stops it now).",
        section="sim",
    ),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}


# --------------------------------------------------------------------------------------------
# Settings


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every setting of one run, resolved, with where each came from (`origins`). Its repr
    leaves out the private key's text and its passphrase (`repr_hiding`)."""

    env: str
    timeout: float
    read_lag: float
    api_base: str | None
    ws_url: str | None
    api_key_id: str | None
    private_key_path: Path | None
    private_key: str | None
    private_key_passphrase: str | None
    tier: str
    state: Path
    data_dir: Path
    scenario: str
    idle_stop: float
    config_path: Path
    config_exists: bool
    home: Path | None
    origins: dict[str, Origin]

    def __repr__(self) -> str:
        return repr_hiding(self, ("private_key", "private_key_passphrase"))

    @property
    def embedded_simulator(self) -> bool:
        """True when commands join the simulator of `data_dir`, starting it in the background
        if none serves it."""
        return self.env == "sim" and self.api_base is None

    @property
    def money_env(self) -> str:
        """The environment whose money is at stake: prod for a REST base on Kalshi's
        production domain (kalshi.com; demo's is kalshi.co), whatever `env` names (a
        `KALSHI_API_BASE` left in a shell), else `env`. Its switches and prompts are prod's."""
        from urllib.parse import urlsplit

        host = (urlsplit(self.api_base or "").hostname or "").rstrip(".")  # `kalshi.com.` too
        return "prod" if host == "kalshi.com" or host.endswith(".kalshi.com") else self.env

    @property
    def exchange_endpoint(self) -> str:
        """The exchange a state file is bound to (with the key id): the REST base, or the
        embedded simulator of a data directory (its port changes from run to run)."""
        if self.embedded_simulator:
            return f"embedded simulator {self.data_dir}"
        return str(self.api_base)

    @property
    def legacy_state(self) -> Path:
        """The unkeyed per-environment state file (no endpoint or account in its path)."""
        return Dirs(self.home).state_file(self.env)

    def applicable_keys(self) -> list[Key]:
        """The keys that apply to this environment, in schema order."""
        return [k for k in KEYS if k.section != "sim" or self.env == "sim"]

    def display(self, name: str) -> str | None:
        """The value as `config show` prints it: secrets masked, paths as text."""
        value = getattr(self, name)
        if name == "ws_url" and self.embedded_simulator and value is not None:
            # the embedded simulator serves where it chose to: only an api_base leads elsewhere
            return "(embedded simulator; not applied without api_base)"
        if value is None:
            if name in ("api_base", "ws_url") and self.embedded_simulator:
                return "(embedded simulator)"
            return None
        if KEYS_BY_NAME[name].secret:
            return mask(str(value), partial=name == "api_key_id")
        from kalshi_cli.config.secrets import looks_secret, mask_text

        # a value no key calls secret can still hold one: a URL with a password or a token
        return mask_text(str(value)) if looks_secret(str(value)) else str(value)


def repr_hiding(record: msgspec.Struct, hidden: tuple[str, ...]) -> str:
    """`record`'s repr without the fields `hidden` names (a private key, its passphrase), so
    no log line or traceback shows them."""
    shown = (
        f"{name}={getattr(record, name)!r}"
        for name in record.__struct_fields__
        if name not in hidden
    )
    return f"{type(record).__name__}({', '.join(shown)})"


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
    `config_path` is `--config`. Raises ConfigError for a malformed file or value (UsageError
    for a flag's)."""
    environ = os.environ if environ is None else environ
    env_value = _env_lookup(environ)

    dirs = dirs_from(environ)
    path, path_origin = config_file_path(config_path, environ)
    # A file named explicitly must exist; the default one is optional.
    if path_origin.source is not Source.DEFAULT and not path.exists():
        raise ConfigError(
            f"config file {path} does not exist", hint="`kalshi config init` writes one"
        )
    document = _choices_folded(read_sections(path))
    exists = path.is_file()

    given = {
        k: v if isinstance(v, str) else str(v)  # text, as typed (a Path from `--state`)
        for k, v in (flags or {}).items()
        if v is not None and k in KEYS_BY_NAME
    }
    from_flags = _overrides(given, {k: KEYS_BY_NAME[k].flag or k for k in given}, UsageError)
    variables = {k.name: env_value(k.env_var) for k in KEYS}
    set_vars = {k: v for k, v in variables.items() if v is not None}
    from_env = _overrides(set_vars, {k: KEYS_BY_NAME[k].env_var for k in set_vars}, ConfigError)
    overridden = set(given) | set(set_vars)
    env_given = from_flags.env or from_env.env
    file = decode_config(
        ConfigFile, _in_force(document, overridden, env_given), where="", what="setting"
    )

    values, found = _resolved(document, file, from_flags, from_env, dirs)
    origins = {"config": path_origin, **found}
    _check_api_path(values.get("api_base"), origins.get("api_base"))
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
        config_exists=exists,
        home=dirs.home,
        origins=origins,
    )


def _resolved(
    document: Located, file: ConfigFile, from_flags: Overrides, from_env: Overrides, dirs: Dirs
) -> tuple[dict[str, Any], dict[str, Origin]]:
    """Each key's value and where it came from: a flag, else a variable, else the file, else
    its default."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    # `env` first: it selects the file section every per-environment key is read from.
    for key in KEYS:
        env = str(values.get("env", "sim"))
        section = document if key.section == "top" else _located(document.get(env))
        holder = file if key.section == "top" else getattr(file, env)
        if key.section == "sim" and env != "sim":
            holder = None
        for value, origin in (
            (getattr(from_flags, key.name), Origin(Source.FLAG, key.flag or key.name)),
            (getattr(from_env, key.name), Origin(Source.ENV, key.env_var)),
            (getattr(holder, key.name, None), Origin(Source.FILE, section.where(key.name))),
            (key.default(env, dirs), Origin(Source.DEFAULT, "default")),
        ):
            if value is not None or origin.source is Source.DEFAULT:
                values[key.name] = _typed(key.name, value)
                origins[key.name] = origin
                break
    return values, origins


def _check_api_path(api_base: object, origin: Origin | None) -> None:
    """Every trade-api path hangs under `/trade-api/v2` (signatures cover it too): a base URL
    without it answered every request 404, which read as an unknown market."""
    from urllib.parse import urlsplit

    if not isinstance(api_base, str) or urlsplit(api_base).path.rstrip("/").endswith(
        "/trade-api/v2"
    ):
        return
    where = origin.where if origin is not None else "api_base"
    raise ConfigError(
        f"{where}: {api_base} does not end in /trade-api/v2",
        hint=f"Kalshi's bases end so, e.g. {api_base.rstrip('/')}/trade-api/v2",
    )


def _overrides(
    values: Mapping[str, object], names: Mapping[str, str], error: type[KalshiError]
) -> Overrides:
    """Flags' or variables' values decoded as the file's are, each refused under its name."""
    if not values:
        return _NO_OVERRIDES
    # text as typed: a choice in any case (`DEMO`), spaces around it ignored
    cleaned = {
        k: (v.strip().lower() if k in _CHOICES else v.strip()) if isinstance(v, str) else v
        for k, v in values.items()
    }
    try:
        return decode_config(Overrides, _Named(cleaned, names), where="")
    except ConfigError as exc:
        if error is ConfigError:
            raise
        raise error(exc.message, hint=exc.hint) from None


_NO_OVERRIDES = Overrides()
_CHOICES = ("env", "tier")  # read in any case: `env: Demo`, `KALSHI_TIER=PREMIER`


def _in_force(document: Located, overridden: set[str], env_given: str | None) -> Located:
    """What of the file is judged: the top level and the section of the environment in force,
    without the values a flag or variable overrides, each text read without the spaces around
    it. Another environment's section is judged by its names alone (a typo is refused wherever
    it is), so a mistake in a section this run never reads, or in a value it overrides, never
    stands between a command and the exchange: the kill switch included."""
    chosen = env_given or document.get("env") or "sim"
    kept = _copy(document, lambda name: name not in overridden)
    for env in ENVIRONMENTS:
        section = kept.get(env)
        if not isinstance(section, Located):
            continue
        if env == chosen:
            kept[env] = _copy(section, lambda name: name not in overridden)
        else:
            # a private key's text is refused in any section, read or not
            kept[env] = _copy(section, lambda name: name == "private_key")
            kept[env].update(dict.fromkeys(n for n in section if n != "private_key"))
    return kept


def _copy(node: Located, keep: Callable[[str], bool]) -> Located:
    """The entries of `node` that `keep` names, text stripped of the spaces around it."""
    copy = Located(node.path, node.line)
    copy.lines = node.lines
    for name, value in node.items():
        if keep(name):
            copy[name] = value.strip() if isinstance(value, str) else value
    return copy


def _choices_folded(document: Located) -> Located:
    """`document` with the choices of the top level and of each environment in lower case."""
    folded = _folded(document)
    for env in ENVIRONMENTS:
        section = folded.get(env)
        if isinstance(section, Located):
            folded[env] = _folded(section)
    return folded


def _folded(node: Located) -> Located:
    copy = Located(node.path, node.line)
    copy.update(node)
    copy.lines = node.lines
    for key in _CHOICES:
        if isinstance(node.get(key), str):
            copy[key] = node[key].lower()
    return copy


def _typed(name: str, value: Any) -> Any:
    """A decoded value as `Settings` holds it: paths expanded, URLs without a trailing '/'."""
    if value is None:
        return None
    if name in ("private_key_path", "state", "data_dir") and not isinstance(value, Path):
        return Path(value).expanduser()
    if name in ("api_base", "ws_url"):
        return str(value).rstrip("/")
    return value


def _located(section: object) -> Located:
    return section if isinstance(section, Located) else Located(Path(), 0)


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
        if key.name == "tier":
            default = None  # set, it would win over the tier the exchange states (the comment)
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
