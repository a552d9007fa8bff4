"""The checks of the assistant's orders and amends, each as the code that owns it asks it: writes
on for the environment, the fills brought in, the daily circuit breaker, the order service's own
checks, the account's risk limits, the assistant's own part of a position, and the day's budget
(`gate.py`, `ledger.py`), its fees read from the exchange."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from kalshi_cli.agent.gate import Charge, Spent
from kalshi_cli.agent.ledger import FeesUnread, spent_today, unbooked_in
from kalshi_cli.services.orders.amend import ORDER_CHANGED
from kalshi_cli.vocabulary.errors import UsageError, ValidationError
from kalshi_cli.vocabulary.units import (
    ZERO,
    added_price,
    fmt_count,
    fmt_dollars,
    fmt_exact_dollars,
)

if TYPE_CHECKING:
    import threading

    from kalshi_cli.agent.gate import WriteGate
    from kalshi_cli.agent.settings import AgentConfig
    from kalshi_cli.agent.tools.common import Access
    from kalshi_cli.services.orders.amend import PreparedAmend
    from kalshi_cli.services.orders.place import OrderService, PreparedOrder
    from kalshi_cli.services.pretrade.account import MarketReads
    from kalshi_cli.services.pretrade.own_part import OwnBooks
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.models import FeeModel, Order

_T = TypeVar("_T")


@dataclass(frozen=True)
class CheckedOrder:
    """An order with every check passed: what would be sent, what it spends of the day's
    budget, the checks as the preview shows them, what the day had spent before it, and the
    fees of the markets that was priced at."""

    prepared: PreparedOrder
    charge: Charge
    checks: dict[str, Any]
    spent: Spent
    fees: dict[str, FeeModel]


@dataclass(frozen=True)
class CheckedAmend:
    """An amend with every check passed, as `CheckedOrder` is."""

    prepared: PreparedAmend
    charge: Charge
    spent: Spent
    fees: dict[str, FeeModel]


@dataclass(frozen=True)
class _RiskChecked:
    """The account's risk limits passed: their codes, and what the preview shows of them."""

    passed: list[str]
    document: dict[str, Any]


def _number(value: Decimal | None) -> str | None:
    """A limit as the config writes it (`500`, `0.5`; None: no limit)."""
    return None if value is None else format(value.normalize(), "f")


