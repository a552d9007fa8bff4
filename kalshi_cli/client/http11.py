"""Http11Transport: the client's own small, strict HTTP/1.1 transport over the socket module.

httpx's `HTTPTransport` (httpcore's connection pool and h11's state machine) costs about 300 us
of CPU per request on this machine, and importing it loads httpcore, h11 and anyio into every
network command's cold start (docs/benchmarks.md, "Client transport, issue #17 session 8").
This transport sends the same bytes and hands back the same `httpx.Response`, for the one kind
of exchange the client makes: a request with a complete body, a response read whole.

What it keeps from httpcore + h11, because the client's safety rules decide on it:

- The exceptions: every network or protocol fault is raised as the httpx class httpcore's
  would have been mapped to (httpx/_transports/default.py), with `request=` and the original
  fault as `__cause__`. Connecting (DNS, refused, unreachable, TLS handshake) raises
  `ConnectError`, or `ConnectTimeout`; those are the only "nothing was sent" classes
  (client/retry.py `_UNSENT`) it ever raises, and only before `sendall` is first called, so a
  request of which any byte may have left is never called unsent. A failed write is, as in
  httpcore, followed by an attempt to read an answer the server may have sent before closing;
  reading raises `ReadError`, `ReadTimeout` or `RemoteProtocolError` (a malformed or truncated
  answer, or a connection closed before any answer).
- The wire: the request line with the URL's raw path and query, the headers in
  `request.headers.raw` order with Host first (as h11 writes them), the body; one `sendall`.
  Header names and values are checked as h11 checks them (`LocalProtocolError`).
- Framing of the answer as h11 reads it: Content-Length, chunked (trailers skipped), or read to
  close; no body for HEAD, 1xx, 204 and 304; conflicting or malformed framing refused.
- Keep-alive as httpcore does it: idle connections per (scheme, host, port), not reused after
  `Connection: close`, an HTTP/1.0 answer, a body read to close, any error, 5 s idle (httpx's
  `keepalive_expiry`, on the injected `clock`), or when the idle socket has become readable
  (the server closed it).
- No limit on connections, so no PoolTimeout: a request holds one connection from checkout to
  answer and the client is synchronous, so the connections open at once are at most the
  threads in a request at once (a trade loop and its REST poller: two) plus the idle ones, at
  most MAX_IDLE_PER_ORIGIN per origin (tests/client/test_http11_pool.py).
- TLS for https with the context it is given (the client's: httpx's default, certifi's bundle,
  host names checked), SNI set and only http/1.1 offered by ALPN; `ssl` contexts are built only
  when an https connection is made.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import ssl

    from kalshi_cli.clock import Clock

READ_SIZE = 64 * 1024  # httpcore's READ_NUM_BYTES
MAX_HEAD_BYTES = 100 * 1024  # httpcore's h11 max_incomplete_event_size
MAX_LENGTH_DIGITS = 20  # h11's CONTENT_LENGTH_MAX_DIGITS
KEEPALIVE_EXPIRY_S = 5.0  # httpx's default Limits.keepalive_expiry
MAX_IDLE_PER_ORIGIN = 20  # httpx's default Limits.max_keepalive_connections
DEFAULT_PORTS = {b"http": 80, b"https": 443}

# h11's grammar (h11/_abnf.py), checked with bytes methods rather than regular expressions
# (compiling h11's patterns cost ~1 ms of every network command's start): a token's bytes, a
# field value's forbidden bytes (`[^\x00\s]` and the spaces and tabs between them), a request
# target's bytes (`[\x21-\x7e]`), a chunk size's
_TOKEN_BYTES = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NOT_IN_VALUE = b"\x00\n\r\x0b\x0c"
_TARGET_BYTES = bytes(range(0x21, 0x7F))
_HEX_BYTES = b"0123456789abcdefABCDEF"
_OWS = b" \t"
_DIGITS = b"0123456789"

_Key = tuple[bytes, str, int]


def _is_token(data: bytes) -> bool:
    return bool(data) and not data.translate(None, _TOKEN_BYTES)


def _is_value(data: bytes) -> bool:
    """h11's `field_value`: empty, or visible bytes with single spaces/tabs between them."""
    if not data:
        return True
    if data[0] in _OWS or data[-1] in _OWS:
        return False
    return len(data.translate(None, _NOT_IN_VALUE)) == len(data)


def _is_digits(data: bytes) -> bool:
    return bool(data) and not data.translate(None, _DIGITS)


