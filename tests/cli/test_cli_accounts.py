"""`kalshi subaccount ...`, `kalshi key ...` and `--subaccount N` on the portfolio and order
commands, in-process against a Premier-tier simulator (subaccounts need Advanced, a key from
one's own public key Premier)."""

from __future__ import annotations

import errno
import json
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import Result

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.prime_tier import kalshi_as
from tests.wire import order_body

T = "KXT-EV-M00"
Kalshi = Callable[..., Result]


@pytest.fixture
def premier(tmp_path: Path) -> Iterator[SimHarness]:
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim", scenario="empty", tier="premier", response_hook=RECORDER.hook
        )
    )
    harness.create_market(T, event_ticker="KXT-EV", series_ticker="KXT")
    yield harness
    harness.close()


@pytest.fixture
def kalshi(premier: SimHarness, tmp_path: Path) -> Kalshi:
    def invoke(*args: str, account: AccountInfo | None = None) -> Result:
        return kalshi_as(account or premier.account, tmp_path / "home", tier="premier")(*args)

    return invoke


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def orders_of(sim: SimHarness, **params: Any) -> list[dict[str, Any]]:
    answer = sim.signed(sim.account, "GET", "/portfolio/orders", params=params)
    orders: list[dict[str, Any]] = answer.json()["orders"]
    return orders


PLACE = ("order", "place", T, "--side", "yes", "--action", "buy", "--count", "2", "--price", "0.30")


