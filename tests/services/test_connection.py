"""Credential resolution from settings, without a CLI context: `resolve_connection`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kalshi_cli.config import Settings, load_settings
from kalshi_cli.services.connection import no_credentials, resolve_connection
from kalshi_cli.vocabulary.errors import CredentialsError
from kalshi_cli.vocabulary.keys import generate_private_key, private_key_pem

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def settings_for(tmp_path: Path, **environ: str) -> Settings:
    return load_settings(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_ENV": "demo", **environ})


def test_no_key_at_all_is_an_unauthenticated_connection(tmp_path: Path) -> None:
    warnings: list[str] = []
    connection = resolve_connection(settings_for(tmp_path), anonymous=False, warn=warnings.append)
    assert not connection.embedded
    assert connection.api_base.startswith("https://")
    assert not connection.authenticated and connection.private_key is None
    assert warnings == []
    assert "no API credentials for env demo" in no_credentials(settings_for(tmp_path)).one_line()


def test_a_key_id_without_a_key_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        resolve_connection(
            settings_for(tmp_path, KALSHI_API_KEY_ID="abc"), anonymous=False, warn=print
        )
    assert "api_key_id is set for env demo but no private key" in info.value.one_line()


def test_pem_text_wins_over_a_key_path_and_anonymous_skips_the_key(tmp_path: Path) -> None:
    pem = private_key_pem(generate_private_key()).decode()
    settings = settings_for(
        tmp_path,
        KALSHI_API_KEY_ID="abc",
        KALSHI_PRIVATE_KEY=pem,
        KALSHI_PRIVATE_KEY_PATH=str(tmp_path / "absent.pem"),
    )
    connection = resolve_connection(settings, anonymous=False, warn=print)
    assert connection.authenticated and connection.key_id == "abc"
    assert connection.private_key_path is None  # the key came as text
    anonymous = resolve_connection(settings, anonymous=True, warn=print)
    assert not anonymous.authenticated and anonymous.key_id is None


def test_a_simulator_base_alone_finds_its_websocket_beside_it(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`KALSHI_API_BASE` of a simulator served elsewhere, without `KALSHI_WS_URL`: the trade
    loop still gets the WebSocket, not REST polling."""
    settings = load_settings(
        environ={
            "KALSHI_HOME": str(tmp_path),
            "KALSHI_ENV": "sim",
            "KALSHI_API_BASE": sim.account.api_base,
            "KALSHI_API_KEY_ID": sim.account.key_id,
            "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
        }
    )
    connection = resolve_connection(settings, anonymous=False, warn=print)
    assert connection.ws_url == sim.account.ws_url
    # demo and prod keep their own defaults: the WebSocket host is not the REST host on prod
    demo = resolve_connection(
        settings_for(tmp_path, KALSHI_API_BASE="https://elsewhere.example/trade-api/v2"),
        anonymous=True,
        warn=print,
    )
    assert demo.ws_url == "wss://demo-api.kalshi.co/trade-api/ws/v2"
