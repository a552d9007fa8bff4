"""A create whose answer is lost after it was sent (the connection dropped once the exchange
acted, or a 5xx in place of its answer) is of unknown outcome: `kalshi subaccount create`,
`kalshi order-group create`, `kalshi key create` and `kalshi key generate` exit 10 naming the
read that tells, never 7 ("is the exchange reachable?") or 14 as if nothing had been made, and
the create is sent once: sent again, the exchange makes a second subaccount, group or key.

The exchange is the real simulator: the dropped connection is its own fault knob, the 5xx a
transport between the command and it that answers 503 once the simulator has acted."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import Result

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_rfq_lost_answers import AnsweredUnavailable
from tests.conftest import SimHarness
from tests.prime_tier import kalshi_as

Kalshi = Callable[..., Result]


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@dataclass(frozen=True)
class Create:
    name: str
    args: Callable[[Path], tuple[str, ...]]
    path: str  # the create's path under the API base
    read_back: tuple[str, ...]  # the read the error names
    made: Callable[[Any], list[Any]]  # what the read back lists, from its JSON


CREATES = [
    Create(
        "subaccount create",
        lambda tmp: ("subaccount", "create"),
        "/portfolio/subaccounts",
        ("subaccount", "list"),
        lambda doc: [s["subaccount"] for s in doc["subaccounts"] if s["subaccount"] != 0],
    ),
    Create(
        "order-group create",
        lambda tmp: ("order-group", "create", "--limit", "40", "--yes"),
        "/portfolio/order_groups/create",
        ("order-group", "list"),
        lambda doc: [g["order_group_id"] for g in doc["order_groups"]],
    ),
    Create(
        "key create",
        lambda tmp: ("key", "create", "--name", "bot", "--out", str(tmp / "bot.pem")),
        "/api_keys",
        ("key", "list"),
        lambda doc: [k["api_key_id"] for k in doc["api_keys"] if k["name"] == "bot"],
    ),
    Create(
        "key generate",
        lambda tmp: ("key", "generate", "--name", "reader", "--out", str(tmp / "reader.pem")),
        "/api_keys/generate",
        ("key", "list"),
        lambda doc: [k["api_key_id"] for k in doc["api_keys"] if k["name"] == "reader"],
    ),
]


def _sent(prime: SimHarness, account: AccountInfo, create: Create) -> int:
    requests = prime.stats()["accounts"][account.key_id]["requests"]
    return sum(n for endpoint, n in requests.items() if endpoint == f"POST {create.path}")


@pytest.mark.parametrize("fault", ["connection dropped", "503"])
@pytest.mark.parametrize("create", CREATES, ids=[c.name for c in CREATES])
def test_a_create_whose_answer_is_lost_exits_10_naming_the_read_and_is_made_once(
    prime: SimHarness, tmp_path: Path, create: Create, fault: str
) -> None:
    """Before: `subaccount create` was sent again after a 503 or a dropped connection, and the
    exchange made a second subaccount (four, on a connection that kept dropping), exit 0 or 7;
    the other creates said "unreachable" (exit 7) or "the exchange kept failing" (exit 14) of
    what the exchange had made."""
    account = prime.account
    home = tmp_path / "home"
    reader = kalshi_as(account, home, transport=None)
    before = create.made(_json(reader(*create.read_back, "--json")))

    def lost(request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path.endswith(create.path)

    transport = AnsweredUnavailable(lost) if fault == "503" else None
    if fault == "connection dropped":
        prime.set_faults(drop_response_after_commit_rate=1.0)
    try:
        result = kalshi_as(account, home, transport=transport)(*create.args(tmp_path))
    finally:
        prime.clear_faults()

    assert result.exit_code == ExitCode.OUTCOME_UNKNOWN, result.output
    assert f"`kalshi {' '.join(create.read_back)}`" in result.stderr, result.stderr
    assert "may or may not" in result.stderr
    assert _sent(prime, account, create) == 1
    # the exchange did make one, and only one: the read the error names shows it
    after = create.made(_json(reader(*create.read_back, "--json")))
    assert len(after) == len(before) + 1, (before, after)


def test_a_key_whose_registration_is_unknown_keeps_its_private_key(
    prime: SimHarness, tmp_path: Path
) -> None:
    """`kalshi key create` writes the private key before the public one is sent. Its
    registration unknown, the key may be registered: the private key is its only other half,
    so the file stays (before, it was deleted, leaving a key on the exchange nobody could
    sign with), and the error says where it is."""
    account = prime.account
    out = tmp_path / "bot.pem"
    prime.set_faults(drop_response_after_commit_rate=1.0)
    try:
        result = kalshi_as(account, tmp_path / "home", transport=None)(
            "key", "create", "--name", "bot", "--out", str(out)
        )
    finally:
        prime.clear_faults()
    assert result.exit_code == ExitCode.OUTCOME_UNKNOWN, result.output
    assert "PRIVATE KEY" in out.read_text()
    assert str(out) in result.stderr
    listed = _json(kalshi_as(account, tmp_path / "home", transport=None)("key", "list", "--json"))
    assert [k["name"] for k in listed["api_keys"]].count("bot") == 1


def test_a_key_whose_registration_was_refused_leaves_no_private_key(
    prime: SimHarness, tmp_path: Path
) -> None:
    """A refusal registered nothing: the private key made for it goes, as before."""
    out = tmp_path / "bot.pem"
    refusing = httpx.MockTransport(
        lambda request: httpx.Response(
            400, json={"error": {"code": "bad_request", "message": "bad request"}}
        )
    )
    result = kalshi_as(prime.account, tmp_path / "home", transport=refusing)(
        "key", "create", "--name", "bot", "--out", str(out)
    )
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert not out.exists()
