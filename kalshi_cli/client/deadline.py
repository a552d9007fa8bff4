"""An overall deadline on each request, enforced where the bytes move (httpx's timeouts are per
socket operation): httpx's transport gets its network backend wrapped so every connect,
handshake, read and write gets at most what the request's `clock.Deadline` leaves. It reaches
into httpx and httpcore internals, so pyproject.toml pins both. docs/library.md "How a request
travels", step 2.
"""

from __future__ import annotations

import ssl
import typing

import httpcore
import httpx

from kalshi_cli.vocabulary.clock import Deadline


def _capped(timeout: float | None, exhausted: type[Exception], what: str) -> float | None:
    """`timeout` cut to what the current deadline leaves; raises `exhausted` when none is."""
    deadline = Deadline.current()
    if deadline is None:
        return timeout
    left = deadline.remaining()
    if left <= 0:
        raise exhausted(f"the request's deadline passed before {what}")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(
            max_bytes, _capped(timeout, httpcore.ReadTimeout, "the whole answer came")
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout, "the request was sent"))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout, "the TLS handshake")
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every operation held to the current deadline."""

    def __init__(self, backend: httpcore.NetworkBackend | None = None) -> None:
        self._backend = backend or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout, "connecting")
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout, "connecting")
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def hold_to_deadlines(transport: httpx.BaseTransport) -> bool:
    """Make `transport` keep the current deadline, if it is httpx's own (True) or one this
    module cannot reach into (False: a test's fake, which has no socket to hold)."""
    if not isinstance(transport, httpx.HTTPTransport):
        return False
    pool = transport._pool  # httpx takes no network backend: see the docstring
    if not isinstance(pool._network_backend, DeadlineBackend):
        pool._network_backend = DeadlineBackend(pool._network_backend)
    return True
