"""`kalshi rfq list|show|create|cancel` and `kalshi quote list|show|create|accept|confirm|cancel`:
RFQs and quotes (client/communications.py), with bad input refused before anything is sent and
the writes that can open a position refused while trading is HALTED or in SAFE_MODE, as for
`kalshi order place`. See docs/orders.md "RFQs and quotes: `kalshi rfq`, `kalshi quote`".
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli import _options
from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    LimitOrAllOpt,
    MarketOpt,
    SubaccountOpt,
    YesOpt,
)
from kalshi_cli.cli._output import Column
from kalshi_cli.cli.app import command_group
from kalshi_cli.vocabulary.units import Action, Side, fmt_count, fmt_money

if TYPE_CHECKING:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli._output import Output
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.communications import Quote, Rfq
    from kalshi_cli.vocabulary.models import Market

rfq_app = command_group("rfq")
quote_app = command_group("quote")


class RfqStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class QuoteStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    EXECUTED = "executed"
    CANCELLED = "cancelled"


RfqArg = Annotated[str, typer.Argument(parser=_options.exchange_uuid_text, help="The RFQ's id.")]
QuoteArg = Annotated[
    str, typer.Argument(parser=_options.exchange_uuid_text, help="The quote's id.")
]
RestRemainderOpt = Annotated[
    bool, typer.Option("--rest-remainder", help="Rest what does not fill on the book.")
]


# --------------------------------------------------------------------------------------------
# input


def _to_a_ten_thousandth(value: Decimal, text: str, flag: str) -> Decimal:
    """`value` (read from `text`) if it is dollars to $0.0001, the finest the exchange prices a
    quote or sizes an RFQ's cost in; a usage error under `flag` otherwise."""
    if value != value.quantize(Decimal("0.0001")):
        raise typer.BadParameter(f"{text} has more than 4 decimals", param_hint=flag)
    return value


def parse_bid(text: str, flag: str) -> Decimal:
    """A quote's price for one side in dollars, [0, 1): 0 declines the side."""
    from kalshi_cli.cli.orders import parse_amount

    value = parse_amount(text, flag, allow_zero=True)
    if not value < 1:
        raise typer.BadParameter(
            f"{text} is not a price in dollars below 1 (e.g. 0.55, or 0 to decline)",
            param_hint=flag,
        )
    return _to_a_ten_thousandth(value, text, flag)


def _size(count: str | None, target_cost: str | None) -> tuple[Decimal | None, Decimal | None]:
    from kalshi_cli.cli.orders import parse_amount, parse_count

    if (count is None) == (target_cost is None):
        raise typer.BadParameter(
            "give exactly one of --count and --target-cost", param_hint="--count"
        )
    if count is not None:
        return parse_count(count), None
    assert target_cost is not None
    cost = parse_amount(target_cost, "--target-cost")
    return None, _to_a_ten_thousandth(cost, target_cost, "--target-cost")


# --------------------------------------------------------------------------------------------
# the gates a write that can open a position passes before it is sent


def _trading_allowed(app: AppContext, what: str) -> None:
    """The gates `kalshi order place` asks of an order that adds (an RFQ or a quote is never
    reduce-only), by their one rule (`PreTradeChecks.check_may_send`): the daily circuit
    breaker's day refuses (exit 9), HALTED, SAFE_MODE and REDUCING too (exit 13)."""
    from kalshi_cli.cli._services import open_store, order_service
    from kalshi_cli.services.pretrade.account import MarketReads

    with open_store(app) as store:
        order_service(app, store).checks.check_may_send(MarketReads(), reduce_only=False, what=what)


def _asked_and_still_allowed(app: AppContext, question: str, *, yes: bool, what: str) -> None:
    """On prod the person's go-ahead, then the trading state read again just before the write
    is sent: a person may take minutes to answer, and a halt recorded meanwhile (`kalshi
    cancel-all` from another terminal) must stop the write, as it stops `kalshi order place`,
    whose intent is written with the trading state read after its prompt."""
    from kalshi_cli.cli._services import confirm_on_prod

    confirm_on_prod(app, question, yes=yes)
    _trading_allowed(app, what)


