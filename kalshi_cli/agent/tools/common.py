"""What every tool area shares: the `Access` the command hands the tools, the arguments as their
input schemas bound them, a refusal as the assistant reads it, and the audit of write calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BeforeValidator, Field

from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.pacing import TierSetting
    from kalshi_cli.config import Settings
    from kalshi_cli.services.orders.place import OrderService
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.models import Order

SOURCE = "kalshi mcp"  # who the trading state's rows say set it, when the assistant did
LIST_MAX = 200  # the most rows a listing tool returns
TEXT_MAX = 200  # the longest ticker, id or word an argument may be
DIGITS_MAX = 16  # the most digits of a count or a price

# every tool's arguments, as its input schema describes and bounds them (the SDK reads these
# from the signatures): an argument past its bound is refused before the tool runs
Text = Annotated[str, Field(max_length=TEXT_MAX)]
Ticker = Annotated[Text, Field(description="a market's ticker")]
AnyTicker = Annotated[Text | None, Field(description="a market's ticker (none: every market)")]
Series = Annotated[Text | None, Field(description="a series' ticker (none: every series)")]
OrderId = Annotated[Text, Field(description="an order's id, as the orders tool shows it")]
Limit = Annotated[int, Field(ge=1, le=LIST_MAX, description=f"the most rows, 1 to {LIST_MAX}")]
# a number as its text, read by the order's terms as `kalshi order place` reads it (`1_0` or a
# full-width digit refused there, where a Decimal would read them as numbers)
Number = Annotated[
    str,
    BeforeValidator(lambda v: v if isinstance(v, (str, bool)) else str(v)),
    Field(max_length=DIGITS_MAX, json_schema_extra={"type": ["string", "number"]}),
]
Count = Annotated[Number, Field(description="contracts, a number or its text: 5")]
Price = Annotated[Number, Field(description="dollars a contract of the side traded: 0.55")]
Status = Annotated[
    Literal["unopened", "open", "paused", "closed", "settled"] | None,
    Field(description="the status to list; null: every status"),
]


class Access(Protocol):
    """What the tools are handed: the command line's own wiring (cli/mcp_cmd.py)."""

    @property
    def environ(self) -> Mapping[str, str]: ...

    def settings(self) -> Settings: ...

    def client(self, *, auth: bool = False) -> KalshiClient: ...

    def kill_switch_client(self) -> KalshiClient: ...

    def open_store(self) -> Store: ...

    def open_audit_store(self) -> Store: ...

    def open_kill_switch_store(self, say: Callable[[str], None]) -> Store: ...

    def kill_switch_state(self) -> Path: ...

    def order_service(self, store: Store) -> OrderService: ...

    def tier(self) -> TierSetting: ...


def one_line(exc: KalshiError) -> str:
    """A refusal as the assistant reads it: the exit code's name, the rule's code when there is
    one, then the line a person would read."""
    code = getattr(exc, "code", None)
    head = exc.exit_code.name if not code or code == "invalid" else f"{exc.exit_code.name} {code}"
    return f"{head}: {exc.one_line()}"


@dataclass(frozen=True)
class Written:
    """A write's answer."""

    document: dict[str, Any]


def order_document(store: Store, order: Order) -> dict[str, Any]:
    """An order as the orders tool and `kalshi order show --json` show it."""
    from kalshi_cli.vocabulary.documents import order_json

    return order_json(order, store.orders.intent_by_order_id(order.order_id))


class ToolAudit:
    """Every write call of one session, refused or not, as a row of `agent_audit`."""

    def __init__(self, access: Access, session: str) -> None:
        self.access = access
        self.session = session

    def audited(
        self,
        tool: str,
        arguments: dict[str, Any],
        run: Callable[[], Written],
        opener: Callable[[], Store] | None = None,
    ) -> dict[str, Any]:
        """Run a write tool and record the call, whatever came of it. A write made is answered even
        when the audit cannot take its row (the answer says so). A write whose answer was lost or
        not recorded is `unknown`, never `refused`. `opener`: the state file the row goes to,
        when not the tools' own."""
        from kalshi_cli.store import OrderNotRecorded

        record = partial(self._record, tool, arguments, opener=opener)
        try:
            written = run()
        except (OrderOutcomeUnknown, OrderNotRecorded) as exc:
            record("unknown", {"error": one_line(exc)})
            raise
        except KalshiError as exc:
            record("refused", {"error": one_line(exc)})
            raise
        except Exception as exc:
            record("failed", {"error": f"{type(exc).__name__}: {exc}"})
            raise
        # the token is the assistant's to use, not the audit's to keep
        kept = {k: v for k, v in written.document.items() if k != "token"}
        missed = record("ok", kept)
        if missed is not None:
            return written.document | {"audit": f"not recorded: {missed}"}
        return written.document

    def _record(
        self,
        tool: str,
        arguments: dict[str, Any],
        outcome: str,
        detail: Any,
        *,
        opener: Callable[[], Store] | None = None,
    ) -> str | None:
        """Append the audit row (to `opener`'s state file, else the tools' own, a paper
        session's too: a row is no act on the account); None, or why it could not be
        written."""
        try:
            with (opener or self.access.open_audit_store)() as store:
                store.audit.record(
                    session=self.session,
                    tool=tool,
                    arguments=arguments,
                    outcome=outcome,
                    detail=detail,
                )
        except KalshiError as exc:
            return exc.one_line()
        return None
