"""`kalshi order batch --file`: every row validated before anything is sent (file:line errors),
one intent per row recorded before sending, batches sized to the tier, and nothing ever sent
twice: not on a lost answer, not on a rerun."""

from __future__ import annotations

import json
from pathlib import Path

from kalshi_cli.client.ratelimit import RateLimiter, tier_limits
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets, state_path
from tests.wire import order_body

HEADER = "ticker,side,action,count,price,tif,post_only,client_order_id\n"
BATCHED = "POST /portfolio/events/orders/batched"


def creates(harness: SimHarness) -> int:
    """Orders the exchange holds for the account (every one the tests place rests)."""
    listed = harness.signed(harness.account, "GET", "/portfolio/orders", params={"limit": 1000})
    return len(listed.json()["orders"])


def batch_requests(harness: SimHarness) -> int:
    accounts = harness.stats()["accounts"]
    return sum(int(a["requests"].get(BATCHED, 0)) for a in accounts.values())


def intents(tmp_path: Path) -> list[str]:
    db = state_path(tmp_path)
    if not db.exists():
        return []
    with Store.open(db) as store:
        return [i.status for i in store.orders.intents()]


def ladder(tickers: list[str], rows: int) -> str:
    lines = [
        f"{tickers[i % len(tickers)]},yes,buy,1,0.{10 + i % 30:02d},gtc,,\n" for i in range(rows)
    ]
    return HEADER + "".join(lines)


def test_a_batch_is_sent_in_tier_sized_requests_and_a_rerun_sends_nothing(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 3)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 25))
    # the client on the basic tier: 100 write tokens (less the client's safety margin), 10 an
    # order -> 9 orders a batch
    result = kalshi("order", "batch", "--file", str(path), "--json", KALSHI_TIER="basic")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)["batch"]
    size = RateLimiter(tier_limits("basic"), SystemClock()).max_batch_items(per_item=10)
    assert document["batch_size"] == size == 9
    assert [r["status"] for r in document["rows"]] == ["resting"] * 25
    assert [r["line"] for r in document["rows"]] == list(range(2, 27))
    assert (creates(prime), batch_requests(prime)) == (25, 3)
    assert intents(tmp_path) == ["resting"] * 25

    again = kalshi("order", "batch", "--file", str(path), "--json", KALSHI_TIER="basic")
    assert again.exit_code == 0, again.output
    rows = json.loads(again.stdout)["batch"]["rows"]
    assert {r["status"] for r in rows} == {"skipped"}
    assert [r["client_order_id"] for r in rows] == [r["client_order_id"] for r in document["rows"]]
    assert creates(prime) == 25  # nothing sent twice


def test_an_edited_file_sends_only_its_new_rows(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 1)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 3))
    assert kalshi("order", "batch", "--file", str(path)).exit_code == 0
    # a row inserted at the top, two identical rows: ids follow the terms, not the line
    path.write_text(
        HEADER
        + f"{tickers[0]},no,buy,2,0.30,gtc,,\n"
        + ladder(tickers, 3).removeprefix(HEADER)
        + f"{tickers[0]},yes,buy,1,0.10,gtc,,\n"
    )
    result = kalshi("order", "batch", "--file", str(path), "--json")
    assert result.exit_code == 0, result.output
    statuses = [r["status"] for r in json.loads(result.stdout)["batch"]["rows"]]
    assert statuses == ["resting", "skipped", "skipped", "skipped", "resting"]
    assert creates(prime) == 5
    # a new batch id is a new batch: the same rows are new orders
    again = kalshi("order", "batch", "--file", str(path), "--batch-id", "tuesday")
    assert again.exit_code == 0, again.output
    assert creates(prime) == 10


def test_every_bad_row_is_named_and_nothing_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 1)
    t = tickers[0]
    path = tmp_path / "orders.csv"
    path.write_text(
        HEADER
        + f"{t},yes,buy,1,0.40,gtc,,\n"  # line 2: good
        + f"{t},maybe,buy,1,0.40,gtc,,\n"  # 3: side
        + f"{t},yes,buy,0,1.5,gtc,,\n"  # 4: count and price
        + f"{t},yes,buy,1,0.40,day,,\n"  # 5: tif
        + f"{t},yes,buy,1,0.40,ioc,true,\n"  # 6: post_only with ioc
        + f"{t},yes,buy,1,1e-1,gtc,,\n"  # 7: not a plain decimal
        + f"{t},yes,buy,1,0.40,gtc,,dup\n"  # 8
        + f"{t},yes,buy,1,0.40,gtc,,dup\n"  # 9: the same client_order_id again
        + f"{t},yes,buy,{'9' * 30},0.40,gtc,,\n"  # 10: past what the rules compute with
    )
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    for line, says in [
        (3, "side: 'maybe' is not one of yes, no"),
        (4, "count: must be positive"),
        (4, "price: 1.5 is not a price in dollars between 0 and 1"),
        (5, "tif: 'day' is not one of gtc, ioc, fok"),
        (6, "post_only: post-only orders rest on the book: use tif gtc"),
        (7, "not a plain decimal"),
        (9, "also on line 8"),
        (10, "count: expected a number below"),
    ]:
        assert f"{path}:{line}: " in result.stderr and says in result.stderr, (line, says)
    assert f"{path}:2:" not in result.stderr
    assert creates(prime) == 0 and intents(tmp_path) == []


