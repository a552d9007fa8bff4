"""The assistant's writes through the order service: a `preview_*` tool runs the checks of
`order_checks.py` and hands back a single-use token; `execute` redeems it, checks everything
again and sends, asking the budget once more in the transaction that writes the intent, so two
`kalshi mcp` processes never both spend its last order. Amend, decrease and cancel touch only the
assistant's own orders; resume lifts only its own halt."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from kalshi_cli.agent.gate import Charge, Pending, Spent
from kalshi_cli.agent.tools.common import (
    SOURCE,
    Count,
    Number,
    OrderId,
    Price,
    Text,
    Ticker,
    Written,
    order_document,
)
from kalshi_cli.agent.tools.order_checks import terms_at_preview
from kalshi_cli.vocabulary.errors import UsageError, ValidationError
from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars, fmt_exact_dollars

if TYPE_CHECKING:
    import threading
    from collections.abc import Mapping
    from decimal import Decimal

    from kalshi_cli.agent.gate import WriteGate
    from kalshi_cli.agent.settings import AgentConfig
    from kalshi_cli.agent.tools.common import Access, ToolAudit
    from kalshi_cli.agent.tools.order_checks import OrderChecks
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock


@dataclass
class OrderTools:
    """The previews, `execute`, and the day's budget they spend."""

    access: Access
    config: AgentConfig
    clock: Clock
    gate: WriteGate
    checks: OrderChecks
    audit: ToolAudit
    exchange: threading.Lock  # held around every call of the client, one per process
    # one execute at a time: its budget check and its spending are one step
    executing: threading.Lock

    def preview_order(
        self,
        ticker: Ticker,
        *,
        side: Annotated[Literal["yes", "no"], Field(description="the side traded")],
        action: Annotated[Literal["buy", "sell"], Field(description="buy or sell that side")],
        count: Count,
        price: Price,
        time_in_force: Annotated[
            Literal["gtc", "ioc", "fok"], Field(description="rest, fill now or cancel, all or none")
        ] = "gtc",
        post_only: Annotated[bool, Field(description="only rest, never take (gtc)")] = False,
        expires: Annotated[
            Text | None, Field(description="gtc until: 30m, 2h, unix seconds or ISO time")
        ] = None,
    ) -> dict[str, Any]:
        """Preview a limit order (price in dollars of the side traded, count in contracts): what
        would be sent, the most it could cost, the checks it passed (or the one it fails, by its
        code), and a single-use token for `execute`."""
        arguments = {name: value for name, value in locals().items() if name != "self"}
        return self.audit.audited(
            "preview_order", arguments, partial(self._preview_order, arguments)
        )

    def preview_amend(
        self,
        order_id: OrderId,
        price: Annotated[
            Number | None, Field(description="the new price of the side traded")
        ] = None,
        count: Annotated[Number | None, Field(description="the new total count")] = None,
    ) -> dict[str, Any]:
        """Preview a new price (of the side traded) and/or total count of one of the assistant's
        resting orders: what it adds to the budget, and a token for `execute`."""
        arguments = {"order_id": order_id, "price": price, "count": count}
        return self.audit.audited(
            "preview_amend", arguments, partial(self._preview_amend, arguments)
        )

    def preview_decrease(
        self,
        order_id: OrderId,
        by: Annotated[Number | None, Field(description="contracts to take off")] = None,
        to: Annotated[Number | None, Field(description="contracts to leave")] = None,
    ) -> dict[str, Any]:
        """Preview taking contracts off one of the assistant's resting orders (`by` so many, or
        down `to` so many), and a token for `execute`."""
        arguments = {"order_id": order_id, "by": by, "to": to}
        return self.audit.audited(
            "preview_decrease",
            arguments,
            partial(self._preview_change, "preview_decrease", arguments),
        )

    def preview_cancel(self, order_id: OrderId) -> dict[str, Any]:
        """Preview cancelling one of the assistant's resting orders, and a token for `execute`."""
        arguments = {"order_id": order_id}
        return self.audit.audited(
            "preview_cancel", arguments, partial(self._preview_change, "preview_cancel", arguments)
        )

    def preview_resume(self) -> dict[str, Any]:
        """Lift a halt of the assistant's own (its halt, its cancel_all): a write like an
        order, previewed, then executed. A state a person, the trade loop or its risk rules set
        is theirs: only `kalshi resume` lifts it."""

        def preview() -> Written:
            self.checks.check_writes()
            from kalshi_cli.services.orders.status import trading_status

            with self.access.open_store() as store:
                check_own_halt(store)
            status = trading_status(self.access.settings().state, self.clock.wall())
            return self._ticket("preview_resume", {}, {"state_now": status.state})

        return self.audit.audited("preview_resume", {}, preview)

    def execute(
        self, token: Annotated[Text, Field(description="a preview's token")]
    ) -> dict[str, Any]:
        """Send the write a preview's token stands for, once."""
        holder: dict[str, Any] = {"token": token[:6] + "..."}

        def run() -> Written:
            self.checks.check_writes()
            with self.executing:
                pending = self.gate.redeem(token)
                holder.update({"previewed_by": pending.tool, **pending.arguments})
                return self._execute(pending)

        return self.audit.audited("execute", holder, run)

    def budget(self) -> dict[str, Any]:
        """What the assistant may still place today (UTC), and whether writes are on here."""
        from kalshi_cli.store import Store

        env = self.access.settings().money_env
        store = Store.open_readonly(self.access.settings().state)
        if store is None:
            spent = Spent()
        else:
            with self.exchange, store:
                spent = self.checks.spent(store, self.checks.fees(store))
        return {
            "environment": env,
            "writes_enabled": self.config.writes.allowed(env),
            "remaining": self.gate.remaining(spent),
            "per": "UTC day",
            "strategy": self.config.strategy,
            "token_ttl_s": self.config.token_ttl_s,
            "tokens_held": self.gate.held(),
        }

    def _ticket(
        self,
        tool: str,
        arguments: dict[str, Any],
        document: dict[str, Any],
        charge: Charge | None = None,
        spent: Spent | None = None,
    ) -> Written:
        token, expires_at = self.gate.issue(tool, arguments, charge or Charge(), spent or Spent())
        return Written(
            document
            | {
                "token": token,
                "expires_in_s": round(expires_at - self.clock.wall(), 3),
                "next": "execute(token) sends it once; the token expires unused otherwise",
            }
        )

    def _preview_order(self, arguments: dict[str, Any]) -> Written:
        self.checks.check_writes()
        ready = self.checks.prepare(arguments)
        prepared = ready.prepared
        expiry = prepared.create.expiration_time
        document = {
            "would_send": prepared.describe() | {"expiration_time": expiry},
            "most_it_could_cost": fmt_exact_dollars(ready.charge.dollars),
            "strategy": self.config.strategy,
            "checks": ready.checks,
        }
        # `execute` reads the order's terms again: the id and the expiry as this preview fixed
        # them, so the order sent is the order previewed. An expiry given from now (`30m`) read
        # again would be 30 minutes from the execute, and an order previewed to be gone by
        # then would still be placed; as unix seconds it is the same moment, refused once past
        sent = arguments | {
            "client_order_id": prepared.create.client_order_id,
            "expires": None if expiry is None else str(expiry),
        }
        return self._ticket("preview_order", sent, document, ready.charge, ready.spent)

    def _preview_amend(self, arguments: dict[str, Any]) -> Written:
        self.checks.check_writes()
        checked = self.checks.prepare_amend(arguments)
        prepared, charge = checked.prepared, checked.charge
        document = {
            "would_send": {
                "order_id": prepared.order.order_id,
                "ticker": prepared.order.ticker,
                "side": prepared.side.value,
                "price": fmt_dollars(prepared.price),
                "count": fmt_count(prepared.total),
            },
            "most_it_could_cost_more": fmt_exact_dollars(charge.dollars),
        }
        # an amend sends the order's whole terms: the total an amend of the price alone keeps,
        # and the price an amend of the count alone keeps, are the order's as read here.
        # `execute` reads the order again; changed since (a person's decrease, another amend),
        # the amend it would send is not this one, and sending this one would undo the change:
        # it is refused, as an order's expiry is fixed by its preview
        sent = arguments | {"order_at_preview": terms_at_preview(prepared.order)}
        return self._ticket("preview_amend", sent, document, charge, checked.spent)

    def _preview_change(self, tool: str, arguments: dict[str, Any]) -> Written:
        """Decrease and cancel take risk away: no budget, but writes on and the order the
        assistant's."""
        self.checks.check_writes()
        if tool == "preview_decrease":
            _decrease_amounts(arguments)
        order = self.checks.agents_order(arguments["order_id"])
        document = {
            "would_send": {"order_id": order.order_id, "ticker": order.ticker, **arguments},
            "remaining_now": fmt_count(order.remaining_count),
        }
        return self._ticket(tool, arguments, document)

    def _execute(self, pending: Pending) -> Written:
        if pending.tool == "preview_order":
            # checked again as it is now: the day's spending, the account, the state
            checked = self.checks.prepare(pending.arguments)
            prepared = checked.prepared
            with self.exchange, self.access.open_store() as store:
                service = self.access.order_service(store)
                outcome = self.checks.within_budget(
                    store, checked.charge, checked.fees, partial(service.place, prepared)
                )
                spent = self.checks.spent(store, checked.fees)
            return Written(
                {
                    "order": prepared.describe(),
                    **outcome.to_json(),
                    "client_order_id": outcome.client_order_id,
                    "budget_remaining": self.gate.remaining(spent),
                }
            )
        if pending.tool == "preview_resume":
            from kalshi_cli.risk.state import resume

            with self.exchange, self.access.open_store() as store, store.transaction():
                check_own_halt(store)  # as it is now: a person may have halted since
                before = resume(store.trading, source=SOURCE)
                row = store.trading.trading_state()
            return Written({"lifted": str(before), "state": row.state})
        arguments = pending.arguments
        order_id = str(arguments["order_id"])
        if pending.tool == "preview_amend":
            # checked again as it is now (filled meanwhile, the state changed), as an order is,
            # and refused when the order's terms are no longer those the preview read
            amend = self.checks.prepare_amend(arguments, previewed=arguments["order_at_preview"])
            with self.exchange, self.access.open_store() as store:
                service = self.access.order_service(store)
                amended = self.checks.within_budget(
                    store, amend.charge, amend.fees, partial(service.amends.submit, amend.prepared)
                )
                return Written(
                    {"order": order_document(store, amended.order), "note": amended.note}
                )
        self.checks.agents_order(order_id)  # still the assistant's, and still there
        with self.exchange, self.access.open_store() as store:
            service = self.access.order_service(store)
            if pending.tool == "preview_cancel":
                taken = service.cancels.cancel(order_id)
                return Written({"order_id": order_id, "contracts_cancelled": fmt_count(taken)})
            by, to = _decrease_amounts(arguments)
            decreased = service.cancels.decrease(order_id, by=by, to=to)
            return Written(
                {"order": order_document(store, decreased.order), "note": decreased.note}
            )


