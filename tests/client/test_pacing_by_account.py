"""The client paces by the account's own tier (client/pacing.py): `GET /account/limits` in either
shape the exchange has used, asked of the simulator over loopback at a tier above Basic; the
config's explicit tier wins without asking; an exchange that does not answer leaves the tier the
client was built with, and says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.exchange import AccountLimits, ExchangeApi
from kalshi_cli.client.pacing import TierSetting, pace_by_account
from kalshi_cli.client.ratelimit import (
    SAFETY_CAPACITY,
    SAFETY_RATE,
    BucketLimit,
    TierLimits,
    tier_limits,
)
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.errors import TransportError
from kalshi_cli.vocabulary.keys import generate_private_key, load_private_key
from kalshi_cli.vocabulary.models import decode_answer
from tests.conftest import SimHarness, tier_simulator
from tests.fakes import OneRouteFails, Swapped


@pytest.fixture
def premier(tmp_path: Path) -> Iterator[SimHarness]:
    yield from tier_simulator(tmp_path, "premier")


def _client(account: AccountInfo, **kwargs: Any) -> KalshiClient:
    key, _ = load_private_key(path=Path(account.private_key_path))
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key, **kwargs)


def _paced(client: KalshiClient) -> dict[str, tuple[float, float]]:
    """(refill rate, capacity) of each of the client's buckets."""
    buckets = client.connection.limiter.buckets
    return {name: (b.refill_rate, b.capacity) for name, b in buckets.items()}


def _with_margin(limits: TierLimits) -> dict[str, tuple[float, float]]:
    return {
        name: (limit.refill_rate * SAFETY_RATE, limit.capacity * SAFETY_CAPACITY)
        for name, limit in (("read", limits.read), ("write", limits.write))
    }


PREMIER = TierLimits(BucketLimit(1000, 1000), BucketLimit(1000, 2000))  # the write bucket: 2 s


def test_the_simulator_states_its_own_tier_in_the_specs_shape(premier: SimHarness) -> None:
    body = premier.signed(premier.account, "GET", "/account/limits").json()
    assert body == {
        "usage_tier": "premier",
        "read": {"refill_rate": 1000, "bucket_capacity": 1000},
        "write": {"refill_rate": 1000, "bucket_capacity": 2000},
        "grants": [],
    }


def test_a_client_built_at_basic_paces_by_the_premier_account_it_asks(
    premier: SimHarness,
) -> None:
    with _client(premier.account) as client:
        scoped = client.on_subaccount(1)  # a handle another thread uses shares the limiter
        assert _paced(client) == _with_margin(tier_limits("basic"))
        pacing = pace_by_account(client)
        assert (pacing.tier, pacing.source, pacing.limits) == ("premier", "exchange", PREMIER)
        assert _paced(client) == _with_margin(PREMIER)
        assert _paced(scoped) == _with_margin(PREMIER)
        assert client.orders.batch_size() == int(2000 * SAFETY_CAPACITY) // 10
        assert pacing.describe().startswith("premier, as the exchange states for this account")
        assert pacing.to_json()["write"] == {"refill_rate": 1000, "bucket_capacity": 2000}


def test_an_explicit_tier_wins_without_asking(premier: SimHarness) -> None:
    transport = OneRouteFails("GET", "/account/limits")
    with _client(premier.account, tier="advanced", transport=transport) as client:
        pacing = pace_by_account(client, TierSetting("advanced", "env: KALSHI_TIER"))
        assert transport.failed == 0  # not asked
        assert (pacing.tier, pacing.source) == ("advanced", "config")
        assert "as configured (env: KALSHI_TIER)" in pacing.describe()
        assert _paced(client) == _with_margin(tier_limits("advanced"))


def test_an_exchange_answering_500_leaves_the_basic_tier_and_says_so(
    premier: SimHarness,
) -> None:
    transport = OneRouteFails("GET", "/account/limits", status=500)
    with _client(premier.account, transport=transport, max_attempts=2) as client:
        pacing = pace_by_account(client)
        assert transport.failed == 2  # retried as any read, then given up
        assert (pacing.tier, pacing.source) == ("basic", "fallback")
        assert "HTTP 500" in pacing.detail
        assert pacing.describe().startswith("basic, the configured tier: the exchange did not")
        assert _paced(client) == _with_margin(tier_limits("basic"))


class _Unreachable(ExchangeApi):
    """The exchange area of a client whose limits call finds no exchange."""

    calls = 0

    def get_account_limits(self) -> AccountLimits:
        self.calls += 1
        raise TransportError("GET /account/limits: no answer from the exchange")


def test_a_client_whose_limits_call_raises_keeps_its_configured_pace() -> None:
    with Swapped(_Unreachable, api_base="http://127.0.0.1:9/trade-api/v2") as client:
        pacing = pace_by_account(client, TierSetting("basic"))
        assert client.area.calls == 1
        assert _paced(client) == _with_margin(tier_limits("basic"))
    assert (pacing.tier, pacing.source, pacing.limits) == (
        "basic",
        "fallback",
        tier_limits("basic"),
    )
    assert "no answer from the exchange" in pacing.describe()


@pytest.mark.parametrize(
    ("body", "limits"),
    [
        (  # 3.31.0, as the wire was seen to answer
            {
                "usage_tier": "Advanced",
                "read": {"refill_rate": 300, "bucket_capacity": 300},
                "write": {"refill_rate": 300, "bucket_capacity": 600},
                "grants": [{"exchange_instance": "event_contract", "level": "advanced",
                            "source": "volume", "expires_ts": 1900000000}],
            },
            TierLimits(BucketLimit(300, 300), BucketLimit(300, 600)),
        ),
        (  # 3.13: a budget per second, each bucket one second of it
            {"usage_tier": "basic", "read_limit": 200, "write_limit": 100},
            TierLimits(BucketLimit(200, 200), BucketLimit(100, 100)),
        ),
    ],
)  # fmt: skip
def test_both_shapes_of_the_answer_give_the_buckets(
    body: dict[str, Any], limits: TierLimits
) -> None:
    answer = decode_answer(AccountLimits, msgspec.json.encode(body))
    assert answer.limits() == limits
    assert answer.usage_tier == body["usage_tier"].lower()


@pytest.mark.parametrize(
    "body",
    [
        {"usage_tier": "basic"},  # neither shape
        {"usage_tier": "basic", "read": {"refill_rate": 200, "bucket_capacity": 200}},
        {"usage_tier": "basic", "read_limit": 0, "write_limit": 100},
        {"usage_tier": "", "read_limit": 200, "write_limit": 100},
        {"read_limit": 200, "write_limit": 100},
    ],
)
def test_an_answer_without_whole_buckets_paces_nothing(body: dict[str, Any]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with KalshiClient(
        api_base="http://exchange.test/trade-api/v2",
        key_id="key-1",
        private_key=generate_private_key(),
        transport=httpx.MockTransport(answer),
    ) as client:
        pacing = pace_by_account(client)
        assert _paced(client) == _with_margin(tier_limits("basic"))
    assert pacing.source == "fallback"
    assert "unexpected account limits" in pacing.detail
