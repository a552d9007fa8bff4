"""`kalshi order ...`, `status`, `halt`, `resume`, `state` against the simulator, and bad input
for every order flag: one clear line, the right exit code, nothing sent, nothing written."""

from __future__ import annotations

import json
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
import typer

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown, TransportError, ValidationError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.fakes import UnreadAfterChange
from tests.prime_tier import Kalshi, connect, connect_as, make_markets, state_path
from tests.wire import order_body

PLACE = ("order", "place", "KXT-EV-M00", "--side", "yes", "--action", "buy")
GOOD = {"--count": "2", "--price": "0.40"}


def place_args(**overrides: str | None) -> list[str]:
    flags = {**GOOD, **{k.replace("_", "-"): v for k, v in overrides.items()}}
    args = list(PLACE)
    for flag, value in flags.items():
        if value is not None:
            args += [f"--{flag.lstrip('-')}", value]
    return args


def creates(harness: SimHarness) -> int:
    return int(harness.stats()["order_create_requests"])


BAD_FLAGS = [
    (["--side", "maybe"], ExitCode.USAGE, "--side"),
    (["--action", "hold"], ExitCode.USAGE, "--action"),
    (["--count", "0"], ExitCode.USAGE, "must be positive"),
    (["--count", "-3"], ExitCode.USAGE, "must be positive"),
    (["--count", "ten"], ExitCode.USAGE, "is not a number"),
    (["--count", "1.234"], ExitCode.USAGE, "more than 2 decimals"),
    (["--count", "nan"], ExitCode.USAGE, "--count"),
    (["--count", "1e3"], ExitCode.USAGE, "plain decimal"),
    (["--price", "0"], ExitCode.USAGE, "must be positive"),
    (["--price", "1.5"], ExitCode.USAGE, "between 0 and 1"),
    (["--price", "cheap"], ExitCode.USAGE, "is not a number"),
    (["--price", "0.12345"], ExitCode.USAGE, "more than 4 decimals"),
    (["--price", "0.555"], ExitCode.REJECTED, "tick grid"),
    (["--tif", "day"], ExitCode.USAGE, "--tif"),
    (["--expires", "yesterday"], ExitCode.USAGE, "is not a time"),
    (["--expires", "2001-01-01"], ExitCode.USAGE, "not in the future"),
    (["--expires", "2h", "--tif", "ioc"], ExitCode.USAGE, "works only with tif gtc"),
    (["--post-only", "--tif", "fok"], ExitCode.USAGE, "post-only"),
    (["--client-order-id", "has spaces"], ExitCode.USAGE, "--client-order-id"),
    (["--client-order-id", "x" * 65], ExitCode.USAGE, "--client-order-id"),
    (["--client-order-id", ""], ExitCode.USAGE, "--client-order-id"),
]


@pytest.mark.parametrize("case", BAD_FLAGS, ids=lambda case: " ".join(case[0]))
def test_bad_order_flags_are_refused_before_anything_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, case: tuple[list[str], int, str]
) -> None:
    extra, code, says = case
    make_markets(prime, 1)
    result = kalshi(*place_args(), *extra)
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert says in lines[0]
    assert creates(prime) == 0
    db = state_path(tmp_path)
    if db.exists():
        with Store.open(db) as store:
            assert store.orders.intents() == []


