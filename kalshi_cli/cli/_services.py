"""What the order and trading commands share: the state file, the order limits, the one
`OrderService`, and the confirmation a person gives on prod. One module, so `order ...` and
`cancel-all`/`halt`/`reconcile` build them the same way and neither command module imports the
other's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli._output import Output
    from kalshi_cli.client.pacing import TierSetting
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.services.orders.place import OrderService
    from kalshi_cli.store import RetentionPolicy, Store


def open_store(app: AppContext, *, for_the_account: bool = True) -> Store:
    """The state file of this environment, created on first use and bound to the exchange
    endpoint and account once a connection is known (`connection.bind_state`). A command
    that acts on the account (`for_the_account`) refuses a paper session's state file
    (`refuse_for_the_account`); halting or resuming the paper session on it does not act on
    the account, and the kill switch is never refused."""
    from kalshi_cli.services.connection import bind_state
    from kalshi_cli.store import Store
    from kalshi_cli.store.paper import refuse_for_the_account

    state = app.own_state()  # another account's file: refused, nothing written (exit 20)
    if app.state_mismatch is not None:
        raise app.state_mismatch
    if for_the_account and not app.tolerate_state_mismatch:
        refuse_for_the_account(state)
    store = Store.open(state)
    if app.tolerate_state_mismatch:
        return store  # the kill switch: no write may queue before its cancels
    try:
        bind_state(app.settings(), store, app.current_connection())
    except BaseException:
        store.close()
        raise
    return store


def kill_switch_state(app: AppContext) -> Path:
    """The state file the kill switch halts and records in: the account's, even given a paper
    session's file (`live_state_path`). When the account's file cannot be told, or is bound to
    another account, `AccountStateUnknown`: the switch cancels, records nothing and proves
    nothing."""
    from msgspec.structs import replace

    from kalshi_cli.services.connection import check_state_binding
    from kalshi_cli.store import AccountStateUnknown
    from kalshi_cli.store.paper import is_paper_state, live_state_path

    settings = app.settings()
    # the account known before a file is opened, also when nothing has asked the exchange yet
    # (an assistant's first call: `kalshi mcp`): a file bound to another account is then
    # refused (nothing recorded in it, HALTED included), never taken as unbound for want of a
    # connection to check it against
    connection = app.connection(auth=False)
    paper = settings.state
    if not is_paper_state(paper):
        return paper
    live = live_state_path(paper, settings.env)
    if live is not None:
        live_settings = replace(settings, state=live)
        if check_state_binding(live_settings, connection.key_id, bind=False) is not None:
            live = None  # another account's: its loop trades orders not cancelled here
    if live is None:
        raise AccountStateUnknown(
            f"no live trade loop was halted: {paper} is a paper session's state file, and the "
            "account's own state file cannot be told from it; a `kalshi trade` on that file "
            "may still place orders",
            hint="run `kalshi halt` without --state or KALSHI_STATE, then `kalshi cancel-all` "
            "again",
        )
    return live


def open_kill_switch_store(app: AppContext, say: Callable[[str], None]) -> Store:
    """`kill_switch_state` opened; given a paper session's file, the account's own it opens
    instead is said with `say`. A --state or KALSHI_STATE whose directory does not exist is
    refused here, not before the switch runs: its cancels go out all the same."""
    from kalshi_cli.cli._context import refuse_a_missing_state_dir
    from kalshi_cli.store import Store

    refuse_a_missing_state_dir(app.state, app.environ)
    state, given = kill_switch_state(app), app.settings().state
    if state == given:
        return open_store(app)
    say(f"{given} is a paper session's state file: halting the account's own, {state}")
    return Store.open(state)


def order_limits(app: AppContext) -> RiskLimits:
    """The account's limits every order meets (`risk:`, `pretrade.settings.load_risk_limits`)."""
    from kalshi_cli.services.pretrade.settings import load_risk_limits

    return load_risk_limits(app.settings().config_path)


def retention_policy(app: AppContext) -> tuple[RetentionPolicy, str]:
    """The config file's `retention:` section (every default without one), and the
    `agent.strategy` whose orders of the day it keeps."""
    from kalshi_cli.config import agent_strategy, read_sections, section
    from kalshi_cli.store import RetentionPolicy
    from kalshi_cli.strategies import strategy_names

    document = read_sections(app.settings().config_path)
    agent = agent_strategy(document, strategies=strategy_names())
    return RetentionPolicy.from_config(section(document, "retention")), agent


def order_service(app: AppContext, store: Store) -> OrderService:
    from kalshi_cli.services.orders.place import OrderService

    client = app.client(auth=True)
    # the key's subaccount restriction, asked of the exchange once per key and kept in the
    # state file (client/subaccounts.py `KeyMemory`): a later command asks nothing
    client.key_memory = _StateFileKeys(store, app.settings().exchange_endpoint)
    return OrderService(
        client,
        store,
        limits=order_limits(app),
        read_lag_s=app.settings().read_lag,
    )


def tier_setting(app: AppContext) -> TierSetting:
    """The `tier` setting and, when the config names it explicitly, where: the long runs
    (`trade`, `cancel-all`) then pace by it without asking the exchange (client/pacing.py)."""
    from kalshi_cli.client.pacing import TierSetting
    from kalshi_cli.config import Source

    settings = app.settings()
    origin = settings.origins["tier"]
    return TierSetting(settings.tier, None if origin.source is Source.DEFAULT else str(origin))


def confirm_on_prod(app: AppContext, what: str, *, yes: bool) -> None:
    """On prod, a person confirms `place`, `amend` and `cancel-all`, unless `--yes`."""
    if app.settings().money_env != "prod" or yes:
        return
    if not typer.confirm(f"{what} on PROD (real money). Proceed?", default=False, err=True):
        raise typer.Abort


class _StateFileKeys:
    """API keys' restrictions kept in the state file, per exchange endpoint and key id."""

    def __init__(self, store: Store, endpoint: str) -> None:
        self._store = store
        self._endpoint = endpoint

    def recall(self, key_id: str) -> int | None:
        return self._store.entries.api_key_subaccount(self._endpoint, key_id)

    def keep(self, key_id: str, subaccount: int) -> None:
        self._store.entries.remember_api_key_subaccount(self._endpoint, key_id, subaccount)


def refuse_quarantined(app: AppContext, out: Output) -> None:
    """After a report built from the exchange's fills: each fill it listed without a field it
    needs (never applied, so the report is short of it) named on stderr with what it lacks, and
    exit FILL_QUARANTINED, as the trade loop reports it (runbooks/13-fill-quarantined.md)."""
    from kalshi_cli.vocabulary.exit_codes import ExitCode

    held = app.quarantined_fills()
    for found in held:
        out.warn(
            f"fill {found.key} of {found.ticker or 'an unnamed market'} quarantined, not "
            f"applied: {found.reason} (runbooks/13-fill-quarantined.md)"
        )
    if held:
        raise typer.Exit(int(ExitCode.FILL_QUARANTINED))
