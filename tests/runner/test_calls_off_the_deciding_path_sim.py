"""The trade loop's exchange calls off its deciding path, against the real simulator: one
market's order call held in the network holds that market alone (the others are quoted and
booked meanwhile, and the held market takes no new decision until its answer is booked), and
a replacement goes out only after the cancels of the orders it replaces were answered, however
slowly they are."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.risk.state import halt
from kalshi_cli.runner.execution.unknown_orders import LOOKUP_SHARE
from kalshi_cli.store import Store
from kalshi_cli.store.records import PENDING, UNKNOWN
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import ServerError
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, drained_until, rig
from tests.waiting import pause, poll_until


class Gate(httpx.HTTPTransport):
    """The real transport, holding every request `holds` picks until `open` is set, and
    logging each request as it starts and as its answer comes back."""

    def __init__(self) -> None:
        super().__init__()
        self.holds = lambda request: False
        self.open = threading.Event()
        self.held = threading.Event()
        self.log: list[tuple[str, str, str, bytes]] = []  # (start|end, method, path, body)
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/trade-api/v2/portfolio") and request.method != "GET":
            with self._lock:
                self.log.append(("start", request.method, request.url.path, request.content))
        if self.holds(request):
            self.held.set()
            self.open.wait(60)
        response = super().handle_request(request)
        if request.url.path.startswith("/trade-api/v2/portfolio") and request.method != "GET":
            with self._lock:
                self.log.append(("end", request.method, request.url.path, b""))
        return response


def _placed(r: Rig, ticker: str) -> int:
    return sum(1 for e in r.events("order_placed") if e["ticker"] == ticker)


def _ticking(r: Rig) -> None:
    r.loop.tick(r.feed.drain_messages(), full=False)
    pause()


def test_an_order_call_held_in_the_network_holds_only_its_own_market(
    sim: SimHarness, tmp_path: Path
) -> None:
    held, free = "KXOFFPATH-SIM-A", "KXOFFPATH-SIM-B"
    gate = Gate()
    gate.holds = lambda request: request.method == "POST" and held.encode() in request.content
    with rig(
        sim, tmp_path, [held, free], strategy="market-maker", params={},
        batch_wait_s=0.0, transport=gate, send_workers=2,
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)  # returns with the held call out
            assert gate.held.wait(30)
            # the other market's quotes are answered and booked while the call is held
            assert poll_until(lambda: _placed(r, free) == 2, between=lambda: _ticking(r))
            assert r.loop.dispatch.busy(held)
            assert _placed(r, held) == 0
            rows = [i for i in r.store.orders.intents() if i.ticker == held]
            assert len(rows) == 2 and {i.status for i in rows} == {PENDING}
            # the held market is not decided on again: no second pair of intents for it
            for _ in range(5):
                _ticking(r)
            assert len([i for i in r.store.orders.intents() if i.ticker == held]) == 2
        finally:
            gate.open.set()
        assert poll_until(lambda: _placed(r, held) == 2, between=lambda: _ticking(r))
        assert not r.loop.dispatch.busy(held)
        resting = {o.ticker for o in r.client.orders.iter_orders(status="resting")}
        assert resting == {held, free}
        assert r.events("safe_mode") == []


def test_a_replacement_goes_out_only_after_its_cancels_are_answered(
    sim: SimHarness, tmp_path: Path
) -> None:
    ticker = "KXOFFPATH-SIM-R"
    gate = Gate()
    with rig(
        sim, tmp_path, [ticker], strategy="market-maker", params={"requote_tolerance": "0"},
        transport=gate, send_workers=2, trade={"amend_requotes": False},
    ) as r:  # fmt: skip
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert poll_until(lambda: _placed(r, ticker) == 2, between=lambda: _ticking(r))
        first = len(gate.log)
        # the best bid moves up a cent, and the mid with it: the maker requotes, each new
        # quote replacing its old one, and the cancels are held in the network
        gate.holds = lambda request: request.method == "DELETE"
        r.books[ticker].quote("0.50", "0.70")
        assert poll_until(gate.held.is_set, between=lambda: _ticking(r))
        for _ in range(5):
            _ticking(r)
        assert _placed(r, ticker) == 2  # nothing replaced while its cancel is out
        assert [m for _, m, _, _ in gate.log[first:]].count("POST") == 0
        gate.open.set()
        assert poll_until(lambda: _placed(r, ticker) >= 4, between=lambda: _ticking(r))
        after = gate.log[first:]
        # a YES bid rests on the book's bid side, a NO bid on its ask side
        book_side = {"yes": "bid", "no": "ask"}
        old = {str(e["order_id"]): book_side[str(e["side"])] for e in r.events("order_placed")[:2]}
        assert sorted(old.values()) == ["ask", "bid"]
        for order_id, side in old.items():
            # each side's replacement left only once the cancel of the order it replaces was
            # answered
            [cancelled] = [
                n
                for n, (at, method, path, _) in enumerate(after)
                if at == "end" and method == "DELETE" and path.endswith(order_id)
            ]
            placed = [
                n
                for n, (at, method, _, body) in enumerate(after)
                if at == "start" and method == "POST" and f'"side":"{side}"'.encode() in body
            ]
            assert placed and placed[0] > cancelled, after
        replaced = {e["order_id"] for e in r.events("order_cancelled") if e["reason"] == "replaced"}
        assert set(old) <= replaced


def test_an_order_whose_answer_is_out_at_the_stop_is_not_proven_gone_when_it_lands_later(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The stop waits for the calls still out only within its deadline; an order whose answer
    is still not back may land afterwards: it is looked up as an order of unknown outcome, and
    if the stop cannot see it gone, the stop names it rather than exiting proven."""
    ticker = "KXOFFPATH-SIM-S"
    gate = Gate()
    gate.holds = lambda request: request.method == "POST" and ticker.encode() in request.content
    with rig(
        sim, tmp_path, [ticker], strategy="market-maker", params={},
        transport=gate, send_workers=2, settings={"stop_deadline_s": 1.0},
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30)
            summary = r.loop.stop.shutdown(cancel_resting=True)
            out = {i.client_order_id for i in r.store.orders.intents() if i.ticker == ticker}
            assert len(out) == 2
            assert set(summary.not_proven) == out
            assert {i.status for i in r.store.orders.intents()} == {UNKNOWN}
        finally:
            gate.open.set()


