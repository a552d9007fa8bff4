"""`kalshi order place|cancel|amend|decrease|list|show|cancel-all`: orders in the trader's terms.

The trader says `--side no --action buy --price 0.40`; the exchange's V2 book hears `ask` at a YES
price of 0.60. Both are shown. Every command is parse -> one `OrderService` call -> render.

Nothing is sent on bad input: a value wrong for any market is a usage error (exit 2); one wrong for
this market or account (off the tick grid, closed, over a limit) is refused after reading the market
(exit 9, or 13 when trading is halted).
"""

from __future__ import annotations

from contextlib import nullcontext
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kalshi_cli.cli._context import AppContext, begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    LimitOpt,
    MarketOpt,
    OrderIdArg,
    OrderSubaccountOpt,
    SubaccountOpt,
    TickerArg,
    YesOpt,
    market_option,
)
from kalshi_cli.cli._output import Column
from kalshi_cli.cli._services import confirm_on_prod, open_store, order_service
from kalshi_cli.cli.app import command_group
from kalshi_cli.vocabulary.documents import order_json
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import (
    Action,
    OrderStatus,
    Side,
    fmt_count,
    fmt_dollars,
    fmt_money,
    money_places,
    side_value,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.cli._output import Output
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.services.orders.batch import BatchReport
    from kalshi_cli.services.orders.cancel import MarketCancelled
    from kalshi_cli.services.orders.place import PlaceOutcome, PreparedOrder
    from kalshi_cli.store import IntentRecord, Store
    from kalshi_cli.vocabulary.models import Order
    from kalshi_cli.vocabulary.order_terms import TermsError

T = TypeVar("T")

order_app = command_group("order")


class Tif(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


# ------------------------------------------------------------------------------------ parsing
# The rules are `vocabulary.order_terms`' (the batch file's and the order service's too); here a
# broken one becomes a usage error naming the flag.


def usage_error(exc: TermsError, named: str | None = None) -> typer.BadParameter:
    """The first problem of `exc` as a usage error under its flag, or under `named`: how the
    command line names what was read (`AMOUNT`, an argument, is no flag)."""
    first = exc.problems[0]
    return typer.BadParameter(first.message, param_hint=named or first.flag)


def _read(parse: Callable[[], T], named: str | None = None) -> T:
    """What an `order_terms` reader makes of the flag or argument `named` (None: of the flags
    its problems name); its refusal a usage error (exit 2) under that name."""
    from kalshi_cli.vocabulary.order_terms import TermsError

    try:
        return parse()
    except TermsError as exc:
        raise usage_error(exc, named) from None


def parse_amount(text: str, flag: str, *, allow_zero: bool = False) -> Decimal:
    """A count or a price as Decimal, refusing floats' disguises (nan, inf, 1e3)."""
    from kalshi_cli.vocabulary import order_terms

    return _read(
        lambda: order_terms.parse_amount(text, flag.lstrip("-"), allow_zero=allow_zero), flag
    )


def parse_count(text: str, flag: str = "--count", *, allow_zero: bool = False) -> Decimal:
    from kalshi_cli.vocabulary import order_terms

    return _read(
        lambda: order_terms.parse_count(text, flag.lstrip("-"), allow_zero=allow_zero), flag
    )


def parse_cents(text: str, flag: str, *, allow_zero: bool = False) -> int:
    """Dollars as whole cents, by `parse_cash`, the one rule of an amount of cash."""
    from kalshi_cli.vocabulary.order_terms import parse_cash
    from kalshi_cli.vocabulary.units import dollars_to_cents

    field = flag.lstrip("-")
    return _read(lambda: dollars_to_cents(parse_cash(text, field, allow_zero=allow_zero)), flag)


def parse_price(text: str, flag: str = "--price") -> Decimal:
    from kalshi_cli.vocabulary import order_terms

    return _read(lambda: order_terms.parse_price(text, flag.lstrip("-")), flag)


def parse_expires(text: str, now: float) -> int:
    """`30m`, `2h`, `1d` from now, unix seconds, or an ISO 8601 time (UTC unless it says)."""
    from kalshi_cli.vocabulary import order_terms

    return _read(lambda: order_terms.parse_expires(text, now))


# ------------------------------------------------------------------------------------ place


@order_app.command("place")
def place_command(
    ticker: TickerArg,
    *,
    side: Annotated[
        Side,
        typer.Option("--side", help="The side bought or sold: yes or no.", case_sensitive=False),
    ],
    action: Annotated[Action, typer.Option("--action", help="buy or sell.", case_sensitive=False)],
    count: Annotated[str, typer.Option("--count", help="Contracts (up to 2 decimals).")],
    price: Annotated[
        str, typer.Option("--price", help="Limit price of the side traded, in dollars (0.55).")
    ],
    post_only: Annotated[
        bool, typer.Option("--post-only", help="Rest on the book or be refused; never take.")
    ] = False,
    tif: Annotated[
        Tif, typer.Option("--tif", "--time-in-force", help="gtc, ioc or fok.", case_sensitive=False)
    ] = Tif.GTC,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="GTC orders only: cancel at this time (30m, 2h, 1d, unix seconds, ISO 8601).",
        ),
    ] = None,
    client_order_id: Annotated[
        str | None,
        typer.Option("--client-order-id", help="Your own id for the order (default: a new UUID)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Validate and print the exact request; send nothing."),
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Place a limit order, validated before anything is sent.

    The price is that of the side traded: `--side no --action buy --price 0.40` is an ask at a
    YES price of 0.60 on the exchange's single book. The intent is written to the state file
    before the request leaves; an answer lost on the way exits 10 (`kalshi reconcile`).

    Example: kalshi order place KXBTCD-SIM-T97000 --side yes --action buy --count 10 --price 0.55
    """
    from kalshi_cli.vocabulary.clock import SystemClock
    from kalshi_cli.vocabulary.order_terms import order_request
    from kalshi_cli.vocabulary.owners import MANUAL

    # read as a row of a batch file is, each flag by its field's rule: nothing is read or sent
    # on a problem, the first one a usage error under its flag
    request = _read(
        lambda: order_request(
            ticker,
            side,
            action,
            count,
            price,
            tif=tif,
            post_only=post_only,
            expires=expires,
            client_order_id=client_order_id,
            strategy=MANUAL,
            now=SystemClock().wall(),
        )
    )
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    with open_store(app) as store:
        service = order_service(app, store)
        # asked before the checks (a dry run never asks): the limits read as the answer finds them
        confirm_on_prod(app, request.summary, yes=yes or dry_run)
        prepared = service.prepare(request, dry_run=dry_run)
        if dry_run:
            render_dry_run(app, prepared, out)
            return
        outcome = service.place(prepared)
    render_placed(out, prepared, outcome)


def render_placed(out: Output, prepared: PreparedOrder, outcome: PlaceOutcome) -> None:
    document = {"order": {**prepared.describe(), **outcome.to_json(prepared.request.side)}}
    out.record(place_fields(prepared, outcome), document=document)
    if outcome.note:
        out.note(outcome.note)


def place_fields(prepared: PreparedOrder, outcome: PlaceOutcome) -> list[tuple[str, str]]:
    req = prepared.request
    book = prepared.create
    fill = outcome.average_fill_price
    average = None if fill is None else side_value(req.side, fill)
    # the record's prices to the same places
    order, on_book, fill_at = (
        fmt_money(v, places=money_places([req.price, book.price, average]))
        for v in (req.price, book.price, average)
    )
    fields = [
        ("status", outcome.status),
        ("order id", outcome.order_id or "-"),
        ("client order id", outcome.client_order_id),
        ("order", f"{req.action.value} {req.count} {req.side.value} @ {order}"),
        ("on the book", f"{book.book_side.value} @ {on_book} (YES)"),
        ("filled", str(outcome.fill_count)),
        ("remaining", str(outcome.remaining_count)),
    ]
    if average is not None:
        fields.append(("average fill", f"{req.side.value} @ {fill_at}"))
    return fields


def render_dry_run(app: AppContext, prepared: PreparedOrder, out: Output) -> None:
    """The exact request `place` would send; the signature and most of the key id masked."""
    import json

    from kalshi_cli.config import MASK, mask
    from kalshi_cli.vocabulary.clock import SystemClock

    client = app.client(auth=True)
    connection = app.connection(auth=True)
    url = f"{client.api_base}/portfolio/events/orders"
    body = prepared.create.to_api()
    headers = {
        "Content-Type": "application/json",
        "KALSHI-ACCESS-KEY": mask(connection.key_id or "", partial=True),
        "KALSHI-ACCESS-TIMESTAMP": str(int(SystemClock().wall() * 1000)),
        "KALSHI-ACCESS-SIGNATURE": MASK,
    }
    document = {
        "dry_run": True,
        "order": prepared.describe(),
        "request": {"method": "POST", "url": url, "headers": headers, "body": body},
    }
    if out.as_json:
        out.json(document)
        return
    out.line(f"dry run: nothing sent. {describe_line(prepared)}")
    out.line(f"POST {url}")
    for name, value in headers.items():
        out.line(f"{name}: {value}")
    out.line("")
    out.line(json.dumps(body, indent=2))


def describe_line(prepared: PreparedOrder) -> str:
    req, create = prepared.request, prepared.create
    places = money_places([req.price, create.price, prepared.cost])
    price, yes_price, cost = (
        fmt_money(v, places=places) for v in (req.price, create.price, prepared.cost)
    )
    return (
        f"{req.action.value} {fmt_count(req.count)} {req.side.value} {req.ticker} @ {price} "
        f"= {create.book_side.value} @ {yes_price} YES; max cost {cost}"
    )


# ------------------------------------------------------------------------------------ change


@order_app.command("cancel")
def cancel_command(
    order_id: OrderIdArg,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: OrderSubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Cancel one resting order.

    Example: kalshi order cancel 5c3e0b9e-...
    """
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    with open_store(app) as store:
        reduced = order_service(app, store).cancels.cancel(order_id)
    count = fmt_count(reduced)  # Kalshi's count, 2 decimals: "0.00" when nothing rested
    out.record(
        [("order id", order_id), ("status", "canceled"), ("contracts cancelled", count)],
        document={"order_id": order_id, "status": "canceled", "reduced_by": count},
    )


@order_app.command("amend")
def amend_command(
    order_id: OrderIdArg,
    *,
    price: Annotated[
        str | None, typer.Option("--price", help="New price of the side traded.")
    ] = None,
    count: Annotated[
        str | None, typer.Option("--count", help="New total count (filled so far plus what rests).")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="New expiry (30m, 2h, 1d, unix seconds, ISO 8601), or 0 to remove it (GTC). "
            "Left out: the expiry is kept.",
        ),
    ] = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: OrderSubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Change a resting order's price, total count and/or expiry.

    The order keeps its place in the queue only when the amend changes just the expiry or
    lowers the count at the same price; a new price or a bigger count sends it to the back.

    Example: kalshi order amend 5c3e0b9e-... --price 0.57
    """
    from kalshi_cli.vocabulary.clock import SystemClock

    if price is None and count is None and expires is None:
        raise typer.BadParameter(
            "give --price, --count, --expires or a combination", param_hint="--price/--count"
        )
    new_price = None if price is None else parse_price(price)
    new_count = None if count is None else parse_count(count)
    expiration = None
    if expires is not None:
        expiration = 0 if expires.strip() == "0" else parse_expires(expires, SystemClock().wall())
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    confirm_on_prod(app, f"amend order {order_id}", yes=yes)
    with open_store(app) as store:
        amended = order_service(app, store).amends.amend(
            order_id, price=new_price, count=new_count, expiration_time=expiration
        )
        render_changed(out, store, amended.order, amended.note)


@order_app.command("decrease")
def decrease_command(
    order_id: OrderIdArg,
    *,
    by: Annotated[str | None, typer.Option("--by", help="Contracts to take off.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Contracts left resting.")] = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: OrderSubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Shrink a resting order --by N contracts or --to N contracts.

    Example: kalshi order decrease 5c3e0b9e-... --by 5
    """
    if (by is None) == (to is None):
        raise typer.BadParameter("give exactly one of --by and --to", param_hint="--by/--to")
    amount_by = None if by is None else parse_count(by, "--by")
    amount_to = None if to is None else parse_count(to, "--to", allow_zero=True)
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    with open_store(app) as store:
        decreased = order_service(app, store).cancels.decrease(order_id, by=amount_by, to=amount_to)
        render_changed(out, store, decreased.order, decreased.note)


def render_changed(out: Output, store: Store, order: Order, note: str | None) -> None:
    """An amended or decreased order as `render_order` shows it, its note also a warning."""
    render_order(out, order, store.orders.intent_by_order_id(order.order_id), note=note)
    if note:
        out.warn(note)


# ------------------------------------------------------------------------------------ read


ORDER_COLUMNS = (
    Column("order_id", "order id", identifier=True),
    Column("ticker", "ticker", identifier=True),
    Column(
        "trade",
        "order",
        members=(Column("action", "action"), Column("side", "side"), Column("price", "price")),
    ),
    Column(
        "book",
        "book (YES)",
        members=(Column("book_side", "book side"), Column("yes_price", "yes price")),
    ),
    Column("filled", "filled", numeric=True),
    Column("remaining", "remaining", numeric=True),
    Column("status", "status"),
    Column("created", "created"),
)


def order_rows(docs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The document's own values, one exact value each for CSV (`action`, `price`, ...), and the
    cells a table shows (a table reads only its columns' keys): every price of the listing to
    the same places (`money_places`)."""
    prices = [(Decimal(d["price"]), Decimal(d["yes_price"])) for d in docs]
    places = money_places(v for pair in prices for v in pair)
    return [
        _order_row(d, *(fmt_money(v, places=places) for v in pair))
        for d, pair in zip(docs, prices, strict=True)
    ]


def _order_row(doc: dict[str, Any], price: str, yes_price: str) -> dict[str, str]:
    return {
        **doc,
        "trade": f"{doc['action']} {doc['side']} @ {price}",
        "book": f"{doc['book_side']} @ {yes_price}",
        "filled": doc["fill_count"],
        "remaining": doc["remaining_count"],
        "created": doc["created_time"] or "",
    }


def render_order(out: Any, order: Order, intent: IntentRecord | None, **beside: str | None) -> None:
    """The order's fields, and in the JSON document `beside` it what a command adds (an
    amend's or a decrease's `note`: null, or what its warning says on stderr)."""
    doc = order_json(order, intent)
    (row,) = order_rows([doc])
    fields = [(c.header, row[c.key]) for c in ORDER_COLUMNS]
    exact = [(p.header, row[p.key]) for c in ORDER_COLUMNS for p in (c.members or (c,))]
    for listing in (fields, exact):
        listing.insert(1, ("client order id", doc["client_order_id"] or "-"))
        listing.append(("expires", doc["expiration_time"] or "good till cancelled"))
        if intent is not None and intent.error:
            listing.append(("note", intent.error))
    out.record(fields, document={"order": doc, **beside}, csv_fields=exact)


@order_app.command("list")
def list_command(
    *,
    status: Annotated[
        OrderStatus | None,
        typer.Option("--status", help="resting, executed or canceled.", case_sensitive=False),
    ] = None,
    ticker: MarketOpt = None,
    limit: LimitOpt = 100,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Add each resting order's queue position: the contracts resting ahead of it "
            "at its price.",
        ),
    ] = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """List your orders as the exchange has them, in the trader's terms and the book's.

    Example: kalshi order list --status resting --ticker KXBTCD-SIM-T97000 --queue
    """
    from kalshi_cli.store import Store

    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    orders = list(
        app.client(auth=True).orders.iter_orders(
            ticker=ticker, status=status.value if status else None, limit=limit
        )
    )
    with Store.open_readonly(app.settings().state) or nullcontext() as store:
        docs = [
            order_json(o, store.orders.intent_by_order_id(o.order_id) if store else None)
            for o in orders
        ]
    columns: tuple[Column, ...] = ORDER_COLUMNS
    rows = order_rows(docs)
    if queue:
        columns = add_queue_positions(app.client(auth=True), ticker, orders, docs, rows)
    out.table(columns, rows, document={"orders": docs, "count": len(docs)})


def add_queue_positions(
    client: KalshiClient,
    ticker: str | None,
    orders: list[Order],
    docs: list[dict[str, Any]],
    rows: list[dict[str, str]],
) -> tuple[Column, ...]:
    """`order list --queue`: each resting order's queue position (`queue_position`, contracts
    ahead of it at its price; null for an order that does not rest) and an "ahead" column.
    The exchange answers one subaccount's at a time (0 unless named), and the listing covers
    every subaccount unless the client acts on one: each subaccount an order rests on is asked."""
    from kalshi_cli.vocabulary.units import fmt_count

    ahead = client.orders.queue_positions_of(orders, market_tickers=[ticker] if ticker else None)
    for doc, row in zip(docs, rows, strict=True):
        position = ahead.get(doc["order_id"]) if doc["status"] == "resting" else None
        doc["queue_position"] = None if position is None else fmt_count(position)
        row["ahead"] = doc["queue_position"] or ""
    at = [c.key for c in ORDER_COLUMNS].index("remaining") + 1
    return (*ORDER_COLUMNS[:at], Column("ahead", "ahead", numeric=True), *ORDER_COLUMNS[at:])


@order_app.command("show")
def show_command(
    order_id: OrderIdArg,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show one order: the exchange's state and, when placed here, the state file's history.

    Example: kalshi order show 5c3e0b9e-... --json
    """
    from kalshi_cli.store import Store

    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    order = app.client(auth=True).orders.get_order(order_id)
    with Store.open_readonly(app.settings().state) or nullcontext() as store:
        intent = store.orders.intent_by_order_id(order_id) if store else None
        history = store.orders.order_history(intent.client_order_id) if store and intent else []
    if as_json:
        out.json({"order": order_json(order, intent) | {"history": _history_json(history)}})
        return
    render_order(out, order, intent)
    _render_history(out, history)


def _history_json(history: list[Any]) -> list[dict[str, Any]]:
    from kalshi_cli.vocabulary.clock import iso_utc

    return [
        {
            "status": h.status,
            "filled": str(h.filled),
            "note": h.note,
            "at": h.at,
            "time": iso_utc(h.at),
        }
        for h in history
    ]


def _render_history(out: Any, history: list[Any]) -> None:
    """What the state file saw happen to the order, oldest first (an amend, a fill, a
    decrease...), under its record; not in CSV or markdown, whose shape is the record's."""
    from kalshi_cli.cli._output import TableFormat
    from kalshi_cli.vocabulary.clock import iso_utc

    if not history or out.format not in (TableFormat.TABLE, TableFormat.PLAIN):
        return
    out.line("")
    out.line("history (state file, UTC)")
    for h in history:
        out.line(f"  {iso_utc(h.at)}  {h.note or '':<10} {h.status:<9} filled {h.filled}")


# ------------------------------------------------------------------------------------ alias


@order_app.command("cancel-all")
def order_cancel_all_command(
    *,
    ticker: Annotated[str, market_option("The market whose orders to cancel.")],
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Cancel one market's resting orders; the trading state is left as it is.

    Every subaccount's orders, each subaccount listed on its own; with --subaccount N, N's
    alone. An order whose cancel fails is named and the others are cancelled all the same
    (exit 11); a state file that fails midway is named, with the cancels it did not record,
    and the others are cancelled all the same (exit 21). Trading goes on in every market.
    The kill switch, which halts first, is `kalshi cancel-all`.

    Example: kalshi order cancel-all --ticker KXBTCD-SIM-T97000 --yes
    """
    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    confirm_on_prod(app, f"cancel every resting order of {ticker}", yes=yes)
    with open_store(app) as store:
        done = order_service(app, store).cancels.cancel_market(ticker, say=out.note)
    render_market_cancelled(out, ticker, done)


def render_market_cancelled(out: Output, ticker: str, done: MarketCancelled) -> None:
    """One market's cancel, then its exit code: 21 if the state file failed (the cancels it
    did not record named), 11 if an order's cancel failed or the market's spelling was not
    confirmed, else 0."""
    cancelled = done.cancelled
    contracts = fmt_count(sum(cancelled.values(), Decimal(0)))
    out.record(
        [("ticker", ticker), ("orders cancelled", str(len(cancelled))), ("contracts", contracts)],
        document={
            "ticker": ticker,
            "cancelled": list(cancelled),
            "cancelled_count": len(cancelled),
            "contracts_cancelled": contracts,
            "not_cancelled": [
                {"order_id": order_id, "error": error.one_line()}
                for order_id, error in done.failed.items()
            ],
            "not_recorded": done.not_recorded,
            "state_error": done.state_fault.message if done.state_fault else None,
        },
    )
    for order_id, error in done.failed.items():
        out.note(f"not cancelled: {order_id}: {error.one_line()}")
    if done.unconfirmed is not None:
        out.note(f"not done: {done.unconfirmed}; run it again once the exchange answers")
    if done.state_fault is not None:
        out.note(
            f"NOT RECORDED: {done.state_fault.message}: {len(done.not_recorded)} order(s) "
            f"cancelled on the exchange that the state file does not record: "
            f"{', '.join(done.not_recorded) or 'none'} (`kalshi reconcile` records them once "
            "the state file can be written)"
        )
        raise typer.Exit(int(ExitCode.STATE_WRITE_FAILED))
    if done.failed or done.unconfirmed is not None:
        raise typer.Exit(int(ExitCode.NOT_PROVEN))


# ------------------------------------------------------------------------------------ batch

BATCH_COLUMNS = (
    Column("line", "line", numeric=True),
    Column("ticker", "ticker", identifier=True),
    Column("trade", "order"),
    Column("status", "status"),
    Column("order_id", "order id", identifier=True),
    Column("note", "note"),
)


@order_app.command("batch")
def batch_command(
    *,
    file: Annotated[
        Path,
        typer.Option(
            "--file", help="Orders, one a row: a .csv with a header, or a .json array of objects."
        ),
    ],
    batch_id: Annotated[
        str | None,
        typer.Option(
            "--batch-id",
            help="Names the batch in the rows' order ids (default: the file's path); a new "
            "id sends the same rows again as new orders.",
        ),
    ] = None,
    subaccount: SubaccountOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate every row; send nothing.")
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Place the orders of a file: every row checked first, none ever sent twice.

    Columns: ticker, side, action, count, price, and optionally tif, post_only, reduce_only,
    expires, client_order_id. Any bad row is reported as file:line and nothing is sent. Each row
    is recorded in the state file before it is sent, under an id derived from the batch and the
    row, so running the same file again sends only the rows not yet sent. Rows go out in
    batches as large as the tier's write budget allows (docs/orders.md).

    Example: kalshi order batch --file orders.csv
    """
    from kalshi_cli.services.orders.batch import place_batch

    app, out = begin(env, subaccount, as_json=as_json, fmt=fmt)
    if not dry_run:
        confirm_on_prod(app, f"place the orders of {file}", yes=yes)
    with open_store(app) as store:
        report = place_batch(
            order_service(app, store),
            file,
            batch_id=batch_id,
            subaccount=subaccount,
            dry_run=dry_run,
            say=out.note,
        )
    render_batch(out, report, dry_run=dry_run)


def render_batch(out: Output, report: BatchReport, *, dry_run: bool) -> None:
    """The batch's rows, then its exit code: 21 if the state file could not record a row the
    exchange has or may have, 10 if an outcome is unknown, 13 if a halt (the kill switch)
    stopped the rows after a batch sent, 9 if a row was rejected or not sent, else 0."""
    rows = [
        {
            "line": str(r.line),
            "ticker": r.request.ticker,
            "trade": f"{r.request.side.value} {r.request.action.value} "
            f"{fmt_count(r.request.count)} @ {fmt_dollars(r.request.price)}",
            "status": r.status,
            "order_id": r.order_id or "",
            "note": r.note or "",
        }
        for r in report.rows
    ]
    document = {
        "batch": {
            "file": report.file,
            "batch_id": report.batch_id,
            "batch_size": report.batch_size,
            "dry_run": dry_run,
            "rows": [
                {
                    "line": r.line,
                    "client_order_id": r.client_order_id,
                    "ticker": r.request.ticker,
                    "side": r.request.side.value,
                    "action": r.request.action.value,
                    "count": fmt_count(r.request.count),
                    "price": fmt_dollars(r.request.price),
                    "status": r.status,
                    "order_id": r.order_id,
                    "filled": fmt_count(r.fill_count),
                    "remaining": fmt_count(r.remaining_count),
                    "note": r.note,
                }
                for r in report.rows
            ],
        }
    }
    out.table(BATCH_COLUMNS, rows, document=document)
    if any(r.unrecorded for r in report.rows):
        raise typer.Exit(int(ExitCode.STATE_WRITE_FAILED))
    if report.count("unknown"):
        raise typer.Exit(int(ExitCode.OUTCOME_UNKNOWN))
    if report.halted is not None:
        raise typer.Exit(int(ExitCode.HALTED))
    if report.refused is not None:
        raise typer.Exit(int(report.refused.exit_code))
    if report.count("rejected", "not_sent") and not dry_run:
        raise typer.Exit(int(ExitCode.REJECTED))
