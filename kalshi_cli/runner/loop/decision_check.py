"""What a strategy's `decide` returned, checked before anything reads it (`checked`): a wrong
answer from user code is refused whole where the decision is made, never half-read by the risk
engine or refused by the client after the state file wrote it. Each market's turn
(runner/loop/market_pass.py) asks it of every call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from kalshi_cli.strategy_api import EventView, MarketTerms
from kalshi_cli.vocabulary.decisions import Cancel, Decision, Intent, Note
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.order_terms import check_count, check_dollars, check_whole_count

# made once: `A | B` written in the call builds a new union at every call of a turn
_SEQUENCE = (list, tuple)
_DECISION = (Intent, Cancel, Note)


def checked(
    decisions: Sequence[Decision],
    ticker: str,
    event: EventView | None,
    where: str = "",
    terms: Mapping[str, MarketTerms] | None = None,
) -> Sequence[Decision]:
    """What a strategy returned, refused whole (ValueError) unless it is a sequence of
    `Intent`s and `Cancel`s for this market (or another market of its `event`) whose fair values are
    probabilities and whose counts and prices an order may carry (`check_count`,
    `check_dollars`, whole contracts where the market's `terms` say so): a wrong answer from
    user code never reaches the risk engine half-read. The refusal starts with `where`, the
    file and line of the strategy's `decide`."""
    if not isinstance(decisions, _SEQUENCE):
        raise ValueError(
            f"{_at(where)}decide returned {type(decisions).__name__}, not a list of decisions"
        )
    if not decisions:
        return decisions  # most calls decide nothing: nothing to check
    at = _at(where)
    markets = {ticker} if event is None else {ticker, *(m.ticker for m in event.others)}
    for decision in decisions:
        if not isinstance(decision, _DECISION):
            raise ValueError(f"{at}decide returned {decision!r}, not an Intent, a Cancel or a Note")
        if decision.ticker not in markets:
            raise ValueError(f"{at}decide for {ticker} returned a decision for {decision.ticker}")
        if isinstance(decision, Intent):
            fair = decision.model_fair
            if not isinstance(fair, Decimal) or not fair.is_finite() or not 0 <= fair <= 1:
                raise ValueError(f"{at}intent model_fair {fair!r} is not a probability")
            # terms no order may carry (a count of three decimals), refused here rather than by
            # the client as it builds the request, on a worker, after the state file wrote it
            try:
                check_count(decision.count)
                check_dollars(decision.price)
                market = terms.get(decision.ticker) if terms else None
                if market is not None:
                    check_whole_count(decision.ticker, market.whole_contracts, decision.count)
            except ValidationError as exc:
                raise ValueError(f"{at}intent {exc.message}") from exc
    return decisions


def _at(where: str) -> str:
    """A refusal's start: the file and line of the strategy's `decide`, when known."""
    return f"{where}: " if where else ""