def _within_limits(app: AppContext, quote: Quote, side: Side, action: Action) -> None:
    """The trade `quote`'s execution makes of this account, `action` on the side its requester
    accepts (`side`: the requester's buy, or the maker's sale that is its other side), held to
    the account's `risk:` limits as `kalshi order place` holds an order (exit 9 naming the key),
    once the person answered: the execution places it on the book, with no check of its own."""
    from kalshi_cli.cli._services import open_store, order_service
    from kalshi_cli.vocabulary.units import to_book

    price, count = _accepted_terms(quote, side)
    book = to_book(side, action, price)
    with open_store(app) as store:
        order_service(app, store).checks.check_limits(
            quote.market_ticker,
            book.book_side,
            quote.contracts if count is None else count,
            book.yes_price,
        )


def _accepted_terms(quote: Quote, side: Side) -> tuple[Decimal, Decimal | None]:
    """The price and size of `side` in `quote`; a side the quote declines (its price 0) is
    refused here, before anything is sent or asked."""
    from kalshi_cli.vocabulary.errors import ValidationError

    price = quote.yes_bid if side is Side.YES else quote.no_bid
    if price == 0:
        raise ValidationError(
            f"quote {quote.quote_id} declines the {side.value} side (its price is 0)",
            code="bad_side",
        )
    return price, quote.yes_contracts if side is Side.YES else quote.no_contracts


def _open_market(client: KalshiClient, ticker: str) -> Market:
    from kalshi_cli.services.orders.context import open_market

    return open_market(client, ticker)


def _quotable(
    app: AppContext, client: KalshiClient, rfq_id: str, yes_bid: Decimal, no_bid: Decimal
) -> str:
    """The gates of a quote before it is sent: trading allowed, the RFQ's market open, each
    price that does not decline its side on the market's tick grid. Returns the market."""
    from kalshi_cli.vocabulary.order_terms import check_price

    _trading_allowed(app, "no quote sent")
    market = _open_market(client, client.communications.get_rfq(rfq_id).market_ticker)
    for what, price in (("yes bid", yes_bid), ("no bid", no_bid)):
        if price != 0:
            check_price(market, price, what=what)
    return str(market.ticker)


# --------------------------------------------------------------------------------------------
# shapes


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def rfq_json(rfq: Rfq) -> dict[str, Any]:
    return {
        "rfq_id": rfq.rfq_id,
        "market_ticker": rfq.market_ticker,
        "status": rfq.status,
        "contracts": str(rfq.contracts),
        "target_cost": _opt(rfq.target_cost),
        "rest_remainder": rfq.rest_remainder,
        "mine": rfq.mine,
        "creator_id": rfq.creator_id,
        "created_ts": rfq.created_ts,
        "cancellation_reason": rfq.cancellation_reason or None,
    }


def quote_json(quote: Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.quote_id,
        "rfq_id": quote.rfq_id,
        "market_ticker": quote.market_ticker,
        "status": quote.status,
        "yes_bid": str(quote.yes_bid),
        "no_bid": str(quote.no_bid),
        "yes_contracts": _opt(quote.yes_contracts),
        "no_contracts": _opt(quote.no_contracts),
        "accepted_side": quote.accepted_side,
        "mine": quote.mine,
        "order_id": quote.creator_order_id or quote.rfq_creator_order_id or None,
        "created_ts": quote.created_ts,
        "updated_ts": quote.updated_ts,
        "cancellation_reason": quote.cancellation_reason or None,
    }


RFQ_COLUMNS = (
    Column("rfq_id", "rfq", identifier=True),
    Column("market_ticker", "market", identifier=True),
    Column("status", "status"),
    Column("size", "size", numeric=True),
    Column("mine", "mine"),
    Column("created_ts", "created"),
)
QUOTE_COLUMNS = (
    Column("quote_id", "quote", identifier=True),
    Column("rfq_id", "rfq", identifier=True),
    Column("market_ticker", "market", identifier=True),
    Column("status", "status"),
    Column("yes_bid", "yes bid", numeric=True, money=True),
    Column("no_bid", "no bid", numeric=True, money=True),
    Column("accepted_side", "accepted"),
    Column("mine", "mine"),
)


def _rfq_size(doc: dict[str, Any]) -> str:
    if doc["target_cost"] is not None:
        return fmt_money(Decimal(doc["target_cost"]))
    return str(doc["contracts"])


