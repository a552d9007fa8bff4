"""`kalshi order-group create|list|show|trigger|reset|limit|delete`: order groups on the exchange. A
group caps the contracts its orders may match in any rolling 15 s; hitting the cap, or `trigger`,
cancels its orders and refuses new ones until `reset` (docs/order-groups.md). On prod the
commands that change a group ask for confirmation unless `--yes`; `--subaccount N` acts on
subaccount N, else the exchange's defaults. A group lives on one exchange shard: `create
--exchange-index N` puts it on shard N (default 0), and trigger, reset, limit and delete act on the
shard `--exchange-index` names, else on the one the exchange's answer for the group names
(docs/shards.md).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    SubaccountOpt,
    YesOpt,
    identifier_argument,
    shard_option,
)
from kalshi_cli.cli._output import Column
from kalshi_cli.cli.app import command_group

if TYPE_CHECKING:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.client.order_groups import OrderGroup

order_group_app = command_group("order-group")


def _limit(text: str) -> Decimal:
    from kalshi_cli.cli.orders import parse_count

    return parse_count(text, "--limit")


LimitArg = Annotated[
    str,
    typer.Option(
        "--limit", help="Contracts the group's orders may match in any rolling 15 s (e.g. 100)."
    ),
]
GroupArg = Annotated[str, identifier_argument("The order group's id.")]
ShardOpt = Annotated[
    int | None,
    shard_option(
        "--exchange-index",
        "The exchange shard of the group (default: the one the exchange names for it; "
        "0 for a new group).",
    ),
]


def _session_groups(app: AppContext) -> set[str]:
    """The groups `kalshi trade` sessions created and still list in the state file."""
    from kalshi_cli.services.killswitch.order_groups import session_order_groups
    from kalshi_cli.store import Store

    return set(Store.read(app.settings().state, session_order_groups) or ())


def _triggered(app: AppContext, group_id: str) -> tuple[bool | None, str | None, str]:
    """Whether the group is triggered, as far as the state file saw (the exchange's answer does
    not say): the flag (None: unknown), which command and when, and the words for a person. What
    the state file saw done to the group last is killswitch.note_order_group_action's; None when
    it saw nothing or there is no state file."""
    from kalshi_cli.services.killswitch.order_groups import order_group_action
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import iso_utc

    last = Store.read(app.settings().state, lambda store: order_group_action(store, group_id))
    if last is None:
        unknown = "unknown (the exchange does not say; `order-group reset` reopens it either way)"
        return None, None, unknown
    triggered = last["action"] == "triggered"
    seen = f"{last['by']} at {iso_utc(float(last['at']))}"
    return triggered, seen, f"{'yes' if triggered else 'no'} ({seen})"


def _note_action(app: AppContext, group_id: str, action: str) -> str | None:
    """Record a trigger or reset the exchange took in the state file; the exchange acted
    either way, so a state file that cannot take it is a warning (returned), not a failure."""
    from kalshi_cli.cli._services import open_store
    from kalshi_cli.services.killswitch.order_groups import note_order_group_action
    from kalshi_cli.vocabulary.errors import KalshiError

    verb = "trigger" if action == "triggered" else "reset"
    try:
        with open_store(app) as store:
            note_order_group_action(store, group_id, action, f"kalshi order-group {verb}")
    except KalshiError as exc:
        return f"not recorded in the state file ({exc.one_line()}): `order-group show` cannot say"
    return None


def _group_json(group: OrderGroup, session: set[str]) -> dict[str, Any]:
    limit = group.contracts_limit
    return {
        "order_group_id": group.order_group_id,
        "contracts_limit": None if limit is None else str(limit),
        "auto_cancel": group.auto_cancel,
        "exchange_index": group.exchange_index,
        "trade_session": group.order_group_id in session,
    }


@order_group_app.command("create")
def create_command(
    *,
    limit: LimitArg,
    as_json: JsonOpt = False,
    yes: YesOpt = False,
    subaccount: SubaccountOpt = None,
    exchange_index: ShardOpt = None,
    env: EnvOpt = None,
) -> None:
    """Create an order group with a contracts limit on a shard; prints its id.

    `kalshi trade` makes its own for each session (docs/order-groups.md).

    Example: kalshi order-group create --limit 100
    """
    from kalshi_cli.cli._services import confirm_on_prod

    contracts = _limit(limit)
    app, out = begin(env, subaccount, as_json=as_json)
    client = app.client(auth=True)
    shard = exchange_index or 0
    confirm_on_prod(
        app, f"create an order group limited to {contracts} contracts on shard {shard}", yes=yes
    )
    group_id = client.order_groups.create_order_group(contracts, exchange_index=exchange_index)
    document = {
        "order_group_id": group_id,
        "contracts_limit": str(contracts),
        "exchange_index": shard,
    }
    out.result(document, group_id)


COLUMNS = (
    Column("order_group_id", "order group", identifier=True),
    Column("contracts_limit", "limit / 15 s", numeric=True),
    Column("exchange_index", "shard", numeric=True),
    Column("trade_session", "kalshi trade"),
)


@order_group_app.command("list")
def list_command(
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """List your order groups (of every subaccount unless --subaccount); `kalshi trade` marks
    the ones its sessions run in.

    Example: kalshi order-group list --json
    """
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    groups = app.client(auth=True).order_groups.list_order_groups()
    session = _session_groups(app)
    document = {"order_groups": [_group_json(g, session) for g in groups]}
    rows = [
        {
            "order_group_id": g["order_group_id"],
            "contracts_limit": g["contracts_limit"] or "",
            "exchange_index": str(g["exchange_index"]),
            "trade_session": "yes" if g["trade_session"] else "",
        }
        for g in document["order_groups"]
    ]
    out.table(COLUMNS, rows, document=document)


@order_group_app.command("show")
def show_command(
    order_group_id: GroupArg,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show one order group: its limit and the orders placed in it.

    Example: kalshi order-group show 7f1c2d3e-...
    """
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    group = app.client(auth=True).order_groups.get_order_group(order_group_id)
    triggered, seen, shown = _triggered(app, order_group_id)
    document = {
        **_group_json(group, _session_groups(app)),
        "orders": list(group.orders),
        "triggered": triggered,
        "triggered_seen": seen,
    }
    fields = [
        ("order group", group.order_group_id),
        ("limit / 15 s", document["contracts_limit"] or "none"),
        ("auto cancel", "yes" if group.auto_cancel else "no"),
        ("shard", str(group.exchange_index)),
        ("kalshi trade", "yes" if document["trade_session"] else "no"),
        ("triggered", shown),
        ("orders", str(len(group.orders))),
    ]
    out.record(fields, document=document)


