"""From a strategy's decision to the exchange, and fills back into the loop's view.

An intent goes: risk `evaluate` (in memory, the trading state read fresh from the state file,
the orders waiting in the tick's batch counted) -> cancels of the orders it `replaces` (the
intent is dropped unless every cancel succeeded) -> `OrderService.submit` (intent written,
request sent once, answer written), or, for an order that adds to a position decided in a
market's turn, the tick's batch (runner/outbox.py: at most `batch_wait_s` later, with the
others, one transaction and one request). No REST call is made on the way, so the time from a
book change to the order on the wire is the strategy, the risk rules, one SQLite write and one
HTTP POST, plus that wait for a batched one. After every exchange call the API error guard
hears how it went; while it asks for a backoff, nothing is sent.

The other parts of the `Executor` each have their module: the state and the API error guard
(runner/executor_base.py), orders whose answer was lost (runner/unknown_orders.py), fills
(runner/fills.py) and cancels (runner/cancels.py).
"""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.errors import ApiError, OrderOutcomeUnknown, TradingHaltedError, TransportError
from kalshi_cli.models import ZERO
from kalshi_cli.runner.executor_base import Unknown
from kalshi_cli.runner.order_group import GROUP_TRIGGERED
from kalshi_cli.runner.outbox import Outbox, added_exposure, intent_fields
from kalshi_cli.store.errors import OrderNotRecorded
from kalshi_cli.strategies import Intent


