"""Per-invocation state: settings, the connection and the one client, each made on first use.

`AppContext` lives in Click's `ctx.obj`. Everything in it is lazy: `kalshi config show` resolves
settings and never builds a client; a market command builds the one `KalshiClient` of the process
on first use. How the endpoint and key are decided from the settings (the embedded simulator
with `env: sim` and no `api_base` included) is `kalshi_cli.services.connection`, imported only
when a connection is needed, so every command works with no account anywhere.

Tests construct an `AppContext(client_factory=...)` and pass it as `obj=` to Typer's runner; the
command bodies then talk to a fake client without any patching.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kalshi_cli.cli._output import Output, TableFormat

if TYPE_CHECKING:
    from kalshi_cli.cli._options import Environment
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.signing import KalshiAuth
    from kalshi_cli.config import Settings
    from kalshi_cli.services.connection import ResolvedConnection
    from kalshi_cli.vocabulary.errors import KalshiError
    from kalshi_cli.vocabulary.models import QuarantinedFill

# (context, settings, anonymous) -> client; `anonymous` skips loading the key (health-check's
# fallback when the key itself is what is broken).
ClientFactory = Callable[["AppContext", "Settings", bool], "KalshiClient"]


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
        self._connection: ResolvedConnection | None = None
        self._client: KalshiClient | None = None
        # seconds one client call may spend retrying; None keeps the client's own default
        self.retry_budget_s: float | None = None
        # the state file bound to another endpoint or account (exit 20), kept rather than
        # raised when `tolerate_state_mismatch` (the kill switch cancels whatever the file)
        self.tolerate_state_mismatch = False
        self.state_mismatch: KalshiError | None = None
        self._state_checked = False

    # -- settings --------------------------------------------------------------------------

    def settings(self, env: str | None = None) -> Settings:
        """Resolved once per process; a command's own `--env` wins over the root `--env`."""
        if self._settings is None:
            from kalshi_cli.config import load_settings

            flags: dict[str, object | None] = {"env": env or self.root_env, "state": self.state}
            from kalshi_cli.services.connection import choose_state_file

            self._settings = choose_state_file(
                load_settings(flags=flags, config_path=self.config_path, environ=self.environ)
            )
        return self._settings

    def output(self, *, as_json: bool = False, fmt: TableFormat | None = None) -> Output:
        return Output(as_json=as_json, fmt=fmt)

    def warn(self, text: str) -> None:
        typer.echo(f"Warning: {text}", err=True)

    # -- connection and client -------------------------------------------------------------

    def connection(self, *, auth: bool, anonymous: bool = False) -> ResolvedConnection:
        """The endpoint and (unless `anonymous`) the key. With `auth`, missing credentials are an
        error and the key is read now (`_read_key`); without it, a command may run
        unauthenticated, and the key is read by the first request signed
        (`client.signing.signs`): market data alone never reads it."""
        if self._connection is None:
            from kalshi_cli.services.connection import resolve_connection

            self._connection = resolve_connection(
                self.settings(), anonymous=anonymous, warn=self.warn
            )
        if auth and not self._connection.authenticated:
            from kalshi_cli.services.connection import no_credentials

            raise no_credentials(self.settings())
        if auth:
            self._read_key()
            self._check_state()
        return self._connection

    def _read_key(self) -> None:
        """The configured key, read now. One that cannot be read raises its
        `CredentialsError` here, and the connection and client of this process are forgotten
        as if never made: health-check and `kalshi check api` then go on anonymously."""
        from kalshi_cli.vocabulary.errors import CredentialsError

        connection = self._connection
        if connection is None:
            return  # a test's client factory made no connection
        try:
            connection.private_key  # noqa: B018 (read for its effect)
        except CredentialsError:
            self.close()
            self._connection = None
            raise

    def current_connection(self) -> ResolvedConnection | None:
        """The connection if one was resolved already (none is made here)."""
        return self._connection

    def own_state(self) -> Path:
        """The state file, refused when bound to another endpoint or account (exit 20) or when
        a running loop has another file open than the one it names (exit 11: a halt there
        reaches no loop). Every command that writes or reports the trading state takes its file
        from here (`open_store`, `kalshi status`). The account is the configured key's, loaded
        or not, or the embedded simulator's while it runs (until then its data directory)."""
        from kalshi_cli.services.connection import configured_key_id
        from kalshi_cli.services.paper_kill import unseen_by_its_loop
        from kalshi_cli.store import AccountStateUnknown

        settings = self.settings()
        self._check_state(configured_key_id(settings))
        unseen = unseen_by_its_loop(settings.state)
        if unseen is not None:
            hint = "that loop is in SAFE_MODE: stop it (SIGTERM) and start it on this file"
            self._refuse(AccountStateUnknown(unseen, hint=hint))
        return settings.state

    def _check_state(self, key_id: str | None = None) -> None:
        """Before an account's command sends anything, its state file must be its own
        (`connection.check_state_binding`); with the account not known yet, its endpoint's, and
        checked again once the account is known."""
        if self._connection is not None:
            key_id = self._connection.key_id
        # os.path: a file that cannot be looked at (its directory unreadable) is for the
        # command that opens it to refuse, and for the kill switch to cancel past
        if self._state_checked or not os.path.exists(self.settings().state):
            return  # no file yet: the command that makes it binds it (`open_store`), or here
        self._state_checked = key_id is not None
        from kalshi_cli.services.connection import check_state_binding

        error = check_state_binding(self.settings(), key_id, bind=not self.tolerate_state_mismatch)
        if error is not None:
            self._refuse(error)

    def _refuse(self, error: KalshiError) -> None:
        """Raise `error`; `cancel-all` cancels anyway: with `tolerate_state_mismatch` the first
        refusal is kept in `state_mismatch` for its store."""
        if not self.tolerate_state_mismatch:
            raise error
        self.state_mismatch = self.state_mismatch or error

    def client(
        self,
        *,
        auth: bool = False,
        anonymous: bool = False,
        retry_budget_s: float | None = None,
        read_key: bool = False,
    ) -> KalshiClient:
        """The one client of this process. `auth=True` for portfolio commands: they fail with
        a one-line credentials error before any request when no key is configured, and one
        that cannot be read. `read_key`: the key is read now too, without `auth`'s demand for
        one (health-check, `kalshi check api`: a broken key is theirs to report); else a public
        read leaves it unread. `retry_budget_s` caps the time one call may spend retrying
        (`kalshi trade`: its loop must keep ticking); it shapes the client this call builds, so
        it must come first."""
        settings = self.settings()
        if self._client is None:
            self.retry_budget_s = retry_budget_s
            self._client = self._client_factory(self, settings, anonymous)
        elif retry_budget_s is not None and retry_budget_s != self.retry_budget_s:
            raise RuntimeError("the client was already built with another retry budget")
        client = self._client
        if auth and not client.authenticated:
            from kalshi_cli.services.connection import no_credentials

            raise no_credentials(settings)
        if auth or read_key:
            self._read_key()  # a key that cannot be read: the client is forgotten
        if auth:
            self._check_state()  # a test's client factory may make no connection: unchecked
        return client

    def quarantined_fills(self) -> list[QuarantinedFill]:
        """The fills this process's client listed and quarantined (`FillQuarantine`)."""
        quarantine = getattr(getattr(self._client, "connection", None), "fill_quarantine", None)
        return list(quarantine.held.values()) if quarantine is not None else []

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _build_client(app: AppContext, settings: Settings, anonymous: bool) -> KalshiClient:
    from kalshi_cli.client import KalshiClient

    connection = app.connection(auth=False, anonymous=anonymous)
    build = partial(
        KalshiClient,
        api_base=connection.api_base,
        key_id=connection.key_id,
        private_key=connection.key,
        tier=settings.tier,
        timeout=settings.timeout,
    )
    if app.retry_budget_s is None:
        return build()
    return build(max_retry_seconds=app.retry_budget_s)


