"""The one reader of `GET /events/{event_ticker}` before an order: each event read once for the
orders it is read for (a trade loop's start, one `kalshi order` command, one assistant's order),
what the toolkit reads of it (`EventAnswer`: whether its markets are mutually exclusive, the
markets it lists), and the event as the limit on its loss reads it (`EventReader.terms`).

Never optimistic: the event's markets are the union of the exchange's listing and every market
the account holds or rests in under that event ticker, so a listing that leaves a market out
counts what the account has there all the same. An answer that cannot be read (no JSON object,
no `event` object, no `markets`) refuses the order as the exchange's answer (`EventUnreadable`,
exit 7), never as the toolkit's error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from kalshi_cli.vocabulary.errors import AnswerUnreadable
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from kalshi_cli.risk.event_loss import EventTerms
    from kalshi_cli.vocabulary.models import FeeModel


class EventReads(Protocol):
    """The reads an event's answer comes through (a client's `markets`), and its series' (the
    fees', which read the event through this reader: `EventReader.get_event`)."""

    def get_event(
        self, event_ticker: str, *, with_nested_markets: bool = ...
    ) -> dict[str, Any]: ...

    def get_series(self, series_ticker: str) -> dict[str, Any]: ...


# what an order refused for an event answer it cannot read is told
NOTHING_SENT = "nothing was sent"


class EventUnreadable(AnswerUnreadable):
    """The exchange answered for an event, but not in a shape its worst case can be read from:
    the order it was read for is refused as the exchange's answer (exit 7), and nothing is
    sent."""

    exit_code = ExitCode.UNREACHABLE


@dataclass(frozen=True)
class EventAnswer:
    """What the toolkit reads of one event: its body as sent, whether the exchange flags its
    markets `mutually_exclusive`, and the markets it lists (ticker -> body)."""

    event_ticker: str
    body: Mapping[str, Any]
    mutually_exclusive: bool
    listed: Mapping[str, Mapping[str, Any]]


def read_answer(event_ticker: str, body: object, unknown: str) -> EventAnswer:
    """`body` as an `EventAnswer`; `EventUnreadable` when it is not the spec's
    `GetEventResponse` (an object with an `event` object and a `markets` list; null is none),
    saying what is `unknown` for it."""
    event = body.get("event") if isinstance(body, dict) else None
    markets = body.get("markets", ()) if isinstance(body, dict) else ()
    if not isinstance(body, dict) or not isinstance(event, dict) or "markets" not in body:
        raise _unreadable(event_ticker, "no `event` object and `markets` list", unknown)
    if not isinstance(markets, list | None):
        raise _unreadable(event_ticker, "`markets` is not a list", unknown)
    listed: dict[str, Mapping[str, Any]] = {}
    for market in markets or ():
        if not isinstance(market, dict) or not isinstance(market.get("ticker"), str):
            raise _unreadable(event_ticker, "a listed market without its ticker", unknown)
        listed[market["ticker"]] = market
    exclusive = event.get("mutually_exclusive") is True
    return EventAnswer(event_ticker, body, exclusive, listed)


def _unreadable(event_ticker: str, why: str, unknown: str) -> EventUnreadable:
    return EventUnreadable(
        f"event {event_ticker}: the exchange's answer cannot be read ({why}); its worst case "
        f"is not known, so {unknown}",
        hint="try again; `kalshi event " + event_ticker + "` shows what the exchange answers",
    )


class EventReader:
    """Each event read once, for the orders this reader is kept for (`answer`), and the event
    as the limit on its loss reads it (`terms`). An order's reader refuses an answer it cannot
    read saying nothing was sent; a view's (services/positions.py) says what it does not show
    (`unknown`)."""

    def __init__(self, markets: EventReads, *, unknown: str = NOTHING_SENT) -> None:
        self._markets = markets
        self._unknown = unknown
        self._answers: dict[str, EventAnswer] = {}

    def answer(self, event_ticker: str) -> EventAnswer:
        found = self._answers.get(event_ticker)
        if found is None:
            try:
                body = self._markets.get_event(event_ticker, with_nested_markets=False)
            except AnswerUnreadable as exc:
                raise _unreadable(event_ticker, exc.message, self._unknown) from exc
            found = self._answers[event_ticker] = read_answer(event_ticker, body, self._unknown)
        return found

    def get_event(self, event_ticker: str) -> dict[str, Any]:
        """The event's body as read once (the fee models read it so: services/fees.py)."""
        return dict(self.answer(event_ticker).body)

    def get_series(self, series_ticker: str) -> dict[str, Any]:
        return self._markets.get_series(series_ticker)

    def terms(
        self,
        event_ticker: str,
        fees: Callable[[str], FeeModel | None],
        known: Mapping[str, Mapping[str, Any]] | None = None,
        held: Iterable[str] = (),
    ) -> EventTerms:
        """The event as the limit on its loss reads it: the markets its listing names, those
        read already (`known`, ticker -> body, one the listing leaves out counts), and every
        market the account holds or rests in under its ticker (`held`), whatever the listing
        says (one it does not name is counted with no strike: as independent of the others,
        never as a hedge)."""
        from kalshi_cli.risk.event_loss import event_terms

        answer = self.answer(event_ticker)
        markets = {**answer.listed, **dict(known or {})}
        for ticker in held:
            markets.setdefault(ticker, {"ticker": ticker, "event_ticker": event_ticker})
        # the listing read once (`read_answer`), handed in with the rest
        body = {"event": {"event_ticker": event_ticker, **answer.body["event"]}, "markets": []}
        return event_terms(body, fees, markets)