def _status_line(line: bytes) -> tuple[bytes, int, bytes] | None:
    """h11's `status_line`: `HTTP/d.d ddd[ reason]`, as (version, status, reason)."""
    version = line[5:8]
    if (
        len(line) < 12
        or not line.startswith(b"HTTP/")
        or not (version[:1].isdigit() and version[1:2] == b"." and version[2:3].isdigit())
        or line[8:9] != b" "
        or not _is_digits(line[9:12])
    ):
        return None
    reason = line[13:]
    if len(line) > 12 and line[12:13] != b" ":
        return None
    if len(reason.translate(None, _NOT_IN_VALUE)) != len(reason):
        return None
    return version, int(line[9:12]), reason


def _header_line(line: bytes) -> tuple[bytes, bytes] | None:
    """h11's `header_field`: `token:[OWS]field-value[OWS]`, as (name, value)."""
    name, colon, value = line.partition(b":")
    if not colon or not _is_token(name):
        return None
    value = value.strip(_OWS)
    return (name, value) if _is_value(value) else None


def _chunk_size(line: bytes) -> int | None:
    """h11's `chunk_header` (without its CRLF): hex digits, an extension or trailing OWS."""
    size, semicolon, _extension = line.partition(b";")
    if not semicolon:
        size = size.rstrip(_OWS)
    if not 1 <= len(size) <= 20 or size.translate(None, _HEX_BYTES):
        return None
    return int(size, 16)


def _head_end(buffer: bytearray, start: int) -> tuple[int, int] | None:
    """Where the head in `buffer` ends (`\n\r?\n`, searched from `start`): (end of its last
    line, start of what follows), or None."""
    at = buffer.find(b"\n", start)
    while at >= 0:
        following = buffer[at + 1 : at + 3]
        if following[:1] == b"\n":
            return at, at + 2
        if following == b"\r\n":
            return at, at + 3
        at = buffer.find(b"\n", at + 1)
    return None


class _Fault(Exception):
    """A malformed answer: raised as httpx.RemoteProtocolError with the request attached."""


