"""Where to connect and as whom: the endpoint, key id and private key decided from settings.

`resolve_connection(settings)` is the one place credentials are resolved. With `env: sim` and no
`api_base`, it starts (or joins) the simulator in this process through
`kalshi_cli.sim.embed.ensure_simulator` (imported only then), and the simulator's default
account supplies the endpoint and the key. Otherwise the configured `api_base`, `ws_url`,
`api_key_id` and key (PEM text from the environment wins over a path: it is the more deliberate
choice) are used; a key id without a key, or a key without an id, is an error before anything is
sent. No key at all is allowed here: a command that needs one asks `authenticated`.

Warnings (a loose key file, a sim key the embedded simulator ignores) go to the `warn` callable,
so this module prints nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.errors import CredentialsError

if TYPE_CHECKING:
    from kalshi_cli.config import Settings
    from kalshi_cli.keys import PrivateKey

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Connection:
    """Where to connect and as whom, once the simulator (if any) is up and the key is loaded."""

    env: str
    api_base: str
    ws_url: str | None
    key_id: str | None
    private_key: PrivateKey | None = field(repr=False)
    private_key_path: Path | None  # None when the key came as PEM text or there is none
    embedded: bool

    @property
    def authenticated(self) -> bool:
        return self.key_id is not None and self.private_key is not None


def resolve_connection(settings: Settings, *, anonymous: bool, warn: Warn) -> Connection:
    """The connection `settings` describe; `anonymous` skips loading the key (health-check's
    fallback when the key itself is what is broken)."""
    if settings.embedded_simulator:
        return _embedded(settings, anonymous=anonymous, warn=warn)
    if settings.api_base is None:  # only sim lacks a default, and that case is handled above
        raise CredentialsError(f"no api_base for env {settings.env}")
    has_key = settings.private_key is not None or settings.private_key_path is not None
    if anonymous or (settings.api_key_id is None and not has_key):
        key, key_id = None, None
    else:
        if settings.api_key_id is None:
            raise CredentialsError(
                f"a private key is configured for env {settings.env} but no api_key_id",
                hint="set KALSHI_API_KEY_ID or api_key_id; `kalshi config show` lists both",
            )
        if not has_key:
            raise CredentialsError(
                f"api_key_id is set for env {settings.env} but no private key",
                hint="set KALSHI_PRIVATE_KEY_PATH or private_key_path",
            )
        key_id = settings.api_key_id
        key = _load_key(
            settings,
            path=None if settings.private_key else settings.private_key_path,
            pem=settings.private_key,
            warn=warn,
        )
    return Connection(
        env=settings.env,
        api_base=settings.api_base,
        ws_url=settings.ws_url,
        key_id=key_id,
        private_key=key,
        private_key_path=None if settings.private_key else settings.private_key_path,
        embedded=False,
    )


def no_credentials(settings: Settings) -> CredentialsError:
    """The error of a command that needs a key when none is configured."""
    where = f"under `{settings.env}:` in {settings.config_path}"
    return CredentialsError(
        f"no API credentials for env {settings.env}",
        hint=f"set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH, or api_key_id and "
        f"private_key_path {where}",
    )


def _embedded(settings: Settings, *, anonymous: bool, warn: Warn) -> Connection:
    from kalshi_cli.sim.embed import ensure_simulator

    account = ensure_simulator(settings.data_dir, scenario=settings.scenario, tier=settings.tier)
    if settings.api_key_id or settings.private_key_path or settings.private_key:
        warn(
            "the embedded simulator uses its own account; the configured sim key is "
            "ignored (set KALSHI_API_BASE to use it against another simulator)"
        )
    key_path = Path(account.private_key_path)
    # the simulator generated this key itself: its RSA consistency check is skipped (keys.py)
    key = (
        None
        if anonymous
        else _load_key(settings, path=key_path, pem=None, warn=warn, generated_here=True)
    )
    return Connection(
        env=settings.env,
        api_base=account.api_base,
        ws_url=account.ws_url,
        key_id=account.key_id,
        private_key=key,
        private_key_path=key_path,
        embedded=True,
    )


def _load_key(
    settings: Settings,
    *,
    path: Path | None,
    pem: str | None,
    warn: Warn,
    generated_here: bool = False,
) -> PrivateKey:
    from kalshi_cli.keys import load_private_key

    key, warnings = load_private_key(
        path=path,
        pem=pem,
        passphrase=settings.private_key_passphrase,
        refuse_loose_permissions=settings.env == "prod",
        generated_here=generated_here,
    )
    for text in warnings:
        warn(text)
    return key


def serve_simulator(
    settings: Settings,
    *,
    host: str,
    port: int,
    data_dir: Path | None,
    scenario: str,
    speed: float,  # float-ok: a clock rate
    tier: str,
    balance_cents: int,
) -> None:
    """`kalshi sim serve`: the simulator in the foreground until Ctrl-C, keeping its state in
    `data_dir` (default: the settings'). Another simulator serving that directory is an error
    that says what to do; an unknown scenario or a port that cannot be bound is a usage error
    (exit 2), never a crash."""
    import errno

    from kalshi_cli.errors import KalshiError, UsageError
    from kalshi_cli.sim.embed import SimulatorBusy
    from kalshi_cli.sim.scenarios import ScenarioError
    from kalshi_cli.sim.serve import serve

    try:
        serve(
            host=host,
            port=port,
            data_dir=data_dir or settings.data_dir,
            scenario=scenario,
            speed=speed,
            tier=tier,
            balance_cents=balance_cents,
        )
    except SimulatorBusy as exc:
        raise KalshiError(
            f"another simulator already serves {data_dir or settings.data_dir}",
            hint="stop it, or pass another --data-dir",
        ) from exc
    except ScenarioError as exc:
        raise UsageError(str(exc), hint="see `kalshi sim serve --help`") from None
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            what = "is in use" if exc.errno == errno.EADDRINUSE else "cannot be used"
            raise UsageError(
                f"port {port} on {host} {what}: {exc.strerror}",
                hint="stop what listens there, or pass another --port (0 picks a free one)",
            ) from None
        raise
    except KeyboardInterrupt:
        return  # Ctrl-C is how a foreground server is meant to stop
