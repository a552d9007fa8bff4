"""Per-invocation state: settings, the one client, and the embedded simulator.

`AppContext` lives in Click's `ctx.obj`. Everything in it is lazy: `kalshi config show` resolves
settings and never builds a client; a market command builds the one `KalshiClient` of the process
on first use. With `env: sim` and no `api_base`, that first use starts (or joins) the simulator
through `kalshi_cli.sim.embed.ensure_simulator`, and its default account supplies the endpoint
and key, so every command works with no account anywhere.

Tests construct an `AppContext(client_factory=...)` and pass it as `obj=` to Typer's runner; the
command bodies then talk to a fake client without any patching.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kalshi_cli.cli._output import Output, TableFormat
from kalshi_cli.errors import CredentialsError

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.config import Settings
    from kalshi_cli.keys import PrivateKey

# (context, settings, anonymous) -> client; `anonymous` skips loading the key (health-check's
# fallback when the key itself is what is broken).
ClientFactory = Callable[["AppContext", "Settings", bool], "KalshiClient"]


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


class AppContext:
    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.root_env: str | None = None
        self.config_path: Path | None = None
        self.state: Path | None = None
        self._client_factory = client_factory or _build_client
        self._settings: Settings | None = None
        self._connection: Connection | None = None
        self._client: KalshiClient | None = None
        # seconds one client call may spend retrying; None keeps the client's own default
        self.retry_budget_s: float | None = None

    # -- settings --------------------------------------------------------------------------

    def settings(self, env: str | None = None) -> Settings:
        """Resolved once per process; a command's own `--env` wins over the root `--env`."""
        if self._settings is None:
            from kalshi_cli.config import load_settings

            flags: dict[str, object | None] = {"env": env or self.root_env, "state": self.state}
            self._settings = load_settings(
                flags=flags, config_path=self.config_path, environ=self.environ
            )
        return self._settings

    def output(self, *, as_json: bool = False, fmt: TableFormat | None = None) -> Output:
        return Output(as_json=as_json, fmt=fmt)

    def warn(self, text: str) -> None:
        typer.echo(f"Warning: {text}", err=True)

    # -- connection and client -------------------------------------------------------------

    def connection(self, *, auth: bool, anonymous: bool = False) -> Connection:
        """The endpoint and (unless `anonymous`) the loaded key. With `auth`, missing
        credentials are an error; without it, a command may run unauthenticated."""
        if self._connection is None:
            self._connection = self._connect(self.settings(), anonymous=anonymous)
        if auth and not self._connection.authenticated:
            raise _no_credentials(self.settings())
        return self._connection

    def client(
        self, *, auth: bool = False, anonymous: bool = False, retry_budget_s: float | None = None
    ) -> KalshiClient:
        """The one client of this process. `auth=True` for portfolio commands: they fail with
        a one-line credentials error before any request when no key is configured.
        `retry_budget_s` caps the time one call may spend retrying (`kalshi trade`: its loop
        must keep ticking); it shapes the client this call builds, so it must come first."""
        settings = self.settings()
        if self._client is None:
            self.retry_budget_s = retry_budget_s
            self._client = self._client_factory(self, settings, anonymous)
        elif retry_budget_s is not None and retry_budget_s != self.retry_budget_s:
            raise RuntimeError("the client was already built with another retry budget")
        if auth and not self._client.authenticated:
            raise _no_credentials(settings)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self, settings: Settings, *, anonymous: bool) -> Connection:
        if settings.embedded_simulator:
            from kalshi_cli.sim.embed import ensure_simulator

            account = ensure_simulator(
                settings.data_dir, scenario=settings.scenario, tier=settings.tier
            )
            if settings.api_key_id or settings.private_key_path or settings.private_key:
                self.warn(
                    "the embedded simulator uses its own account; the configured sim key is "
                    "ignored (set KALSHI_API_BASE to use it against another simulator)"
                )
            key_path = Path(account.private_key_path)
            key = None if anonymous else self._load_key(settings, path=key_path, pem=None)
            return Connection(
                env=settings.env,
                api_base=account.api_base,
                ws_url=account.ws_url,
                key_id=account.key_id,
                private_key=key,
                private_key_path=key_path,
                embedded=True,
            )
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
            # PEM text from the environment wins over a path: it is the more deliberate choice.
            key = self._load_key(
                settings,
                path=None if settings.private_key else settings.private_key_path,
                pem=settings.private_key,
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

    def _load_key(self, settings: Settings, *, path: Path | None, pem: str | None) -> PrivateKey:
        from kalshi_cli.keys import load_private_key

        key, warnings = load_private_key(
            path=path,
            pem=pem,
            passphrase=settings.private_key_passphrase,
            refuse_loose_permissions=settings.env == "prod",
        )
        for text in warnings:
            self.warn(text)
        return key


def _build_client(app: AppContext, settings: Settings, anonymous: bool) -> KalshiClient:
    from kalshi_cli.client import KalshiClient

    connection = app.connection(auth=False, anonymous=anonymous)
    build = partial(
        KalshiClient,
        api_base=connection.api_base,
        key_id=connection.key_id,
        private_key=connection.private_key,
        tier=settings.tier,
        timeout=settings.timeout,
    )
    if app.retry_budget_s is None:
        return build()
    return build(max_retry_seconds=app.retry_budget_s)


def _no_credentials(settings: Settings) -> CredentialsError:
    where = f"under `{settings.env}:` in {settings.config_path}"
    return CredentialsError(
        f"no API credentials for env {settings.env}",
        hint=f"set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH, or api_key_id and "
        f"private_key_path {where}",
    )


_CURRENT: ContextVar[AppContext] = ContextVar("kalshi_app_context")


def activate(app: AppContext) -> None:
    """Called by the root callback, before any command body runs."""
    _CURRENT.set(app)


def current() -> AppContext:
    """The AppContext of the running command."""
    return _CURRENT.get()
