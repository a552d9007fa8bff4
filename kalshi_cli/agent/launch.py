"""Starting `kalshi mcp`: the config's `agent:` section read, HTTP's refusals (no token, a bind
that is not loopback) made before anything listens, and the SDK imported only here, so a
machine without the `mcp` extra gets one line saying how to install it."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from kalshi_cli.agent.settings import AgentConfig, load_agent_config
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kalshi_cli.agent.tools.common import Access

INSTALL_HINT = "pip install 'kalshi-cli[mcp]'"
TOKEN_MIN = 32  # the shortest bearer token served: one a guess does not find


def http_token(config: AgentConfig, environ: Mapping[str, str]) -> str:
    token = environ.get(config.http_token_env) or config.http_token
    where = f"{config.http_token_env}, or agent.http_token in the config"
    if not token:
        raise ConfigError(
            "kalshi mcp --http needs a bearer token and none is configured", hint=f"set {where}"
        )
    if len(token) < TOKEN_MIN:
        raise ConfigError(
            f"the bearer token of kalshi mcp --http must be at least {TOKEN_MIN} characters, "
            f"not {len(token)}",
            hint=f"set {where} to a random one: openssl rand -hex 32",
        )
    return token


def check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"--host {host}: kalshi mcp serves this machine only",
            hint="127.0.0.1; reach it from elsewhere through an SSH tunnel",
        )


def start(access: Access, *, http: bool, host: str, port: int | None) -> None:
    """Serve the tools until the client goes away (stdio) or the process is stopped (HTTP)."""
    config = load_agent_config(access.settings().config_path)
    token = None
    if http:
        check_loopback(host)
        token = http_token(config, access.environ)
    try:
        from kalshi_cli.agent.server import serve
        from kalshi_cli.agent.tools import AgentTools
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("mcp", "mcp_types"):
            raise
        raise ConfigError("kalshi mcp needs the optional mcp extra", hint=INSTALL_HINT) from None
    tools = AgentTools(access, config, clock=SystemClock())
    serve(tools, http=http, host=host, token=token, port=port or config.http_port)