class _Connection:
    """One socket and what has been read from it but not yet used."""

    __slots__ = ("buffer", "idle_since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.idle_since = 0.0  # float-ok: a monotonic instant

    def close(self) -> None:
        self.sock.close()

    def reusable(self, now: float) -> bool:  # float-ok: a monotonic instant
        """Still good to send on: not idle too long, and nothing to read (a readable idle
        socket has been closed by the server, or carries junk)."""
        if now - self.idle_since > KEEPALIVE_EXPIRY_S or self.buffer:
            return False
        fd = self.sock.fileno()
        if fd < 0:
            return False
        poll = getattr(select, "poll", None)
        if poll is None:  # pragma: no cover - every platform this runs on has poll
            readable, _, _ = select.select([fd], [], [], 0)
            return not readable
        poller = poll()
        poller.register(fd, select.POLLIN)
        return not poller.poll(0)

    def fill(self, timeout: float | None) -> bool:  # float-ok: seconds
        """Read more into the buffer; False at end of stream. Faults are the caller's."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(READ_SIZE)
        if not data:
            return False
        self.buffer += data
        return True


class Http11Transport(httpx.BaseTransport):
    """A drop-in for `httpx.HTTPTransport` for the client's requests (module docstring)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool | Callable[[], ssl.SSLContext | bool] = True,
        socket_options: Iterable[tuple[int, int, int]] = (),
        clock: Clock | None = None,
    ) -> None:
        """`verify`: as httpx's (True: httpx's default context), or a function that makes
        it, called only when the first https connection is made. `socket_options`: as
        httpx's, `setsockopt` arguments applied to each new socket once connected (a fault
        is a ConnectError). `clock`: what the keep-alive expiry is measured on."""
        self._verify = verify
        self._socket_options = tuple(socket_options)
        self._monotonic = clock.monotonic if clock is not None else time.monotonic
        self._tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._idle: dict[_Key, list[_Connection]] = {}
        self._closed = False

    # ----------------------------------------------------------------------------------------
    # pool

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()

    def _checkout(self, key: _Key) -> _Connection | None:
        now = self._monotonic()
        stale: list[_Connection] = []
        found = None
        with self._lock:
            conns = self._idle.get(key)
            while conns:
                conn = conns.pop()
                if conn.reusable(now):
                    found = conn
                    break
                stale.append(conn)
        for conn in stale:
            conn.close()
        return found

    def _checkin(self, key: _Key, conn: _Connection) -> None:
        conn.idle_since = self._monotonic()
        with self._lock:
            if not self._closed:
                conns = self._idle.setdefault(key, [])
                if len(conns) < MAX_IDLE_PER_ORIGIN:
                    conns.append(conn)
                    return
        conn.close()

    def tls_context(self) -> ssl.SSLContext:
        """The context https connections are made with (the one given, or httpx's default),
        built on first use, offering only http/1.1 by ALPN."""
        if self._tls is None:
            import ssl

            verify = self._verify
            if callable(verify):
                verify = verify()
            context = (
                verify
                if isinstance(verify, ssl.SSLContext)
                else httpx.create_ssl_context(verify=verify)  # as httpx.HTTPTransport makes it
            )
            context.set_alpn_protocols(["http/1.1"])  # as httpcore offers it without HTTP/2
            self._tls = context
        return self._tls

    def _connect(
        self, request: httpx.Request, scheme: bytes, host: str, port: int, timeout: float | None
    ) -> _Connection:
        """A new connection; every fault is ConnectError or ConnectTimeout (nothing sent)."""
        try:
            sock = socket.create_connection((host, port), timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        except (OSError, ValueError) as exc:  # DNS (gaierror), refused, unreachable, bad name
            raise httpx.ConnectError(str(exc), request=request) from exc
        try:
            for option in self._socket_options:  # as httpcore applies them, once connected
                sock.setsockopt(*option)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == b"https":
                sock.settimeout(timeout)
                sock = self.tls_context().wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            sock.close()
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        except (OSError, ValueError) as exc:  # ssl.SSLError and certificate failures included
            sock.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        return _Connection(sock)

    # ----------------------------------------------------------------------------------------
    # one exchange

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS:
            if not scheme:
                message = "Request URL is missing an 'http://' or 'https://' protocol."
            else:
                message = f"Request URL has an unsupported protocol '{scheme.decode()}://'."
            raise httpx.UnsupportedProtocol(message, request=request)
        if not url.raw_host:
            raise httpx.UnsupportedProtocol("Request URL is missing a host.", request=request)
        payload = _encode(request)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        host = url.raw_host.decode("ascii")  # IDNA-encoded, no IPv6 brackets, as httpcore's
        port = url.port or DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        conn = self._checkout(key)
        if conn is None:
            conn = self._connect(request, scheme, host, port, timeouts.get("connect"))
        # from here on a byte may have left: no fault is reported as ConnectError/Timeout
        try:
            response, keep = self._exchange(conn, request, payload, timeouts)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._checkin(key, conn)
        else:
            conn.close()
        return response

    def _exchange(
        self,
        conn: _Connection,
        request: httpx.Request,
        payload: bytes,
        timeouts: dict[str, Any],
    ) -> tuple[httpx.Response, bool]:
        whole = True  # the whole request was handed to the socket
        try:
            conn.sock.settimeout(timeouts.get("write"))
            conn.sock.sendall(payload)
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc), request=request) from exc
        except OSError:
            # as httpcore: the server may have answered and closed before reading it all
            whole = False
        read_timeout = timeouts.get("read")
        try:
            return self._receive(conn, request.method == "HEAD", read_timeout, whole)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        except (_Fault, ValueError) as exc:  # ValueError: a parse this module missed, never
            # let through as anything but an answer that could not be read (sent, unknown)
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc

    def _receive(
        self,
        conn: _Connection,
        head_only: bool,
        timeout: float | None,  # float-ok: seconds
        whole: bool,
    ) -> tuple[httpx.Response, bool]:
        while True:
            version, status, reason, headers = _read_head(conn, timeout)
            if status < 100:
                raise _Fault("status_code should be in range [100, 999]")
            if status == 101:  # h11: no upgrade was proposed, so a switch is a protocol error
                raise _Fault("Received a 101 Switching Protocols without a pending proposal")
            if status >= 200:
                break  # 1xx answers are skipped, as httpcore does
        keep = whole and version == b"1.1"
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"connection":
                if b"close" in [t.strip().lower() for t in value.split(b",")]:
                    keep = False
            elif lowered == b"content-length":
                lengths.extend(v.strip() for v in value.split(b","))
            elif lowered == b"transfer-encoding":
                codings.append(value.strip().lower())
        if lengths and codings:
            raise _Fault("Transfer-Encoding and Content-Length both set")
        if head_only or status < 200 or status in (204, 304):
            body = b""
        elif codings:
            if codings != [b"chunked"]:
                raise _Fault("Only Transfer-Encoding: chunked is supported")
            body = _read_chunked(conn, timeout)
        elif lengths:
            if (
                not all(_is_digits(v) and len(v) <= MAX_LENGTH_DIGITS for v in lengths)
                or len(set(lengths)) > 1
            ):
                raise _Fault("conflicting or malformed Content-Length headers")
            body = _read_exactly(conn, int(lengths[0]), timeout)
        else:
            while conn.fill(timeout):
                pass
            body = bytes(conn.buffer)
            conn.buffer.clear()
            keep = False
        if conn.buffer:  # bytes beyond the answer: junk, never the start of another
            keep = False
        response = httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"http_version": b"HTTP/" + version, "reason_phrase": reason},
        )
        return response, keep