def test_market_problems_are_rejections_with_nothing_sent(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    make_markets(prime, 2)
    prime.set_status("KXT-EV-M01", "closed")
    unknown = kalshi(
        "order",
        "place",
        "KXT-NOPE",
        "--side",
        "no",
        "--action",
        "buy",
        "--count",
        "1",
        "--price",
        "0.3",
    )
    closed = kalshi(
        "order",
        "place",
        "KXT-EV-M01",
        "--side",
        "no",
        "--action",
        "buy",
        "--count",
        "1",
        "--price",
        "0.3",
    )
    assert unknown.exit_code == ExitCode.NOT_FOUND and "unknown ticker KXT-NOPE" in unknown.stderr
    assert closed.exit_code == ExitCode.REJECTED and "not open for trading" in closed.stderr
    duplicate = kalshi(*place_args(client_order_id="mine-1"))
    assert duplicate.exit_code == 0, duplicate.output
    again = kalshi(*place_args(client_order_id="mine-1"))
    assert again.exit_code == ExitCode.REJECTED and "mine-1" in again.stderr
    assert creates(prime) == 1


def test_dry_run_prints_the_exact_request_masked_and_sends_nothing(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    make_markets(prime, 1)
    result = kalshi(*place_args(side="no", price="0.35"), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)["request"]
    assert request["method"] == "POST"
    assert request["url"].endswith("/trade-api/v2/portfolio/events/orders")
    assert request["body"]["side"] == "ask" and request["body"]["price"] == "0.6500"
    assert request["headers"]["KALSHI-ACCESS-SIGNATURE"] == "********"
    assert prime.account.key_id not in result.stdout
    assert creates(prime) == 0


def test_a_text_dry_run_says_its_prices_count_and_cost_in_the_one_format(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    make_markets(prime, 1)
    result = kalshi(*place_args(side="no", price="0.3"), "--dry-run")
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[0]
    assert " @ $0.30 = ask @ $0.70 YES; max cost $" in line, line
    assert " 0.3 " not in line and "@ 0.7 " not in line
    assert creates(prime) == 0


def test_prod_asks_for_confirmation_unless_yes(prime: SimHarness, kalshi: Kalshi) -> None:
    make_markets(prime, 1)
    declined = kalshi("--env", "prod", *place_args(), input="n\n", KALSHI_TIER="prime")
    assert declined.exit_code != 0 and "PROD" in declined.output
    assert creates(prime) == 0
    accepted = kalshi("--env", "prod", *place_args(), "--yes")
    assert accepted.exit_code == 0, accepted.output
    assert creates(prime) == 1


def test_prod_checks_the_limits_after_the_person_answers(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person may take minutes to answer the prod prompt. A bid of 2 rests in the market
    meanwhile (a trade loop, another terminal), so with `risk.max_position_per_market: 3` the
    order of 2 would rest 4: it is refused after the answer and nothing is sent. Checked before
    the prompt only, it went out."""
    (ticker,) = make_markets(prime, 1)
    (tmp_path / "home").mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / "config.yaml").write_text("risk:\n  max_position_per_market: 3\n")

    def yes_after_another_bid(text: str, **_: object) -> bool:
        prime.placed(prime.account, order_body(ticker, price="0.30", count="2.00"))
        return True

    monkeypatch.setattr(typer, "confirm", yes_after_another_bid)
    refused = kalshi("--env", "prod", *place_args(), KALSHI_TIER="prime")

    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "risk.max_position_per_market" in refused.stderr, refused.stderr
    assert creates(prime) == 1  # the other program's bid alone


def test_place_list_show_amend_decrease_cancel_round_trip(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    placed = kalshi(*place_args(side="no", count="10", price="0.30"), "--json")
    assert placed.exit_code == 0, placed.output
    order = json.loads(placed.stdout)["order"]
    assert (order["side"], order["action"], order["book_side"], order["yes_price"]) == (
        "no",
        "buy",
        "ask",
        "0.7000",
    )
    oid = order["order_id"]

    listed = json.loads(kalshi("order", "list", "--status", "resting", "--json").stdout)
    assert [o["order_id"] for o in listed["orders"]] == [oid]
    assert listed["orders"][0]["price"] == "0.3000" and listed["orders"][0]["side"] == "no"

    amended = json.loads(kalshi("order", "amend", oid, "--price", "0.32", "--json").stdout)
    assert amended["order"]["price"] == "0.3200"
    assert amended["order"]["yes_price"] == "0.6800"
    decreased = json.loads(kalshi("order", "decrease", oid, "--by", "4", "--json").stdout)
    assert decreased["order"]["remaining_count"] == "6.00"
    shown = json.loads(kalshi("order", "show", oid, "--json").stdout)["order"]
    assert shown["remaining_count"] == "6.00" and len(shown["history"]) >= 3

    cancelled = kalshi("order", "cancel", oid, "--json")
    assert json.loads(cancelled.stdout)["reduced_by"] == "6.00"
    again = kalshi("order", "cancel", oid, "--json")  # nothing left to take off: a count still
    assert json.loads(again.stdout)["reduced_by"] == "0.00"
    assert [o.status for o in client.orders.iter_orders()] == ["canceled"]
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.orders.intents()
        assert (intent.status, intent.remaining) == ("canceled", 0)

    bad = kalshi("order", "decrease", oid, "--by", "1", "--to", "2")
    assert bad.exit_code == ExitCode.USAGE and "exactly one of --by and --to" in bad.stderr
    # an order that no longer rests, or never was, is refused in words, as `amend` refuses it
    ended = kalshi("order", "decrease", oid, "--by", "1")
    assert ended.exit_code == ExitCode.REJECTED, ended.output
    assert ended.stderr == f"Error: order {oid} is canceled; only resting orders can be decreased\n"
    unknown = kalshi("order", "decrease", "no-such-order", "--by", "1")
    assert unknown.exit_code == ExitCode.NOT_FOUND, unknown.output
    assert unknown.stderr == "Error: unknown order no-such-order (`kalshi order list` shows them)\n"
    none = kalshi("order", "amend", oid)
    assert none.exit_code == ExitCode.USAGE
    missing = kalshi("order", "show", "no-such-order")
    assert missing.exit_code == ExitCode.NOT_FOUND


def test_order_cancel_all_for_one_market_cancels_its_orders_and_leaves_trading_active(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Clearing one market's orders is not the kill switch: the other market's order rests,
    and the trading state stays ACTIVE (no `kalshi resume` needed to trade on)."""
    one, other = make_markets(prime, 2)
    for ticker in (one, one, other):
        args = ["order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1"]
        assert kalshi(*args, "--price", "0.10").exit_code == 0
    cleared = kalshi("order", "cancel-all", "--ticker", one, "--json")
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(cleared.stdout)["cancelled_count"] == 2
    assert {o.ticker for o in client.orders.iter_orders(status="resting")} == {other}
    assert json.loads(kalshi("status", "--json").stdout)["state"] == "ACTIVE"
    with Store.open(state_path(tmp_path)) as store:
        assert sorted(i.status for i in store.orders.intents(ticker=one)) == ["canceled"] * 2


def test_halt_status_resume_and_state_commands(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    fresh = json.loads(kalshi("status", "--json").stdout)
    assert fresh["state"] == "ACTIVE" and not state_path(tmp_path).exists()
    listing = json.loads(kalshi("state", "migrate", "--list", "--json").stdout)
    assert listing["exists"] is False and listing["pending"]  # read-only: nothing created
    assert not state_path(tmp_path).exists()
    assert kalshi("state", "path").stdout.strip() == str(state_path(tmp_path))

    halted = kalshi("halt", "--reason", "news at 2pm")
    assert halted.exit_code == 0 and "HALTED" in halted.stdout
    refused = kalshi(*place_args())
    assert refused.exit_code == ExitCode.HALTED and "news at 2pm" in refused.stderr
    no_amend = kalshi("order", "amend", "any-order", "--count", "5")
    assert no_amend.exit_code == ExitCode.HALTED
    assert creates(prime) == 0
    status = json.loads(kalshi("status", "--json").stdout)
    assert (status["state"], status["reason"], status["source"]) == (
        "HALTED",
        "news at 2pm",
        "kalshi halt",
    )
    resumed = kalshi("resume")
    assert resumed.exit_code == 0 and "trading state: ACTIVE" in resumed.stdout
    assert kalshi(*place_args()).exit_code == 0

    listing = json.loads(kalshi("state", "migrate", "--list", "--json").stdout)
    assert listing["exists"] and listing["pending"] == []
    migrate = kalshi("state", "migrate")
    assert migrate.exit_code == 0 and "up to date" in migrate.stderr


def test_configured_limits_refuse_orders_and_count_resting_ones(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        "limits:\n  max_position_per_market: 5\n  max_order_cost: 2.50\n", encoding="utf-8"
    )
    assert kalshi(*place_args(count="3", price="0.40")).exit_code == 0
    over_position = kalshi(*place_args(count="3", price="0.40"))
    assert over_position.exit_code == ExitCode.REJECTED
    assert "would reach 6" in over_position.stderr and "limit of 5" in over_position.stderr
    over_cost = kalshi(*place_args(side="no", count="5", price="0.60"))
    assert over_cost.exit_code == ExitCode.REJECTED and "maximum order cost" in over_cost.stderr
    assert creates(prime) == 1

    (home / "config.yaml").write_text("limits:\n  max_position: 5\n", encoding="utf-8")
    typo = kalshi(*place_args())
    assert typo.exit_code == ExitCode.CONFIG and "max_position_per_market" in typo.stderr


def test_a_manual_order_meets_the_loops_position_limit_whichever_section_sets_it(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One limit per market: the deprecated `limits:` key and `risk:` fold into the one the
    loop reads (the smaller holds), so a manual order of 8 the loop would refuse at 5 is
    refused too, by name of the key to raise."""
    from kalshi_cli.services.pretrade.settings import load_risk_limits

    make_markets(prime, 1)
    config = tmp_path / "home" / "config.yaml"
    config.parent.mkdir()
    config.write_text(
        "limits:\n  max_position_per_market: 10\nrisk:\n  max_position_per_market: 5\n",
        encoding="utf-8",
    )
    refused = kalshi(*place_args(count="8", price="0.40"))
    assert refused.exit_code == ExitCode.REJECTED
    assert "would reach 8.00 contracts, over the limit of 5" in refused.stderr
    assert "risk.max_position_per_market" in refused.stderr
    assert "limits.max_position_per_market is deprecated: set risk." in caplog.text
    assert load_risk_limits(config).max_position_per_market == D(5)  # the loop's
    # the risk defaults are the account's: an order over `risk.max_order_count` (50) is refused
    config.write_text("", encoding="utf-8")
    too_big = kalshi(*place_args(count="51", price="0.40"))
    assert too_big.exit_code == ExitCode.REJECTED and "risk.max_order_count" in too_big.stderr
    assert creates(prime) == 0


def test_an_unanswered_order_exits_10_and_reconcile_settles_it(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # the answer is lost after the order is placed: found by looking it up, exit 0 with a note
    prime.set_faults(drop_response_after_commit_rate=1.0)
    found = kalshi(*place_args(client_order_id="lost-1"), "--json")
    prime.clear_faults()
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["order"]["status"] == "resting"
    assert "found on the exchange" in found.stderr

    # the answer is lost and the exchange cannot be asked either: unknown, exit 10; reconcile
    # later finds the order by looking it up, and nothing is ever sent twice
    unknown = kalshi(
        *place_args(client_order_id="lost-2"), client=lambda: connect_as(AnswerLost, prime.account)
    )
    assert unknown.exit_code == ExitCode.OUTCOME_UNKNOWN, unknown.output
    assert "kalshi reconcile" in unknown.stderr
    assert json.loads(kalshi("status", "--json").stdout)["unknown_orders"] == 1

    settled = json.loads(kalshi("reconcile", "--json").stdout)
    assert settled["resolved_unknown"] == ["lost-2"] and settled["still_unknown"] == []
    assert creates(prime) == 2
    with Store.open(state_path(tmp_path)) as store:
        lost = [store.orders.get_intent(f"lost-{n}") for n in (1, 2)]
        assert [i.status if i else None for i in lost] == ["resting", "resting"]
    assert sorted(o.client_order_id for o in client.orders.iter_orders()) == ["lost-1", "lost-2"]


class AnswerLost(OrdersApi):
    """A client's orders whose answers are lost on the way back and whose lookups fail: the
    order is placed on the exchange, and this machine cannot find out."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        super().create_order(request)
        raise OrderOutcomeUnknown(
            "no response within 10s; the order may or may not exist",
            client_order_id=request.client_order_id,
        )

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> None:
        raise TransportError("no answer from the exchange")


def test_the_cli_trades_end_to_end_on_an_ed25519_account(prime: SimHarness, kalshi: Kalshi) -> None:
    """API 3.31.0 Ed25519 keys: the CLI signs with the key it loads, whatever its type, and
    health-check names the type."""
    make_markets(prime, 1)
    account = prime.new_account(balance_cents=20_000, key_type="ed25519")
    as_ed = {
        "KALSHI_API_KEY_ID": account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
    }
    health = kalshi("health-check", "--json", **as_ed)
    credentials = {c["name"]: c for c in json.loads(health.stdout)["checks"]}["credentials"]
    assert credentials["status"] == "ok", health.output
    assert credentials["detail"].startswith("Ed25519 key ")
    rsa_health = kalshi("health-check", "--json")
    rsa_credentials = {c["name"]: c for c in json.loads(rsa_health.stdout)["checks"]}
    assert rsa_credentials["credentials"]["detail"].startswith("RSA key ")

    balance = json.loads(kalshi("balance", "--json", **as_ed).stdout)
    assert balance["balance"] == "200.00"
    placed = kalshi(*place_args(count="3", price="0.25"), "--json", **as_ed)
    assert placed.exit_code == 0, placed.output
    oid = json.loads(placed.stdout)["order"]["order_id"]
    listed = json.loads(kalshi("order", "list", "--status", "resting", "--json", **as_ed).stdout)
    assert [o["order_id"] for o in listed["orders"]] == [oid]
    # the order is the Ed25519 account's, not the default RSA account's
    theirs = json.loads(kalshi("order", "list", "--status", "resting", "--json").stdout)
    assert theirs["orders"] == []
    cancelled = kalshi("order", "cancel", oid, "--json", **as_ed)
    assert cancelled.exit_code == 0, cancelled.output


def amend_requests(harness: SimHarness) -> int:
    accounts = harness.stats()["accounts"].values()
    return sum(
        n
        for a in accounts
        for endpoint, n in a["requests"].items()
        if endpoint.startswith("POST") and endpoint.endswith("/amend")
    )


def test_amend_expires_sets_keeps_and_removes_the_expiry_in_the_queue(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, store: Store
) -> None:
    """`order amend --expires` (API 3.31.0 `expiration_time`): a new expiry, 0 to remove it,
    a past one refused before anything is sent; an expiry-only amend keeps queue position."""
    (ticker,) = make_markets(prime, 1)
    placed = kalshi(*place_args(count="5", price="0.40"), "--expires", "1h", "--json")
    oid = json.loads(placed.stdout)["order"]["order_id"]
    first_expiry = client.orders.get_order(oid).expiration_time or ""
    assert first_expiry
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        behind = other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(5)))

        later = kalshi("order", "amend", oid, "--expires", "2d", "--json")
        assert later.exit_code == 0, later.output
        moved = client.orders.get_order(oid)
        assert (moved.expiration_time or "") > first_expiry
        assert (moved.yes_price, moved.remaining_count) == (D("0.40"), D(5))

        kept = kalshi("order", "amend", oid, "--price", "0.40", "--json")
        assert kept.exit_code == 0, kept.output
        assert client.orders.get_order(oid).expiration_time == moved.expiration_time

        removed = kalshi("order", "amend", oid, "--expires", "0", "--json")
        assert removed.exit_code == 0, removed.output
        assert client.orders.get_order(oid).expiration_time is None  # the spec: nullable

        sent = amend_requests(prime)
        for past in ("2001-01-01", str(int(time.time()) - 5)):
            refused = kalshi("order", "amend", oid, "--expires", past)
            assert refused.exit_code == ExitCode.USAGE, refused.output
            assert "not in the future" in refused.stderr
        with pytest.raises(ValidationError) as library:
            OrderService(client, store).amends.amend(oid, expiration_time=int(time.time()) - 5)
        assert library.value.code == "EXPIRY_IN_THE_PAST"
        assert amend_requests(prime) == sent

        # the expiry-only amends kept our place: a seller of 5 fills us, not the later bid
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(5)))
        assert client.orders.get_order(oid).status == "executed"
        assert other.orders.get_order(behind.order_id).remaining_count == 5

    help_text = kalshi("order", "amend", "--help").stdout
    assert "keeps its place in the queue only when the amend changes just the" in " ".join(
        help_text.split()
    )


def test_an_amend_made_whose_order_cannot_be_read_back_is_reported_made(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """The amend is made and answered, and the read of the order after it fails: the amend is
    done (exit 0, the new terms), with a warning that the order could not be read back. A
    failure here tells the trader the old terms stand, and one who sends it again doubles a
    growth the exchange already made."""
    make_markets(prime, 1)
    placed = kalshi(*place_args(side="no", count="10", price="0.30"), "--json")
    oid = json.loads(placed.stdout)["order"]["order_id"]

    amended = kalshi(
        "order",
        "amend",
        oid,
        "--price",
        "0.32",
        "--count",
        "12",
        "--json",
        client=lambda: connect_as(UnreadAfterChange, prime.account),
    )
    assert amended.exit_code == 0, amended.output
    document = json.loads(amended.stdout)
    order = document["order"]
    assert (order["order_id"], order["side"], order["price"], order["yes_price"]) == (
        oid,
        "no",
        "0.3200",
        "0.6800",
    )
    assert (order["count"], order["remaining_count"]) == ("12.00", "12.00")
    assert document["note"].startswith("amended; could not read the order back: "), document
    assert "HTTP 503" in amended.stderr
    # what it says is what the exchange did, and what the state file booked
    made = client.orders.get_order(oid)
    assert (made.yes_price, made.remaining_count) == (D("0.68"), D(12))
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.orders.intents()
        assert (intent.price, intent.count, intent.remaining) == (D("0.68"), D(12), D(12))
        assert store.orders.amends_of([intent.client_order_id]) == {}

    # without --json the warning comes after the order, on stderr, and the exit is 0
    again = kalshi(
        "order",
        "amend",
        oid,
        "--price",
        "0.33",
        client=lambda: connect_as(UnreadAfterChange, prime.account),
    )
    assert again.exit_code == 0, again.output
    assert "0.33" in again.stdout
    assert again.stderr.startswith("Warning: amended; could not read the order back: ")


def test_a_decrease_made_whose_order_cannot_be_read_back_is_reported_made(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A decrease is held to the amend's rule: answered, it is made, whatever the read of the
    order after it does (exit 0, what rests as its answer says, a warning), and the state file
    books it from that answer. A failure here tells the trader the contracts still rest, and
    one who decreases again takes off more than was meant."""
    make_markets(prime, 1)
    placed = kalshi(*place_args(side="no", count="10", price="0.30"), "--json")
    oid = json.loads(placed.stdout)["order"]["order_id"]
    unread = lambda: connect_as(UnreadAfterChange, prime.account)  # noqa: E731

    decreased = kalshi("order", "decrease", oid, "--by", "4", "--json", client=unread)
    assert decreased.exit_code == 0, decreased.output
    document = json.loads(decreased.stdout)
    order = document["order"]
    assert (order["order_id"], order["side"], order["price"], order["status"]) == (
        oid,
        "no",
        "0.3000",
        "resting",
    )
    assert (order["count"], order["remaining_count"]) == ("6.00", "6.00")
    assert document["note"].startswith("decreased; could not read the order back: "), document
    assert "HTTP 503" in decreased.stderr
    assert client.orders.get_order(oid).remaining_count == D(6)
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.orders.intents()
        assert (intent.status, intent.count, intent.remaining) == ("resting", D(6), D(6))
        assert store.orders.order_history(intent.client_order_id)[-1].note == "decrease"

    # to none: the exchange cancels the order, and so does the state file; the warning is on
    # stderr after the order, and the exit is 0
    emptied = kalshi("order", "decrease", oid, "--to", "0", client=unread)
    assert emptied.exit_code == 0, emptied.output
    assert "canceled" in emptied.stdout
    assert emptied.stderr.startswith("Warning: decreased; could not read the order back: ")
    assert client.orders.get_order(oid).status == "canceled"
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.orders.intents()
        assert (intent.status, intent.remaining) == ("canceled", D(0))


def test_a_decrease_whose_answer_was_lost_is_read_back_never_sent_again(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A decrease that reached the exchange and whose answer was lost (the connection closed
    after it acted) is held to the amend's rule: never sent again, the order read once. Showing
    the contracts taken off, it is made (exit 0) and booked; a read that lags it leaves it of
    unknown outcome (exit 10, saying what the exchange shows). It exited 7 (unreachable) with
    the contracts off the book, and a trader who decreased again took off twice as many."""
    make_markets(prime, 1)
    placed = kalshi(*place_args(count="10", price="0.30"), "--json")
    oid = json.loads(placed.stdout)["order"]["order_id"]

    prime.set_faults(drop_response_after_commit_rate=1.0)
    try:
        decreased = kalshi("order", "decrease", oid, "--by", "4", "--json")
    finally:
        prime.clear_faults()
    assert decreased.exit_code == 0, decreased.output
    assert json.loads(decreased.stdout)["order"]["remaining_count"] == "6.00"
    with Store.open(state_path(tmp_path)) as store:
        (intent,) = store.orders.intents()
        assert (intent.status, intent.count, intent.remaining) == ("resting", D(6), D(6))

    # the read after the lost answer lags the decrease: still 6 resting, so not known made
    prime.set_faults(drop_response_after_commit_rate=1.0, read_lag_ms=60_000)
    try:
        lagged = kalshi("order", "decrease", oid, "--to", "1")
    finally:
        prime.clear_faults()
    assert lagged.exit_code == ExitCode.OUTCOME_UNKNOWN, lagged.output
    assert "may or may not have been applied" in lagged.stderr
    assert "the exchange now shows resting at 0.3000 for 6.00" in lagged.stderr
    assert client.orders.get_order(oid).remaining_count == 1  # made, once


def test_order_show_names_each_change_and_shows_the_amended_expiry(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, store: Store
) -> None:
    """`order show` says what happened to an order (amend, decrease), with UTC times, and the
    expiry an amend moved; it said only `update` with epoch times, and no expiry at all."""
    make_markets(prime, 1)
    placed = kalshi(*place_args(count="5", price="0.40"), "--expires", "1h", "--json")
    oid = json.loads(placed.stdout)["order"]["order_id"]
    assert kalshi("order", "amend", oid, "--price", "0.41", "--json").exit_code == 0
    assert kalshi("order", "decrease", oid, "--by", "2", "--json").exit_code == 0
    assert kalshi("order", "amend", oid, "--expires", "2d", "--json").exit_code == 0
    expiry = client.orders.get_order(oid).expiration_time or ""
    shown = json.loads(kalshi("order", "show", oid, "--json").stdout)["order"]
    notes = [h["note"] for h in shown["history"]]
    assert "amend" in notes and "decrease" in notes, notes
    assert all(h["time"].endswith("Z") and h["time"].startswith("20") for h in shown["history"])
    assert shown["expiration_time"] == expiry
    text = kalshi("order", "show", oid).stdout
    assert expiry in text and "amend" in text and "decrease" in text, text