_CURRENT: ContextVar[AppContext] = ContextVar("kalshi_app_context")


def activate(app: AppContext) -> None:
    """Called by the root callback, before any command body runs."""
    _CURRENT.set(app)


def current() -> AppContext:
    """The AppContext of the running command."""
    return _CURRENT.get()


def begin(
    env: Environment | None,
    subaccount: int | None = None,
    *,
    as_json: bool = False,
    fmt: TableFormat | None = None,
) -> tuple[AppContext, Output]:
    """A command's start: its settings (its own `--env`), its output, and `--subaccount N`: the
    client acts on subaccount N in every portfolio and order call (client/subaccount_scope.py),
    one the account does not have refused as not found before anything is read or sent;
    without it, the exchange's defaults."""
    app = current()
    app.settings(env.value if env else None)
    if subaccount is not None:
        client = app.client(auth=True)
        client.subaccounts.require_subaccount(subaccount)
        client.subaccount = subaccount
    return app, app.output(as_json=as_json, fmt=fmt)


def stream_access(app: AppContext) -> tuple[str, KalshiAuth]:
    """The WebSocket address and the signer a stream of the exchange's (`kalshi watch`, `kalshi
    record`) opens with: the connection's address, as the trade loop and the dashboard take it
    (services/connection.py: the configured one, or a simulator's beside its REST base). The
    feed is signed, so the key is demanded (exit 4 before anything is read)."""
    from kalshi_cli.client.signing import KalshiAuth
    from kalshi_cli.vocabulary.errors import ConfigError

    connection = app.connection(auth=True)
    assert connection.key_id is not None and connection.private_key is not None
    if connection.ws_url is None:
        raise ConfigError("no WebSocket URL for this environment", hint="set KALSHI_WS_URL")
    return connection.ws_url, KalshiAuth(connection.key_id, connection.private_key)


def refuse_a_missing_state_dir(flag: Path | None, environ: Mapping[str, str]) -> None:
    """A state file named by --state or KALSHI_STATE must be in a directory that exists: made
    silently, a typo became a new, empty state file (without the HALTED of the real one) and
    `kalshi halt` reported success on it. Only the default state directory is made on first use.
    """
    from kalshi_cli.vocabulary.errors import ConfigError, UsageError

    raw = str(flag) if flag is not None else environ.get("KALSHI_STATE")
    if not raw:
        return
    parent = Path(raw).expanduser().parent
    if parent.is_dir():
        return
    where = "--state" if flag is not None else "KALSHI_STATE"
    error = UsageError if flag is not None else ConfigError
    raise error(
        f"{where} {raw}: the directory {parent} does not exist",
        hint="fix the path, or create the directory first; kalshi makes only its default "
        "state directory",
    )
