"""The public library API is what docs/library.md lists: `kalshi_cli.__all__` and
`kalshi_cli.strategy_api.__all__`, every name importable."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

import kalshi_cli
from kalshi_cli import KalshiClient, strategy_api
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness

DOC = (Path(__file__).parent.parent / "docs" / "library.md").read_text()


def _documented(section: str) -> set[str]:
    start = DOC.index(f"## `{section}`")
    end = DOC.find("\n## ", start + 1)
    table = DOC[start : end if end != -1 else None]
    names: set[str] = set()
    for row in re.findall(r"^\| (.+?) \| ", table, re.M):
        names.update(re.findall(r"`(\w+)", row))
    return names - {"name"}


def test_the_package_exports_exactly_what_the_page_lists() -> None:
    assert set(kalshi_cli.__all__) == _documented("kalshi_cli")
    for name in kalshi_cli.__all__:
        assert getattr(kalshi_cli, name) is not None, name


def test_the_strategy_api_exports_exactly_what_the_page_lists() -> None:
    assert set(strategy_api.__all__) == _documented("kalshi_cli.strategy_api")
    for name in strategy_api.__all__:
        assert hasattr(strategy_api, name), name
    assert strategy_api.STRATEGY_API_VERSION == 3


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        kalshi_cli.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("kalshi_cli.no_such_name resolved")


def _client_areas_on_the_page() -> list[str]:
    start = DOC.index("## The client")
    table = DOC[start : DOC.index("\n## ", start + 1)]
    return re.findall(r"^\| `client\.(\w+)` \| ", table, re.M)


def test_the_page_lists_every_area_of_the_client_and_each_call_it_names_is_there(
    sim: SimHarness,
) -> None:
    """The table of areas is the client's, and every call a row names is a method of that
    area: a renamed or moved call fails here before a reader's program does."""
    from kalshi_cli.client.client import AREAS
    from kalshi_cli.client.connection import Area

    with KalshiClient(api_base=sim.account.api_base) as client:
        # each area is built on its first use (client/client.py)
        areas = {name for name in AREAS if isinstance(getattr(client, name), Area)}
        assert len(areas) == len(AREAS) >= 9
        assert set(_client_areas_on_the_page()) == areas
        start = DOC.index("## The client")
        table = DOC[start : DOC.index("\n## ", start + 1)]
        for area, calls in re.findall(r"^\| `client\.(\w+)` \| (.+) \|$", table, re.M):
            for call in re.findall(r"`(\w+)`", calls):
                assert callable(getattr(getattr(client, area), call)), (area, call)


def test_the_pages_client_example_places_an_order_on_the_simulator(
    sim: SimHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.create_market("KXLIB-1")
    account = sim.new_account(balance_cents=100_000)
    key, _ = load_private_key(path=account.private_key_path)
    start = DOC.index("## The client")
    (example,) = re.findall(
        r"```python\n(.*?)```", DOC[start : DOC.index("\n## ", start + 1)], re.S
    )
    scope = {
        "API_BASE": account.api_base,
        "KEY_ID": account.key_id,
        "KEY": key,
        "TICKER": "KXLIB-1",
    }
    exec(compile(example, "docs/library.md", "exec"), scope)
    ticker, order_id, balance = capsys.readouterr().out.split()
    assert ticker == "KXLIB-1" and order_id
    with KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key) as client:
        (order,) = client.orders.iter_orders(ticker="KXLIB-1")
    assert (order.order_id, order.status) == (order_id, "resting")
    assert Decimal(balance) == Decimal("999.40")  # $1,000 less the $0.60 the bid holds