@dataclass
class OrderChecks:
    """What an order or an amend of the assistant's must pass before a preview hands a token
    for it, and again before `execute` sends it."""

    access: Access
    config: AgentConfig
    clock: Clock
    gate: WriteGate
    exchange: threading.Lock  # held around every call of the client, one per process

    def check_writes(self) -> None:
        settings = self.access.settings()
        env = settings.money_env
        if not self.config.writes.allowed(env):
            production = f" (at {settings.api_base}, real money)" if env != settings.env else ""
            raise ValidationError(
                f"writes through `kalshi mcp` are off for env {env}{production}",
                code="WRITES_DISABLED",
                hint=f"a person sets agent.writes.{env}: true in the config; "
                "reads, halt and cancel_all need nothing",
            )

    def prepare(self, arguments: Mapping[str, Any]) -> CheckedOrder:
        """The checks of an order, each as the code that owns it asks it: the daily circuit
        breaker with the fills brought in, the order service's (and its market reads), the
        account's risk limits, then the day's budget."""
        from kalshi_cli.services.orders.limits import most_cost
        from kalshi_cli.vocabulary.decisions import Intent
        from kalshi_cli.vocabulary.order_terms import order_request, owned_client_order_id

        request = order_request(
            arguments["ticker"],
            arguments["side"],
            arguments["action"],
            arguments["count"],
            arguments["price"],
            tif=arguments["time_in_force"],
            post_only=arguments["post_only"],
            expires=arguments["expires"],
            # the id the preview showed, so the order sent is the order previewed; it names
            # the assistant, as a loop's names its strategy, so a state file rebuilt from the
            # exchange (`kalshi reconcile`) still knows whose the order is
            client_order_id=arguments.get("client_order_id")
            or owned_client_order_id(self.config.strategy),
            strategy=self.config.strategy,
            now=self.clock.wall(),
        )
        with self._judging() as (store, service, reads):
            prepared = service.prepare(request, reads=reads)
            request = prepared.request  # the market the exchange named
            intent = Intent(
                ticker=request.ticker,
                side=request.side,
                action=request.action,
                price=request.price,
                count=request.count,
                model_fair=request.price,  # the assistant names no fair value: no edge rule
                reason="the assistant's order",
                strategy=self.config.strategy,
                post_only=request.post_only,
                time_in_force=request.time_in_force,
            )
            risk = self._check_risk(store, service, intent)
            fees = self.fees(store, request.ticker)
            spent = self.spent(store, fees)
        most = most_cost(
            request.count, added_price(request.action, request.price), fees[request.ticker]
        )
        charge = Charge(1, request.count, most)
        self.gate.check(charge, spent)
        checks = {
            "passed": [
                "order terms",
                "trading state",
                "CIRCUIT_BREAKER",
                "market open",
                "price on the tick grid",
                "count",
                *risk.passed,
                "INSUFFICIENT_BALANCE",
                "BUDGET_ORDERS",
                "BUDGET_CONTRACTS",
                "BUDGET_DOLLARS",
            ],
            **risk.document,
            "worst_case_position_after": fmt_count(prepared.exposure_after),
        }
        return CheckedOrder(prepared, charge, checks, spent, fees)

    @contextmanager
    def _judging(self) -> Iterator[tuple[Store, OrderService, MarketReads]]:
        """The state file, the order service and the reads an order or an amend is judged with,
        under the exchange's lock, on the assistant's day (`MarketReads.at`): the order
        service's checks ask the daily circuit breaker first, by the pre-trade account's one
        rule (`PreTradeAccount.breaker_day`: an order, or an amend that adds, refused with
        CIRCUIT_BREAKER for the rest of the UTC day it holds, even after a `kalshi resume`),
        which for such an order brings the account's fills and settlements into the state file
        before anything reads them (the breaker's P&L, the assistant's own part of a position,
        what its orders spent today), as `kalshi reconcile`'s fill step and `kalshi positions`
        bring them in: an order's answer carries no fill. An amend that only takes contracts off
        reads no fills: it never waits on, nor fails by, that read."""
        from kalshi_cli.services.pretrade.account import MarketReads

        with self.exchange, self.access.open_store() as store:
            service = self.access.order_service(store)
            yield store, service, MarketReads(at=self.clock.wall())

    def fees(self, store: Store, *tickers: str) -> dict[str, FeeModel]:
        """The fees in effect of the markets `tickers` and of those where the assistant's
        orders of today have contracts left to fill (`ledger.unbooked_in`), read from the
        exchange (the series' multiplier, an event's override): what the day's budget prices a
        taker's fill at. Read under the exchange's lock, as every call of the client is."""
        return self._read_fees({*tickers, *unbooked_in(store, self.config.strategy)})

    def _read_fees(self, tickers: set[str]) -> dict[str, FeeModel]:
        """`_fees` of `tickers` alone; refused (FEES_UNPRICED) for a market whose fees the
        model cannot price: the budget is never spent at a guessed fee."""
        from kalshi_cli.services.fees import load_fee_models
        from kalshi_cli.vocabulary.models import FeeModelError

        if not tickers:
            return {}
        client = self.access.client(auth=True)
        markets = [client.markets.get_market(ticker) for ticker in sorted(tickers)]
        try:
            return load_fee_models(client, markets)
        except FeeModelError as exc:
            raise ValidationError(
                f"cannot price the fees of {exc}",
                code="FEES_UNPRICED",
                hint="the assistant's budget counts the taker fee; trade another market",
            ) from exc

    def _check_risk(self, store: Store, service: OrderService, intent: Intent) -> _RiskChecked:
        """The risk engine's own limit rules (`risk.limit_rules`, from the config's `risk:` and
        a budget of the assistant's name in `trade.budgets`) over the whole account as the
        exchange shows it, judged by the order service's pre-trade account, handed the
        assistant's view (the account's positions, what it owns, its orders on their way): a
        denial refuses the order, by its code, as it would refuse the loop's."""
        from kalshi_cli.risk.engine import limit_rules
        from kalshi_cli.risk.state import current_state
        from kalshi_cli.services.pretrade.account import MarketReads, OrderView
        from kalshi_cli.services.pretrade.budgets import OwnView
        from kalshi_cli.services.pretrade.holdings import order_subaccount
        from kalshi_cli.services.pretrade.own_part import own_books
        from kalshi_cli.services.pretrade.settings import load_budgets, load_risk_limits
        from kalshi_cli.vocabulary.decisions import PositionView

        config_path = self.access.settings().config_path
        limits = load_risk_limits(config_path)
        budget = load_budgets(config_path).get(self.config.strategy)
        account = service.checks.account.held_to(limits)
        reads = MarketReads()
        views = account.views(reads)
        view = views.get(intent.ticker) or PositionView(intent.ticker)
        subaccount = order_subaccount(service.client) or 0
        # a budget counts every market; the own part, the order's market alone
        books = own_books(
            store,
            self.config.strategy,
            subaccount,
            account=views,
            ticker=None if budget is not None else intent.ticker,
        )
        total_exposure = sum((v.exposure() for v in views.values()), ZERO)
        own = None
        if budget is not None:
            own = OwnView(budget, books.portfolio, lambda o: o.strategy, books.queued)
        seen = OrderView(
            view,
            lambda t: views.get(t) or PositionView(t),
            intent,
            state=current_state(store.trading),
            total_exposure=total_exposure,
            own=own,
        )
        rules = limit_rules(limits)
        # a denial names the key that sets its limit: a person may raise it, the assistant not
        denials = account.judge(rules, intent, seen, reads)
        if denials:
            rule, verdict = denials[0]
            raise ValidationError(
                "; ".join(f"{v.detail} ({r.about.keys or r.about.hint})" for r, v in denials),
                code=str(verdict.code),
                hint=rule.about.hint,
            )
        self._check_own_part(books, intent)
        after = view.after(intent)
        return _RiskChecked(
            passed=[
                *(str(rule.code) for rule in rules if budget or rule.code != "STRATEGY_BUDGET"),
                "NOT_THE_AGENTS_CONTRACTS",
            ],
            document={
                "risk_limits": {
                    name: _number(getattr(limits, name))
                    for rule in rules
                    for name in rule.about.limits
                },
                "strategy_budget": None if budget is None else msgspec.to_builtins(budget),
                "account_after": {
                    "worst_case_position": fmt_count(after.worst_case(intent.book_side)),
                    "total_exposure": fmt_exact_dollars(
                        total_exposure - view.exposure() + after.exposure()
                    ),
                },
            },
        )

    def _check_own_part(self, books: OwnBooks, intent: Intent) -> None:
        """Refuse an order (or an amend) that would close contracts the assistant does not own
        (services/pretrade/own_part.py): Kalshi nets YES and NO, so beyond its own part a sale
        of YES or a buy of NO sells a running strategy's contracts or a person's."""
        from kalshi_cli.services.pretrade.own_part import may_take

        allowed = may_take(books, intent)
        if allowed >= intent.count:
            return
        held = books.account_held(intent.ticker)
        side = "YES" if held > 0 else "NO"
        raise ValidationError(
            f"the account holds {fmt_count(abs(held))} {side} in {intent.ticker}, "
            f"{fmt_count(abs(books.held(intent.ticker, books.name)))} of them the assistant's: "
            f"an order that takes from them closes them first (Kalshi nets YES and NO), so it "
            f"may be for at most {fmt_count(allowed)} with the assistant's own orders counted, "
            f"not {fmt_count(intent.count)}",
            code="NOT_THE_AGENTS_CONTRACTS",
            hint="the assistant trades its own contracts; a person sells others' by hand "
            "(`kalshi order place`)",
        )

    def agents_order(self, order_id: str) -> Any:
        """The exchange's order `order_id`, if the assistant placed it (else refused)."""
        with self.exchange, self.access.open_store() as store:
            intent = store.orders.intent_by_order_id(order_id)
            order = self.access.client(auth=True).orders.get_order(order_id)
        owner = None if intent is None else intent.strategy
        if owner != self.config.strategy:
            raise ValidationError(
                f"order {order_id} was not placed by the assistant (strategy {owner or 'unknown'})",
                code="NOT_THE_AGENTS_ORDER",
                hint="the assistant changes its own orders; cancel_all stops everything",
            )
        return order

    def prepare_amend(
        self, arguments: Mapping[str, Any], *, previewed: Mapping[str, str] | None = None
    ) -> CheckedAmend:
        """The checks of an amend of the assistant's order as of a new order (with the amended order
        in place of the resting one), then the day's budget for what it adds (agent/ledger.py).
        `previewed`: the order's terms as its preview read them; refused (ORDER_CHANGED) when
        they are no longer the order's."""
        from kalshi_cli.agent.ledger import day_orders, order_terms, worst_share
        from kalshi_cli.vocabulary.decisions import Intent
        from kalshi_cli.vocabulary.order_terms import parse_count, parse_price
        from kalshi_cli.vocabulary.units import from_book

        price, count = arguments["price"], arguments["count"]
        if price is None and count is None:
            raise UsageError("give a new price, a new count or both")
        new_price = None if price is None else parse_price(str(price), "price")
        new_count = None if count is None else parse_count(str(count), "count")
        self.agents_order(arguments["order_id"])
        with self._judging() as (store, service, reads):
            service.amends.await_earlier(str(arguments["order_id"]))  # never two in the network
            prepared = service.amends.prepare(
                str(arguments["order_id"]), price=new_price, count=new_count, reads=reads
            )
            order = prepared.order
            if previewed is not None and terms_at_preview(order) != previewed:
                raise ValidationError(
                    f"order {order.order_id} changed since the amend was previewed (then "
                    f"{_terms_text(previewed)}, now {_terms_text(terms_at_preview(order))}): the "
                    "amend previewed is not the one that would be sent",
                    code=ORDER_CHANGED,
                    hint="preview it again: the amend is checked as the order is now",
                )
            action, side_price = from_book(order.book_side, prepared.yes_price, prepared.side)
            amended = Intent(
                ticker=order.ticker,
                side=prepared.side,
                action=action,
                price=side_price,
                count=prepared.total - order.fill_count,  # what rests after it
                model_fair=side_price,
                reason="the assistant's amend",
                strategy=self.config.strategy,
                replaces=(order.order_id,),
            )
            self._check_risk(store, service, amended)
            fees = self.fees(store, order.ticker)
            spent = self.spent(store, fees)
            fills = store.fills.of_orders([order.order_id])
            today = {i.client_order_id for i, _ in day_orders(store, self.config.strategy)}
            local = prepared.local
            in_flight = store.orders.amends_of([local.client_order_id] if local else [])
        market_fees = fees[order.ticker]
        terms = []
        if local is not None:
            terms = order_terms(local, in_flight.get(local.client_order_id, ()))
        before = (ZERO, ZERO)
        if local is not None and local.client_order_id in today:
            before = worst_share(order.book_side, terms, fills, market_fees)
        terms.append((prepared.yes_price, prepared.total))
        after = worst_share(order.book_side, terms, fills, market_fees)
        charge = Charge(0, max(after[0] - before[0], ZERO), max(after[1] - before[1], ZERO))
        self.gate.check(charge, spent)
        return CheckedAmend(prepared, charge, spent, fees)

    def within_budget(
        self,
        store: Store,
        charge: Charge,
        fees: dict[str, FeeModel],
        write: Callable[..., _T],
    ) -> _T:
        """`write(check=...)`, the day's budget asked once more inside the transaction that writes
        the intent or the amend, under the write lock, so another `kalshi mcp` process's write
        counts. When the day's orders name a market whose fees were not read, nothing is written:
        its fees are read outside the transaction and the write is asked again."""

        def check() -> None:
            self.gate.check(charge, spent_today(store, self.config.strategy, fees))

        return self._priced(fees, partial(write, check=check))

    def spent(self, store: Store, fees: dict[str, FeeModel]) -> Spent:
        """What the day spent (`spent_today`), first reading into `fees` those of any market
        another session placed in since they were read."""
        return self._priced(fees, partial(spent_today, store, self.config.strategy, fees))

    def _priced(self, fees: dict[str, FeeModel], call: Callable[[], _T]) -> _T:
        """`call`, asked again while it names a market whose fees were not read, each read
        into `fees` first (outside any transaction)."""
        while True:
            try:
                return call()
            except FeesUnread as unread:
                fees.update(self._read_fees(unread.tickers))


def terms_at_preview(order: Order) -> dict[str, str]:
    """What an amend's preview read of the order it amends: its total (filled and resting: a
    fill leaves it as it was) and its YES price, as text a token's arguments keep."""
    return {
        "total": fmt_count(order.fill_count + order.remaining_count),
        "yes_price": fmt_dollars(order.yes_price),
    }


def _terms_text(terms: Mapping[str, str]) -> str:
    return f"{terms['total']} at YES {terms['yes_price']}"
