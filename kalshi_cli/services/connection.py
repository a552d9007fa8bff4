"""Where to connect and as whom: `resolve_connection(settings)` is the one place the endpoint, key
id and private key are decided, and `check_state_binding` refuses a state file bound to another
endpoint or account before anything is sent (exit 20). Warnings go to `warn`; nothing is printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.config import repr_hiding
from kalshi_cli.vocabulary.errors import CredentialsError, KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.signing import KeyOnDemand
    from kalshi_cli.config import Settings
    from kalshi_cli.sim.server.announce import AccountInfo
    from kalshi_cli.store import ExchangeBinding, Store, StoreError
    from kalshi_cli.vocabulary.keys import PrivateKey

Warn = Callable[[str], None]


class ResolvedConnection(msgspec.Struct, frozen=True, kw_only=True):
    """Where to connect and as whom, once the simulator (if any) is up. The key is read on first
    use (`private_key`, or the client's first signed request: `client.signing.signs`). Its repr
    leaves the key out."""

    api_base: str
    ws_url: str | None
    key_id: str | None
    key: KeyOnDemand | None
    private_key_path: Path | None  # None when the key came as PEM text or there is none
    embedded: bool

    def __repr__(self) -> str:
        return repr_hiding(self, ("key",))

    @property
    def authenticated(self) -> bool:
        """Whether a key is configured (read or not)."""
        return self.key_id is not None and self.key is not None

    @property
    def private_key(self) -> PrivateKey | None:
        """The key, read now if it was not yet (its `CredentialsError` if it cannot be)."""
        return None if self.key is None else self.key.key()


def resolve_connection(settings: Settings, *, anonymous: bool, warn: Warn) -> ResolvedConnection:
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
        key = _key_on_demand(
            settings,
            path=None if settings.private_key else settings.private_key_path,
            pem=settings.private_key,
            warn=warn,
        )
    return ResolvedConnection(
        api_base=settings.api_base,
        ws_url=settings.ws_url or _simulator_ws_url(settings),
        key_id=key_id,
        key=key,
        private_key_path=None if settings.private_key else settings.private_key_path,
        embedded=False,
    )


def _simulator_ws_url(settings: Settings) -> str | None:
    """A simulator served elsewhere (`KALSHI_API_BASE` alone) has its WebSocket beside its REST
    base, as Kalshi lays them out (`http://H/trade-api/v2` -> `ws://H/trade-api/ws/v2`): without
    it the trade loop would poll REST. Only for sim: demo and prod have their own defaults."""
    base = settings.api_base
    if settings.env != "sim" or base is None or not base.endswith("/trade-api/v2"):
        return None
    scheme, sep, rest = base.partition("://")
    if not sep:
        return None
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.removesuffix('/v2')}/ws/v2"


def no_credentials(settings: Settings) -> CredentialsError:
    """The error of a command that needs a key when none is configured."""
    where = f"under `{settings.env}:` in {settings.config_path}"
    return CredentialsError(
        f"no API credentials for env {settings.env}",
        hint=f"set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH, or api_key_id and "
        f"private_key_path {where}",
    )


def _embedded(settings: Settings, *, anonymous: bool, warn: Warn) -> ResolvedConnection:
    from kalshi_cli.sim.server.announce import serving_account

    account = serving_account(settings.data_dir)
    if account is None:  # none serves it: only now the code that starts one is imported
        account = _start_simulator(settings)
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
        else _key_on_demand(settings, path=key_path, pem=None, warn=warn, generated_here=True)
    )
    return ResolvedConnection(
        api_base=account.api_base,
        ws_url=account.ws_url,
        key_id=account.key_id,
        key=key,
        private_key_path=key_path,
        embedded=True,
    )


def _start_simulator(settings: Settings, data_dir: Path | None = None) -> AccountInfo:
    """The account of the simulator of `data_dir` (default: the settings'), started in the
    background if none serves it by now; a `scenario` setting it cannot start with is the
    setting's error (exit 3), named where it was set."""
    from kalshi_cli.sim.core.scenarios import ScenarioError
    from kalshi_cli.sim.server.embed import SimulatorBusy, SimulatorFailed, ensure_simulator
    from kalshi_cli.vocabulary.errors import ConfigError, TransportError

    where = Path(data_dir or settings.data_dir)
    try:
        return ensure_simulator(
            where, scenario=settings.scenario, tier=settings.tier, idle_stop_s=settings.idle_stop
        )
    except (SimulatorBusy, SimulatorFailed) as exc:
        raise TransportError(
            str(exc),
            hint=f"see {where / 'server.log'}; `kalshi sim status` says what serves it, "
            "`kalshi sim stop` stops it",
        ) from None
    except ScenarioError as exc:
        origin = settings.origins["scenario"].where
        raise ConfigError(f"{origin}: scenario: {exc}") from None


def _key_on_demand(
    settings: Settings,
    *,
    path: Path | None,
    pem: str | None,
    warn: Warn,
    generated_here: bool = False,
) -> KeyOnDemand:
    """The configured key, read (and its warnings given) on first use."""
    from kalshi_cli.client.signing import KeyOnDemand

    def load() -> PrivateKey:
        from kalshi_cli.vocabulary.keys import load_private_key

        key, warnings = load_private_key(
            path=path,
            pem=pem,
            passphrase=settings.private_key_passphrase,
            refuse_loose_permissions=settings.money_env == "prod",
            generated_here=generated_here,
        )
        for text in warnings:
            warn(text)
        return key

    return KeyOnDemand(load)


class SimulatorAlreadyServing(KalshiError):
    """`kalshi sim serve` on a data directory another simulator serves (often the background
    one the Quick start's first command started)."""

    exit_code = ExitCode.ALREADY_RUNNING


def _already_serving(settings: Settings, data_dir: Path | None) -> SimulatorAlreadyServing:
    """Who serves the directory, where, and the exact command that stops it."""
    from kalshi_cli.sim.server.embed import simulator_status

    where = Path(data_dir or settings.data_dir).expanduser().resolve()
    status = simulator_status(where)
    who = "another simulator"
    if status.get("running"):
        who = f"the {status.get('mode') or 'running'} simulator (pid {status.get('pid')}, at "
        who += f"{status.get('api_base')})"
    named = "" if data_dir is None else f" --data-dir {data_dir}"
    return SimulatorAlreadyServing(
        f"{who} already serves {where}",
        hint=f"every command joins it as it is; `kalshi sim stop{named}` stops it, or pass "
        "another --data-dir",
    )


def serve_simulator(
    settings: Settings,
    *,
    host: str,
    port: int,
    data_dir: Path | None,
    scenario: str,
    speed: float,  # a clock rate
    tier: str,
    balance_cents: int,
) -> None:
    """`kalshi sim serve`: the simulator in the foreground until Ctrl-C, keeping its state in
    `data_dir` (default: the settings'). Another simulator serving that directory is an error
    that says what to do; an unknown scenario or a port that cannot be bound is a usage error
    (exit 2), never a crash."""
    import errno

    from kalshi_cli.sim.core.journal import JournalError
    from kalshi_cli.sim.core.scenarios import ScenarioError
    from kalshi_cli.sim.server.embed import SimulatorBusy
    from kalshi_cli.sim.server.serve import serve
    from kalshi_cli.vocabulary.errors import UsageError

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
        raise _already_serving(settings, data_dir) from exc
    except ScenarioError as exc:
        raise UsageError(str(exc), hint="see `kalshi sim serve --help`") from None
    except JournalError as exc:  # its message says what to do
        raise KalshiError(f"the simulator's state cannot be restored: {exc}") from None
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


def stop_simulator(settings: Settings, data_dir: Path | None) -> dict[str, object] | None:
    """`kalshi sim stop`: the status the stopped simulator had, or None when none ran."""
    from kalshi_cli.sim.server.embed import SimulatorBusy
    from kalshi_cli.sim.server.embed import stop_simulator as stop
    from kalshi_cli.vocabulary.errors import KalshiError

    try:
        return stop(data_dir or settings.data_dir)
    except SimulatorBusy as exc:
        raise KalshiError(
            str(exc), hint="stop the process that serves it (Ctrl-C or kill PID)"
        ) from None


def simulator_exports(settings: Settings, data_dir: Path | None) -> str:
    """`kalshi sim env`: the export lines of the simulator serving the data directory, started
    in the background (as any `env: sim` command starts it) when none does."""
    return _start_simulator(settings, data_dir).exports()


# ------------------------------------------------------------------------------ the state file


def choose_state_file(settings: Settings) -> Settings:
    """The settings with the state file this exchange endpoint and account use.

    The default file is keyed by endpoint and account (`config.exchange_slug`). An environment's
    shared `<state dir>/<env>/state.db` is adopted in place by the first endpoint and account that
    binds it (and opened by whoever finds it unbound); one bound elsewhere is left alone. One that
    cannot be read as a state file is adopted too, so every command refuses it (exit 17) rather than
    starting an empty file that forgets HALTED."""
    from msgspec.structs import replace

    from kalshi_cli.config import Origin, Source

    legacy = settings.legacy_state
    # anything at the keyed path keeps it, as the store reads it (`state_file_at`): a link to
    # nothing there is this account's lost file (a volume not mounted), refused when opened,
    # never passed over for the older file beside it
    keyed_taken = os.path.lexists(settings.state)
    if settings.origins["state"].source is not Source.DEFAULT or keyed_taken:
        return settings
    if not legacy.exists():
        return settings
    # only here: a command that opens no state file (a read such as `kalshi markets`) does not
    # import the store and sqlite3 (docs/benchmarks.md, "Cold starts")
    from kalshi_cli.store import Store, StoreError

    try:
        store = Store.open_readonly(legacy)
        binding = None if store is None else _closing_binding(store)
    except StoreError:
        binding = None
    key_id = None if settings.embedded_simulator else settings.api_key_id
    if binding is not None and not _same_exchange(binding, settings, key_id):
        return settings
    origins = {**settings.origins, "state": Origin(Source.DEFAULT, "default (adopted)")}
    return replace(settings, state=legacy, origins=origins)


def configured_key_id(settings: Settings) -> str | None:
    """The key id commands of `settings` act as, known without loading the key or starting
    anything: the configured one, or the embedded simulator's account while it runs."""
    if not settings.embedded_simulator:
        return settings.api_key_id
    if not settings.data_dir.is_dir():
        return None  # no simulator ever served here: a cron check imports nothing of it
    from kalshi_cli.sim.server.announce import serving_account

    account = serving_account(settings.data_dir)
    return None if account is None else account.key_id


def check_state_binding(
    settings: Settings, key_id: str | None, *, bind: bool = True
) -> StoreError | None:
    """Refuse a state file bound to another exchange endpoint or account: the error to raise
    (StateFileMismatch, exit 20), or None. With no `key_id` (the embedded simulator not
    started yet, or no key configured) the account cannot be told, but another endpoint's file
    is refused all the same. A file not yet bound is bound here (unless not `bind`: the kill
    switch only checks) when it can be written at once; a read-only one, or one another
    process holds the write lock of, is left unbound, still used, and bound another time. No
    file: nothing to check (the command that creates it binds it: `bind_state`)."""
    from kalshi_cli.store import Store, StoreError

    if not os.path.exists(settings.state):  # nor one that cannot be looked at: see above
        return None
    try:
        store = Store.open_readonly(settings.state)
        binding = None if store is None else _closing_binding(store)
    except StoreError:
        return None  # the command that opens it says what is wrong with it
    if key_id is None:
        if binding is None or binding.endpoint == settings.exchange_endpoint:
            return None
        return mismatch(settings, binding, None)
    if binding is None:
        if not bind:
            return None
        try:
            with Store.open(settings.state, create=False) as store, store.busy_timeout(0.2):
                binding = store.entries.bind_exchange(settings.exchange_endpoint, key_id)
        except StoreError:
            return None  # read-only (or locked): used unbound, checked again next time
    return mismatch(settings, binding, key_id)


def bind_state(settings: Settings, store: Store, connection: ResolvedConnection | None) -> None:
    """Bind a state file just opened for writing (a new one included) to this endpoint and
    account; StateFileMismatch if another bound it first."""
    if connection is None or connection.key_id is None:
        return
    binding = store.entries.bind_exchange(settings.exchange_endpoint, connection.key_id)
    error = mismatch(settings, binding, connection.key_id)
    if error is not None:
        raise error


class Rebound(msgspec.Struct, frozen=True):
    """What `rebind_state` replaced: the file's binding before, and the copy kept of it."""

    previous: ExchangeBinding | None
    backup: Path | None = None  # the copy `--take-over` kept of the file before


def rebind_state(
    settings: Settings,
    connection: ResolvedConnection,
    client: KalshiClient,
    *,
    take_over: bool = False,
) -> Rebound:
    """`kalshi state bind`: the state file in use becomes this endpoint's and this key's (made
    if missing). A file bound to another key is handed over only when that key is of this same
    account: the account lists it among its keys (a key rotated with the old one kept), or knows
    the file's newest orders (`_same_account`). Another account's file, or another endpoint's,
    is refused (StateFileMismatch, exit 20) unless `take_over`, which first copies the file
    aside and says where."""
    from kalshi_cli.store import StateFileMismatch, Store

    key_id = connection.key_id
    if key_id is None:
        raise no_credentials(settings)
    with Store.open(settings.state) as store:
        previous = store.entries.exchange_binding()
        foreign = previous is not None and not _same_exchange(previous, settings, key_id)
        if foreign and not take_over:
            assert previous is not None
            problem = (
                f"{previous.endpoint}, not {settings.exchange_endpoint}"
                if previous.endpoint != settings.exchange_endpoint
                else _other_account(client, store, previous.account)
            )
            if problem is not None:
                raise StateFileMismatch(
                    f"{settings.state} belongs to another account ({problem}); not bound",
                    hint="its orders, fills and trading state are not this key's; to take it "
                    "over all the same, `kalshi state bind --take-over` (a copy is kept)",
                )
        backup = _backup(store, settings.state) if foreign and take_over else None
        store.entries.rebind_exchange(settings.exchange_endpoint, key_id)
    return Rebound(previous, backup)


def _other_account(client: KalshiClient, store: Store, old_key: str) -> str | None:
    """Why the file bound to `old_key` is another account's, or None when this client's account
    is the one it belongs to: the account lists the old key, or the exchange knows one of the
    file's newest orders to this account (an order id is the account's alone). A file with no
    order sent holds nothing of another account's."""
    from kalshi_cli.vocabulary.errors import NotFoundError

    placed = [i.order_id for i in store.orders.intents() if i.order_id][-5:]
    for order_id in reversed(placed):
        try:
            client.orders.get_order(order_id)
        except NotFoundError:
            continue
        return None
    if not placed or any(k.api_key_id == old_key for k in client.api_keys.list_api_keys()):
        return None
    return f"this account knows neither its key nor its order {placed[-1]}"


def _backup(store: Store, path: Path) -> Path:
    """A consistent copy of the state file beside it (SQLite's backup, not a file copy)."""
    import time

    target = path.with_name(f"{path.name}.before-take-over-{int(time.time())}")
    store.backup_to(target)
    return target


def mismatch(settings: Settings, binding: ExchangeBinding, key_id: str | None) -> StoreError | None:
    from kalshi_cli.config import mask
    from kalshi_cli.store import StateFileMismatch

    if _same_exchange(binding, settings, key_id):
        return None
    from kalshi_cli.config import Source

    if settings.origins["state"].source is Source.DEFAULT:
        # this account's own default file, bound to another key: a simulator whose data was
        # reset has a new account, and an older version's shared file was adopted by another
        hint = (
            f"this is the default state file of {settings.exchange_endpoint}; move it aside "
            "to start a new one for this account, use the key it belongs to, or if this is a "
            "new key of that same account, `kalshi state bind`"
        )
    else:
        hint = (
            "each exchange endpoint and account keeps its own state file: drop --state / "
            "KALSHI_STATE / `state:` to use this account's default one, name its own file, or "
            "if this is a new key of that same account, `kalshi state bind`"
        )
    ours = "an account" if key_id is None else f"account {mask(key_id, partial=True)}"
    return StateFileMismatch(
        f"the state file {settings.state} belongs to account "
        f"{mask(binding.account, partial=True)} at {binding.endpoint}, not to {ours} at "
        f"{settings.exchange_endpoint}; nothing was sent",
        hint=hint,
    )


def _same_exchange(binding: ExchangeBinding, settings: Settings, key_id: str | None) -> bool:
    if binding.endpoint != settings.exchange_endpoint:
        return False
    # the embedded simulator's account is known only once it runs: its data directory is
    # what names it until then
    return (key_id is None and settings.embedded_simulator) or binding.account == key_id


def _closing_binding(store: Store) -> ExchangeBinding | None:
    try:
        return store.entries.exchange_binding()
    finally:
        store.close()
