"""`kalshi shard list|move|allocate|transfers`: where the money and the traded markets are, shard by
shard, and moving money between shards (kalshi_cli.services.shards; docs/shards.md).

Every check of the input happens before anything is sent: a bad amount, the same shard twice,
percentages that do not total 100 are usage errors (exit 2) and nothing reaches the exchange.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    LimitOpt,
    SubaccountOpt,
    YesOpt,
    number_option,
    shard_option,
    subaccount_option,
)
from kalshi_cli.cli._output import Column
from kalshi_cli.cli.app import command_group

if TYPE_CHECKING:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli._output import Output
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.portfolio import TargetAllocation, Transfer
    from kalshi_cli.services.shards import EarlierMove, MoveResult, ShardLine
    from kalshi_cli.vocabulary.models import Market

shard_app = command_group("shard")

# --------------------------------------------------------------------------------------------
# kalshi shard list

SHARD_COLUMNS = (
    Column("exchange_index", "shard", numeric=True),
    Column("description", "description"),
    Column("trading_active", "trading"),
    Column("intra_exchange_transfers_active", "transfers"),
    Column("balance", "balance", numeric=True, money=True),
    Column("traded_markets", "traded markets", numeric=True),
)


@shard_app.command("list")
def list_command(
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """List the exchange's shards: status, your balance on each, and the traded markets there.

    The traded markets are those the config's `trade:` section names (every open market when it
    names none). An order is paid from the balance of its market's shard, and a loop on
    `kalshi trade --subaccount N` pays with subaccount N's: `--subaccount N` shows N's money on
    each shard (without it, the primary account's).

    Example: kalshi shard list --json
    """
    from kalshi_cli.services.shards import shard_lines, unplaced

    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    markets = traded_markets(app, client, out)
    lines = shard_lines(
        client.exchange.get_exchange_status(), client.portfolio.get_balance(), markets
    )
    loose = unplaced(markets)
    document = {"shards": [shard_json(line) for line in lines], "unplaced_markets": loose}
    out.table(SHARD_COLUMNS, [shard_row(line) for line in lines], document=document)
    if loose:
        out.warn(f"the exchange named no shard for {len(loose)} traded markets: {', '.join(loose)}")


def traded_markets(app: AppContext, client: KalshiClient, out: Output) -> list[Market]:
    """The markets the config trades; none, with a warning, when they cannot be read."""
    from kalshi_cli.runner.config import load_selection
    from kalshi_cli.vocabulary.errors import KalshiError

    selection = load_selection(app.settings().config_path)
    try:
        return selection.markets(client)
    except KalshiError as exc:
        out.warn(f"the traded markets ({selection.describe()}) could not be read: {exc.one_line()}")
        return []


def shard_json(line: ShardLine) -> dict[str, Any]:
    from kalshi_cli.vocabulary.documents import money_text, shard_status_json

    return {
        **shard_status_json(line.exchange_index, line.status),
        "balance_dollars": None if line.balance is None else money_text(line.balance),
        "traded_markets": list(line.markets),
    }


def shard_row(line: ShardLine) -> dict[str, str]:
    from kalshi_cli.vocabulary.documents import money_text

    def yes_no(flag: bool | None) -> str:
        return "-" if flag is None else "yes" if flag else "no"

    status = line.status
    return {
        "exchange_index": str(line.exchange_index),
        "description": "(not listed)" if status is None else status.description,
        "trading_active": yes_no(None if status is None else line.trading),
        "intra_exchange_transfers_active": yes_no(
            None if status is None else status.intra_exchange_transfers_active
        ),
        "balance": "-" if line.balance is None else money_text(line.balance),
        "traded_markets": str(len(line.markets)),
    }


# --------------------------------------------------------------------------------------------
# kalshi shard move


def parse_move_amount(text: str) -> Decimal:
    """Dollars (a `$` allowed) to $0.0001, above zero; a usage error otherwise."""
    from kalshi_cli.cli.orders import parse_amount

    amount = parse_amount(text.strip().removeprefix("$"), "AMOUNT")
    if amount != amount.quantize(Decimal("0.0001")):
        raise typer.BadParameter(f"{text} is finer than $0.0001", param_hint="AMOUNT")
    return amount


@shard_app.command("move")
def move_command(
    amount: Annotated[
        str, typer.Argument(metavar="AMOUNT", help="Dollars to move, e.g. 250 or 12.50.")
    ],
    *,
    source: Annotated[int, shard_option("--from", "From this shard.")],
    target: Annotated[int, shard_option("--to", "To this shard.")],
    subaccount: Annotated[
        int,
        subaccount_option(
            "Move this subaccount's money (0, the default, is the primary account's)."
        ),
    ] = 0,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the exchange took it (pending).")
    ] = False,
    wait_s: Annotated[
        float,
        number_option("--timeout", "Seconds to wait for it to complete.", min=1, max=3600),
    ] = 60.0,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Move money from one exchange shard to another, once, and show where it is.

    Sends one intra-exchange transfer and waits until the exchange says it is complete. The
    request has no idempotency key: an answer lost on the way is looked up in the transfer
    history, never sent again; a transfer of unknown outcome exits 10 and says where the money
    is. A subaccount's money passes through the primary account on both shards, in steps the
    exchange does not undo when a later one fails.

    Example: kalshi shard move 250 --from 0 --to 2
    """
    from kalshi_cli.cli._services import confirm_on_prod, open_store
    from kalshi_cli.services.shards import MoneyMover, Move
    from kalshi_cli.vocabulary.clock import SystemClock
    from kalshi_cli.vocabulary.errors import UsageError

    try:
        move = Move(parse_move_amount(amount), source, target, subaccount)
    except UsageError as exc:
        raise typer.BadParameter(exc.message) from None
    app, out = begin(env, as_json=as_json)
    confirm_on_prod(app, f"move {move.describe()}", yes=yes)
    client = app.client(auth=True)
    with open_store(app) as store:  # each move written before it is sent
        mover = MoneyMover(client, SystemClock(), intents=store.transfer_intents, wait_s=wait_s)
        render_move(out, move.subaccount, mover.move(move, wait=not no_wait))


def render_move(out: Output, subaccount: int, result: MoveResult) -> None:
    from kalshi_cli.vocabulary.documents import money_text
    from kalshi_cli.vocabulary.units import fmt_money

    t = result.transfer
    document = {
        **transfer_json(t),
        "subaccount": subaccount,
        "looked_up": result.looked_up,
        "sent": result.sent,
        "earlier": [earlier_json(e) for e in result.earlier],
        "balances": [
            {
                "subaccount": p.subaccount,
                "exchange_index": p.exchange_index,
                "balance_dollars": None if p.balance is None else money_text(p.balance),
            }
            for p in result.places
        ],
    }
    fields = [
        ("transfer", t.transfer_id),
        ("status", t.status),
        ("amount", fmt_money(t.amount)),
        ("from shard", str(t.source_shard)),
        ("to shard", str(t.destination_shard)),
    ]
    if not result.sent:
        fields.append(
            ("note", "made by an earlier run whose answer was never read: not sent again")
        )
    elif result.looked_up:
        fields.append(("note", "its answer was lost; found in the transfer history"))
    for earlier in result.earlier:
        out.note(earlier.describe())
    fields += [(p.label, fmt_money(p.balance, "unreadable")) for p in result.places]
    out.record(fields, document=document)


def earlier_json(e: EarlierMove) -> dict[str, Any]:
    """A move an earlier run left open, as it was looked up (`EarlierMove`)."""
    from kalshi_cli.vocabulary.documents import money_text

    return {
        "amount": money_text(e.move.amount),
        "from_shard": e.move.source,
        "to_shard": e.move.target,
        "subaccount": e.move.subaccount,
        "recorded_at": e.recorded_at,
        "outcome": e.outcome,
        "transfer_id": e.transfer_id,
        "candidates": list(e.candidates),
    }


def transfer_json(t: Transfer) -> dict[str, Any]:
    from kalshi_cli.vocabulary.documents import money_text

    return {
        "transfer_id": t.transfer_id,
        "status": t.status,
        "amount": money_text(t.amount),
        "from_shard": t.source_shard,
        "to_shard": t.destination_shard,
        "created_ts": t.created_ts,
    }


# --------------------------------------------------------------------------------------------
# kalshi shard transfers

TRANSFER_COLUMNS = (
    Column("transfer_id", "transfer", identifier=True),
    Column("status", "status"),
    Column("amount", "amount", numeric=True, money=True),
    Column("from_shard", "from shard", numeric=True),
    Column("to_shard", "to shard", numeric=True),
    Column("created", "created"),
)


@shard_app.command("transfers")
def transfers_command(
    limit: LimitOpt = 100, as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None
) -> None:
    """List the moves of money between shards, as the exchange's history has them.

    Example: kalshi shard transfers --limit 20
    """
    from kalshi_cli.cli._services import open_store
    from kalshi_cli.services.shards import MoneyMover
    from kalshi_cli.vocabulary.clock import SystemClock, iso_utc

    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    with open_store(app) as store:  # a move an earlier `shard move` left open: looked up
        mover = MoneyMover(client, SystemClock(), intents=store.transfer_intents)
        earlier = mover.settle_earlier(wait=False)
    for move in earlier:
        out.note(move.describe())
    transfers = list(client.portfolio.iter_transfers(limit=limit))
    docs = [transfer_json(t) for t in transfers]
    rows = [{k: str(v) for k, v in d.items()} | {"created": iso_utc(d["created_ts"])} for d in docs]
    document = {
        "transfers": docs,
        "count": len(docs),
        "earlier": [earlier_json(e) for e in earlier],
    }
    out.table(TRANSFER_COLUMNS, rows, document=document)


# --------------------------------------------------------------------------------------------
# kalshi shard allocate


@shard_app.command("allocate")
def allocate_command(
    *,
    shares: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SHARD=PERCENT]...",
            help="Each shard's share of the sweepable balance; the shares total 100.",
            show_default=False,
        ),
    ] = None,
    reserve: Annotated[
        str | None,
        typer.Option(
            "--reserve",
            help="What a rebalance leaves for resting orders: none, max (the largest single "
            "commitment) or sum (all of them; the exchange's default).",
        ),
    ] = None,
    off: Annotated[
        bool, typer.Option("--off", help="Clear the allocation: no more rebalancing.")
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Show or set the target allocation Kalshi rebalances your balance to, by shard.

    With no shares, shows it. With shares (0=40 2=60), replaces it; they must total 100.
    `--off` clears it, and Kalshi stops rebalancing.

    Example: kalshi shard allocate 0=40 2=60 --reserve max
    """
    from kalshi_cli.cli._services import confirm_on_prod
    from kalshi_cli.services.shards import refuse_unlisted_shards

    shares_given, reservation = _allocation_request(shares or [], reserve, off)
    app, out = begin(env, as_json=as_json)
    portfolio = app.client(auth=True).portfolio
    if off:
        confirm_on_prod(app, "turn off the target balance allocation", yes=yes)
        portfolio.clear_target_allocation()
    elif shares_given:
        refuse_unlisted_shards(app.client(auth=True), shares_given)
        wanted = " ".join(f"{i}={p}" for i, p in sorted(shares_given.items()))
        confirm_on_prod(app, f"set the target balance allocation to {wanted}", yes=yes)
        portfolio.set_target_allocation(shares_given, reservation)
    render_allocation(out, portfolio.get_target_allocation())


def _allocation_request(
    shares: list[str], reserve: str | None, off: bool
) -> tuple[dict[int, int], Any]:
    """The shares and reservation asked for, refused as usage errors before anything is sent."""
    from kalshi_cli.client.portfolio import Reservation
    from kalshi_cli.services.shards import parse_allocation
    from kalshi_cli.vocabulary.errors import UsageError

    if off and (shares or reserve is not None):
        raise typer.BadParameter("--off clears the allocation; give no shares or --reserve with it")
    reservation = None
    if reserve is not None:
        try:
            reservation = Reservation(reserve.strip().lower())
        except ValueError:
            raise typer.BadParameter("must be none, max or sum", param_hint="--reserve") from None
        if not shares:
            raise typer.BadParameter("give the shares with it", param_hint="--reserve")
    try:
        parsed = parse_allocation(shares) if shares else {}
    except UsageError as exc:
        raise typer.BadParameter(exc.message, param_hint="SHARD=PERCENT") from None
    return parsed, reservation


def render_allocation(out: Output, allocation: TargetAllocation) -> None:
    document = {
        "allocations": [
            {"exchange_index": s.exchange_index, "percent": s.percent}
            for s in allocation.allocations
        ],
        "resting_margin_reservation": allocation.resting_margin_reservation.value,
    }
    if not allocation.allocations:
        out.result(document, "no target allocation: Kalshi does not rebalance between shards")
        return
    fields = [(f"shard {s.exchange_index}", f"{s.percent}%") for s in allocation.allocations]
    fields.append(("reserve for resting orders", allocation.resting_margin_reservation.value))
    out.record(fields, document=document)
