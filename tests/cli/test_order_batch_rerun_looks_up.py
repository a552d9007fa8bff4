"""`kalshi order batch` run again over rows an earlier run recorded without learning what became
of them (its answer lost, or the run killed mid-request): the rerun never sends them again, but
it looks each up by its id, so it neither calls an order resting on the exchange merely
"skipped" (leaving the state file saying `unknown`) nor exits 0 over an order that may not
exist."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.services.orders.batch import place_batch
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from tests.cli.test_order_batch import batch_requests, creates, intents, ladder
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path
from tests.waiting import wait_until


def _unknown_ids(tmp_path: Path) -> list[str]:
    with Store.open(state_path(tmp_path)) as store:
        return [i.client_order_id for i in store.orders.intents(status=["unknown"])]


def test_a_rerun_finds_the_orders_whose_answer_was_lost_and_records_them(
    prime: SimHarness, kalshi: Kalshi, client: KalshiClient, tmp_path: Path
) -> None:
    """The first run's batch is held in the network past the client's deadline: exit 10, both
    rows unknown. The batch lands. The rerun sends nothing and reports both resting, as the
    state file now records them."""
    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    # the deadline is under the hold, so the answer is lost; the client has 2 s to send the
    # request whole (one cut short never lands)
    prime.set_faults(hold_request_s=4.0)
    first = kalshi("order", "batch", "--file", str(path), "--json", KALSHI_TIMEOUT="2")
    assert first.exit_code == ExitCode.OUTCOME_UNKNOWN, first.output
    lost = _unknown_ids(tmp_path)
    assert len(lost) == 2
    # each row's state file record says why it is in doubt, as its line of the report does
    with Store.open(state_path(tmp_path)) as store:
        why = {i.client_order_id: i.error for i in store.orders.intents(status=["unknown"])}
    for row in json.loads(first.stdout)["batch"]["rows"]:
        assert why[row["client_order_id"]], row
        assert row["note"].startswith(f"{why[row['client_order_id']]}; "), (row, why)
    wait_until(lambda: creates(prime) >= 2, "the held batch to land")

    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert again.exit_code == 0, again.output
    rows = json.loads(again.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting", "resting"], rows
    assert all(r["order_id"] for r in rows), rows
    assert intents(tmp_path) == ["resting", "resting"]
    assert (creates(prime), batch_requests(prime)) == (2, 1)  # never sent again


class GatewayFailsBatches(httpx.BaseTransport):
    """The real simulator behind a gateway that answers every batch create 502 without passing
    it on (so none of its orders exists); every other request goes through."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/orders/batched"):
            return httpx.Response(502, json={"code": "bad_gateway", "message": "bad gateway"})
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _age_intents(tmp_path: Path, seconds: float) -> None:
    """The state file's intents, as if recorded `seconds` earlier: an earlier run's, from before
    the landing window (the window is 30 s and more: a test does not wait it out)."""
    with sqlite3.connect(state_path(tmp_path)) as db:
        db.execute(
            "UPDATE orders SET created_at = created_at - ?, updated_at = updated_at - ?",
            (seconds, seconds),
        )


def test_a_rerun_places_once_the_rows_an_earlier_run_never_got_to_the_exchange(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """The first run's batch meets a 502: exit 10, rows unknown (none of them exists). The
    rerun, past the landing window, does not find them: they were never placed, so it places
    each once, under its next attempt's id; a third run sends nothing."""
    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    account = prime.account
    key, _ = load_private_key(path=account.private_key_path)

    def failing() -> KalshiClient:
        return KalshiClient(
            api_base=account.api_base,
            key_id=account.key_id,
            private_key=key,
            tier="prime",
            transport=GatewayFailsBatches(),
        )

    first = kalshi("order", "batch", "--file", str(path), "--json", client=failing)
    assert first.exit_code == ExitCode.OUTCOME_UNKNOWN, first.output
    first_ids = sorted(r["client_order_id"] for r in json.loads(first.stdout)["batch"]["rows"])
    _age_intents(tmp_path, LANDING_WINDOW_S + 5)

    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert again.exit_code == 0, again.output
    rows = json.loads(again.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting", "resting"], rows
    assert all("never reached the exchange" in r["note"] for r in rows), rows
    assert not {r["client_order_id"] for r in rows} & set(first_ids)
    assert (creates(prime), batch_requests(prime)) == (2, 1)
    assert sorted(intents(tmp_path)) == ["rejected", "rejected", "resting", "resting"]

    third = kalshi("order", "batch", "--file", str(path), "--json")
    assert third.exit_code == 0, third.output
    assert [r["status"] for r in json.loads(third.stdout)["batch"]["rows"]] == ["skipped"] * 2
    assert (creates(prime), batch_requests(prime)) == (2, 1)


class _Interrupted(GatewayFailsBatches):
    """Ctrl-C while the batch is in the network: the request never reaches the exchange."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/orders/batched"):
            raise KeyboardInterrupt
        return self._inner.handle_request(request)


def test_a_rerun_after_ctrl_c_waits_out_the_landing_window_then_places_each_row_once(
    prime: SimHarness, tmp_path: Path
) -> None:
    """A run killed mid-request leaves its rows `pending`. The rerun right after cannot know
    yet whether the request lands: it says it waits, waits out the window on its clock, looks
    again, and places every row exactly once."""
    tickers = make_markets(prime, 3)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 9))
    account = prime.account
    key, _ = load_private_key(path=account.private_key_path)
    clock = ManualClock(time.time())

    def service(store: Store, transport: httpx.BaseTransport | None = None) -> OrderService:
        client = KalshiClient(
            api_base=account.api_base,
            key_id=account.key_id,
            private_key=key,
            tier="prime",
            transport=transport,
        )
        return OrderService(client, store, clock=clock)

    with Store.open(tmp_path / "state.db", clock=clock) as store:
        with pytest.raises(KeyboardInterrupt):
            place_batch(service(store, _Interrupted()), path)
        assert [i.status for i in store.orders.intents()] == ["pending"] * 9
        said: list[str] = []
        started = clock.wall()
        report = place_batch(service(store), path, say=said.append)
        assert clock.wall() - started >= LANDING_WINDOW_S  # waited on its clock
        assert len(said) == 1 and "9 row(s)" in said[0], said
        assert [r.status for r in report.rows] == ["resting"] * 9
        assert (creates(prime), batch_requests(prime)) == (9, 1)
        again = place_batch(service(store), path)
        assert [r.status for r in again.rows] == ["skipped"] * 9
        assert (creates(prime), batch_requests(prime)) == (9, 1)
