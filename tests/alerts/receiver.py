"""A recording HTTP receiver on loopback, for the alert channels' tests, the trade loop's, the
checks' and the kill switch's: every request kept (`Seen`, with the status it was answered), each
answered by the next of a script of responders (`reply`, `hang`, `trickle`), served while
`receiving` holds it, or for a whole test as the `receiver` fixture."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.waiting import wait_until


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # the status it was answered, once the answer is being written

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[BaseHTTPRequestHandler, "Receiver"], None]


def reply(
    status: int = 200, body: bytes = b"ok", headers: dict[str, str] | None = None
) -> Responder:
    def respond(h: BaseHTTPRequestHandler, _r: Receiver) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return respond


def hang(h: BaseHTTPRequestHandler, r: Receiver) -> None:
    """Accept the request and never answer (until the test ends)."""
    r.release.wait(60)


def trickle(h: BaseHTTPRequestHandler, r: Receiver) -> None:
    """Answer a header byte at a time, fast enough that no single read ever times out."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not r.release.wait(0.05):
        try:
            h.wfile.write(b"a")
            h.wfile.flush()
        except OSError:
            return


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)
    script: list[Responder] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def respond_with(self, *responders: Responder) -> None:
        """One responder per request in order; the last one answers every later request."""
        self.script = list(responders)

    def next_responder(self) -> Responder:
        if len(self.script) > 1:
            return self.script.pop(0)
        return self.script[0] if self.script else reply()

    def alerts_config(self, *severities: str) -> str:
        """A config.yaml's `alerts:` section with one channel, `ops`, that posts each alert of
        `severities` (critical and warning unless told) here, once (no retry)."""
        routes = ", ".join(f"{s}: ops" for s in severities or ("critical", "warning"))
        return (
            "alerts:\n"
            "  channels:\n"
            f"    ops: {{type: generic, url: '{self.url('/hook')}', max_attempts: 1}}\n"
            f"  routes: {{{routes}}}\n"
        )

    @property
    def posts(self) -> list[Any]:
        """The JSON bodies of the requests answered with a success: what was delivered."""
        return [s.json() for s in self.seen if s.status is not None and s.status < 300]

    def wait_for(self, n: int) -> None:
        wait_until(lambda: len(self.seen) >= n, lambda: f"{n} requests (saw {len(self.seen)})")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._seen = Seen(self.command, self.path, dict(self.headers.items()), body)
        receiver.seen.append(self._seen)
        receiver.next_responder()(self, receiver)

    def send_response(self, code: int, message: str | None = None) -> None:
        # noted before a byte of the answer goes out, so a sender that has its answer finds
        # the request among the delivered
        self._seen.status = code
        super().send_response(code, message)

    do_POST = _handle
    do_GET = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver served on a loopback port until the block ends; a request it hangs on is
    released then."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    rec = Receiver(server)
    server.receiver = rec  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback, stopped when the test ends."""
    with receiving() as r:
        yield r
