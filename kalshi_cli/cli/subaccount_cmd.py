"""`kalshi subaccount list|create|transfer|netting`: the account's subaccounts (0 the primary,
1-63).

A transfer moves whole cents and carries a `client_transfer_id` (a new UUID unless given) the
exchange uses to do it once: the id is printed, and a rerun with it never moves money twice. A
subaccount the account does not have, or a shard the exchange does not list, is refused before it
is sent, by the rule `kalshi shard move` follows (`refuse_unknown_places`).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    OnOff,
    SubaccountOpt,
    YesOpt,
    exchange_uuid,
    shard_option,
    subaccount_option,
)
from kalshi_cli.cli._output import Column, Output
from kalshi_cli.cli.app import command_group
from kalshi_cli.vocabulary.units import fmt_money

subaccount_app = command_group("subaccount")


SUBACCOUNT_COLUMNS = (
    Column("subaccount", "subaccount", numeric=True),
    Column("shard", "shard", numeric=True),
    Column("balance", "balance", numeric=True, money=True),
    Column("netting", "netting"),
)


@subaccount_app.command("list")
def list_command(as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None) -> None:
    """List the subaccounts with their available balance on each exchange shard and their
    netting setting.

    Example: kalshi subaccount list --json
    """
    from kalshi_cli.vocabulary.units import fmt_dollars

    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    balances = client.subaccounts.subaccount_balances()
    netting = client.subaccounts.subaccount_netting()
    docs = [
        {
            "subaccount": b.subaccount,
            "exchange_index": b.exchange_index,
            "balance": fmt_dollars(b.balance),
            "netting": netting.get(b.subaccount, False),
            "updated_ts": b.updated_ts,
        }
        for b in sorted(balances, key=lambda b: (b.subaccount, b.exchange_index or 0))
    ]
    rows = [
        {
            "subaccount": str(d["subaccount"]),
            "shard": "-" if d["exchange_index"] is None else str(d["exchange_index"]),
            "balance": str(d["balance"]),
            "netting": "on" if d["netting"] else "off",
        }
        for d in docs
    ]
    out.table(SUBACCOUNT_COLUMNS, rows, document={"subaccounts": docs})


@subaccount_app.command("create")
def create_command(as_json: JsonOpt = False, env: EnvOpt = None) -> None:
    """Create the next numbered subaccount (1-63); it starts with $0.00.

    Example: kalshi subaccount create
    """
    app, out = begin(env, as_json=as_json)
    number = app.client(auth=True).subaccounts.create_subaccount()
    out.record([("subaccount", str(number))], document={"subaccount": number})


def parse_transfer_id(text: str | None) -> str:
    """The given client transfer id (a UUID), or a new one."""
    if text is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(exchange_uuid(text, "--client-transfer-id")))


@subaccount_app.command("transfer")
def transfer_command(
    *,
    source: Annotated[int, subaccount_option("From this subaccount.", "--from")],
    target: Annotated[int, subaccount_option("To this subaccount.", "--to")],
    amount: Annotated[str, typer.Option("--amount", help="Dollars, whole cents (25.00).")],
    client_transfer_id: Annotated[
        str | None,
        typer.Option(
            "--client-transfer-id",
            help="A UUID naming this transfer; repeat it to retry without moving money twice.",
        ),
    ] = None,
    shard: Annotated[
        int | None,
        shard_option(
            "--exchange-index", "The exchange shard whose balances it moves (default: 0)."
        ),
    ] = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Move cash between two subaccounts on one exchange shard, exactly once per client
    transfer id.

    Example: kalshi subaccount transfer --from 0 --to 1 --amount 250.00 --exchange-index 2
    """
    from kalshi_cli.cli._services import confirm_on_prod
    from kalshi_cli.cli.orders import parse_cents
    from kalshi_cli.services.shards import refuse_unknown_places

    cents = parse_cents(amount.strip().removeprefix("$"), "--amount")  # the $ a person may write
    if source == target:
        raise typer.BadParameter("--from and --to name the same subaccount", param_hint="--to")
    transfer_id = parse_transfer_id(client_transfer_id)
    app, out = begin(env, as_json=as_json)
    shown_amount = fmt_money(Decimal(cents) / 100)
    on_shard = shard or 0  # the exchange's default when the request names none
    client = app.client(auth=True)
    refuse_unknown_places(client, (source, target), (on_shard,))
    confirm_on_prod(
        app,
        f"transfer {shown_amount} from subaccount {source} to {target} on shard {on_shard}",
        yes=yes,
    )
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=source,
        to_subaccount=target,
        amount_cents=cents,
        client_transfer_id=transfer_id,
        exchange_index=shard,
    )
    _show_transfer(out, (source, target), on_shard, cents, transfer_id)


def _show_transfer(
    out: Output, between: tuple[int, int], on_shard: int, cents: int, transfer_id: str
) -> None:
    """A transfer made `between` two subaccounts (from, to): its amount, shard and client
    transfer id."""
    source, target = between
    document = {
        "from_subaccount": source,
        "to_subaccount": target,
        "amount": f"{Decimal(cents) / 100:.2f}",
        "exchange_index": on_shard,
        "client_transfer_id": transfer_id,
    }
    names = ("from", "to", "amount", "shard", "client transfer id")
    shown_amount = fmt_money(Decimal(cents) / 100)
    shown = (str(source), str(target), shown_amount, str(on_shard), transfer_id)
    out.record(list(zip(names, shown, strict=True)), document=document)


@subaccount_app.command("netting")
def netting_command(
    setting: Annotated[OnOff, typer.Argument(help="on or off.", case_sensitive=False)],
    *,
    subaccount: SubaccountOpt = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Turn collateral-return netting on or off for a subaccount (0, the primary, by default).

    With netting on, the exchange holds only an event's worst-case loss across a subaccount's
    positions in a MECNET or DIRECNET event (`kalshi event` shows its collateral_return_type),
    and returns the rest. A new Kalshi account has it off.

    Example: kalshi subaccount netting on
    """
    from kalshi_cli.cli._services import confirm_on_prod

    number = subaccount or 0
    enabled = setting is OnOff.ON
    app, out = begin(env, as_json=as_json)
    confirm_on_prod(app, f"turn netting {setting.value} for subaccount {number}", yes=yes)
    app.client(auth=True).subaccounts.set_subaccount_netting(number, enabled)
    out.record(
        [("subaccount", str(number)), ("netting", setting.value)],
        document={"subaccount": number, "netting": enabled},
    )
