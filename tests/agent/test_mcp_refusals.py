"""`kalshi mcp` refuses to start, in one line and with its exit code, without the `mcp` extra,
with --http and no bearer token, and with --http bound beyond loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.agent.launch import start
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.vocabulary.errors import ConfigError, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode

TOKEN = "a-bearer-token-of-32-characters!"

# the entry point with the SDK made unimportable, as on a machine without the extra
WITHOUT_MCP = """
import json, sys
sys.modules["mcp"] = None
sys.argv = ["kalshi", *json.loads(sys.argv[1])]
from kalshi_cli.__main__ import main
main()
"""


def kalshi(
    args: list[str], home: Path, *, without_mcp: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env |= {"KALSHI_HOME": str(home), "HOME": str(home), "NO_COLOR": "1"}
    command = (
        [sys.executable, "-c", WITHOUT_MCP, json.dumps(args)]
        if without_mcp
        else [sys.executable, "-m", "kalshi_cli", *args]
    )
    return subprocess.run(
        command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
        timeout=120, check=False,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_without_the_extra_it_says_how_to_install_it(tmp_path: Path) -> None:
    done = kalshi(["mcp"], tmp_path, without_mcp=True)
    assert done.returncode == ExitCode.CONFIG
    assert "pip install 'kalshi-cli[mcp]'" in one_line(done)


def test_http_is_refused_without_a_token_or_beyond_loopback(tmp_path: Path) -> None:
    access = CliAccess(AppContext(environ={"KALSHI_HOME": str(tmp_path)}))
    with pytest.raises(UsageError, match="serves this machine only"):
        start(access, http=True, host="0.0.0.0", port=None)
    with pytest.raises(ConfigError, match="needs a bearer token"):
        start(access, http=True, host="127.0.0.1", port=None)
    short = CliAccess(AppContext(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_MCP_TOKEN": "x"}))
    with pytest.raises(ConfigError, match="at least 32 characters") as caught:
        start(short, http=True, host="127.0.0.1", port=None)
    assert caught.value.exit_code == ExitCode.CONFIG
    (tmp_path / "config.yaml").write_text("agent:\n  http_token_env: MY_TOKEN\n")
    with pytest.raises(ConfigError) as caught:
        start(access, http=True, host="::1", port=None)
    assert "(set MY_TOKEN, or agent.http_token in the config)" in caught.value.one_line()


def test_http_serves_a_client_with_the_token_on_ipv6_loopback_and_says_a_wrong_one_is_wrong(
    tmp_path: Path,
) -> None:
    import socket

    import anyio
    import httpx
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from tests.waiting import wait_until

    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env |= {"KALSHI_HOME": str(tmp_path), "HOME": str(tmp_path), "KALSHI_MCP_TOKEN": TOKEN}
    url = f"http://[::1]:{port}/mcp"
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "kalshi_cli", "mcp", "--http", "--host", "::1",
             "--port", str(port)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
        try:

            def listening() -> bool:
                try:
                    return httpx.post(url, json={}).status_code == 401
                except httpx.TransportError:
                    return False

            wait_until(listening, "kalshi mcp --http listening")  # no token: 401

            async def session() -> set[str]:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                async with (
                    httpx2.AsyncClient(headers=headers) as http,
                    streamable_http_client(url, http_client=http) as (read, write),
                    ClientSession(read, write) as client,
                ):
                    await client.initialize()
                    return {t.name for t in (await client.list_tools()).tools}

            assert "cancel_all" in anyio.run(session)
            wrong = httpx.post(url, json={}, headers={"Authorization": "Bearer guess"})
            assert wrong.status_code == 401
            # said to be the token, with no OAuth discovery pointing at a server that is none
            assert "resource_metadata" not in wrong.headers["www-authenticate"]
            assert "wrong bearer token" in wrong.json()["error_description"]
        finally:
            server.terminate()
            server.wait(timeout=30)