def test_create_fund_and_list_subaccounts(kalshi: Kalshi) -> None:
    assert as_json(kalshi("subaccount", "create", "--json")) == {"subaccount": 1}
    tid = str(uuid.uuid4())
    args = ("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "25.00")
    moved = as_json(kalshi(*args, "--client-transfer-id", tid, "--json"))
    assert moved == {
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount": "25.00",
        "exchange_index": 0,
        "client_transfer_id": tid,
    }
    # the same transfer again (a retry): the exchange does it once
    assert kalshi(*args, "--client-transfer-id", tid).exit_code == 0
    listed = as_json(kalshi("subaccount", "list", "--json"))["subaccounts"]
    assert [(s["subaccount"], s["balance"], s["netting"]) for s in listed] == [
        (0, "975.0000", False),
        (1, "25.0000", False),
    ]
    for bad in ("1.005", "-3", "ten"):
        refused = kalshi("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", bad)
        assert refused.exit_code == ExitCode.USAGE, refused.output
    for bad in ("nope", " "):
        refused = kalshi(*args, "--client-transfer-id", bad)
        assert refused.exit_code == ExitCode.USAGE, refused.output
        assert "--client-transfer-id" in refused.stderr, refused.stderr
    too_much = kalshi(*args[:-1], "5000.00")
    assert too_much.exit_code == ExitCode.REJECTED, too_much.output
    assert "insufficient_balance" in too_much.stderr


class ActedThenRateLimited(httpx.BaseTransport):
    """The simulator, except that its first transfer is answered 503 after the simulator made
    it, and every transfer sent after that is answered 429 without reaching it."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.made = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/portfolio/subaccounts/transfer"):
            return self._inner.handle_request(request)
        if self.made:
            body = {"error": {"code": "too_many_requests", "message": "too many requests."}}
            return httpx.Response(429, json=body, headers={"Retry-After": "0"})
        self._inner.handle_request(request).read()
        self.made += 1
        body = {"error": {"code": "service_unavailable", "message": "service unavailable."}}
        return httpx.Response(503, json=body)

    def close(self) -> None:
        self._inner.close()


class ActedThenAnswered(ActedThenRateLimited):
    """The simulator, except that its first transfer is answered 503 after the simulator made
    it; the transfers sent after it reach the simulator and are answered."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.made:
            return self._inner.handle_request(request)
        return super().handle_request(request)


def test_a_subaccount_transfer_whose_first_answer_was_lost_is_sent_again_and_moves_once(
    kalshi: Kalshi, premier: SimHarness, tmp_path: Path
) -> None:
    """Its client transfer id makes a resend safe: the client sends it again at once, and the
    exchange answers the transfer it made, so the trader is told it was made, not unknown."""
    kalshi("subaccount", "create")
    transport = ActedThenAnswered()
    args = ("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "25.00")
    done = kalshi_as(premier.account, tmp_path / "home", transport=transport)(*args)
    assert done.exit_code == 0, done.output
    listed = as_json(kalshi("subaccount", "list", "--json"))["subaccounts"]
    assert [(s["subaccount"], s["balance"]) for s in listed] == [(0, "975.0000"), (1, "25.0000")]


@pytest.mark.parametrize("fault", ["every answer dropped", "503 after acting, then 429s"])
def test_a_subaccount_transfer_whose_answer_is_lost_names_its_id_and_moves_the_money_once(
    kalshi: Kalshi, premier: SimHarness, tmp_path: Path, fault: str
) -> None:
    kalshi("subaccount", "create")
    args = ("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "25.00")
    if fault == "every answer dropped":
        premier.set_faults(drop_response_after_commit_rate=1.0)
        lost = kalshi(*args)
        premier.clear_faults()
    else:  # the resends' 429s say nothing of the first try, which moved the money
        transport = ActedThenRateLimited()
        lost = kalshi_as(premier.account, tmp_path / "home", transport=transport)(*args)
        assert transport.made == 1
    # the money moved: the command says its outcome is unknown and names the id that repeats it
    assert lost.exit_code == ExitCode.OUTCOME_UNKNOWN, lost.output
    said = " ".join(lost.stderr.split())
    named = re.search(r"--client-transfer-id ([0-9a-f-]{36})", said)
    assert named is not None, lost.stderr
    tid = named.group(1)
    assert f"`--client-transfer-id {tid}`" in said  # the rerun, whole: no shard was named
    assert f"sent again, the transfer {tid} between subaccounts was answered" in said
    assert "; the money may or may not have moved (`kalshi subaccount list`" in said
    if fault != "every answer dropped":  # one sentence: the answers' full stops go
        assert "service_unavailable: service unavailable; sent again, the transfer" in said
        assert "too many requests; the money may or may not have moved" in said
    assert kalshi(*args, "--client-transfer-id", tid).exit_code == 0
    listed = as_json(kalshi("subaccount", "list", "--json"))["subaccounts"]
    assert [(s["subaccount"], s["balance"]) for s in listed] == [(0, "975.0000"), (1, "25.0000")]


def test_subaccount_flag_scopes_orders_and_the_portfolio(
    kalshi: Kalshi, premier: SimHarness
) -> None:
    kalshi("subaccount", "create")
    kalshi("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "50.00")
    placed = as_json(kalshi(*PLACE, "--subaccount", "1", "--json"))["order"]
    assert [o["order_id"] for o in orders_of(premier, subaccount=1)] == [placed["order_id"]]
    assert as_json(kalshi(*PLACE, "--json"))["order"]["order_id"]  # on the primary account
    # $50.00 less the $0.60 the resting bid holds; the primary account is unchanged
    assert as_json(kalshi("balance", "--subaccount", "1", "--json"))["balance"] == "49.40"
    assert as_json(kalshi("balance", "--json"))["balance"] == "949.40"
    listed = as_json(kalshi("order", "list", "--subaccount", "1", "--json"))["orders"]
    assert [o["order_id"] for o in listed] == [placed["order_id"]]
    assert len(as_json(kalshi("order", "list", "--json"))["orders"]) == 2  # every subaccount
    # a cancel defaults to subaccount 0: the order on 1 needs --subaccount 1
    cancelled = kalshi("order", "cancel", placed["order_id"], "--subaccount", "1", "--json")
    assert as_json(cancelled)["status"] == "canceled"
    again = as_json(kalshi(*PLACE, "--subaccount", "1", "--json"))["order"]
    amend = ("order", "amend", again["order_id"], "--price", "0.31")
    assert kalshi(*amend, "--subaccount", "0").exit_code == ExitCode.REJECTED  # not the order's
    assert kalshi(*amend, "--subaccount", "1").exit_code == 0
    decrease = ("order", "decrease", again["order_id"], "--by", "1", "--subaccount", "1")
    assert kalshi(*decrease).exit_code == 0
    assert orders_of(premier, subaccount=1, status="resting")[0]["remaining_count_fp"] == "1.00"
    killed = kalshi("cancel-all", "--subaccount", "1", "--yes", "--json")
    assert killed.exit_code == 0, killed.output
    resting = orders_of(premier, status="resting")
    assert [o["subaccount_number"] for o in resting] == [0]
    assert again["order_id"] not in {o["order_id"] for o in resting}


def test_generate_writes_the_private_key_0600_and_never_prints_it(
    kalshi: Kalshi, premier: SimHarness, tmp_path: Path
) -> None:
    out = tmp_path / "keys" / "reader.pem"
    args = ("key", "generate", "--name", "reader", "--type", "ed25519", "--scope", "read")
    result = kalshi(*args, "--out", str(out), "--json")
    made = as_json(result)
    assert "PRIVATE KEY" not in result.output
    assert "PRIVATE KEY" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert made["key_type"] == "ed25519"
    reader = AccountInfo(
        api_base=premier.account.api_base,
        ws_url=premier.account.ws_url,
        key_id=made["api_key_id"],
        private_key_path=str(out),
        key_type="ed25519",
    )
    assert kalshi("balance", account=reader).exit_code == 0
    # a read-only key is refused the order: the exchange's 403 is exit 16
    refused = kalshi(*PLACE, account=reader)
    assert refused.exit_code == ExitCode.FORBIDDEN, refused.output
    assert orders_of(premier) == []
    # an existing file is never replaced, and nothing is generated
    before = as_json(kalshi("key", "list", "--json"))["api_keys"]
    again = kalshi(*args, "--out", str(out))
    assert again.exit_code == ExitCode.USAGE, again.output
    assert as_json(kalshi("key", "list", "--json"))["api_keys"] == before


def test_create_registers_a_pair_made_here_and_delete_removes_it(
    kalshi: Kalshi, tmp_path: Path
) -> None:
    out = tmp_path / "bot.pem"
    made = as_json(
        kalshi(
            "key", "create", "--name", "bot", "--type", "ed25519", "--out", str(out),
            "--scope", "read", "--scope", "write::trade", "--subaccount", "0", "--json",
        )
    )  # fmt: skip
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    keys = as_json(kalshi("key", "list", "--json"))["api_keys"]
    assert {
        "api_key_id": made["api_key_id"],
        "name": "bot",
        "scopes": ["read", "write::trade"],
        "subaccount": 0,
    } in keys
    assert kalshi("key", "delete", made["api_key_id"]).exit_code == 0
    keys = as_json(kalshi("key", "list", "--json"))["api_keys"]
    assert made["api_key_id"] not in {k["api_key_id"] for k in keys}


def test_deleting_the_key_in_use_needs_yes(kalshi: Kalshi, premier: SimHarness) -> None:
    refused = kalshi("key", "delete", premier.account.key_id)
    assert refused.exit_code == ExitCode.USAGE, refused.output
    assert kalshi("balance").exit_code == 0  # still there


def test_the_kill_switch_for_one_market_cancels_orders_on_every_subaccount(
    kalshi: Kalshi, premier: SimHarness
) -> None:
    """A listing covers every subaccount, but a batch cancel item defaults to subaccount 0
    (openapi.yaml 3.31.0): each item must name its order's subaccount, or an order resting on
    another subaccount is never cancelled and the kill switch cannot prove anything."""
    kalshi("subaccount", "create")
    kalshi("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "50.00")
    assert kalshi(*PLACE, "--subaccount", "1").exit_code == 0
    assert kalshi(*PLACE).exit_code == 0
    killed = kalshi("cancel-all", "--ticker", T, "--deadline", "5", "--yes", "--json")
    assert killed.exit_code == 0, killed.output
    assert orders_of(premier, status="resting") == []


def test_cancel_without_subaccount_finds_the_orders_subaccount(
    kalshi: Kalshi, premier: SimHarness
) -> None:
    """The exchange reads a cancel without `subaccount` as subaccount 0's and answers 404 for
    an order resting on another; the order itself names its subaccount, and the cancel is
    sent there (cancelling is idempotent)."""
    kalshi("subaccount", "create")
    kalshi("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "50.00")
    placed = as_json(kalshi(*PLACE, "--subaccount", "1", "--json"))["order"]
    cancelled = kalshi("order", "cancel", placed["order_id"], "--json")
    assert as_json(cancelled) == {
        "order_id": placed["order_id"],
        "status": "canceled",
        "reduced_by": "2.00",
    }
    assert orders_of(premier, status="resting") == []


def test_subaccount_flag_on_every_order_group_command(kalshi: Kalshi, premier: SimHarness) -> None:
    """`kalshi order-group ... --subaccount N` makes and reaches groups on subaccount N; the
    writes without it act on subaccount 0 (openapi.yaml 3.31.0), where the group is not."""
    kalshi("subaccount", "create")
    kalshi("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "50.00")
    made = as_json(kalshi("order-group", "create", "--limit", "5", "--subaccount", "1", "--json"))
    group = made["order_group_id"]
    primary = as_json(kalshi("order-group", "create", "--limit", "5", "--json"))["order_group_id"]
    on_one = premier.signed(
        premier.account, "GET", "/portfolio/order_groups", params={"subaccount": 1}
    )
    assert [g["id"] for g in on_one.json()["order_groups"]] == [group]

    def ids(*extra: str) -> list[str]:
        listed = as_json(kalshi("order-group", "list", *extra, "--json"))["order_groups"]
        return [g["order_group_id"] for g in listed]

    assert ids() == [group, primary]  # every subaccount
    assert ids("--subaccount", "1") == [group]
    assert ids("--subaccount", "0") == [primary]
    assert (
        as_json(kalshi("order-group", "show", group, "--subaccount", "1", "--json"))[
            "order_group_id"
        ]
        == group
    )
    assert kalshi("order-group", "show", group, "--subaccount", "0").exit_code == ExitCode.NOT_FOUND

    body = order_body(T, price="0.30", count="2", order_group_id=group, subaccount=1)
    premier.placed(premier.account, body)
    for command in (("trigger",), ("reset",), ("limit", "--limit", "9"), ("delete",)):
        assert kalshi("order-group", command[0], group, *command[1:], "--yes").exit_code == (
            ExitCode.NOT_FOUND
        )
    assert orders_of(premier, subaccount=1, status="resting") != []
    for command in (("trigger",), ("reset",), ("limit", "--limit", "9")):
        done = kalshi("order-group", command[0], group, *command[1:], "--subaccount", "1", "--yes")
        assert done.exit_code == 0, done.output
    assert orders_of(premier, subaccount=1, status="resting") == []  # the trigger cancelled it
    shown = as_json(kalshi("order-group", "show", group, "--json"))
    assert shown["contracts_limit"] == "9.00"
    deleted = kalshi("order-group", "delete", group, "--subaccount", "1", "--yes", "--json")
    assert as_json(deleted) == {"order_group_id": group, "exchange_index": 0, "result": "deleted"}
    assert ids() == [primary]


class _FullDisk:
    """`os.write` of the key files failing as a full disk does (ENOSPC), for the writes
    `fails` picks; every other write goes through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fails: Callable[[bytes], bool]) -> None:
        import os

        from kalshi_cli.services import key_files

        real = os.write

        def write(fd: int, data: Any) -> int:
            if fails(bytes(data)):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, data)

        class _Os:
            def __getattr__(self, name: str) -> Any:
                return write if name == "write" else getattr(os, name)

        monkeypatch.setattr(key_files, "os", _Os())


@pytest.mark.parametrize("when", ["before", "after"])
def test_generate_on_a_full_disk_leaves_no_key_on_the_exchange_without_its_private_half(
    kalshi: Kalshi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Before: exit 1 ("a bug") with the key made on the exchange and its private half lost.
    A disk that cannot take the key file asks nothing of the exchange (`before`); one that
    fails only as the key lands (`after`, a copy-on-write filesystem) deletes the key again.
    Either way: exit 18, no file, and the exchange's keys as they were."""
    before = as_json(kalshi("key", "list", "--json"))["api_keys"]
    if when == "before":
        _FullDisk(monkeypatch, lambda data: data[:1] == b"\0")
    else:
        _FullDisk(monkeypatch, lambda data: data.startswith(b"-----BEGIN"))
    out = tmp_path / "reader.pem"
    result = kalshi("key", "generate", "--name", "reader", "--type", "ed25519", "--out", str(out))
    assert result.exit_code == ExitCode.DATA_WRITE_FAILED, result.output
    assert "No space left" in result.stderr
    assert not out.exists()
    monkeypatch.undo()
    assert as_json(kalshi("key", "list", "--json"))["api_keys"] == before


@pytest.mark.parametrize(
    "command",
    [
        ["balance"],
        ["positions"],
        ["fills"],
        ["order", "list"],
        ["order-group", "list"],
        [
            "order",
            "place",
            T,
            "--side",
            "yes",
            "--action",
            "buy",
            "--count",
            "1",
            "--price",
            "0.40",
            "--yes",
        ],
    ],
)
def test_a_subaccount_that_does_not_exist_is_not_found_whatever_reads_it(
    kalshi: Kalshi, premier: SimHarness, command: list[str]
) -> None:
    # `balance` was answered 400 (exit 9) while a listing said "nothing matched" (exit 0)
    assert kalshi("subaccount", "create").exit_code == 0
    result = kalshi(*command, "--subaccount", "63")
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    assert "has no subaccount 63" in result.stderr
    assert "kalshi subaccount list" in result.stderr
    assert orders_of(premier) == []
    # one that exists reads as before
    assert kalshi("order", "list", "--subaccount", "1").exit_code == 0