class Executor(Outbox):
    # ---------------------------------------------------------------- intents

    def execute(
        self,
        intent: Intent,
        *,
        last_data_at: float | None,
        in_sync: bool,
        batch: bool = False,
    ) -> bool:
        """Evaluate and, when allowed, send; True when an order went out (or would have, or
        waits in the tick's batch). A reducing order larger than the order-size limit goes out
        in pieces (`RiskEngine.split`), each evaluated and sent in turn, until one does not
        fill in full: the bid it sold into is gone, and the pieces after it would only be
        killed, each a slot of the rate cap. `batch`: an order that adds to a position waits
        for `flush` with the tick's others (runner/outbox.py); one that reduces goes at once."""
        sent = False
        for piece in self.risk.split(intent):
            filled = self._execute(piece, last_data_at=last_data_at, in_sync=in_sync, batch=batch)
            if filled is None:
                return sent
            sent = True
            if filled < piece.count:
                break
        return sent

    def _execute(
        self, intent: Intent, *, last_data_at: float | None, in_sync: bool, batch: bool = False
    ) -> Decimal | None:
        """What `execute` does; the count filled at once (all of it in a dry run), or None
        when nothing went out."""
        self.log.emit("signal", intent_fields(intent))
        if self.backing_off:
            # an earlier call of this same pass failed: the rest of the pass waits it out too
            self.log.emit(
                "intent_held", {"ticker": intent.ticker, "reason": "backing off after API errors"}
            )
            return None
        if not intent.reduce_only and self.holds_unknown(intent.ticker):
            self.log.emit(
                "intent_held",
                {"ticker": intent.ticker, "reason": "an order of unknown outcome in this market"},
            )
            return None
        if self._denied(intent, last_data_at=last_data_at, in_sync=in_sync):
            return None
        if self.dry_run:
            self.log.emit("dry_run_order", intent_fields(intent))
            return intent.count
        if intent.replaces:
            shortfalls = self._cancel_shortfalls
            if not self._cancel_all(intent.ticker, intent.replaces, "replaced"):
                self.log.emit(
                    "intent_dropped",
                    {"ticker": intent.ticker, "reason": "a replaced order could not be cancelled"},
                )
                return None
            if self._cancel_shortfalls != shortfalls:
                # a replaced order filled before its cancel landed, and the view has not seen
                # that fill: read it, and ask the risk engine again with it counted
                self.sync_fills()
                if self.backing_off or self._denied(
                    intent, last_data_at=last_data_at, in_sync=in_sync
                ):
                    return None
        size = self.batch_size() if batch and not intent.reduce_only else 1
        if size == 1:
            return self._submit(intent)
        queued = self._queue(intent)
        if len(self.queued) >= size:
            self.flush()
        return queued

    def flush(self) -> None:
        """Send what waits in the tick's batch (runner/outbox.py): one request a batch, a lone
        order as a single one."""
        queued, self.queued = self.queued, []
        self.queued_exposure = ZERO
        if queued and self.risk.check_circuit_breaker():
            # a loss realized since they were allowed (a stop-loss of this pass) tripped the
            # daily circuit breaker: none of them would be allowed now, so none goes
            for intent in queued:
                self.log.emit(
                    "intent_dropped",
                    {"ticker": intent.ticker, "reason": "the daily circuit breaker tripped"},
                )
            return
        size = self.batch_size()
        for start in range(0, len(queued), size):
            if self.backing_off:
                # an earlier call of this tick failed: what waits is held, as a pass's rest is
                for intent in queued[start:]:
                    self.log.emit(
                        "intent_held",
                        {"ticker": intent.ticker, "reason": "backing off after API errors"},
                    )
                return
            chunk = []
            for intent in queued[start : start + size]:
                # an earlier batch of this flush may have left an order of unknown outcome in
                # its market: no new adding order goes beside it (as `_execute` holds one)
                if self.holds_unknown(intent.ticker):
                    self.log.emit(
                        "intent_held",
                        {
                            "ticker": intent.ticker,
                            "reason": "an order of unknown outcome in this market",
                        },
                    )
                else:
                    chunk.append(intent)
            if not chunk:
                continue
            if len(chunk) == 1:
                self._submit(chunk[0], slot_taken=True)
            else:
                self._submit_batch(chunk)

    def _denied(self, intent: Intent, *, last_data_at: float | None, in_sync: bool) -> bool:
        """The risk engine's verdict, the orders waiting in the tick's batch counted as
        resting (their market's view, the account's exposure), and in the exposure the orders
        of unknown outcome too (they may rest)."""
        ctx = self.risk.context(
            self.queued_view(intent.ticker),
            total_exposure=self.portfolio.total_exposure()
            + self.queued_exposure
            + self.unknown_exposure(),
            last_data_at=last_data_at,
            in_sync=in_sync,
        )
        if self.risk.evaluate(intent, ctx):
            self.counters.denied += 1
            return True
        return False

    def execute_group(
        self, intents: list[Intent], *, last_data_at: float | None, in_sync: bool
    ) -> bool:
        """Legs that only make sense together (an arbitrage pair). Every leg must pass the risk
        engine with the legs before it counted (their order-rate slots, the exposure they add),
        or none is sent; then each leg goes out only once the one before it filled in full, so
        a leg denied, rejected or killed at the exchange never leaves its partner alone. The
        one leg risk left (the first fills, the second is then killed) is the position limit's
        and the stop-loss's."""
        if self.risk.rate_cap.count() + len(intents) > self.risk.rate_cap.limit:
            return self._drop_group(intents[0], "the order-rate cap has no room for every leg")
        added = self.unknown_exposure()  # orders that may rest count as resting ones
        for intent in intents:
            if not intent.reduce_only and self.holds_unknown(intent.ticker):
                return self._drop_group(intent, "an order of unknown outcome here")
            # the orders waiting in the tick's batch count, as for a single intent
            view = self.queued_view(intent.ticker)
            ctx = self.risk.context(
                view,
                total_exposure=self.portfolio.total_exposure() + self.queued_exposure + added,
                last_data_at=last_data_at,
                in_sync=in_sync,
            )
            if self.risk.evaluate(intent, ctx):
                self.counters.denied += 1
                return self._drop_group(intent, "a leg was denied by the risk engine")
            added += view.after(intent).exposure() - view.exposure()
        for n, intent in enumerate(intents):
            filled = self._execute(intent, last_data_at=last_data_at, in_sync=in_sync)
            if filled is None or filled < intent.count:
                if n + 1 < len(intents):
                    self.log.emit(
                        "group_broken",
                        {
                            "ticker": intent.ticker,
                            "reason": "a leg did not fill in full; the legs after it not sent",
                        },
                    )
                return n > 0 or filled is not None
        return True

    def _drop_group(self, intent: Intent, reason: str) -> bool:
        self.log.emit("group_dropped", {"ticker": intent.ticker, "reason": reason})
        return False

    def _submit(self, intent: Intent, *, slot_taken: bool = False) -> Decimal | None:
        """Send it once; the count filled at once, or None when it did not go out.
        `slot_taken`: its order-rate slot was taken when it was queued."""
        create = self._create(intent)
        sent_at = self.clock.monotonic()
        try:
            outcome = self.orders.submit(
                create,
                side=intent.side,
                action=intent.action,
                strategy=intent.strategy,
                model_fair=intent.model_fair,
                reason=intent.reason,
            )
        except OrderOutcomeUnknown as exc:
            self._failed(exc)
            exposure = added_exposure(self.portfolio.view(intent.ticker), intent)
            self.unknown[create.client_order_id] = Unknown(
                intent.ticker, self.clock.monotonic(), exposure
            )
            self.fills_due = True
            self.log.emit(
                "order_unknown",
                {
                    **intent_fields(intent),
                    "client_order_id": create.client_order_id,
                    "error": exc.message,
                },
            )
            return None
        except OrderNotRecorded as exc:
            self._not_recorded(intent, exc)
            raise
        except TradingHaltedError as exc:
            # HALTED (or SAFE_MODE) written after the risk engine read the state: the intent
            # was refused in the transaction that would have recorded it, and nothing was sent
            self.log.emit("intent_dropped", {"ticker": intent.ticker, "reason": exc.message})
            return None
        except (ApiError, TransportError) as exc:
            if self.order_group_id and isinstance(exc, ApiError) and exc.code == GROUP_TRIGGERED:
                self._group_triggered(intent, exc.message)
                return None
            self._failed(exc)
            self.log.emit("order_rejected", {**intent_fields(intent), "error": exc.message})
            return None
        finally:
            if not slot_taken:
                self.risk.record_sent()
        self._ok()
        self._placed(
            intent,
            create,
            sent_at,
            order_id=outcome.order_id,
            status=outcome.status,
            fill_count=outcome.fill_count,
            remaining=outcome.remaining_count,
        )
        if outcome.fill_count > 0:
            # the position must be known before the next decision in this market
            self.sync_fills()
        return outcome.fill_count