def check_own_halt(store: Store) -> None:
    """Refuse (NOT_THE_AGENTS_HALT) to lift a state another set: every state since trading
    was last ACTIVE must be the assistant's, so its own halt on top of a person's kill
    switch, the API error guard's SAFE_MODE or the circuit breaker's REDUCING does not make
    theirs its to lift; nor does a trip of the breaker or of the guard since, which leaves
    the stricter halt in place of its REDUCING or SAFE_MODE (risk/engine.py)."""
    states = store.trading.states_since_active()
    others = [(r.source, r.state, r.reason) for r in states if r.source != SOURCE]
    if states:
        trips = store.trading.risk_trips()
        others += [(t.rule, t.code, t.detail) for t in trips if t.at >= states[0].at]
    if others:
        source, state, reason = others[0]
        raise ValidationError(
            f"trading is stopped by {source} ({state}: {reason}); the "
            "assistant lifts only a halt of its own",
            code="NOT_THE_AGENTS_HALT",
            hint="a person reads `kalshi status` and runs `kalshi resume`",
        )


def _decrease_amounts(arguments: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """A decrease's `by` or `to` as counts, read alike by its preview and its execute, so a
    preview hands no token for one that could not be sent."""
    from kalshi_cli.vocabulary.order_terms import parse_count

    by, to = arguments["by"], arguments["to"]
    if (by is None) == (to is None):
        raise UsageError("give exactly one of by or to")
    if by is not None:
        return parse_count(str(by), "by"), None
    return None, parse_count(str(to), "to", allow_zero=True)