def test_an_order_call_held_past_the_call_timeout_frees_its_worker_and_lands_as_unknown(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`trade.call_timeout_s`: a call whose answer the network holds past it gives up there,
    so its worker (the only one here) makes the other market's calls meanwhile, though the
    client's own timeout is a minute. The order is one of unknown outcome, never sent again:
    when the exchange finally takes it, the lookups book it, once.

    The call timeout leaves the simulator seconds to read the request whole before the client
    gives up and closes: its server answers a body read made after the close with a disconnect,
    and the order then never reaches the exchange (a real outcome, but not this test's)."""
    tickers = ["KXOFFPATH-SIM-T1", "KXOFFPATH-SIM-T2"]
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params={}, batch_wait_s=0.0,
        timeout=60.0, send_workers=1, trade={"call_timeout_s": 3.0},
    ) as r:  # fmt: skip
        sim.set_faults(hold_request_s=600)  # the next order request: held until cleared below
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert poll_until(lambda: r.events("order_unknown"), between=lambda: _ticking(r))
        assert sim.faults()["hold_request_s"] == 0, "the simulator took the request into its hold"
        [held] = {str(e["ticker"]) for e in r.events("order_unknown")}
        [free] = set(tickers) - {held}
        assert poll_until(lambda: _placed(r, free) == 2, between=lambda: _ticking(r))
        # the held order has not reached the exchange yet: the worker did not wait for it
        assert list(r.client.orders.iter_orders(ticker=held)) == []
        lost = [i for i in r.store.orders.intents() if i.ticker == held]
        assert len(lost) == 2 and {i.status for i in lost} == {UNKNOWN}
        sim.clear_faults()  # the exchange takes it late
        assert poll_until(lambda: len(r.events("order_resolved")) == 2, between=lambda: _ticking(r))
        on_exchange = list(r.client.orders.iter_orders(ticker=held))
        assert len(on_exchange) == 2  # looked up, never sent again
        assert {i.client_order_id for i in lost} == {o.client_order_id for o in on_exchange}
        assert r.events("safe_mode") == []


def test_an_order_call_still_waiting_for_a_worker_when_the_stop_begins_never_leaves(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Calls decided before the stop that no worker has taken yet are dropped as it begins,
    their intents booked as never sent: a stopping loop places nothing, though the call ahead
    of them (held in the network) is answered during the stop and frees the worker."""
    tickers = ["KXOFFPATH-SIM-Q1", "KXOFFPATH-SIM-Q2"]
    gate = Gate()
    gate.holds = lambda request: request.method == "POST"
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=gate, send_workers=1, settings={"stop_deadline_s": 10.0},
    ) as r:  # fmt: skip
        opener = threading.Timer(0.2, gate.open.set)
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30)
            intents = r.store.orders.intents()
            assert {i.ticker for i in intents} == set(tickers)  # both markets decided
            opener.start()  # the held call is answered once the stop has begun
            summary = r.loop.stop.shutdown(cancel_resting=True)
        finally:
            opener.cancel()
            gate.open.set()
        posts = [body for at, method, _, body in gate.log if at == "start" and method == "POST"]
        assert len(posts) == 1, "only the call a worker had taken went out"
        [sent] = {t for t in tickers if t.encode() in posts[0]}
        [dropped] = set(tickers) - {sent}
        assert list(r.client.orders.iter_orders(ticker=dropped)) == []
        never = [i for i in r.store.orders.intents() if i.ticker == dropped]
        assert never and {i.status for i in never} == {"rejected"}
        assert summary.not_proven == ()
        assert list(r.client.orders.iter_orders(status="resting")) == []


@pytest.mark.parametrize("read_by_a_tick", [False, True], ids=["just-tripped", "read-by-a-tick"])
def test_an_order_call_waiting_for_a_worker_when_the_api_error_guard_sets_safe_mode_never_leaves(
    sim: SimHarness, tmp_path: Path, read_by_a_tick: bool
) -> None:
    """Both markets' orders are recorded while trading is ACTIVE; the only worker is held in
    the network with the first market's call, and the second market's waits in line. A failed
    call then puts trading into SAFE_MODE (`risk.max_consecutive_errors` 1), and the worker is
    freed at once (no tick reads the state before both calls are booked: the guard's word alone
    holds the waiting one) or after a tick has read it. Either way the waiting call is not made:
    its orders never reach the exchange, and each intent is booked as never sent, naming
    SAFE_MODE. On the old code the worker took it and placed them after SAFE_MODE."""
    tickers = ["KXOFFPATH-SIM-G1", "KXOFFPATH-SIM-G2"]
    gate = Gate()
    gate.holds = lambda request: request.method == "POST"
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=gate, send_workers=1, risk={"max_consecutive_errors": 1},
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30)
            assert {i.ticker for i in r.store.orders.intents()} == set(tickers)
            guard = r.loop.executor.guard
            guard.failed(ServerError("HTTP 503", status=503), guard.stamp())
            assert r.store.trading.trading_state().state == "SAFE_MODE"
            if read_by_a_tick:
                _ticking(r)
                assert not guard.safe_mode_tripped and r.loop.gate.state == "SAFE_MODE"
        finally:
            gate.open.set()
        if not read_by_a_tick:
            # no tick until both calls are answered and booked: only the guard's word holds
            # the waiting one back, the trading state last read being ACTIVE
            assert r.loop.dispatch.settle(SystemClock(), 60)
            assert r.loop.gate.state == "ACTIVE"
        assert poll_until(
            lambda: r.loop.dispatch.in_flight == 0, between=lambda: _ticking(r), within_s=60
        )
        posts = [body for at, method, _, body in gate.log if at == "start" and method == "POST"]
        assert len(posts) == 1, "only the call the worker had taken before SAFE_MODE went out"
        [sent] = {t for t in tickers if t.encode() in posts[0]}
        [withdrawn] = set(tickers) - {sent}
        assert list(r.client.orders.iter_orders(ticker=withdrawn)) == []
        never = [i for i in r.store.orders.intents() if i.ticker == withdrawn]
        assert len(never) == 2 and {i.status for i in never} == {"rejected"}
        said = (
            "trading is SAFE_MODE"
            if read_by_a_tick
            else "trading went into SAFE_MODE (the API error guard)"
        )
        assert [i.error for i in never] == [f"never sent: {said} before the request was sent"] * 2
        dropped = [e for e in r.events("intent_dropped") if e["ticker"] == withdrawn]
        assert len(dropped) == 2 and all("SAFE_MODE" in str(e["reason"]) for e in dropped)


def test_an_order_call_waiting_for_a_worker_once_trading_is_halted_never_leaves(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Both markets' orders are recorded while trading is ACTIVE; the only worker is held in
    the network with the first market's call, and the second market's waits in line. Another
    process halts trading (the kill switch), and a tick reads it. The waiting call is not made
    once the worker is freed: its orders never reach the exchange, and each intent is booked as
    never sent, naming HALTED."""
    tickers = ["KXOFFPATH-SIM-H1", "KXOFFPATH-SIM-H2"]
    gate = Gate()
    gate.holds = lambda request: request.method == "POST"
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=gate, send_workers=1,
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30)
            assert {i.ticker for i in r.store.orders.intents()} == set(tickers)
            r.store.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
            assert poll_until(
                lambda: r.loop.gate.state == "HALTED", between=lambda: _ticking(r), within_s=60
            )
        finally:
            gate.open.set()
        assert poll_until(
            lambda: r.loop.dispatch.in_flight == 0, between=lambda: _ticking(r), within_s=60
        )
        posts = [body for at, method, _, body in gate.log if at == "start" and method == "POST"]
        assert len(posts) == 1, "only the call the worker had taken before the halt went out"
        [sent] = {t for t in tickers if t.encode() in posts[0]}
        [withdrawn] = set(tickers) - {sent}
        assert list(r.client.orders.iter_orders(ticker=withdrawn)) == []
        never = [i for i in r.store.orders.intents() if i.ticker == withdrawn]
        assert len(never) == 2 and {i.status for i in never} == {"rejected"}
        assert [i.error for i in never] == [
            "never sent: trading is HALTED before the request was sent"
        ] * 2


def test_an_order_call_no_worker_took_while_the_stop_waited_is_not_taken_for_one_that_may_land(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The call ahead holds the only worker past the stop's wait for the calls still out (half
    its deadline): the call behind it, never taken, never leaves. Its orders are never sent, so
    the stop neither waits for them to land nor names them: only the held call's orders, which
    may land, are not proven gone. On the old code both markets' orders were marked unknown
    before the waiting call was dropped, and the stop named all four (and the next start would
    have waited for orders that never left)."""
    tickers = ["KXOFFPATH-SIM-W1", "KXOFFPATH-SIM-W2"]
    gate = Gate()
    gate.holds = lambda request: request.method == "POST"
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=gate, send_workers=1, settings={"stop_deadline_s": 2.0},
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30)
            assert {i.ticker for i in r.store.orders.intents()} == set(tickers)
            summary = r.loop.stop.shutdown(cancel_resting=True)
        finally:
            gate.open.set()
        posts = [body for at, method, _, body in gate.log if at == "start" and method == "POST"]
        assert len(posts) == 1, "only the call the worker had taken went out"
        [sent] = {t for t in tickers if t.encode() in posts[0]}
        [dropped] = set(tickers) - {sent}
        held = {i.client_order_id for i in r.store.orders.intents() if i.ticker == sent}
        assert len(held) == 2
        assert set(summary.not_proven) == held
        never = [i for i in r.store.orders.intents() if i.ticker == dropped]
        assert len(never) == 2 and {i.status for i in never} == {"rejected"}, "never sent"
        assert not any(e["ticker"] == dropped for e in r.events("order_unknown"))
        assert list(r.client.orders.iter_orders(ticker=dropped)) == []


def test_a_held_lookup_of_one_markets_lost_orders_holds_only_that_market(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Orders whose answers were lost in two markets: each market's are looked up on a call of
    its own, so the lookup of one market's, held in the network, holds neither the other's
    lookup nor its booking. Every order is found where it landed and none is sent again."""
    tickers = ["KXOFFPATH-SIM-L1", "KXOFFPATH-SIM-L2"]
    gate = Gate()
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=gate, send_workers=2 * LOOKUP_SHARE,  # room for two markets' lookups
        settings={"resolve_s": 3600.0},  # one round of lookups, when the test says
    ) as r:  # fmt: skip
        try:
            # no lookup until both markets' orders are lost, so the first round sees both
            r.loop._next_resolve = r.loop.clock.monotonic() + 3600.0
            sim.set_faults(drop_response_after_commit_rate=1.0)
            r.loop.tick(r.feed.drain_messages(), full=True)
            unknown = r.loop.executor.unknown_orders.unknown

            def lost_in_both() -> bool:
                return len(unknown) == 4 and {u.ticker for u in unknown.values()} == set(tickers)

            assert poll_until(lost_in_both, between=lambda: _ticking(r))
            sim.clear_faults()
            # the market whose orders a single round of lookups would ask for first
            held = next(iter(unknown.values())).ticker
            [free] = set(tickers) - {held}
            gate.holds = lambda request: (
                request.method == "GET"
                and request.url.path == "/trade-api/v2/portfolio/orders"
                and request.url.params.get("ticker") == held
            )
            r.loop._next_resolve = r.loop.clock.monotonic()

            def free_resolved() -> bool:
                return all(u.ticker == held for u in unknown.values())

            assert poll_until(free_resolved, between=lambda: _ticking(r))
            assert gate.held.is_set() and not gate.open.is_set()
            assert {u.ticker for u in unknown.values()} == {held}
            resolved = {str(e["ticker"]) for e in r.events("order_resolved")}
            assert resolved == {free}
        finally:
            gate.open.set()
        assert poll_until(lambda: not unknown, between=lambda: _ticking(r))
        for ticker in tickers:
            on_exchange = list(r.client.orders.iter_orders(ticker=ticker))
            intents = [i for i in r.store.orders.intents() if i.ticker == ticker]
            # looked up, never sent again: the two quotes of the first pass, each once
            assert len(on_exchange) == 2 and len(intents) == 2
            assert {o.client_order_id for o in on_exchange} == {i.client_order_id for i in intents}
            assert {i.status for i in intents} == {"resting"}
        assert r.events("safe_mode") == []


