"""Orders the exchange is sure to refuse are refused before anything is sent: one on a
subaccount the account does not have, and a buy the balance cannot pay for (its cost plus the
taker fee at most). Exit 9, one line naming what is wrong, no intent written, no order request
sent; a batch file's rows spend one balance read down row by row."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import NotFoundError, ValidationError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, another_accounts_order, connect, make_markets, state_path

BUY = ("order", "place", "KXT-EV-M00", "--side", "yes", "--action", "buy")
HEADER = "ticker,side,action,count,price,tif,post_only,client_order_id\n"
BALANCE = "GET /portfolio/balance"


@pytest.fixture(autouse=True)
def held_to_the_balance_alone(tmp_path: Path) -> None:
    """The account's size and position limits (`risk:`) raised past these orders, which the
    balance alone refuses."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.yaml").write_text(
        "risk:\n  max_order_count: 100000\n  max_position_per_market: 100000\n"
    )


def requests(harness: SimHarness) -> dict[str, int]:
    """The simulator's count of the account's requests, by "METHOD /path"."""
    counts: dict[str, int] = (
        harness.stats()["accounts"].get(harness.account.key_id, {}).get("requests", {})
    )
    return counts


def order_writes(harness: SimHarness) -> int:
    """Requests that create orders (one at a time or batched) the account sent."""
    return sum(
        n
        for key, n in requests(harness).items()
        if key.startswith("POST /portfolio/") and "/orders" in key
    )


def intents(tmp_path: Path, **env: str) -> list[str]:
    """The statuses of the intents in the state file of `kalshi` run with `env` on top."""
    db = state_path(tmp_path, **env)
    if not db.exists():
        return []
    with Store.open(db) as store:
        return [i.status for i in store.orders.intents()]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


def batch_file(tmp_path: Path, *rows: str) -> Path:
    """An `order batch` file of `rows` (each a line below HEADER)."""
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return path


def bought_from_another(
    prime: SimHarness, account: AccountInfo, book_side: BookSide, yes_price: str, count: int
) -> None:
    """`account` bought `count` of KXT-EV-M00 at `yes_price` on `book_side` (a bid buys YES,
    an ask NO) from a new account's resting order."""
    other = BookSide.ASK if book_side is BookSide.BID else BookSide.BID
    another_accounts_order(prime, "KXT-EV-M00", other, yes_price, count)
    with connect(account) as client:
        client.orders.create_order(CreateOrder("KXT-EV-M00", book_side, D(yes_price), D(count)))


def small_account_holding(
    prime: SimHarness, book_side: BookSide, yes_price: str, count: int
) -> dict[str, str]:
    """A new account of $5.00 that bought `count` at `yes_price` on `book_side` (a bid buys
    YES, an ask NO) from another account's order; the environment that acts as it."""
    small = prime.new_account(balance_cents=500)
    bought_from_another(prime, small, book_side, yes_price, count)
    return {"KALSHI_API_KEY_ID": small.key_id, "KALSHI_PRIVATE_KEY_PATH": small.private_key_path}


@pytest.mark.parametrize("command", ["place", "batch"])
def test_an_order_on_a_subaccount_the_account_lacks_is_refused_before_anything_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, command: str
) -> None:
    make_markets(prime, 1)
    if command == "place":
        result = kalshi(*BUY, "--count", "1", "--price", "0.40", "--subaccount", "5")
    else:
        path = batch_file(tmp_path, "KXT-EV-M00,yes,buy,1,0.40,gtc,,")
        result = kalshi("order", "batch", "--file", str(path), "--subaccount", "5")
    # not found, as an unknown ticker is, and as every command naming the subaccount says it
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    # `order place` says it on one line; `order batch` names the row under its summary line
    line = one_error_line(result.stderr) if command == "place" else result.stderr
    assert "no subaccount 5" in line and "kalshi subaccount create" in line
    assert intents(tmp_path) == []
    assert order_writes(prime) == 0


