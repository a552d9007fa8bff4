"""`kalshi rfq ...` and `kalshi quote ...` in-process against the simulator: a whole RFQ's life
between two accounts, each seeing the fill and the position it made once the confirmation's
execution timer ran out; bad input refused with nothing sent; the trading state's gate on every
write that can open a position."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import REAL_CLOCK_WINDOW_S, SimHarness
from tests.prime_tier import Kalshi, kalshi_as, prime_simulator, state_path

T = "KXRFQCLI-26JAN01-A"
U = "00000000-0000-4000-8000-000000000000"  # an id of the exchange's shape that names nothing


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    """The prime simulator on a test's clock, so that a confirmed quote's execution timer runs
    out when the test says; the commands sign with the real clock."""
    yield from prime_simulator(
        tmp_path, clock=ManualClock(time.time()), auth_window_s=REAL_CLOCK_WINDOW_S
    )


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def accepted_quote(requester: Kalshi, maker: Kalshi) -> tuple[str, str]:
    """`requester`'s RFQ for 10 of T, quoted by `maker` (YES 0.40, NO 0.55) and accepted on YES:
    the maker's confirmation alone executes it. The RFQ's id and the quote's."""
    rfq_id = ok_json(requester("rfq", "create", T, "--count", "10", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55", "--json")
    )["quote_id"]
    ok_json(requester("quote", "accept", quote_id, "--side", "yes", "--json"))
    return rfq_id, quote_id


def test_an_rfq_from_request_to_fill_between_two_accounts(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    requester = kalshi

    rfq = ok_json(requester("rfq", "create", T, "--count", "10", "--json"))
    rfq_id = rfq["rfq_id"]
    assert rfq == {"rfq_id": rfq_id, "market_ticker": T, "contracts": "10", "target_cost": None}
    [seen] = ok_json(maker("rfq", "list", "--status", "open", "--json"))["rfqs"]
    assert (seen["rfq_id"], seen["contracts"], seen["mine"]) == (rfq_id, "10.00", False)
    assert ok_json(requester("rfq", "show", rfq_id, "--json"))["mine"] is True

    made = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55", "--json")
    )
    quote_id = made["quote_id"]
    assert made == {"quote_id": quote_id, "rfq_id": rfq_id, "yes_bid": "0.40", "no_bid": "0.55"}
    [offered] = ok_json(requester("quote", "list", "--on-my-rfqs", "--json"))["quotes"]
    assert (offered["quote_id"], offered["yes_bid"], offered["status"]) == (
        quote_id,
        "0.4000",
        "open",
    )

    accepted = ok_json(requester("quote", "accept", quote_id, "--side", "yes", "--json"))
    assert accepted == {"quote_id": quote_id, "result": "accepted", "accepted_side": "yes"}
    confirmed = ok_json(maker("quote", "confirm", quote_id, "--json"))
    assert confirmed["result"] == "confirmed"
    # the confirmation starts the execution timer: no order yet
    assert confirmed["quote"]["status"] == "confirmed" and not confirmed["quote"]["order_id"]
    prime.run_out_execution_timers()
    executed = ok_json(maker("quote", "show", quote_id, "--json"))
    assert executed["status"] == "executed" and executed["order_id"]

    # each side sees its own fill at the quote's price and its position
    def position(run: Kalshi) -> dict[str, Any]:
        rows = ok_json(run("positions", "--json"))["positions"]
        [row] = [r for r in rows if r["ticker"] == T]
        return {"side": row["side"], "contracts": row["contracts"]}

    assert position(requester) == {"side": "yes", "contracts": "10.00"}
    assert position(maker) == {"side": "no", "contracts": "10.00"}
    for run, side, price in ((requester, "yes", "0.4000"), (maker, "no", "0.6000")):
        fills = [f for f in ok_json(run("fills", "--json"))["fills"] if f["ticker"] == T]
        assert {(f["side"], f["price"]) for f in fills} == {(side, price)}, fills
        assert sum(Decimal(f["count"]) for f in fills) == 10
    shown = ok_json(requester("quote", "show", quote_id, "--json"))
    assert shown["status"] == "executed" and shown["order_id"] != executed["order_id"]
    assert ok_json(maker("rfq", "show", rfq_id, "--json"))["status"] == "closed"
    # the execution's fills reach the state file as any fill does: through reconcile
    assert requester("reconcile").exit_code == 0
    with Store.open(state_path(tmp_path)) as store:
        kept = list(store.fills.iter_fills(ticker=T))
    assert sum(f.signed_count for f in kept) == 10 and {f.yes_price for f in kept} == {
        Decimal("0.40")
    }


def test_cancel_closes_an_rfq_and_a_quote(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id = ok_json(kalshi("rfq", "create", T, "--target-cost", "20", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0", "--no-bid", "0.50", "--json")
    )["quote_id"]
    assert ok_json(maker("quote", "cancel", quote_id, "--json")) == {
        "quote_id": quote_id,
        "result": "cancelled",
    }
    assert ok_json(maker("quote", "show", quote_id, "--json"))["status"] == "cancelled"
    plain = kalshi("rfq", "cancel", rfq_id)
    assert plain.stdout.strip() == f"rfq {rfq_id} cancelled"
    shown = ok_json(kalshi("rfq", "show", rfq_id, "--json"))
    assert (shown["status"], shown["target_cost"]) == ("closed", "20.0000")
    # cancelling again: the exchange knows no open RFQ by that id
    again = kalshi("rfq", "cancel", rfq_id)
    assert again.exit_code == ExitCode.NOT_FOUND, again.output
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("rfq", "create", T),  # neither size
        ("rfq", "create", T, "--count", "5", "--target-cost", "10"),
        ("rfq", "create", T, "--count", "0"),
        ("rfq", "create", T, "--count", "1.005"),
        ("rfq", "create", T, "--target-cost", "ten"),
        ("rfq", "create", T, "--target-cost", "10.00001"),
        ("rfq", "create", T, "--count", "5", "--subaccount", "64"),
        ("rfq", "show", " "),
        ("quote", "create", U, "--yes-bid", "1.00", "--no-bid", "0.50"),
        ("quote", "create", U, "--yes-bid", "0.12345", "--no-bid", "0.50"),
        ("quote", "create", U, "--yes-bid", "-0.10", "--no-bid", "0.50"),
        ("quote", "create", U, "--yes-bid", "nan", "--no-bid", "0.50"),
        ("quote", "create", U, "--yes-bid", "0", "--no-bid", "0"),
        ("quote", "accept", U, "--side", "maybe"),
        ("quote", "accept", U),
        ("quote", "list", "--status", "gone"),
        # an RFQ's or a quote's id is a UUID (openapi.yaml: a malformed one is answered 400)
        ("rfq", "show", "NOPE"),
        ("rfq", "cancel", "NOPE"),
        ("quote", "show", "NOPE"),
        ("quote", "confirm", "NOPE"),
        ("quote", "accept", "NOPE", "--side", "yes"),
        ("quote", "create", "NOPE", "--yes-bid", "0.40", "--no-bid", "0.40"),
        ("quote", "list", "--rfq", "NOPE"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_sent(
    prime: SimHarness, kalshi: Kalshi, args: tuple[str, ...]
) -> None:
    before = prime.stats()["total_requests"]
    result = kalshi(*args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert prime.stats()["total_requests"] == before


def test_a_price_off_the_markets_grid_is_refused_before_the_quote_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(T)  # a cent grid
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "3", "--json"))["rfq_id"]
    refused = maker("quote", "create", rfq_id, "--yes-bid", "0.405", "--no-bid", "0.50")
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "tick grid" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert ok_json(kalshi("quote", "list", "--json"))["quotes"] == []
    closed = kalshi("rfq", "create", "KXNOSUCH-26JAN01-A", "--count", "3")
    assert closed.exit_code == ExitCode.NOT_FOUND, closed.output


def test_halted_trading_refuses_every_write_that_can_open_a_position(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """As `kalshi order place` does: HALTED (and SAFE_MODE) refuse with exit 13 and nothing
    sent: creating an RFQ or a quote, accepting and confirming. Cancelling still works."""
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "4", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.30", "--no-bid", "0.60", "--json")
    )["quote_id"]

    assert kalshi("halt", "--reason", "test").exit_code == 0
    assert maker("halt", "--reason", "test").exit_code == 0
    refused = [
        kalshi("rfq", "create", T, "--count", "1", "--replace"),
        maker("quote", "create", rfq_id, "--yes-bid", "0.31", "--no-bid", "0.60"),
        kalshi("quote", "accept", quote_id, "--side", "yes"),
    ]
    for result in refused:
        assert result.exit_code == ExitCode.HALTED, result.output
        assert "HALTED" in result.stderr
    assert ok_json(maker("quote", "show", quote_id, "--json"))["status"] == "open"

    assert kalshi("resume").exit_code == 0
    ok_json(kalshi("quote", "accept", quote_id, "--side", "yes", "--json"))
    before = prime.stats()["total_requests"]
    halted = maker("quote", "confirm", quote_id)
    assert halted.exit_code == ExitCode.HALTED, halted.output
    assert prime.stats()["total_requests"] == before  # the gate comes before any request
    assert ok_json(kalshi("quote", "show", quote_id, "--json"))["status"] == "accepted"
    # a cancel takes risk away: never gated
    assert ok_json(maker("quote", "cancel", quote_id, "--json"))["result"] == "cancelled"


def test_on_prod_accept_and_confirm_ask_first(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """An accept or a confirm that can trade real money asks; answering no sends nothing."""
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "2", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.30", "--no-bid", "0.60", "--json")
    )["quote_id"]
    prod = {"KALSHI_ENV": "prod"}
    declined = kalshi("quote", "accept", quote_id, "--side", "no", input="n\n", **prod)
    assert declined.exit_code != 0
    assert "buy 2.00 NO" in declined.stderr and "PROD" in declined.stderr
    assert ok_json(kalshi("quote", "show", quote_id, "--json"))["status"] == "open"
    accepted = kalshi("quote", "accept", quote_id, "--side", "no", "--yes", "--json", **prod)
    assert ok_json(accepted)["accepted_side"] == "no"
    not_confirmed = maker("quote", "confirm", quote_id, input="n\n", **prod)
    assert not_confirmed.exit_code != 0 and "PROD" in not_confirmed.stderr
    assert ok_json(maker("quote", "show", quote_id, "--json"))["status"] == "accepted"
    confirmed = maker("quote", "confirm", quote_id, input="y\n", **prod)
    assert confirmed.exit_code == 0, confirmed.output
    assert ok_json(maker("quote", "show", quote_id, "--json"))["status"] == "confirmed"


def test_an_rfq_and_a_quote_on_subaccounts_trade_on_them_end_to_end(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """`--subaccount` on `rfq create` and `quote create` puts each side's trade on that
    subaccount; `rfq list --subaccount` lists the caller's RFQs there."""
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    requester = kalshi
    for run, count in ((requester, 1), (maker, 2)):
        for _ in range(count):
            assert run("subaccount", "create").exit_code == 0
        moved = run(
            "subaccount",
            "transfer",
            "--from",
            "0",
            "--to",
            str(count),
            "--amount",
            "50.00",
            "--yes",
        )
        assert moved.exit_code == 0, moved.output
    rfq_id = ok_json(requester("rfq", "create", T, "--count", "10", "--subaccount", "1", "--json"))[
        "rfq_id"
    ]
    listed = ok_json(requester("rfq", "list", "--subaccount", "1", "--json"))["rfqs"]
    assert [r["rfq_id"] for r in listed] == [rfq_id]
    assert ok_json(requester("rfq", "list", "--subaccount", "0", "--json"))["rfqs"] == []
    quote_id = ok_json(
        maker(
            "quote",
            "create",
            rfq_id,
            "--yes-bid",
            "0.40",
            "--no-bid",
            "0.55",
            "--subaccount",
            "2",
            "--json",
        )
    )["quote_id"]
    ok_json(requester("quote", "accept", quote_id, "--side", "yes", "--json"))
    assert ok_json(maker("quote", "confirm", quote_id, "--json"))["quote"]["status"] == "confirmed"
    prime.run_out_execution_timers()

    def contracts(run: Kalshi, subaccount: int) -> list[tuple[str, str]]:
        rows = ok_json(run("positions", "--subaccount", str(subaccount), "--json"))["positions"]
        # every row, zero ones included: a market held only on another subaccount is not
        # listed (tests/services/test_positions_subaccounts.py)
        return [(r["side"], r["contracts"]) for r in rows if r["ticker"] == T]

    assert contracts(requester, 1) == [("yes", "10.00")] and contracts(requester, 0) == []
    assert contracts(maker, 2) == [("no", "10.00")] and contracts(maker, 0) == []


def test_accepting_the_side_a_quote_declines_is_refused_before_anything_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A quote's 0 declines its side: the command has the quote in hand and refuses, as it
    refuses a price off the market's grid, never asking on prod to `buy 3 NO at 0` first."""
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "3", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0", "--json")
    )["quote_id"]
    before = prime.stats()["accounts"][prime.account.key_id]["requests"]

    refused = kalshi("quote", "accept", quote_id, "--side", "no", "--yes")

    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "declines" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    after = prime.stats()["accounts"][prime.account.key_id]["requests"]
    assert {k: n for k, n in after.items() if k.startswith("PUT")} == {
        k: n for k, n in before.items() if k.startswith("PUT")
    }  # no accept sent
    assert ok_json(kalshi("quote", "show", quote_id, "--json"))["status"] == "open"


def test_confirming_a_quote_not_accepted_is_refused_before_anything_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Until its requester accepts a side there is nothing to confirm: the command has the quote
    in hand and refuses, never sending a confirmation (or asking on prod to take `?`) that would
    bind the maker to whichever side the requester accepts meanwhile."""
    prime.create_market(T)
    maker_account = prime.new_account()
    maker = kalshi_as(maker_account, tmp_path / "maker")
    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "3", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55", "--json")
    )["quote_id"]
    before = prime.stats()["accounts"][maker_account.key_id]["requests"]

    refused = maker("quote", "confirm", quote_id, "--yes")

    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "not accepted" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    after = prime.stats()["accounts"][maker_account.key_id]["requests"]
    assert {k: n for k, n in after.items() if k.startswith("PUT")} == {
        k: n for k, n in before.items() if k.startswith("PUT")
    }  # no confirmation sent
    assert ok_json(maker("quote", "show", quote_id, "--json"))["status"] == "open"