def test_a_halts_withdrawals_go_out_side_by_side_off_the_deciding_path(
    sim: SimHarness, tmp_path: Path
) -> None:
    """HALTED: the loop's quotes are withdrawn, each cancel on a send worker ahead of other
    calls. One market's cancels held in the network hold neither the tick (the loop goes on
    beating) nor the other market's withdrawal."""
    held, free = "KXOFFPATH-SIM-H1", "KXOFFPATH-SIM-H2"
    gate = Gate()
    with rig(
        sim, tmp_path, [held, free], strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=gate, send_workers=4,
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert poll_until(
                lambda: _placed(r, held) == 2 and _placed(r, free) == 2,
                between=lambda: _ticking(r),
            )
            held_ids = {o.order_id for o in r.loop.portfolio.orders.values() if o.ticker == held}
            gate.holds = lambda request: (
                request.method == "DELETE" and request.url.path.rsplit("/", 1)[-1] in held_ids
            )
            with Store.open(tmp_path / "state.db", clock=SystemClock()) as other:
                halt(other.trading, reason="a person looks", source="kalshi halt")
            # a loop that waited for the held cancels would return only once this opens them
            opener = threading.Timer(30, gate.open.set)
            opener.start()
            try:
                assert poll_until(gate.held.is_set, between=lambda: _ticking(r))
                assert not gate.open.is_set(), "the tick waited for a held withdrawal"
            finally:
                opener.cancel()

            def free_withdrawn() -> bool:
                return not any(o.ticker == free for o in r.loop.portfolio.orders.values())

            assert poll_until(free_withdrawn, between=lambda: _ticking(r))
            assert {o.ticker for o in r.loop.portfolio.orders.values()} == {held}
        finally:
            gate.open.set()
        assert poll_until(lambda: not r.loop.portfolio.orders, between=lambda: _ticking(r))
        assert list(r.client.orders.iter_orders(status="resting")) == []


def test_a_replacement_whose_cancels_are_answered_during_the_stop_is_not_sent(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The stop books the answers of the calls still out before it withdraws: a cancel of a
    requote answered then used to send its replacement, a new order placed by a loop that is
    stopping (which the withdrawal then had to cancel again). The replacement is dropped."""
    ticker = "KXOFFPATH-SIM-T"
    gate = Gate()
    with rig(
        sim, tmp_path, [ticker], strategy="market-maker", params={"requote_tolerance": "0"},
        transport=gate, send_workers=2, trade={"amend_requotes": False},
    ) as r:  # fmt: skip
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert poll_until(lambda: _placed(r, ticker) == 2, between=lambda: _ticking(r))
        gate.holds = lambda request: request.method == "DELETE"
        r.books[ticker].quote("0.50", "0.70")
        assert poll_until(gate.held.is_set, between=lambda: _ticking(r))
        settling = threading.Event()
        settle = r.loop.dispatch.settle

        def settle_seen(*args: object, **kwargs: object) -> bool:
            settling.set()
            return settle(*args, **kwargs)  # type: ignore[arg-type]

        r.loop.dispatch.settle = settle_seen  # type: ignore[method-assign]
        marks: list[int] = []

        def answer_once_stopping() -> None:
            # the held cancels are answered while the stop books what is still out
            if settling.wait(30):
                marks.append(len(gate.log))
            gate.open.set()

        threading.Thread(target=answer_once_stopping, daemon=True).start()
        r.loop.stop.shutdown(cancel_resting=True)  # on the thread that owns the state file
        assert marks, "the stop did not book the calls still out"
        began = marks[0]
        posts = [m for at, m, _, _ in gate.log[began:] if at == "start" and m == "POST"]
        assert posts == [], gate.log[began:]
        assert _placed(r, ticker) == 2
        dropped = [e for e in r.events("intent_dropped") if e["ticker"] == ticker]
        assert dropped and all(e["reason"] == "the loop is stopping" for e in dropped)
        assert list(r.client.orders.iter_orders(status="resting")) == []


def test_a_second_interrupt_ends_the_stops_wait_for_the_calls_still_out(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The stop's first step waits for the calls still out, up to half its deadline. A second
    SIGINT or SIGTERM there (`abandon`: the person will not wait) ends that wait at once, as it
    ends every later step, instead of after the half: the order whose answer is not back is
    given up on and named as not proven gone."""
    ticker = "KXOFFPATH-SIM-I"
    stop_deadline_s = 60.0
    gate = Gate()
    gate.holds = lambda request: request.method == "POST" and ticker.encode() in request.content
    with rig(
        sim, tmp_path, [ticker], strategy="market-maker", params={},
        transport=gate, send_workers=2, settings={"stop_deadline_s": stop_deadline_s},
    ) as r:  # fmt: skip
        abandon = threading.Event()

        def interrupt_again_once_stopping() -> None:
            if poll_until(lambda: r.loop.dispatch.stopping):
                abandon.set()

        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30)
            threading.Thread(target=interrupt_again_once_stopping, daemon=True).start()
            started = time.monotonic()
            summary = r.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
            took = time.monotonic() - started
        finally:
            gate.open.set()
        assert abandon.is_set()
        # the wait for the held call (half the deadline: 30 s) did not happen
        assert took < stop_deadline_s / 2, took
        out = {i.client_order_id for i in r.store.orders.intents() if i.ticker == ticker}
        assert len(out) == 2
        assert set(summary.not_proven) == out
        assert {i.status for i in r.store.orders.intents()} == {UNKNOWN}
        [abandoned] = r.events("shutdown_abandoned")
        left = abandoned["unknown_left"]
        assert isinstance(left, list) and set(left) == out
        assert abandoned["left_resting"] == [], "nothing of the loop's was believed resting"


class Faulty(httpx.HTTPTransport):
    """The real transport, but an order request of a `faulty` market is held until `open` is
    set and then raises what no booking expects (a bug below the client): its call comes back
    with that exception."""

    def __init__(self, faulty: str) -> None:
        super().__init__()
        self.faulty = faulty.encode()
        self.open = threading.Event()
        self.held = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.faulty in request.content:
            self.held.set()
            self.open.wait(60)
            raise RuntimeError("a bug below the client")
        return super().handle_request(request)


def test_an_answer_whose_booking_fails_during_the_stop_does_not_keep_it_from_withdrawing(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A call still out as the stop begins comes back with an exception no booking expects, and
    its booking raises while the stop books the answers still out. The stop goes on: the other
    answers are booked and the loop's quotes withdrawn, and only then does the failure end the
    run as the crash it is. On the old code it ended the stop at once: no cancel was sent, and
    the other market's two quotes rested with nobody to manage them."""
    quoted, faulty = "KXOFFPATH-SIM-F1", "KXOFFPATH-SIM-F2"
    gate = Faulty(faulty)
    with rig(
        sim, tmp_path, [quoted, faulty], strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=gate, send_workers=2, settings={"stop_deadline_s": 10.0},
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30)
            assert poll_until(lambda: _placed(r, quoted) == 2, between=lambda: _ticking(r))
            settle = r.loop.dispatch.settle

            def settle_once_answered(*args: object, **kwargs: object) -> bool:
                gate.open.set()  # the faulty call comes back as the stop waits for it
                return settle(*args, **kwargs)  # type: ignore[arg-type]

            r.loop.dispatch.settle = settle_once_answered  # type: ignore[method-assign]
            with pytest.raises(RuntimeError, match="a bug below the client"):
                r.loop.stop.shutdown(cancel_resting=True)
        finally:
            gate.open.set()
        assert list(r.client.orders.iter_orders(status="resting")) == []
        cancelled = [e for e in r.events("order_cancelled") if e["reason"] == "shutdown"]
        assert {e["ticker"] for e in cancelled} == {quoted} and len(cancelled) == 2
        [failed] = r.events("shutdown_booking_failed")
        assert "a bug below the client" in str(failed["error"])


def test_a_second_interrupt_ends_the_stops_cancels_one_by_one_still_held(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The stop's batch cancel is refused, so it cancels the loop's quotes one by one, side by
    side, and the exchange holds those cancels. A second SIGINT or SIGTERM there ends that step
    at once, as it ends every other: the quotes whose cancels are not answered are given up on
    and named as not proven gone. On the old code the stop waited for every held cancel (here
    until the network let them go, 30 s later; on a slow exchange, the withdrawal's whole share
    of the deadline)."""
    ticker = "KXOFFPATH-SIM-J"
    gate = Gate()
    batched = "/trade-api/v2/portfolio/events/orders/batched"
    with rig(
        sim, tmp_path, [ticker], strategy="market-maker", params={},
        transport=gate, send_workers=2, settings={"stop_deadline_s": 60.0},
    ) as r:  # fmt: skip
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert poll_until(lambda: _placed(r, ticker) == 2, between=lambda: _ticking(r))
        quotes = {o.order_id for o in r.loop.stop.own.resting()}
        refuse = gate.handle_request

        def refusing_the_batch(request: httpx.Request) -> httpx.Response:
            if request.method == "DELETE" and request.url.path == batched:
                return httpx.Response(400, json={"error": {"code": "bad_request"}})
            return refuse(request)

        gate.handle_request = refusing_the_batch  # type: ignore[method-assign]
        gate.holds = lambda request: (
            request.method == "DELETE" and request.url.path.rsplit("/", 1)[-1] in quotes
        )
        abandon = threading.Event()

        def interrupt_again_once_held() -> None:
            if gate.held.wait(30):
                abandon.set()

        threading.Thread(target=interrupt_again_once_held, daemon=True).start()
        # a stop that waited for the held cancels would return only once this opens them
        opener = threading.Timer(30, gate.open.set)
        opener.start()
        try:
            summary = r.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
            assert not gate.open.is_set(), "the stop waited for the held cancels"
        finally:
            opener.cancel()
            gate.open.set()
        assert abandon.is_set()
        assert set(summary.not_proven) == quotes
        [abandoned] = r.events("shutdown_abandoned")
        left = abandoned["left_resting"]
        assert isinstance(left, list) and set(left) == quotes


def test_a_maintenance_schedule_read_held_in_the_network_holds_no_tick(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The loop reads the exchange's maintenance windows every `schedule_poll_s`. The first
    read is waited for (a loop started inside a window must know it before its first order);
    a later one is made off the deciding path, as every other call is. Made on the loop's
    thread, a read the exchange was slow to answer held every market's decisions until the
    client's deadline."""
    tickers = ["KXOFFPATH-SIM-S"]
    gate = Gate()
    holding = threading.Event()
    gate.holds = lambda request: holding.is_set() and request.url.path.endswith("/schedule")
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params={},
        batch_wait_s=0.0, transport=gate, send_workers=2, timeout=60.0,
        settings={"schedule_poll_s": 1.0},
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)  # the first read, answered
            assert poll_until(lambda: _placed(r, tickers[0]) == 2, between=lambda: _ticking(r))
            holding.set()
            time.sleep(1.5)  # the next read is due
            # the read is let go after 20 s at the latest: a tick that waits for it returns
            # only then, with the gate open
            letting_go = threading.Timer(20.0, gate.open.set)
            letting_go.start()
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert gate.held.wait(30), "the next read was sent"
            assert not gate.open.is_set(), "the tick waited for the held read"
            for _ in range(3):  # and the ticks after it go on while the read is still held
                _ticking(r)
            assert not gate.open.is_set()
            letting_go.cancel()
        finally:
            gate.open.set()
        holding.clear()
        assert poll_until(lambda: not r.loop.watch._schedule_out, between=lambda: _ticking(r)), (
            "the held read's answer is booked once it comes"
        )
        assert r.events("schedule_unavailable") == []
        assert r.events("safe_mode") == []


def test_a_lifecycle_gaps_read_held_in_the_network_holds_no_tick(
    sim: SimHarness, tmp_path: Path
) -> None:
    """After a `market_lifecycle_v2` gap the loop reads its markets' state again (`GET
    /markets?tickers=`), off the deciding path as every other call. Here a market's pause is
    lost in the gap: while the read is held in the network the ticks go on, and once it is
    answered the loop no longer trades the paused market."""
    paused, free = "KXOFFPATH-SIM-L", "KXOFFPATH-SIM-M"
    gate = Gate()
    holding = threading.Event()
    gate.holds = lambda request: (
        holding.is_set() and request.method == "GET" and request.url.path.endswith("/markets")
    )
    with rig(
        sim, tmp_path, [paused, free], strategy="market-maker", params={},
        batch_wait_s=0.0, transport=gate, send_workers=2, timeout=60.0,
    ) as r:  # fmt: skip
        try:
            r.loop.tick(r.feed.drain_messages(), full=True)
            assert poll_until(lambda: _placed(r, free) == 2, between=lambda: _ticking(r))
            sim.set_status(paused, "paused")
            kept: list[FeedMessage] = []
            assert drained_until(
                r, kept, lambda got: any(e.kind is MessageKind.LIFECYCLE for e in got)
            )
            # the pause's message is lost: the feed reports the gap instead
            kept = [e for e in kept if e.kind is not MessageKind.LIFECYCLE]
            kept.append(FeedMessage(MessageKind.GAP, reason="market_lifecycle_v2"))
            holding.set()
            letting_go = threading.Timer(20.0, gate.open.set)
            letting_go.start()
            r.loop.tick(kept, full=True)
            assert gate.held.wait(30), "the markets were read again"
            assert not gate.open.is_set(), "the tick waited for the held read"
            for _ in range(3):  # the ticks after it go on while the read is held
                _ticking(r)
            assert not gate.open.is_set()
            assert paused not in r.loop.closed
            letting_go.cancel()
        finally:
            gate.open.set()
        holding.clear()
        assert poll_until(lambda: paused in r.loop.closed, between=lambda: _ticking(r)), (
            "the held read's answer is booked once it comes"
        )
        assert r.events("lifecycle_read_failed") == []
        assert r.events("safe_mode") == []