# each change's call on the client, what a prod confirmation asks to do to the group, and what
# the command reports done
_CHANGES = {
    "trigger_order_group": ("trigger (cancel the orders of)", "triggered"),
    "reset_order_group": ("reset (allow orders again in)", "reset"),
    "set_order_group_limit": ("set a limit of {limit} contracts on", "limit set"),
    "delete_order_group": ("delete (and cancel the orders of)", "deleted"),
}


def _act(  # noqa: PLR0917 (the change commands' one call shape)
    call: str,
    order_group_id: str,
    as_json: bool,
    yes: bool,
    subaccount: int | None,
    env: EnvOpt,
    exchange_index: int | None,
    limit: Decimal | None = None,
) -> None:
    from kalshi_cli.cli._services import confirm_on_prod

    what, done = _CHANGES[call]
    app, out = begin(env, subaccount, as_json=as_json)
    client = app.client(auth=True)
    # the exchange finds the group only on its own shard; the read covers every shard
    shard = exchange_index
    if shard is None:
        shard = client.order_groups.get_order_group(order_group_id).exchange_index
    where = f"order group {order_group_id} on shard {shard}"
    confirm_on_prod(app, f"{what.format(limit=limit)} {where}", yes=yes)
    limits = [] if limit is None else [limit]
    getattr(client.order_groups, call)(order_group_id, *limits, exchange_index=shard)
    if done in ("triggered", "reset"):
        warning = _note_action(app, order_group_id, done)
        if warning is not None:
            out.note(f"warning: order group {order_group_id} {done}, {warning}")
    document: dict[str, Any] = {
        "order_group_id": order_group_id,
        "exchange_index": shard,
        "result": done,
    }
    if limit is not None:
        document["contracts_limit"] = str(limit)
    out.result(document, f"order group {order_group_id} {done}")


def _change_command(call: str, doc: str) -> Callable[..., None]:
    """A change command that takes the group and nothing more (trigger, reset, delete): one
    signature, its help `doc`."""

    def command(
        order_group_id: GroupArg,
        *,
        as_json: JsonOpt = False,
        yes: YesOpt = False,
        subaccount: SubaccountOpt = None,
        exchange_index: ShardOpt = None,
        env: EnvOpt = None,
    ) -> None:
        _act(call, order_group_id, as_json, yes, subaccount, env, exchange_index)

    command.__doc__ = doc
    return command


order_group_app.command("trigger")(
    _change_command(
        "trigger_order_group",
        """Trigger a group by hand: the exchange cancels its orders and refuses new ones in it
    until `reset`. (`kalshi cancel-all` triggers the groups of `kalshi trade` sessions.)

    Example: kalshi order-group trigger 7f1c2d3e-... --yes
    """,
    )
)
order_group_app.command("reset")(
    _change_command(
        "reset_order_group",
        """Reset a group: its matched count goes to zero and orders may be placed in it again.

    Example: kalshi order-group reset 7f1c2d3e-...
    """,
    )
)


@order_group_app.command("limit")
def limit_command(
    order_group_id: GroupArg,
    *,
    limit: LimitArg,
    as_json: JsonOpt = False,
    yes: YesOpt = False,
    subaccount: SubaccountOpt = None,
    exchange_index: ShardOpt = None,
    env: EnvOpt = None,
) -> None:
    """Set a group's contracts limit; a limit already reached triggers the group at once.

    Example: kalshi order-group limit 7f1c2d3e-... --limit 250
    """
    contracts = _limit(limit)
    args = (as_json, yes, subaccount, env, exchange_index, contracts)
    _act("set_order_group_limit", order_group_id, *args)


order_group_app.command("delete")(
    _change_command(
        "delete_order_group",
        """Delete a group; the exchange cancels its orders.

    Example: kalshi order-group delete 7f1c2d3e-... --yes
    """,
    )
)
