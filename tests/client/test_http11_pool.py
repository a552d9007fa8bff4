"""Http11Transport's pool: the keep-alive expiry (on the injected clock) and how many
connections it holds.

The pool has no limit on connections and never raises PoolTimeout: the client is synchronous,
so each request holds one connection from checkout to answer, and the connections open at
once are at most the threads in a request at once (the trade loop and its REST poller: two)
plus the idle ones, at most MAX_IDLE_PER_ORIGIN per origin. The tests here hold that bound.

The server answers every request on a connection until the client closes it, and counts
what it sees; every wait is on a condition with a deadline.
"""

from __future__ import annotations

import gc
import socket
import threading
import warnings
from collections.abc import Callable, Iterator

import httpx
import pytest

from kalshi_cli.client.http11 import KEEPALIVE_EXPIRY_S, MAX_IDLE_PER_ORIGIN, Http11Transport
from kalshi_cli.clock import ManualClock
from tests.client.test_http11 import TIMEOUTS, answer, read_request

DEADLINE_S = 10.0


class CountingServer:
    """Answers each request once `gate(requests so far)` is true; counts connections accepted,
    closed by the client, and open at once."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/x"
        self.changed = threading.Condition()
        self.accepted = 0
        self.closed = 0
        self.open = 0
        self.most_open = 0
        self.requests = 0
        self.gate: Callable[[int], bool] = lambda requests: True
        self.failed = False
        self._workers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.changed:
                number = self.accepted
                self.accepted += 1
                self.open += 1
                self.most_open = max(self.most_open, self.open)
                self.changed.notify_all()
            worker = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            self._workers.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            while read_request(conn):
                with self.changed:
                    self.requests += 1
                    self.changed.notify_all()
                    if not self.changed.wait_for(lambda: self.gate(self.requests), DEADLINE_S):
                        self.failed = True
                conn.sendall(answer("200 OK", str(number).encode()))
        with self.changed:
            self.closed += 1
            self.open -= 1
            self.changed.notify_all()

    def wait(self, condition: Callable[[], bool]) -> bool:
        with self.changed:
            return self.changed.wait_for(condition, DEADLINE_S)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(DEADLINE_S)
        for worker in self._workers:
            worker.join(DEADLINE_S)
        assert not self.failed


@pytest.fixture
def server() -> Iterator[CountingServer]:
    made = CountingServer()
    yield made
    made.close()


def connection_of(transport: httpx.BaseTransport, url: str) -> int:
    """Which of the server's connections (numbered from 0) answered a GET."""
    response = transport.handle_request(httpx.Request("GET", url, extensions={"timeout": TIMEOUTS}))
    return int(response.read())


# ------------------------------------------------------------------------------------------
# keep-alive expiry


def test_a_connection_idle_up_to_the_expiry_is_reused_and_past_it_is_not(
    server: CountingServer,
) -> None:
    clock = ManualClock()
    with Http11Transport(clock=clock) as transport:
        assert connection_of(transport, server.url) == 0
        clock.advance(KEEPALIVE_EXPIRY_S - 0.5)
        assert connection_of(transport, server.url) == 0
        clock.advance(KEEPALIVE_EXPIRY_S)  # exactly the expiry: still good, as httpcore's
        assert connection_of(transport, server.url) == 0
        clock.advance(KEEPALIVE_EXPIRY_S + 0.25)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            assert connection_of(transport, server.url) == 1
            gc.collect()
        # the expired connection was closed by the client, not left to the garbage collector
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert server.wait(lambda: server.closed == 1)
        assert connection_of(transport, server.url) == 1
    assert server.wait(lambda: server.closed == 2)
    assert server.accepted == 2


def test_the_expiry_is_measured_from_the_end_of_the_last_request(
    server: CountingServer,
) -> None:
    """Requests in a steady stream each under the expiry apart keep one connection, however
    long the stream lasts."""
    clock = ManualClock()
    with Http11Transport(clock=clock) as transport:
        for _ in range(10):
            assert connection_of(transport, server.url) == 0
            clock.advance(KEEPALIVE_EXPIRY_S * 0.75)
    assert server.accepted == 1


# ------------------------------------------------------------------------------------------
# how many connections


def run_together(transport: httpx.BaseTransport, url: str, threads: int) -> list[int]:
    """One GET from each of `threads` threads at once; the connections that answered."""
    seen: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        number = connection_of(transport, url)
        with lock:
            seen.append(number)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(DEADLINE_S * 2)
    return seen


def test_n_threads_open_at_most_n_connections_and_idle_ones_are_capped(
    server: CountingServer,
) -> None:
    """The server holds every answer until all N requests are in: N threads at once need N
    connections, and no more. Once answered, MAX_IDLE_PER_ORIGIN stay idle and the rest are
    closed; the next N requests at once reuse the idle ones and open only the difference."""
    threads = MAX_IDLE_PER_ORIGIN + 4
    with Http11Transport() as transport:
        server.gate = lambda requests: requests >= threads
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            assert len(run_together(transport, server.url, threads)) == threads
            gc.collect()
        # those past the cap were closed by the transport, not left to the garbage collector
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert server.accepted == threads
        assert server.wait(lambda: server.closed == threads - MAX_IDLE_PER_ORIGIN)

        server.gate = lambda requests: requests >= 2 * threads
        second = run_together(transport, server.url, threads)
        assert len(second) == threads
        assert sum(number < threads for number in second) == MAX_IDLE_PER_ORIGIN
        assert server.accepted == threads + threads - MAX_IDLE_PER_ORIGIN
        assert server.most_open == threads
        assert server.wait(lambda: server.closed == 2 * (threads - MAX_IDLE_PER_ORIGIN))

        # one thread after another: one connection, taken from the idle ones
        server.gate = lambda requests: True
        sequential = {connection_of(transport, server.url) for _ in range(5)}
        assert len(sequential) == 1
        assert server.accepted == 2 * threads - MAX_IDLE_PER_ORIGIN
    assert server.wait(lambda: server.open == 0)
