"""The MCP server of `kalshi mcp`: the tools of `tools/` and `research.py` on the official SDK's
`MCPServer`, over stdio or streamable HTTP; the only module that imports the optional `mcp` SDK.

Each tool's input schema is its signature, and it refuses in one line the assistant reads, `NAME
CODE: what is wrong (what to do)` (`_Tool`). Over HTTP the server binds loopback only and every
request must carry the configured bearer token (`_Bearer`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kalshi_cli import __version__
from kalshi_cli.agent import research
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.agent.tools.common import LIST_MAX, Text, one_line
from kalshi_cli.vocabulary.errors import KalshiError, UsageError

INSTRUCTIONS = (
    "Kalshi event contracts through kalshi-cli. Prices are dollars (0.55), counts contracts. "
    "Reads are free. A write is two steps: a preview_ tool returns what would be sent, the most "
    "it could cost, the checks it passed and a token; execute(token) sends it once. Writes may "
    "be off (WRITES_DISABLED), are held to the account's risk limits, and have a budget per UTC "
    "day (budget tool). cancel_all (the kill switch) and halt are always allowed. Errors start "
    "with the CLI's exit code name, then the rule's code: read the hint in brackets for what to "
    "do."
)

# a preview changes nothing on the exchange: a host asks the trader once, at `execute`
READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)
REVIEW = (
    "Review my risk on Kalshi: read the positions, orders (resting), budget, loop_status and "
    "checks tools, then say in a few lines what I hold and could lose in each market, how far "
    "each is from its limits and the day's budget, whether trading is halted and why, and what "
    "needs my attention. Change nothing."
)


def build_server(tools: AgentTools) -> MCPServer:
    """The server with every tool, resource and prompt registered."""
    reads: tuple[Callable[..., Any], ...] = (
        tools.reads.exchange_status,
        tools.reads.markets,
        tools.reads.search,
        tools.reads.events,
        tools.reads.series,
        tools.reads.market,
        tools.reads.orderbook,
        tools.reads.trades,
        tools.reads.candles,
        tools.reads.balance,
        tools.reads.positions,
        tools.reads.event_positions,
        tools.reads.orders,
        tools.reads.fills,
        tools.reads.pnl,
        tools.reads.loop_status,
        tools.reads.checks,
        tools.reads.audit,
        tools.orders.budget,
        tools.orders.preview_order,
        tools.orders.preview_amend,
        tools.orders.preview_decrease,
        tools.orders.preview_cancel,
        tools.orders.preview_resume,
    )
    writes: tuple[Callable[..., Any], ...] = (
        tools.orders.execute,
        tools.kill_switch.cancel_all,
        tools.kill_switch.halt,
    )
    registered = [
        *(_tool(fn, READ) for fn in reads),
        *(_tool(fn, WRITE) for fn in writes),
        *(_tool(fn, READ) for fn in _research_tools(tools)),
    ]
    server = MCPServer(
        "kalshi",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        tools=registered,
    )
    server.resource(
        "kalshi://positions", name="positions", description=tools.reads.positions.__doc__
    )(tools.reads.positions)
    server.resource("kalshi://config", name="config", description=tools.orders.budget.__doc__)(
        tools.orders.budget
    )
    server.prompt("review_my_risk", description="What I hold, could lose and should look at")(
        lambda: REVIEW
    )
    return server


class _Tool(Tool):
    """A tool whose refusals the assistant reads in one line: arguments its schema refuses (one
    not named, past its bound, not of its form), each named with what it must be, and a
    `KalshiError` the tool raised, which the SDK would answer with no text."""

    async def run(
        self, arguments: dict[str, Any], context: Any, convert_result: bool = False
    ) -> Any:
        try:
            self.fn_metadata.validate_arguments(arguments)
            return await super().run(arguments, context, convert_result)
        except ValidationError as exc:
            wrong = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            refusal = one_line(UsageError(wrong))
        except UnexpectedToolError as exc:
            if not isinstance(exc.__cause__, KalshiError):
                raise
            refusal = one_line(exc.__cause__)
        raise ToolError(f"Error executing tool {self.name}: {refusal}") from None


def _tool(fn: Callable[..., Any], annotations: ToolAnnotations) -> Tool:
    """`fn` as the SDK makes a tool of it, its input schema from its signature, and refusing
    an argument the signature does not name. The SDK's own argument model reads the names it
    knows and drops the rest unread: an assistant's `reduce_only` on an order, or `dry_run` on
    `execute`, would be answered as if it had not been asked, and a plain order placed. The
    schema then says so to the client too (`additionalProperties: false`)."""
    tool = _Tool.from_function(fn, annotations=annotations)
    loose = tool.fn_metadata.arg_model
    strict: type[BaseModel] = type(
        loose.__name__,
        (loose,),
        {"model_config": ConfigDict(extra="forbid"), "__module__": loose.__module__},
    )
    return tool.model_copy(
        update={
            "fn_metadata": tool.fn_metadata.model_copy(update={"arg_model": strict}),
            "parameters": strict.model_json_schema(by_alias=True),
        }
    )


def _research_tools(tools: AgentTools) -> tuple[Callable[..., Any], ...]:
    environ = tools.access.environ
    config = tools.config

    def strategies() -> dict[str, Any]:
        """Every strategy, with its parameters at their defaults (docs/strategies.md)."""
        return research.strategies()

    async def backtest(  # noqa: PLR0917 (the tool's arguments, as the SDK hands them)
        strategy: Annotated[Text, Field(description="a strategy's name (the strategies tool)")],
        data: Annotated[Text, Field(description="a directory `kalshi record` wrote")],
        ctx: Context,
        params: Annotated[
            list[Text] | None, Field(max_length=LIST_MAX, description="NAME=V or NAME=V1,V2")
        ] = None,
        start: Annotated[Text | None, Field(description="from: ISO time or unix seconds")] = None,
        end: Annotated[Text | None, Field(description="until: ISO time or unix seconds")] = None,
        markets: Annotated[Text | None, Field(description="tickers, comma-separated")] = None,
        balance: Annotated[Text, Field(description="starting dollars")] = "1000",
        fill_model: Annotated[
            Literal["optimistic", "pessimistic"], Field(description="fills at touch, or behind")
        ] = "optimistic",
        latency_ms: Annotated[int, Field(ge=0, le=60_000, description="order delay")] = 0,
    ) -> dict[str, Any]:
        """Replay a recorded data set (a directory `kalshi record` wrote) through a strategy, as
        `kalshi backtest --json` does; params are NAME=V (several values NAME=V1,V2: a sweep,
        its progress reported). The run is stored: backtest_runs lists it."""
        ask = research.BacktestAsk(
            strategy=strategy,
            data=data,
            params=tuple(params or ()),
            start=start,
            end=end,
            markets=markets,
            balance=balance,
            fill_model=fill_model,
            latency_ms=latency_ms,
        )

        def progress(done: int, total: int) -> None:
            anyio.from_thread.run(ctx.report_progress, done, total)

        def run() -> dict[str, Any]:
            request = research.backtest_request(
                ask,
                config_path=tools.access.settings().config_path,
                environ=environ,
                max_mb=config.backtest_max_mb,
            )
            return research.run_limited(request, max_s=config.backtest_max_s, progress=progress)

        result: dict[str, Any] = await anyio.to_thread.run_sync(run)
        return result

    def backtest_runs() -> dict[str, Any]:
        """The stored backtest runs and sweeps, oldest first."""
        return research.stored_runs(environ)

    def backtest_run(
        run: Annotated[Text, Field(description="an id, its start, or last")],
    ) -> dict[str, Any]:
        """One stored run's report: an id, a unique start of one, or `last`."""
        return research.stored_run(environ, run)

    def backtest_compare(
        a: Annotated[Text, Field(description="a run")],
        b: Annotated[Text, Field(description="a run")],
    ) -> dict[str, Any]:
        """Two stored runs side by side, figure by figure."""
        return research.compare_runs(environ, a, b)

    return strategies, backtest, backtest_runs, backtest_run, backtest_compare


class _Bearer:
    """Over HTTP, every request carries the one bearer token of `agent.http_token(_env)`,
    compared in constant time; without it the answer is 401 saying the token is missing or
    wrong, and no OAuth discovery: no authorization server issues it."""

    def __init__(self, app: Any, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        given = dict(scope.get("headers") or ()).get(b"authorization", b"")
        if scope["type"] != "http" or hmac.compare_digest(given, self._expected):
            await self._app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        wrong = {"error": "invalid_token", "error_description": "missing or wrong bearer token"}
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        await JSONResponse(wrong, 401, headers)(scope, receive, send)


def serve(tools: AgentTools, *, http: bool, host: str, token: str | None, port: int) -> None:
    """Run until the client goes away (stdio) or the process is stopped (HTTP on `host`, which
    `launch.check_loopback` allowed)."""
    if not http:
        build_server(tools).run("stdio")
        return
    import uvicorn

    app = _Bearer(build_server(tools).streamable_http_app(host=host), token or "")
    anyio.run(uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve)
