"""Http11Transport over TLS against a loopback TLS server with a self-signed certificate: the
certificate and host name are verified, SNI is sent and only http/1.1 is offered by ALPN."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kalshi_cli.client.http11 import Http11Transport
from tests.client.test_http11 import TIMEOUTS, answer, read_request

DEADLINE_S = 10.0


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsServer:
    """Answers each request on each connection with 200 and the negotiated ALPN protocol."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.set_alpn_protocols(["h2", "http/1.1"])
        self.server_names: list[str | None] = []
        self.context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._run, daemon=True)
        self._accept.start()

    def _run(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        with raw:
            raw.settimeout(DEADLINE_S)
            try:
                conn = self.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                return  # the client refused the certificate
            with conn:
                self.handshakes += 1
                alpn = (conn.selected_alpn_protocol() or "none").encode()
                try:
                    while read_request(conn):
                        conn.sendall(answer("200 OK", alpn))
                except OSError:
                    return

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._accept.join(DEADLINE_S)
        for thread in self._threads:
            thread.join(DEADLINE_S)


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[TlsServer, Path]]:
    cert, key = self_signed(tmp_path)
    server = TlsServer(cert, key)
    yield server, cert
    server.close()


def fetch(transport: Http11Transport, url: str) -> httpx.Response:
    response = transport.handle_request(httpx.Request("GET", url, extensions={"timeout": TIMEOUTS}))
    response.read()
    return response


def test_a_certificate_no_ca_of_the_bundle_signed_is_refused(
    tls: tuple[TlsServer, Path],
) -> None:
    server, _cert = tls
    transport = Http11Transport()  # httpx's default context: certifi's bundle
    with transport, pytest.raises(httpx.ConnectError) as info:
        fetch(transport, f"https://localhost:{server.port}/x")
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert server.handshakes == 0


def test_a_trusted_certificate_for_another_host_name_is_refused(
    tls: tuple[TlsServer, Path],
) -> None:
    server, cert = tls
    context = ssl.create_default_context(cafile=str(cert))
    with Http11Transport(verify=context) as transport, pytest.raises(httpx.ConnectError) as info:
        # the same server, reached by a name its certificate does not carry
        fetch(transport, f"https://127.0.0.1:{server.port}/x")
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert "127.0.0.1" in str(info.value)


def test_a_trusted_certificate_is_accepted_with_sni_and_http_1_1_by_alpn(
    tls: tuple[TlsServer, Path],
) -> None:
    server, cert = tls
    context = ssl.create_default_context(cafile=str(cert))
    with Http11Transport(verify=lambda: context) as transport:
        first = fetch(transport, f"https://localhost:{server.port}/x")
        second = fetch(transport, f"https://localhost:{server.port}/y")
    assert first.content == second.content == b"http/1.1"  # the server offered h2 first
    assert server.server_names == ["localhost"]
    assert server.handshakes == 1  # kept alive over TLS