def _encode(request: httpx.Request) -> bytes:
    """The request's bytes as h11 writes them; a header h11 would refuse raises
    httpx.LocalProtocolError before anything is sent."""
    target = request.url.raw_path
    if not target or target.translate(None, _TARGET_BYTES):
        raise httpx.LocalProtocolError(f"Illegal target characters {target!r}", request=request)
    method = request.method.encode("ascii")
    parts = [b"%s %s HTTP/1.1\r\n" % (method, target)]
    hosts: list[bytes] = []
    others: list[bytes] = []
    chunked = False
    length: int | None = None
    for name, value in request.headers.raw:
        if not _is_token(name):
            raise httpx.LocalProtocolError(f"Illegal header name {name!r}", request=request)
        if not _is_value(value):
            raise httpx.LocalProtocolError(f"Illegal header value {value!r}", request=request)
        lowered = name.lower()
        line = b"%s: %s\r\n" % (name, value)
        if lowered == b"host":
            hosts.append(line)
            continue
        if lowered == b"transfer-encoding":
            chunked = value.lower() == b"chunked"
        elif lowered == b"content-length" and _is_digits(value):
            length = int(value)
        others.append(line)
    if not hosts:
        raise httpx.LocalProtocolError("Missing mandatory Host: header", request=request)
    parts += hosts
    parts += others
    parts.append(b"\r\n")
    stream: Any = request.stream
    chunks: Iterable[bytes] = stream
    if chunked:
        for chunk in chunks:
            if chunk:
                parts += [b"%x\r\n" % len(chunk), chunk, b"\r\n"]
        parts.append(b"0\r\n\r\n")
    else:
        body = b"".join(chunks)
        if len(body) != (length or 0):
            raise httpx.LocalProtocolError(
                "Too much data for declared Content-Length"
                if len(body) > (length or 0)
                else "Too little data for declared Content-Length",
                request=request,
            )
        parts.append(body)
    return b"".join(parts)


def _read_line(conn: _Connection, timeout: float | None, limit: int) -> bytes:  # float-ok
    """One line (without its CRLF) of a chunked body's framing."""
    while True:
        end = conn.buffer.find(b"\n")
        if end >= 0:
            line = bytes(conn.buffer[: end + 1])
            del conn.buffer[: end + 1]
            if not line.endswith(b"\r\n"):
                raise _Fault("malformed chunked encoding: a line not ended by CRLF")
            return line[:-2]
        if len(conn.buffer) > limit:
            raise _Fault("chunk header too long")
        if not conn.fill(timeout):
            raise _Fault("peer closed connection without sending complete message body")


def _read_head(
    conn: _Connection,
    timeout: float | None,  # float-ok: seconds
) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    searched = 0
    while True:
        found = _head_end(conn.buffer, max(0, searched - 3))
        if found is not None:
            break
        if len(conn.buffer) > MAX_HEAD_BYTES:
            raise _Fault("Response header block too large")
        searched = len(conn.buffer)
        if not conn.fill(timeout):
            if conn.buffer:
                raise _Fault("peer closed connection without sending complete response head")
            raise _Fault("Server disconnected without sending a response.")
    end, following = found
    if end > MAX_HEAD_BYTES:
        raise _Fault("Response header block too large")
    block = bytes(conn.buffer[:end])
    del conn.buffer[:following]
    lines = [line[:-1] if line.endswith(b"\r") else line for line in block.split(b"\n")]
    status = _status_line(lines[0])
    if status is None:
        raise _Fault(f"illegal status line: {lines[0]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # obsolete line folding, joined as h11 joins it
            if not headers:
                raise _Fault("continuation line at start of headers")
            name, value = headers[-1]
            headers[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" \t"))
            continue
        field = _header_line(line)
        if field is None:
            raise _Fault(f"illegal header line: {line!r}")
        headers.append(field)
    return (*status, headers)


def _read_exactly(conn: _Connection, size: int, timeout: float | None) -> bytes:  # float-ok
    while len(conn.buffer) < size:
        if not conn.fill(timeout):
            raise _Fault(
                "peer closed connection without sending complete message body: "
                f"received {len(conn.buffer)} bytes, expected {size}"
            )
    body = bytes(conn.buffer[:size])
    del conn.buffer[:size]
    return body


def _read_chunked(conn: _Connection, timeout: float | None) -> bytes:  # float-ok: seconds
    parts: list[bytes] = []
    while True:
        size = _chunk_size(_read_line(conn, timeout, MAX_HEAD_BYTES))
        if size is None:
            raise _Fault("illegal chunk header")
        if size == 0:
            break
        parts.append(_read_exactly(conn, size, timeout))
        if _read_exactly(conn, 2, timeout) != b"\r\n":
            raise _Fault("missing CRLF after chunk data")
    trailer = 0
    while _read_line(conn, timeout, MAX_HEAD_BYTES):  # trailers, skipped
        trailer += 1
        if trailer > 1000:
            raise _Fault("too many trailer lines")
    return b"".join(parts)
