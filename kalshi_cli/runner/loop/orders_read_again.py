"""A market's resting orders read again once the feed's `user_orders` subscription carries it:
the loop's markets at its start (the start's reconcile read them before the feed subscribed) and
each market that joins a running loop (its listing read them before the feed added it), and every
market after a gap of the feed (a reconnect: runner/loop/watch.py `_trouble`). An order
placed elsewhere (by hand, on the website) after that first read and before the exchange applied
the subscription is told by no message; the read made after the exchange's answer (`subscribed`,
or `ok` to an `add_markets`: asyncapi.yaml) finds it. What it finds is recorded as the start's
reconcile records it (`record_foreign`, logged `reconciled` with the market's ticker) and booked
as the start's rebuild books it (`book_resting`). An order the state file holds resting there that
the read does not list, written long enough before it to be listed, ended while no message could
tell it (cancelled by hand, filled by another account's order while the WebSocket was down): it
is booked as gone by the loop's one rule for an order the exchange no longer lists
(`Cancels.booked_gone`: no longer resting, the fills read next say what it became), so the loop
neither counts it nor amends or cancels it as if it rested.

Each such market waits for that read: it takes no turn from the moment it is handed over
(`wait`) until the read is answered, the wait for the subscription's answer included (its
stop-loss goes on); a read that fails leaves it waiting, and is made again at a later tick, not
during the API error guard's backoff; one told to wait again while its read is on its way (a
reconnect: the read may be older than what was lost) waits on for the next read.
docs/trade-loop.md "Orders placed elsewhere before the feed follows a market".

`OrdersReadAgain` is given more than six collaborators because its read is an exchange call made
off the deciding path and booked as the start's reconcile books one: the feed whose answer
starts it, the client and the dispatch that make it, the API error guard it counts in, the state
file and the portfolio it records and books in, the rule that books an order no longer listed,
the clock of its stamp and the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.dispatch import Urgency
from kalshi_cli.runner.ports import OrdersFeed
from kalshi_cli.services.pretrade.books import book_resting
from kalshi_cli.services.reconcile import (
    DEFAULT_READ_LAG_S,
    Doubtful,
    ReconcileReport,
    import_foreign_orders,
)
from kalshi_cli.store.records import RESTING

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.cancels import Cancels
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.runner.ports import LoopClient
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Order

# what a read hands back: when it was asked (unix seconds), and each market's orders resting then
Resting = tuple[float, dict[str, list["Order"]]]
# more markets than this are read in one listing of every resting order (the start's), fewer
# one market at a time (a join's)
PER_MARKET_READS = 5


def record_foreign(
    store: Store,
    log: EntryLog,
    ticker: str,
    resting: Iterable[Order],
    *,
    asked: float,
    read_lag_s: float,
    subaccount: int,
) -> None:
    """The orders resting in `ticker` (listed at `asked`) that the state file does not know,
    recorded as the start's reconcile records them (`import_foreign_orders`, in one savepoint of
    the drain's transaction: all or none), and said as it says them (`reconciled`, with the
    market's ticker)."""
    report = ReconcileReport()
    orders = {o.order_id: o for o in resting}
    with store.transaction():
        import_foreign_orders(
            store, orders, report, now=asked, doubtful=Doubtful(read_lag_s), subaccount=subaccount
        )
    if report.changed:
        log.emit("reconciled", {"ticker": ticker, **report.to_json()})