def test_rows_the_exchange_terms_refuse_are_all_named_before_sending(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 1)
    path = tmp_path / "orders.json"
    path.write_text(
        "[\n"
        f'  {{"ticker": "{tickers[0]}", "side": "yes", "action": "buy", "count": 1, '
        '"price": "0.40"},\n'
        f'  {{"ticker": "{tickers[0]}", "side": "yes", "action": "buy", "count": "1", '
        '"price": 0.555},\n'
        '  {"ticker": "KXT-NOPE", "side": "no", "action": "buy", "count": 2, "price": 0.3},\n'
        '  {"ticker": "X", "side": "yes", "action": "buy", "count": 1, "price": 0.3, "oops": 1}\n'
        "]\n"
    )
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:5: unknown field(s) oops" in result.stderr
    assert creates(prime) == 0
    path.write_text(path.read_text().replace(', "oops": 1', ""))
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:3: price 0.555 is not on" in result.stderr
    assert f"{path}:4: unknown ticker KXT-NOPE" in result.stderr
    assert f"{path}:2:" not in result.stderr
    assert creates(prime) == 0 and intents(tmp_path) == []


def test_the_position_limit_counts_the_rows_of_the_batch_together(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 1)
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("limits:\n  max_position_per_market: 5\n")
    path = tmp_path / "orders.csv"
    path.write_text(
        HEADER + f"{tickers[0]},yes,buy,3,0.40,gtc,,\n" + f"{tickers[0]},yes,buy,3,0.39,gtc,,\n"
    )
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:3: {tickers[0]}: with the rows before it" in result.stderr
    assert creates(prime) == 0


def test_a_lost_answer_is_looked_up_never_resent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 4))
    prime.set_faults(drop_response_after_commit_rate=1.0, seed=1)
    result = kalshi("order", "batch", "--file", str(path), "--json")
    prime.clear_faults()
    rows = json.loads(result.stdout)["batch"]["rows"]
    # every order of the lost batch was found on the exchange by its client_order_id
    assert [r["status"] for r in rows] == ["resting"] * 4, result.output
    assert all("answer was lost" in r["note"] for r in rows)
    assert result.exit_code == 0
    assert creates(prime) == 4
    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert {r["status"] for r in json.loads(again.stdout)["batch"]["rows"]} == {"skipped"}
    assert creates(prime) == 4


def test_an_item_the_exchange_refuses_is_rejected_and_the_others_placed(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 1)
    other = prime.new_account()
    resting_ask = order_body(tickers[0], side="ask")
    assert prime.place_order(other, resting_ask).is_success
    path = tmp_path / "orders.csv"
    path.write_text(
        HEADER
        + f"{tickers[0]},yes,buy,1,0.40,gtc,true,\n"  # post only: would cross the ask
        + f"{tickers[0]},yes,buy,1,0.20,gtc,,\n"
    )
    result = kalshi("order", "batch", "--file", str(path), "--json")
    assert result.exit_code == ExitCode.REJECTED, result.output
    rows = json.loads(result.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["rejected", "resting"]
    assert "post only cross" in rows[0]["note"]
    assert sorted(intents(tmp_path)) == ["rejected", "resting"]
    # a rerun does not send the rejected row again either: its id is recorded
    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert {r["status"] for r in json.loads(again.stdout)["batch"]["rows"]} == {"skipped"}
    assert (creates(prime), batch_requests(prime)) == (1, 1)


def test_dry_run_validates_and_sends_nothing(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 1)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    result = kalshi("order", "batch", "--file", str(path), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in json.loads(result.stdout)["batch"]["rows"]} == {"not_sent"}
    assert creates(prime) == 0 and intents(tmp_path) == []


def test_a_halted_state_sends_nothing(prime: SimHarness, kalshi: Kalshi, tmp_path: Path) -> None:
    tickers = make_markets(prime, 1)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    assert kalshi("halt", "--reason", "test").exit_code == 0
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.HALTED, result.output
    assert creates(prime) == 0 and intents(tmp_path) == []


def test_an_item_that_does_not_say_plainly_is_looked_up_not_rejected(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """The exchange's batch answer names the first order without its order id and without an
    error: it may exist, so it is looked up by its client order id (found resting), never
    recorded `rejected` while it rests."""
    import httpx

    from tests.client.test_missing_means_unknown import Stripping

    def unclear(request: httpx.Request) -> tuple[str, ...]:
        return ()

    class FirstItemWithoutOrderId(Stripping):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self._inner.handle_request(request)
            if request.method != "POST" or not request.url.path.endswith("/orders/batched"):
                return response
            body = json.loads(response.read())
            body["orders"][0].pop("order_id", None)
            return httpx.Response(response.status_code, json=body)

    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    result = kalshi(
        "order", "batch", "--file", str(path), "--json",
        client=lambda: connect(prime.account, transport=FirstItemWithoutOrderId(unclear)),
    )  # fmt: skip
    rows = json.loads(result.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting", "resting"], result.output
    assert sorted(intents(tmp_path)) == ["resting", "resting"]
    assert creates(prime) == 2  # looked up, never sent again


def test_a_batch_file_that_is_not_there_is_a_usage_error(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A mistyped --file is the person's mistake, not rows to fix."""
    path = tmp_path / "missing.csv"
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr, result.stderr
    assert "fix the rows" not in result.stderr
    assert creates(prime) == 0 and intents(tmp_path) == []


def test_a_batch_sent_again_from_another_state_file_records_the_orders_that_rest(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A second state file (another API base to the same exchange) knows none of the rows: each
    is sent and answered 409 `order_already_exists`, and is looked up and recorded as resting."""
    tickers = make_markets(prime, 1)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    assert kalshi("order", "batch", "--file", str(path)).exit_code == 0
    other = tmp_path / "other.db"
    result = kalshi("order", "batch", "--file", str(path), "--json", KALSHI_STATE=str(other))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting", "resting"]
    with Store.open(other) as store:
        assert [i.status for i in store.orders.intents()] == ["resting", "resting"]
    assert creates(prime) == 2
