"""The kill switch and halt: always allowed, no preview. Both act on the account's own state file,
as `kalshi cancel-all` and `kalshi halt` do (given a paper session's file, the one it is named
beside), whatever file the assistant's other tools write to, and record their calls there."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from kalshi_cli.agent.tools.common import SOURCE, AnyTicker, Text, Written
from kalshi_cli.vocabulary.errors import KalshiError

if TYPE_CHECKING:
    import threading

    from kalshi_cli.agent.tools.common import Access, ToolAudit
    from kalshi_cli.vocabulary.clock import Clock

KILL_DEADLINE_S = 30.0  # the kill switch's proof, as `kalshi cancel-all` gives it by default


@dataclass
class KillSwitchTools:
    access: Access
    clock: Clock
    audit: ToolAudit
    exchange: threading.Lock  # held around every call of the client, one per process

    def cancel_all(
        self,
        ticker: AnyTicker = None,
        event: Annotated[Text | None, Field(description="an event's ticker")] = None,
    ) -> dict[str, Any]:
        """The kill switch: halt, cancel every resting order (of a market or event), prove none
        is left. Always allowed, no preview. Trading stays HALTED until a resume."""
        arguments = {"ticker": ticker, "event": event}
        # the state file the kill switch halts, records its cancels and this call in: the
        # account's own, as `kalshi cancel-all` halts it (given a paper session's file, the one
        # it is named beside), whatever file the assistant's other tools write to
        notes: list[str] = []
        opener = partial(self.access.open_kill_switch_store, notes.append)

        def run() -> Written:
            from kalshi_cli.client.pacing import pace_by_account
            from kalshi_cli.risk.state import halt
            from kalshi_cli.services.killswitch.switch import run_kill_switch
            from kalshi_cli.services.orders.context import CancelScope, refuse_an_unknown_scope

            named = CancelScope(ticker, event)  # as the exchange names them, once looked up
            if ticker is not None or event is not None:  # aimed: a typo is refused, nothing halted
                with self.exchange:
                    markets = self.access.kill_switch_client().markets
                    named = refuse_an_unknown_scope(
                        markets, self.clock, ticker=ticker, event_ticker=event, say=notes.append
                    )
            # the kill switch's first step, taken before waiting for the client another tool
            # may hold on a slow exchange: a running trade loop stops placing now. Best effort:
            # the kill switch halts again, says what the state file refused, and cancels anyway
            with suppress(KalshiError), opener() as store:
                halt(store.trading, reason="kill switch: the assistant's cancel_all", source=SOURCE)
            with self.exchange:
                client = self.access.kill_switch_client()
                report = run_kill_switch(
                    client,
                    opener,
                    self.clock,
                    deadline_s=KILL_DEADLINE_S,
                    read_lag_s=self.access.settings().read_lag,
                    ticker=named.ticker,
                    event_ticker=named.event_ticker,
                    unconfirmed=named.unconfirmed,
                    source=SOURCE,
                    communications=client.communications,
                    pace=partial(pace_by_account, client, self.access.tier()),
                )
            document = report.to_json() | report.state_json()
            if notes:
                document["notes"] = list(dict.fromkeys(notes))
            if not report.proven:
                document["next"] = "not proven: run `kalshi cancel-all` and read `kalshi status`"
            return Written(document)

        return self.audit.audited("cancel_all", arguments, run, opener)

    def halt(
        self,
        reason: Annotated[
            Text, Field(description="why, as status shows")
        ] = "halted by the assistant",
    ) -> dict[str, Any]:
        """Stop every new order (a running trade loop's too) without cancelling anything.
        Always allowed."""
        arguments = {"reason": reason}
        # the state file the kill switch halts (`cancel_all`): the account's own, also given a
        # paper session's file; one that cannot be told is refused, nothing halted
        notes: list[str] = []
        opener = partial(self.access.open_kill_switch_store, notes.append)

        def run() -> Written:
            from kalshi_cli.risk.state import halt

            # the state file alone, not behind a call to the exchange another tool is making
            # (a slow or failing exchange is a reason to halt)
            with opener() as store:
                halt(store.trading, reason=reason, source=SOURCE)
                row = store.trading.trading_state()
            document: dict[str, Any] = {
                "state": row.state,
                "reason": row.reason,
                "source": row.source,
            }
            if notes:
                document["notes"] = list(dict.fromkeys(notes))
            return Written(document)

        return self.audit.audited("halt", arguments, run, opener)
