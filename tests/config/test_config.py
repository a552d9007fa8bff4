"""Settings: the precedence table, file locations, validation with file and line, the example."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.config import (
    ENVIRONMENTS,
    KEYS,
    NESTED_SECTIONS,
    ConfigFile,
    Overrides,
    Source,
    example_config,
    load_settings,
    load_yaml,
)
from kalshi_cli.vocabulary.errors import ConfigError, UsageError

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Precedence: flag > environment > file > default, for a top-level and a per-environment key


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected", "source"),
    [
        ("prod", "demo", "demo", "prod", Source.FLAG),
        (None, "demo", "prod", "demo", Source.ENV),
        (None, None, "demo", "demo", Source.FILE),
        (None, None, None, "sim", Source.DEFAULT),
    ],
)
def test_env_precedence(
    tmp_path: Path,
    *,
    flag: str | None,
    env: str | None,
    file: str | None,
    expected: str,
    source: Source,
) -> None:
    config = write(tmp_path / "c.yaml", f"env: {file}\n" if file else "")
    environ = {"KALSHI_ENV": env} if env else {}
    settings = load_settings(flags={"env": flag}, config_path=config, environ=environ)
    assert settings.env == expected
    assert settings.origins["env"].source is source


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected", "source"),
    [
        ("/f/state.db", "/e/state.db", "/c/state.db", "/f/state.db", Source.FLAG),
        (None, "/e/state.db", "/c/state.db", "/e/state.db", Source.ENV),
        (None, None, "/c/state.db", "/c/state.db", Source.FILE),
    ],
)
def test_state_precedence(
    tmp_path: Path, *, flag: str | None, env: str | None, file: str, expected: str, source: Source
) -> None:
    config = write(tmp_path / "c.yaml", f"demo:\n  state: {file}\n")
    environ = {"KALSHI_ENV": "demo", **({"KALSHI_STATE": env} if env else {})}
    settings = load_settings(flags={"state": flag}, config_path=config, environ=environ)
    assert settings.state == Path(expected)
    assert settings.origins["state"].source is source


def test_state_default_is_per_environment_endpoint_and_account_under_home(
    tmp_path: Path,
) -> None:
    home = {"KALSHI_HOME": str(tmp_path)}
    demo = load_settings(environ={**home, "KALSHI_ENV": "demo", "KALSHI_API_KEY_ID": "a" * 36})
    prod = load_settings(environ={**home, "KALSHI_ENV": "prod", "KALSHI_API_KEY_ID": "a" * 36})
    other = load_settings(environ={**home, "KALSHI_ENV": "prod", "KALSHI_API_KEY_ID": "b" * 36})
    embedded = load_settings(environ=home)
    assert demo.state.parent.parent == tmp_path / "state" / "demo"
    assert demo.state.parent.name.startswith("demo-api.kalshi.co-")
    assert prod.state.parent.parent == tmp_path / "state" / "prod"
    assert prod.state.parent.name.startswith("external-api.kalshi.com-")
    assert other.state != prod.state  # another key id: another account, another file
    assert "a" * 8 not in str(prod.state)  # the key id itself is not in the path
    assert embedded.state == tmp_path / "state" / "sim" / "embedded" / "state.db"
    assert demo.origins["state"].source is Source.DEFAULT


def test_file_value_names_its_line(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "env: demo\n\ndemo:\n  tier: advanced\n")
    settings = load_settings(config_path=config, environ={})
    assert settings.tier == "advanced"
    assert settings.origins["tier"].where == f"{config}:4"


def test_keys_of_another_environment_are_not_used(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "prod:\n  api_key_id: prod-key\n")
    settings = load_settings(config_path=config, environ={"KALSHI_ENV": "demo"})
    assert settings.api_key_id is None


def test_environment_defaults_point_at_the_right_exchange(tmp_path: Path) -> None:
    home = {"KALSHI_HOME": str(tmp_path)}
    assert load_settings(environ={**home, "KALSHI_ENV": "demo"}).api_base == (
        "https://demo-api.kalshi.co/trade-api/v2"
    )
    assert load_settings(environ={**home, "KALSHI_ENV": "prod"}).api_base == (
        "https://external-api.kalshi.com/trade-api/v2"
    )
    sim = load_settings(environ=home)
    assert sim.api_base is None and sim.embedded_simulator
    assert sim.data_dir == tmp_path / "sim"


def test_sim_with_an_api_base_does_not_embed(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "KALSHI_HOME": str(tmp_path),
            "KALSHI_API_BASE": "http://127.0.0.1:9/trade-api/v2/",
        }
    )
    assert not settings.embedded_simulator
    assert settings.api_base == "http://127.0.0.1:9/trade-api/v2"


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    settings = load_settings(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_ENV": ""})
    assert settings.env == "sim"


# --------------------------------------------------------------------------------------------
# Where the file is


def test_config_location_order(tmp_path: Path) -> None:
    flag_file = write(tmp_path / "flag.yaml", "env: prod\n")
    env_file = write(tmp_path / "env.yaml", "env: demo\n")
    write(tmp_path / "config.yaml", "timeout: 3\n")
    environ = {"KALSHI_HOME": str(tmp_path), "KALSHI_CONFIG": str(env_file)}
    assert load_settings(config_path=flag_file, environ=environ).env == "prod"
    assert load_settings(environ=environ).env == "demo"
    from_home = load_settings(environ={"KALSHI_HOME": str(tmp_path)})
    assert from_home.timeout == 3.0
    assert from_home.config_path == tmp_path / "config.yaml"


def test_missing_default_file_is_fine_but_a_named_one_is_not(tmp_path: Path) -> None:
    settings = load_settings(environ={"KALSHI_HOME": str(tmp_path)})
    assert not settings.config_exists
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml does not exist"):
        load_settings(environ={"KALSHI_CONFIG": str(tmp_path / "nope.yaml")})


# --------------------------------------------------------------------------------------------
# Validation: one line naming the file and line


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("env: [sim\n", r"c\.yaml:\d+: malformed YAML"),
        ("env: sim\n  tier: x: y\n", r"c\.yaml:2: malformed YAML"),
        ("- a\n- b\n", r"c\.yaml:1: expected a mapping of settings"),
        ("env: staging\n", r"c\.yaml:1: env: expected one of sim, demo, prod, not 'staging'"),
        ("timeout: soon\n", r"c\.yaml:1: timeout: expected a number, not 'soon'"),
        ("timeout: 601\n", r"c\.yaml:1: timeout: expected `float` <= 600"),
        ("envv: sim\n", r"c\.yaml:1: unknown setting `envv`"),
        ("demo:\n  api_kye_id: x\n", r"c\.yaml:2: unknown setting `demo\.api_kye_id`"),
        ("sim:\n  private_key: abc\n", r"c\.yaml:2: sim: private_key is not accepted"),
        ("demo: 3\n", r"c\.yaml:1: demo: expected a mapping, not 3"),
        ("env: sim\nenv: demo\n", r"c\.yaml:2: `env` is set twice"),
        ("demo:\n  api_base: ftp://x\n", r"c\.yaml:2: demo\.api_base: expected `str` matching"),
        ("demo:\n  tier: [a]\n", r"c\.yaml:2: demo\.tier: expected text, not a list"),
        ("risk:\n  max_order_count: &a [*a]\n", r"c\.yaml:2: `risk\.max_order_count` holds"),
        ("risk: &r\n  nested: *r\n", r"c\.yaml:1: `risk\.nested` holds itself"),
        ("timeout: 2026-13-45\n", r"c\.yaml: malformed YAML: month must be in 1\.\.12"),
    ],
)
@pytest.mark.timeout(20)  # a YAML alias inside its own anchor once hung every command
def test_malformed_config_names_file_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    config = write(tmp_path / "c.yaml", text)
    # the per-environment cases need env demo; the top-level `env` cases must not be overridden
    environ = {} if text.startswith("env:") else {"KALSHI_ENV": "demo"}
    with pytest.raises(ConfigError, match=pattern) as info:
        load_settings(config_path=config, environ=environ)
    assert "\n" not in info.value.one_line()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "api_key_id: x\n",
            "c.yaml:1: unknown setting `api_key_id` (`api_key_id` belongs in "
            "`sim:` or `demo:` or `prod:`)",
        ),
        (
            "demo:\n  data_dir: /x\n",
            "c.yaml:2: unknown setting `demo.data_dir` (`data_dir` belongs in `sim:`)",
        ),
        (
            "sim:\n  timeout: 3\n",
            "c.yaml:2: unknown setting `sim.timeout` (`timeout` belongs in the top level)",
        ),
    ],
)
def test_a_key_in_the_wrong_place_says_where_it_belongs(
    tmp_path: Path, text: str, says: str
) -> None:
    config = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=config, environ={"KALSHI_ENV": "demo"})
    assert info.value.one_line() == says.replace("c.yaml", str(config))


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "timout: 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=config, environ={})
    assert "did you mean `timeout`?" in info.value.one_line()


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^KALSHI_TIER: tier: expected one of basic, "):
        load_settings(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_TIER": "gold"})
    with pytest.raises(ConfigError, match=r"^KALSHI_TIMEOUT: timeout: expected `float` > 0"):
        load_settings(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_TIMEOUT": "0"})


def test_a_variable_or_flag_is_read_as_typed_text(tmp_path: Path) -> None:
    settings = load_settings(
        flags={"env": " DEMO "},
        environ={"KALSHI_HOME": str(tmp_path), "KALSHI_TIER": "Premier", "KALSHI_TIMEOUT": "2.5"},
    )
    assert (settings.env, settings.tier, settings.timeout) == ("demo", "premier", 2.5)


def test_bad_flag_value_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--env: env: expected one of sim, demo, prod"):
        load_settings(flags={"env": "nope"}, environ={"KALSHI_HOME": str(tmp_path)})


def test_a_secret_refused_is_not_quoted(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "demo:\n  private_key_passphrase: [hunter2]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=config, environ={"KALSHI_ENV": "demo"})
    assert f"{config}:2: demo.private_key_passphrase" in info.value.message
    assert "hunter2" not in info.value.one_line()


def test_null_in_file_means_not_set(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "env: null\ndemo:\n  api_base: null\n")
    settings = load_settings(config_path=config, environ={"KALSHI_ENV": "demo"})
    assert settings.origins["api_base"].source is Source.DEFAULT
    assert settings.env == "demo"


# --------------------------------------------------------------------------------------------
# Secrets and the example file


def test_secrets_are_masked(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "KALSHI_HOME": str(tmp_path),
            "KALSHI_API_KEY_ID": "a952bcbe-ec3b-4b5b-b8f9-11dae589608c",
            "KALSHI_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n",
            "KALSHI_PRIVATE_KEY_PASSPHRASE": "hunter2",
        }
    )
    assert settings.display("api_key_id") == "a952********"
    assert settings.display("private_key") == "********"
    assert settings.display("private_key_passphrase") == "********"
    assert "MIIEvQIBADAN" not in repr(settings) and "hunter2" not in repr(settings)


def test_example_file_is_current_and_loads_to_the_defaults(tmp_path: Path) -> None:
    example = ROOT / "config.example.yaml"
    assert example.read_text(encoding="utf-8") == example_config(), (
        "config.example.yaml is stale: regenerate it with "
        "`python -c 'from kalshi_cli.config import example_config as e; print(e(), end=\"\")' "
        "> config.example.yaml`"
    )
    for env in ("sim", "demo", "prod"):
        from_file = load_settings(config_path=example, environ={"KALSHI_ENV": env})
        defaults = load_settings(environ={"KALSHI_ENV": env, "KALSHI_HOME": str(tmp_path)})
        for key in KEYS:
            if key.name not in ("state", "data_dir"):
                assert getattr(from_file, key.name) == getattr(defaults, key.name), key.name


def test_example_documents_every_file_key() -> None:
    document = load_yaml(example_config(), Path("example.yaml"))
    for key in KEYS:
        if not key.in_file:
            continue
        if key.section == "top":
            assert key.name in document
        else:
            sections = ("sim",) if key.section == "sim" else ("sim", "demo", "prod")
            for env in sections:
                assert key.name in document[env], (env, key.name)


def test_every_setting_has_a_type_and_its_section_is_where_the_file_takes_it() -> None:
    """`KEYS` documents the settings, the Structs type them: the two name the same settings,
    and the file takes each in the section `KEYS` documents."""
    assert set(Overrides.__struct_fields__) == {k.name for k in KEYS}
    top = set(ConfigFile.__struct_fields__)
    assert set(NESTED_SECTIONS) | set(ENVIRONMENTS) <= top  # the file takes every section
    sim, demo = section_fields("sim"), section_fields("demo")
    for key in KEYS:
        if not key.in_file:
            continue
        assert (key.name in top) == (key.section == "top"), key.name
        assert (key.name in sim) == (key.section != "top"), key.name
        assert (key.name in demo) == (key.section == "env"), key.name


def section_fields(section: str) -> set[str]:
    import typing

    kind = typing.get_type_hints(ConfigFile)[section]
    (struct,) = [k for k in typing.get_args(kind) if k is not type(None)]
    return set(struct.__struct_fields__)


def test_configuration_doc_lists_every_key_and_variable() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for key in KEYS:
        assert f"| `{key.name}` |" in text, key.name
        assert f"`{key.env_var}`" in text, key.env_var


def test_configuration_doc_names_every_variable_the_package_reads() -> None:
    """A variable read outside the settings (a backtest's memory budget) is told there too."""
    import re

    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    named = {
        name
        for module in (ROOT / "kalshi_cli").rglob("*.py")
        for name in re.findall(r'"(KALSHI_[A-Z_]+)"', module.read_text(encoding="utf-8"))
    }
    assert "KALSHI_DATA_CACHE_MB" in named
    assert {name for name in named if not re.search(f"`{name}[`=]", text)} == set()


def test_sections_of_other_layers_are_left_to_them(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "risk:\n  max_position: 10\ntrade:\n  markets: [A]\n")
    assert load_settings(config_path=config, environ={}).env == "sim"
    with pytest.raises(ConfigError, match=r"d\.yaml:1: `risk:` must be a mapping"):
        load_settings(config_path=write(tmp_path / "d.yaml", "risk: 3\n"), environ={})
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=write(tmp_path / "e.yaml", "rsk: {}\n"), environ={})
    assert "did you mean `risk`?" in info.value.one_line()