# a row is its document, the cells that are not text as a table shows them (a table reads only
# its columns' keys)
def _rfq_row(doc: dict[str, Any]) -> dict[str, str]:
    return {**doc, "size": _rfq_size(doc), "mine": "yes" if doc["mine"] else ""}


def _quote_row(doc: dict[str, Any]) -> dict[str, str]:
    mine = "yes" if doc["mine"] else ""
    return {**doc, "accepted_side": doc["accepted_side"] or "", "mine": mine}


def _quote_fields(doc: dict[str, Any]) -> list[tuple[str, str]]:
    fields = [
        ("quote", doc["quote_id"]),
        ("rfq", doc["rfq_id"]),
        ("market", doc["market_ticker"]),
        ("status", doc["status"]),
        ("yes bid", doc["yes_bid"]),
        ("no bid", doc["no_bid"]),
        ("yes contracts", doc["yes_contracts"] or ""),
        ("no contracts", doc["no_contracts"] or ""),
        ("accepted side", doc["accepted_side"] or ""),
        ("mine", "yes" if doc["mine"] else "no"),
        ("order", doc["order_id"] or ""),
        ("created", doc["created_ts"]),
        ("updated", doc["updated_ts"]),
    ]
    if doc["cancellation_reason"]:
        fields.append(("cancelled because", doc["cancellation_reason"]))
    return fields


# --------------------------------------------------------------------------------------------
# rfq