class OrdersReadAgain:
    def __init__(
        self,
        *,
        feed: object,
        client: LoopClient,
        dispatch: Dispatch,
        guard: CallGuard,
        store: Store,
        portfolio: Portfolio,
        cancels: Cancels,
        clock: Clock,
        log: EntryLog,
        read_lag_s: float = DEFAULT_READ_LAG_S,
    ) -> None:
        """`feed`: which markets its `user_orders` subscription carries (`OrdersFeed`; a feed
        that follows no orders, a paper or replayed one, has no market wait); the read is made
        through `client` on the `dispatch`, counted by the API error guard (`guard`); what it
        finds is recorded in the `store` and booked in the `portfolio`, whose markets (the
        start's) wait from now on; an order the read no longer lists is booked by the `cancels`'
        rule for one gone (`booked_gone`); `read_lag_s`: how long the exchange's reads lag its
        writes."""
        self._carried = feed.orders_carried if isinstance(feed, OrdersFeed) else None
        self._client = client
        self._dispatch, self._guard = dispatch, guard
        self._store, self._portfolio = store, portfolio
        self._cancels = cancels
        self._clock, self._log = clock, log
        self._read_lag_s = read_lag_s
        # market -> what frees it once its read is answered, and since when it waits (monotonic)
        self._waiting: dict[str, tuple[Callable[[], None], float]] = {}
        self._out = False  # a read is on its way, its answer not booked
        self._asked: frozenset[str] = frozenset()  # the markets that read was asked for
        # of those, told to wait anew while it was out (a reconnect): it may be older than the
        # loss, so they wait on for a read asked after this
        self._again: set[str] = set()
        self.wait(portfolio.markets)

    @property
    def ready(self) -> bool:
        """No market waits for its orders' read."""
        return not self._waiting

    def waits(self) -> tuple[int, float | None]:
        """How many markets wait for their orders' read now, and for how many seconds the one
        waiting longest has (None: none waits): the heartbeat reports both."""
        if not self._waiting:
            return 0, None
        since = min(at for _, at in self._waiting.values())
        return len(self._waiting), self._clock.monotonic() - since

    def wait(self, tickers: Iterable[str]) -> None:
        """`tickers` take no turn until their resting orders are read once the feed's
        `user_orders` subscription carries them, and that read is answered. Said
        (`orders_read_waiting`, how many): a loop whose feed is not subscribed trades none of
        them meanwhile."""
        if self._carried is None:
            return
        told = list(dict.fromkeys(tickers))
        self._again.update(t for t in told if t in self._asked)
        new = [t for t in told if t not in self._waiting]
        now = self._clock.monotonic()
        for ticker in new:
            # its stop-loss goes on: an exit only lessens what is held there
            free = self._dispatch.hold([ticker], parked=True, exits_wait=False)
            self._waiting[ticker] = (free, now)
        if new:
            self._log.emit("orders_read_waiting", {"markets": len(new)})

    def due(self) -> None:
        """After a tick's events: the read of the waiting markets the subscription carries now,
        one read out at a time, not during the API error guard's backoff."""
        if not self._waiting or self._out or self._guard.backing_off:
            return
        assert self._carried is not None  # only a feed that follows orders has markets wait
        carried = self._carried.now()
        tickers = sorted(t for t in self._waiting if t in carried)
        if not tickers:
            return
        self._out, self._asked = True, frozenset(tickers)
        orders, clock = self._client.orders, self._clock

        def read() -> Resting:
            asked = clock.wall()
            if len(tickers) > PER_MARKET_READS:
                found: dict[str, list[Order]] = {t: [] for t in tickers}
                for order in orders.iter_orders(status="resting"):
                    if order.ticker in found:
                        found[order.ticker].append(order)
                return asked, found
            return asked, {t: list(orders.iter_orders(ticker=t, status="resting")) for t in tickers}

        self._dispatch.send(tickers, read, self._booked, Urgency.FIRST, unmade=self._unmade)

    def _booked(self, answer: CallAnswer[Resting]) -> None:
        """What the read found recorded and booked; each market read is free to take its turn,
        unless told to wait anew while the read was out. A state file that cannot record them is
        the loop's state-file failure (raised, as any booking's: runner/loop/state_fault.py)."""
        again = self._again
        self._unmade()
        read = self._guard.read(answer, "orders_read_failed")
        if read is None:
            return  # they wait on, read again at a later tick
        asked, resting = read
        subaccount = self._client.subaccount or 0
        for ticker, orders in resting.items():
            record_foreign(
                self._store, self._log, ticker, orders,
                asked=asked, read_lag_s=self._read_lag_s, subaccount=subaccount,
            )  # fmt: skip
            for order_id in self._unlisted(ticker, orders, asked=asked, subaccount=subaccount):
                self._cancels.booked_gone(ticker, order_id)
            book_resting(self._store, self._portfolio, subaccount, ticker)
            if ticker not in again:
                free, _ = self._waiting.pop(ticker)
                free()
        self._log.emit("orders_read", {"markets": len(resting)})

    def _unlisted(
        self, ticker: str, listed: Iterable[Order], *, asked: float, subaccount: int
    ) -> list[str]:
        """The orders the state file holds resting in `ticker` (the loop's own, and those placed
        elsewhere it recorded) that a read of its resting orders asked at `asked` does not list,
        though their rows were written long enough before it to be listed (reads lag writes:
        one answered just before may not show yet, and is left for the next word of it)."""
        shown = {o.order_id for o in listed}
        trusted = asked - self._read_lag_s
        return [
            i.order_id
            for i in self._store.orders.open_orders(ticker=ticker, subaccount=subaccount)
            if i.status == RESTING
            and i.order_id
            and i.order_id not in shown
            and i.updated_at <= trusted
        ]

    def _unmade(self) -> None:
        self._out, self._asked, self._again = False, frozenset(), set()
