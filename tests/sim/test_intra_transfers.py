"""Intra-exchange-instance transfers over the simulator's REST API (sim/server/routes/
intra_transfers.py): on the one instance and shard the simulator runs, a transfer is the
spec's subaccount transfer (money moves between subaccounts and the id appears in the
subaccount transfer history); anything to or from another instance or shard is refused and moves
nothing. Every answer is also checked against openapi.yaml by the autouse fixture in
conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SimHarness, tier_simulator
from tests.sim.test_subaccounts_server import balances, generated_key
from tests.wire import flat_code, nested_code

PATH = "/portfolio/intra_exchange_instance_transfer"
LIST = "/portfolio/intra_exchange_instance_transfers"


@pytest.fixture
def adv(tmp_path: Path) -> Iterator[SimHarness]:
    yield from tier_simulator(tmp_path, "advanced")


def send(sim: SimHarness, **body: Any) -> Any:
    full = {"source": "event_contract", "destination": "event_contract", **body}
    return sim.signed(sim.account, "POST", PATH, json=full)


def test_a_same_shard_transfer_is_a_subaccount_transfer(adv: SimHarness) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    made = send(adv, amount=2500_00, destination_subaccount=1)
    assert made.status_code == 200, made.text
    tid = made.json()["transfer_id"]
    assert balances(adv, me) == {0: "975.0000", 1: "25.0000"}
    back = send(adv, amount=500_00, source_subaccount=1, destination_subaccount=0)
    assert back.status_code == 200, back.text
    assert balances(adv, me) == {0: "980.0000", 1: "20.0000"}
    # "The returned transfer ID appears in the subaccount transfer history."
    history = adv.signed(me, "GET", "/portfolio/subaccounts/transfers").json()["transfers"]
    assert [(t["transfer_id"], t["amount_cents"]) for t in history] == [
        (back.json()["transfer_id"], 500),
        (tid, 2500),
    ]
    listed = adv.signed(me, "GET", LIST).json()
    assert [t["transfer_id"] for t in listed["transfers"]] == [back.json()["transfer_id"], tid]
    assert "cursor" not in listed
    one = adv.signed(me, "GET", f"{LIST}/{tid}").json()["transfer"]
    assert {k: v for k, v in one.items() if k != "created_ts"} == {
        "transfer_id": tid,
        "source": "event_contract",
        "destination": "event_contract",
        "source_exchange_shard": 0,
        "destination_exchange_shard": 0,
        "amount": "25.0000",
        "status": "complete",
    }
    first_page = adv.signed(me, "GET", LIST, params={"limit": 1}).json()
    assert [t["transfer_id"] for t in first_page["transfers"]] == [back.json()["transfer_id"]]
    rest = adv.signed(me, "GET", LIST, params={"limit": 1, "cursor": first_page["cursor"]})
    assert [t["transfer_id"] for t in rest.json()["transfers"]] == [tid]


def test_only_transfers_made_here_are_listed_and_only_to_their_owner(adv: SimHarness) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    plain = {
        "client_transfer_id": "6f1c8f8e-8c1e-4a57-9c55-1f0d7f3e2a10",
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount_cents": 100,
    }
    assert adv.signed(me, "POST", "/portfolio/subaccounts/transfer", json=plain).is_success
    assert adv.signed(me, "GET", LIST).json() == {"transfers": []}
    tid = send(adv, amount=100_00, destination_subaccount=1).json()["transfer_id"]
    other = adv.new_account()
    assert adv.signed(other, "GET", LIST).json() == {"transfers": []}
    assert nested_code(adv.signed(other, "GET", f"{LIST}/{tid}")) == (404, "not_found")
    assert nested_code(adv.signed(me, "GET", f"{LIST}/no-such-transfer")) == (404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"destination": "margined"},
        {"source": "margined"},
        {"destination_exchange_shard": 1},
        {"source_exchange_shard": 3},
        {"destination": "futures"},
        {"amount": 150},  # not whole cents
        {"amount": 0},
        {"destination_subaccount": 64},
        {"destination_subaccount": 0},  # the same subaccount
        {"destination_subaccount": 5},  # not created
        {"amount": 2_000_000_00},  # more than the subaccount has
    ],
)
def test_a_transfer_it_cannot_trace_is_refused_and_moves_nothing(
    adv: SimHarness, body: dict[str, Any]
) -> None:
    adv.signed(adv.account, "POST", "/portfolio/subaccounts")
    refused = send(adv, **{"amount": 100_00, "destination_subaccount": 1, **body})
    assert refused.status_code == 400, refused.text
    assert balances(adv, adv.account) == {0: "1000.0000", 1: "0.0000"}
    assert adv.signed(adv.account, "GET", LIST).json() == {"transfers": []}


def test_malformed_transfer_requests(adv: SimHarness) -> None:
    me = adv.account
    missing = adv.signed(me, "POST", PATH, json={"source": "event_contract", "amount": 100})
    assert nested_code(missing) == (400, "missing_parameters")
    assert flat_code(send(adv, amount="100")) == (400, "bad_request")
    bad_limit = adv.signed(me, "GET", LIST, params={"limit": 501})
    assert bad_limit.status_code == 400


def test_keys_need_the_transfer_scope_and_no_subaccount_restriction(
    adv: SimHarness, tmp_path: Path
) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    body = {
        "source": "event_contract",
        "destination": "event_contract",
        "amount": 100_00,
        "destination_subaccount": 1,
    }
    reader = generated_key(adv, me, tmp_path, scopes=["read"])
    assert nested_code(adv.signed(reader, "POST", PATH, json=body)) == (403, "forbidden")
    restricted = generated_key(adv, me, tmp_path, subaccount=1)
    assert nested_code(adv.signed(restricted, "POST", PATH, json=body)) == (403, "forbidden")
    assert balances(adv, me) == {0: "1000.0000", 1: "0.0000"}
    mover = generated_key(adv, me, tmp_path, scopes=["read", "write::transfer"])
    made = adv.signed(mover, "POST", PATH, json=body)
    assert made.status_code == 200, made.text
    assert balances(adv, me) == {0: "999.0000", 1: "1.0000"}
    tid = made.json()["transfer_id"]
    listed = adv.signed(restricted, "GET", LIST).json()["transfers"]
    assert [t["transfer_id"] for t in listed] == [tid]  # it touches subaccount 1
    adv.signed(me, "POST", "/portfolio/subaccounts")
    other = adv.signed(me, "POST", PATH, json={**body, "destination_subaccount": 2}).json()
    assert [t["transfer_id"] for t in adv.signed(restricted, "GET", LIST).json()["transfers"]] == [
        tid
    ]
    assert nested_code(adv.signed(restricted, "GET", f"{LIST}/{other['transfer_id']}")) == (
        404,
        "not_found",
    )
    # one from subaccount 1 touches it too
    back = adv.signed(
        mover, "POST", PATH, json={**body, "source_subaccount": 1, "destination_subaccount": 0}
    )
    assert back.status_code == 200, back.text
    listed = adv.signed(restricted, "GET", LIST).json()["transfers"]
    assert [t["transfer_id"] for t in listed] == [back.json()["transfer_id"], tid]
