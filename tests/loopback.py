"""A TCP server on loopback for the tests of answers that stall, trickle or break: each connection
it accepts goes, with its number (from 0), to the test's handler in a thread of its own. A handler
that holds a connection waits on `release`; `close` sets it, ends every thread and fails the test
with whatever a handler raised (an OSError is the client going away, not a failure)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable

# how long `close` waits for each of its threads (generous: the machine is shared)
JOIN_S = 10.0

Handler = Callable[[socket.socket, int], None]


def read_request(conn: socket.socket) -> bytes:
    """One whole request (head and Content-Length body) as it came off the wire; what came before
    the end of the stream if it ended first (b"" for nothing)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class LoopbackServer:
    """Serves every connection with `handler(conn, n)`. `receive_buffer`: the listening socket's
    SO_RCVBUF (a small one makes a client's large write block); `tls`: each connection is
    wrapped in it first."""

    def __init__(
        self,
        handler: Handler,
        *,
        receive_buffer: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.listener = socket.socket()
        if receive_buffer is not None:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port: int = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.first_accepted_at: float | None = None  # time.monotonic()
        self.release = threading.Event()
        self.requests: list[bytes] = []  # what `serve` read
        self.errors: list[BaseException] = []
        self._workers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.first_accepted_at is None:
                self.first_accepted_at = time.monotonic()
            n = self.connections
            self.connections += 1
            worker = threading.Thread(target=self._handle, args=(conn, n), daemon=True)
            self._workers.append(worker)
            worker.start()

    def _handle(self, conn: socket.socket, n: int) -> None:
        with conn:
            try:
                if self.tls is None:
                    self.handler(conn, n)
                    return
                with self.tls.wrap_socket(conn, server_side=True) as wrapped:
                    self.handler(wrapped, n)
            except OSError:
                pass
            except BaseException as exc:  # a failed handler fails the test in close()
                self.errors.append(exc)

    def serve(self, conn: socket.socket, reply: bytes) -> bytes:
        """One request read off `conn` and kept, answered with `reply` as it is."""
        request = read_request(conn)
        self.requests.append(request)
        conn.sendall(reply)
        return request

    def close(self) -> None:
        self.release.set()
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone does not)
        self.listener.close()
        self._thread.join(JOIN_S)
        for worker in self._workers:
            worker.join(JOIN_S)
        assert not self.errors