def test_a_buy_the_balance_cannot_pay_for_is_refused_with_the_shortfall(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # $1,000.00 on the account; 2,600 at $0.40 is $1,040.00 (a GTC: its cost alone)
    result = kalshi(*BUY, "--count", "2600", "--price", "0.40")
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert one_error_line(result.stderr) == (
        "Error: buying 2600.00 yes at $0.40 costs up to $1,040.00; the balance is $1,000.00: "
        "short by $40.00 (lower --count or the price, or fund the account)"
    )
    assert intents(tmp_path) == []
    assert order_writes(prime) == 0
    assert requests(prime)[BALANCE] == 1


def test_the_taker_fee_counts_against_the_balance(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # $980.00 of contracts fits the $1,000.00; an IOC takes, and with the $41.16 taker fee it
    # does not fit
    result = kalshi(*BUY, "--count", "2450", "--price", "0.40", "--tif", "ioc")
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert one_error_line(result.stderr) == (
        "Error: buying 2450.00 yes at $0.40 costs up to $1,021.16 with the taker fee; the "
        "balance is $1,000.00: short by $21.16 (lower --count or the price, or fund the account)"
    )
    assert intents(tmp_path) == []
    assert order_writes(prime) == 0


@pytest.mark.parametrize(
    "fees",
    [{"fee_multiplier": "0"}, {"fee_multiplier": "1", "fee_waiver_expiration_time": 4_102_444_800}],
    ids=["multiplier-0", "fee-waiver"],
)
def test_the_taker_fee_held_against_the_balance_is_the_markets_own(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, fees: dict[str, Any]
) -> None:
    """A market whose series charges no fee (multiplier 0), or whose fees are waived: an IOC
    buy of $980.00 on $1,000.00 owes no fee and the exchange takes it, so it is sent, not
    refused for a standard taker fee the market does not charge."""
    prime.create_market(
        "KXZ-EV-M00", event_ticker="KXZ-EV", series_ticker="KXZ", fee_type="quadratic", **fees
    )
    buy = ("order", "place", "KXZ-EV-M00", "--side", "yes", "--action", "buy")
    placed = kalshi(*buy, "--count", "2450", "--price", "0.40", "--tif", "ioc")
    assert "short by" not in placed.stderr, placed.output
    assert placed.exit_code == 0, placed.output
    assert order_writes(prime) == 1


def test_a_gtc_order_that_may_rest_is_held_to_its_cost_alone(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    # the same $980.00 as a GTC rests on the exchange, which takes it: refusing it here would
    # refuse what the exchange accepts
    make_markets(prime, 1)
    placed = kalshi(*BUY, "--count", "2450", "--price", "0.40")
    assert placed.exit_code == 0, placed.output
    assert order_writes(prime) == 1


def test_the_balance_read_is_the_subaccount_the_order_goes_to(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    with connect(prime.account) as client:
        number = client.subaccounts.create_subaccount()  # a new subaccount holds $0.00
    result = kalshi(*BUY, "--count", "1", "--price", "0.40", "--subaccount", str(number))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert "short by $0.40" in one_error_line(result.stderr)
    assert intents(tmp_path) == []
    assert order_writes(prime) == 0
    # the primary account's $1,000.00 pays for the same order
    placed = kalshi(*BUY, "--count", "1", "--price", "0.40")
    assert placed.exit_code == 0, placed.output
    assert intents(tmp_path) == ["resting"]


def test_a_sell_is_not_held_to_the_balance(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # five YES contracts held: a second account's resting ask, bought by this one
    bought_from_another(prime, prime.account, BookSide.BID, "0.50", 5)
    before = requests(prime).get(BALANCE, 0)
    # selling held contracts releases money: it goes to the exchange, no balance asked
    sell = kalshi(
        "order", "place", "KXT-EV-M00", "--side", "yes", "--action", "sell", "--count", "5",
        "--price", "0.99",
    )  # fmt: skip
    assert sell.exit_code == 0, sell.output
    assert requests(prime).get(BALANCE, 0) == before
    assert intents(tmp_path) == ["resting"]


def test_a_buy_that_closes_a_position_is_not_held_to_the_balance(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # ten NO contracts held at $0.30 ($3.00 and a $0.147 fee): $1.853 left
    as_small = small_account_holding(prime, BookSide.ASK, "0.70", 10)
    # buying ten YES at $0.70 ($7.00) closes the ten NO: nothing of it opens, so it is sent
    closing = kalshi(*BUY, "--count", "10", "--price", "0.70", **as_small)
    assert closing.exit_code == 0, closing.output
    # three more than the position open three, $2.10 (a GTC: its cost alone): over $1.853
    opening = kalshi(*BUY, "--count", "13", "--price", "0.70", **as_small)
    assert opening.exit_code == ExitCode.REJECTED, opening.output
    assert "short by $0.2470" in one_error_line(opening.stderr)
    assert intents(tmp_path, **as_small) == ["resting"]


def test_a_batch_spends_one_balance_read_down_row_by_row(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # each row alone is $600.00 (GTC: its cost alone); the second does not fit after the first
    path = batch_file(
        tmp_path, "KXT-EV-M00,yes,buy,1500,0.40,gtc,,", "KXT-EV-M00,yes,buy,1500,0.40,gtc,,"
    )
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:3:" in result.stderr and "short by $200.00" in result.stderr
    assert f"{path}:2:" not in result.stderr
    assert intents(tmp_path) == []
    assert order_writes(prime) == 0
    assert requests(prime)[BALANCE] == 1


def test_a_buy_that_costs_the_whole_balance_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # $1,000.00 on the account; 2,500 at $0.40 is exactly $1,000.00 (a GTC: its cost alone)
    result = kalshi(*BUY, "--count", "2500", "--price", "0.40")
    assert result.exit_code == 0, result.output
    assert intents(tmp_path) == ["resting"]


def test_every_row_of_a_batch_spends_the_balance_the_rows_before_it_left(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # $1,000.00; each row $300.00: three fit ($900.00), the fourth finds $100.00 left
    path = batch_file(tmp_path, *["KXT-EV-M00,yes,buy,750,0.40,gtc,,"] * 4)
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:5:" in result.stderr
    assert "the balance left is $100.00: short by $200.00" in result.stderr
    assert all(f"{path}:{row}:" not in result.stderr for row in (2, 3, 4))
    assert order_writes(prime) == 0


def test_a_buy_over_the_balance_is_refused_as_insufficient_balance_by_the_service(
    prime: SimHarness, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    with connect(prime.account) as client, Store.open(tmp_path / "state.db") as store:
        request = OrderRequest("KXT-EV-M00", Side.YES, Action.BUY, D(2600), D("0.40"))
        # the account's size and position limits (`risk:`) raised past it: the balance refuses
        raised = RiskLimits(max_order_count=D(10**6), max_position_per_market=D(10**6))
        with pytest.raises(ValidationError) as refused:
            OrderService(client, store, limits=raised).prepare(request)
    assert refused.value.code == "INSUFFICIENT_BALANCE"
    assert refused.value.hint == "lower --count or the price, or fund the account"


def test_a_no_buy_that_closes_a_yes_position_is_not_held_to_the_balance(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # five YES contracts held at $0.50 ($2.50 and its fee)
    as_small = small_account_holding(prime, BookSide.BID, "0.50", 5)
    # buying five NO at $0.60 ($3.00, over what is left) closes the five YES: it is sent
    closing = kalshi(
        "order", "place", "KXT-EV-M00", "--side", "no", "--action", "buy", "--count", "5",
        "--price", "0.60", **as_small,
    )  # fmt: skip
    assert closing.exit_code == 0, closing.output


@pytest.mark.parametrize("command", ["place", "batch"])
def test_buys_that_spend_the_balance_to_the_cent_read_the_positions_once_per_market(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, command: str
) -> None:
    make_markets(prime, 1)
    # $1,000.00 on the account; GTC orders are held to their cost alone
    if command == "place":
        result = kalshi(*BUY, "--count", "2500", "--price", "0.40")  # $1,000.00
        sent = ["resting"]
    else:
        # $600.00, then the $400.00 the first row left
        path = batch_file(
            tmp_path, "KXT-EV-M00,yes,buy,1500,0.40,gtc,,", "KXT-EV-M00,yes,buy,1000,0.40,gtc,,"
        )
        result = kalshi("order", "batch", "--file", str(path))
        sent = ["resting", "resting"]
    assert result.exit_code == 0, result.output
    assert intents(tmp_path) == sent
    # once for the market's limits; a buy that does not fit whole reads what it closes there
    assert requests(prime).get("GET /portfolio/positions", 0) == 1


def test_a_buy_whose_opening_part_spends_the_balance_to_the_cent_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    # four NO contracts held at $0.50 ($2.00 and a $0.07 fee): $2.93 left
    as_small = small_account_holding(prime, BookSide.ASK, "0.50", 4)
    # 297 YES at $0.01 is $2.97, over the balance; four of them close the NO held, and the
    # 293 that open cost $2.93: exactly what is left
    result = kalshi(*BUY, "--count", "297", "--price", "0.01", **as_small)
    assert result.exit_code == 0, result.output
    assert intents(tmp_path, **as_small) == ["resting"]


def test_a_batch_reads_what_each_row_closes_from_its_own_market(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    make_markets(prime, 2)
    # ten NO contracts held on M00 ($3.00 and a $0.147 fee): $1.853 left
    as_small = small_account_holding(prime, BookSide.ASK, "0.70", 10)
    # the first row closes the ten NO of M00 and costs nothing; the second opens ten on M01,
    # where nothing is held: $7.00, over what is left
    path = batch_file(
        tmp_path, "KXT-EV-M00,yes,buy,10,0.70,gtc,,", "KXT-EV-M01,yes,buy,10,0.70,gtc,,"
    )
    result = kalshi("order", "batch", "--file", str(path), **as_small)
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:3:" in result.stderr and "short by $5.1470" in result.stderr
    assert f"{path}:2:" not in result.stderr
    assert intents(tmp_path, **as_small) == []


def test_an_order_on_a_missing_subaccount_is_refused_as_unknown_subaccount_by_the_service(
    prime: SimHarness, tmp_path: Path
) -> None:
    make_markets(prime, 1)
    with connect(prime.account) as client, Store.open(tmp_path / "state.db") as store:
        request = OrderRequest("KXT-EV-M00", Side.YES, Action.BUY, D(1), D("0.40"))
        with pytest.raises(NotFoundError) as refused:
            OrderService(client.on_subaccount(5), store).prepare(request)
    assert refused.value.code == "UNKNOWN_SUBACCOUNT"
    assert refused.value.message == "the account has no subaccount 5"
    assert refused.value.hint == (
        "`kalshi subaccount list` shows them; `kalshi subaccount create` adds the next one and "
        "`kalshi subaccount transfer` funds it"
    )


def test_a_fee_waiver_that_has_ended_waives_nothing(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A market whose fee waiver ended (in 2001) charges the standard taker fee again: the IOC
    buy of $980.00 with its $41.16 fee does not fit the $1,000.00, as on a market that never
    had a waiver. Priced at a time before the waiver's end, it owed no fee and went out."""
    prime.create_market(
        "KXW-EV-M00",
        event_ticker="KXW-EV",
        series_ticker="KXW",
        fee_type="quadratic",
        fee_multiplier="1",
        fee_waiver_expiration_time=1_000_000_000,
    )
    buy = ("order", "place", "KXW-EV-M00", "--side", "yes", "--action", "buy")
    result = kalshi(*buy, "--count", "2450", "--price", "0.40", "--tif", "ioc")
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert "costs up to $1,021.16 with the taker fee" in one_error_line(result.stderr)
    assert order_writes(prime) == 0


def test_an_ioc_buy_that_closes_part_of_a_position_owes_the_fee_of_its_opening_part(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Ten NO held ($1.853 left); an IOC buy of twelve YES at $0.90 closes the ten and opens
    two: $1.80 and the $0.0126 taker fee of two, $1.8126, which fits. Held to the fee of all
    twelve ($0.0756), it came to $1.8756 and was refused."""
    make_markets(prime, 1)
    as_small = small_account_holding(prime, BookSide.ASK, "0.70", 10)
    result = kalshi(*BUY, "--count", "12", "--price", "0.90", "--tif", "ioc", **as_small)
    assert "short by" not in result.stderr, result.output
    assert result.exit_code == 0, result.output
    assert len(intents(tmp_path, **as_small)) == 1, "sent"


def test_each_ioc_row_of_a_batch_owes_the_fee_of_its_own_market(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A batch whose first IOC row is in a market that charges no fee (multiplier 0) and whose
    second is $980.00 in one at the standard fee: the second owes its own $41.16 and does not
    fit what the first left. Priced at the first row's market's fees, it owed none."""
    make_markets(prime, 1)
    prime.create_market(
        "KXZ-EV-M00",
        event_ticker="KXZ-EV",
        series_ticker="KXZ",
        fee_type="quadratic",
        fee_multiplier="0",
    )
    path = batch_file(
        tmp_path, "KXZ-EV-M00,yes,buy,1,0.40,ioc,,", "KXT-EV-M00,yes,buy,2450,0.40,ioc,,"
    )
    result = kalshi("order", "batch", "--file", str(path))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{path}:3:" in result.stderr and "$1,021.16 with the taker fee" in result.stderr
    assert f"{path}:2:" not in result.stderr
    assert order_writes(prime) == 0


def test_a_reduce_only_buy_is_not_held_to_the_balance(prime: SimHarness, tmp_path: Path) -> None:
    """Ten NO held ($1.853 left): a reduce-only buy (an IOC, as the API takes it) of thirteen
    YES at $0.70 can only close what is held (the exchange takes no more than the ten), so it
    spends nothing and the balance does not hold it back. Held to it, the three beyond the
    position were counted as opening ($2.10 and their taker fee) and the close was refused."""
    make_markets(prime, 1)
    small = prime.new_account(balance_cents=500)
    bought_from_another(prime, small, BookSide.ASK, "0.70", 10)
    request = OrderRequest(
        "KXT-EV-M00", Side.YES, Action.BUY, D(13), D("0.70"), TimeInForce.IOC, reduce_only=True
    )
    with connect(small) as client, Store.open(tmp_path / "state.db") as store:
        prepared = OrderService(client, store).prepare(request)
    assert prepared.request.count == D(13)


class _FlatFees(httpx.BaseTransport):
    """The real simulator, except that the series KXT reads as charging the `flat` fee type,
    whose rates the model does not have (the simulator refuses to make such a series)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not request.url.path.endswith("/series/KXT"):
            return response
        body = json.loads(response.read())
        body["series"]["fee_type"] = "flat"
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


def test_an_ioc_buy_in_a_market_whose_fees_cannot_be_priced_is_held_to_its_cost_alone(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A series of the `flat` fee type (Kalshi's specific fees table, not in the API
    reference): the fee an IOC buy owes is the exchange's to hold it to, so the $980.00 on
    $1,000.00 is sent. Priced at the standard fee instead, it was refused for a fee nobody
    read; and the fee model's own refusal ended the command before anything was sent."""
    make_markets(prime, 1)

    def flat_fees() -> KalshiClient:
        return connect(prime.account, transport=_FlatFees())

    placed = kalshi(*BUY, "--count", "2450", "--price", "0.40", "--tif", "ioc", client=flat_fees)
    assert "short by" not in placed.stderr, placed.output
    assert placed.exit_code == 0, placed.output
    assert order_writes(prime) == 1