@rfq_app.command("list")
def rfq_list_command(
    *,
    market: MarketOpt = None,
    status: Annotated[
        RfqStatus | None, typer.Option("--status", help="open or closed.", case_sensitive=False)
    ] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own RFQs.")] = False,
    limit: LimitOrAllOpt = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """List RFQs, newest first: everyone's open ones are there to quote on.

    Example: kalshi rfq list --status open
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    rfqs = client.communications.iter_rfqs(
        market_ticker=market,
        status=None if status is None else status.value,
        mine=mine,
        subaccount=subaccount,
        limit=limit,
    )
    document = {"rfqs": [rfq_json(r) for r in rfqs]}
    out.table(RFQ_COLUMNS, [_rfq_row(d) for d in document["rfqs"]], document=document)


@rfq_app.command("show")
def rfq_show_command(
    rfq_id: RfqArg, as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None
) -> None:
    """Show one RFQ.

    Example: kalshi rfq show 6f1c2d3e-...
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    doc = rfq_json(client.communications.get_rfq(rfq_id))
    fields = [
        ("rfq", doc["rfq_id"]),
        ("market", doc["market_ticker"]),
        ("status", doc["status"]),
        ("size", _rfq_size(doc)),
        ("rest remainder", "yes" if doc["rest_remainder"] else "no"),
        ("mine", "yes" if doc["mine"] else "no"),
        ("creator", doc["creator_id"]),
        ("created", doc["created_ts"]),
    ]
    if doc["cancellation_reason"]:
        fields.append(("closed because", doc["cancellation_reason"]))
    out.record(fields, document=doc)


@rfq_app.command("create")
def rfq_create_command(
    ticker: Annotated[str, _options.identifier_argument("The market's ticker.")],
    *,
    count: Annotated[
        str | None, typer.Option("--count", help="Contracts to ask a price for (up to 2 decimals).")
    ] = None,
    target_cost: Annotated[
        str | None,
        typer.Option(
            "--target-cost",
            help="Or: dollars to spend; each quote is sized to what they buy, fees included.",
        ),
    ] = None,
    rest_remainder: RestRemainderOpt = False,
    replace: Annotated[bool, typer.Option("--replace", help="Close your open RFQs first.")] = False,
    hide_id: Annotated[
        bool,
        typer.Option("--hide-id", help="Hide your id from makers until the RFQ executes."),
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Ask makers for a price on a size of one market; prints the RFQ's id.

    Refused while trading is halted (`kalshi status`), like an order.

    Example: kalshi rfq create KXBTCD-SIM-T97000 --count 100
    """
    contracts, cost = _size(count, target_cost)
    app, out = begin(env, as_json=as_json)
    client = app.client(auth=True)
    _trading_allowed(app, "no RFQ sent")
    _open_market(client, ticker)
    size = f"{fmt_count(contracts)} contracts" if contracts is not None else fmt_money(cost)
    _asked_and_still_allowed(
        app, f"ask for quotes on {size} of {ticker}", yes=yes, what="no RFQ sent"
    )
    rfq_id = client.communications.create_rfq(
        ticker,
        contracts=contracts,
        target_cost=cost,
        rest_remainder=rest_remainder,
        replace_existing=replace,
        obscure_creator_id=hide_id,
        subaccount=subaccount,
    )
    sizes = {"contracts": _opt(contracts), "target_cost": _opt(cost)}
    out.result({"rfq_id": rfq_id, "market_ticker": ticker, **sizes}, rfq_id)


@rfq_app.command("cancel")
def rfq_cancel_command(rfq_id: RfqArg, as_json: JsonOpt = False, env: EnvOpt = None) -> None:
    """Close one of your RFQs; its open quotes are cancelled.

    Example: kalshi rfq cancel 6f1c2d3e-...
    """
    app, out = begin(env, as_json=as_json)
    client = app.client(auth=True)
    client.communications.delete_rfq(rfq_id)
    out.result({"rfq_id": rfq_id, "result": "cancelled"}, f"rfq {rfq_id} cancelled")


# --------------------------------------------------------------------------------------------
# quote


@quote_app.command("list")
def quote_list_command(
    *,
    rfq: Annotated[
        str | None,
        typer.Option("--rfq", parser=_options.exchange_uuid_text, help="Only quotes on this RFQ."),
    ] = None,
    status: Annotated[
        QuoteStatus | None,
        typer.Option(
            "--status",
            help="open, accepted, confirmed, executed or cancelled.",
            case_sensitive=False,
        ),
    ] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only the quotes you made.")] = False,
    on_my_rfqs: Annotated[
        bool, typer.Option("--on-my-rfqs", help="Only the quotes on your RFQs.")
    ] = False,
    limit: LimitOrAllOpt = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """List the quotes you may see, newest first: yours, and those on your RFQs.

    Example: kalshi quote list --on-my-rfqs --status open
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    quotes = client.communications.iter_quotes(
        rfq_id=rfq,
        status=None if status is None else status.value,
        mine=mine,
        on_my_rfqs=on_my_rfqs,
        limit=limit,
    )
    document = {"quotes": [quote_json(q) for q in quotes]}
    out.table(QUOTE_COLUMNS, [_quote_row(d) for d in document["quotes"]], document=document)


@quote_app.command("show")
def quote_show_command(
    quote_id: QuoteArg, as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None
) -> None:
    """Show one quote: its prices, status and, once executed, your order.

    Example: kalshi quote show 0a9b8c7d-...
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    doc = quote_json(client.communications.get_quote(quote_id))
    out.record(_quote_fields(doc), document=doc)


@quote_app.command("create")
def quote_create_command(
    rfq_id: RfqArg,
    *,
    yes_bid: Annotated[
        str,
        typer.Option(
            "--yes-bid", help="Dollars per YES contract the requester may buy at (0 declines YES)."
        ),
    ],
    no_bid: Annotated[
        str,
        typer.Option(
            "--no-bid", help="Dollars per NO contract the requester may buy at (0 declines NO)."
        ),
    ],
    rest_remainder: RestRemainderOpt = False,
    post_only: Annotated[
        bool, typer.Option("--post-only", help="Your order never takes liquidity.")
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Quote on someone's RFQ; prints the quote's id. Checked against the market's tick grid.

    Refused while trading is halted (`kalshi status`), like an order.

    Example: kalshi quote create 6f1c2d3e-... --yes-bid 0.40 --no-bid 0.55
    """
    yes_price, no_price = parse_bid(yes_bid, "--yes-bid"), parse_bid(no_bid, "--no-bid")
    if yes_price == 0 and no_price == 0:
        raise typer.BadParameter("a quote cannot decline both sides", param_hint="--yes-bid")
    app, out = begin(env, as_json=as_json)
    client = app.client(auth=True)
    ticker = _quotable(app, client, rfq_id, yes_price, no_price)
    question = f"quote YES {yes_price} / NO {no_price} on RFQ {rfq_id} ({ticker})"
    _asked_and_still_allowed(app, question, yes=yes, what="no quote sent")
    quote_id = client.communications.create_quote(
        rfq_id,
        yes_bid=yes_price,
        no_bid=no_price,
        rest_remainder=rest_remainder,
        post_only=post_only,
        subaccount=subaccount,
    )
    prices = {"yes_bid": str(yes_price), "no_bid": str(no_price)}
    out.result({"quote_id": quote_id, "rfq_id": rfq_id, **prices}, quote_id)


@quote_app.command("accept")
def quote_accept_command(
    quote_id: QuoteArg,
    side: Annotated[
        Side, typer.Option("--side", help="The side you buy: yes or no.", case_sensitive=False)
    ],
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Accept one side of a quote on your RFQ: you buy it at the quote's price for that side
    once the maker confirms. Refused while trading is halted (`kalshi status`).

    Example: kalshi quote accept 0a9b8c7d-... --side yes
    """
    app, out = begin(env, as_json=as_json)
    client = app.client(auth=True)
    _trading_allowed(app, "the quote was not accepted")
    quote = client.communications.get_quote(quote_id)
    price, count = _accepted_terms(quote, side)
    _asked_and_still_allowed(
        app,
        f"buy {count if count is not None else quote.contracts} {side.value.upper()} of "
        f"{quote.market_ticker} at {price}",
        yes=yes,
        what="the quote was not accepted",
    )
    _within_limits(app, quote, side, Action.BUY)
    client.communications.accept_quote(quote_id, side.value)
    out.result(
        {"quote_id": quote_id, "result": "accepted", "accepted_side": side.value},
        f"quote {quote_id} accepted: {side.value} at {price}; the maker confirms next",
    )


@quote_app.command("confirm")
def quote_confirm_command(
    quote_id: QuoteArg,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """Confirm your quote the RFQ's creator accepted: once the exchange's execution timer runs
    out it places both orders and you take the other side; neither side can withdraw meanwhile.
    Refused while trading is halted (`kalshi status`).

    Example: kalshi quote confirm 0a9b8c7d-...
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    client = app.client(auth=True)
    _trading_allowed(app, "the quote was not confirmed")
    quote = client.communications.get_quote(quote_id)
    question = _confirmation_question(quote)
    _asked_and_still_allowed(app, question, yes=yes, what="the quote was not confirmed")
    _within_limits(app, quote, Side(quote.accepted_side or ""), Action.SELL)
    client.communications.confirm_quote(quote_id)
    _report_confirmed(out, client, quote_id)


def _confirmation_question(quote: Quote) -> str:
    """What a confirmation of `quote` binds its maker to; a quote no requester accepted is
    refused here, before anything is sent or asked: confirming it would bind the maker to
    whichever side is accepted meanwhile."""
    from kalshi_cli.vocabulary.errors import ValidationError

    if quote.status != "accepted" or quote.accepted_side is None:
        raise ValidationError(
            f"quote {quote.quote_id} is {quote.status}, not accepted: nothing to confirm",
            code="quote_not_accepted",
        )
    return (
        f"take the other side of {quote.contracts} {quote.accepted_side.upper()} "
        f"of {quote.market_ticker} (quote {quote.quote_id})"
    )


def _report_confirmed(out: Output, client: KalshiClient, quote_id: str) -> None:
    """The quote read back after the exchange said yes to its confirmation. The confirmation
    stands whatever the read does: a read that fails is a note, never the command's failure,
    which the trader would take for a confirmation that did not happen while its orders are
    placed when the timer runs out."""
    from kalshi_cli.vocabulary.errors import KalshiError

    try:
        doc = quote_json(client.communications.get_quote(quote_id))
    except KalshiError as exc:
        out.note(
            f"note: quote {quote_id} confirmed, but not read back ({exc.one_line()}); "
            f"`kalshi quote show {quote_id}` reads it"
        )
        fields = [("quote", quote_id), ("status", "confirmed")]
        out.record(fields, document={"result": "confirmed", "quote": None})
        return
    out.record(_quote_fields(doc), document={"result": "confirmed", "quote": doc})


@quote_app.command("cancel")
def quote_cancel_command(quote_id: QuoteArg, as_json: JsonOpt = False, env: EnvOpt = None) -> None:
    """Cancel one of your quotes (open or accepted).

    Example: kalshi quote cancel 0a9b8c7d-...
    """
    app, out = begin(env, as_json=as_json)
    client = app.client(auth=True)
    client.communications.delete_quote(quote_id)
    out.result({"quote_id": quote_id, "result": "cancelled"}, f"quote {quote_id} cancelled")
