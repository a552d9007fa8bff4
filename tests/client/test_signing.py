"""Signing with either key type Kalshi issues (API 3.31.0 `ApiKeyType`): RSA-PSS SHA-256 for an
RSA key, Ed25519 for an Ed25519 key, chosen by the key loaded; PKCS#1 and PKCS#8 PEMs load."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.vocabulary import keys
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import CredentialsError
from kalshi_cli.vocabulary.keys import (
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    generate_private_key,
    key_type,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    sign_message,
    verify_signature,
)

MESSAGE = "1703123456789GET/trade-api/v2/portfolio/balance"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    key = generate_private_key("rsa")
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def test_each_key_type_signs_and_verifies_with_its_own_algorithm(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    ed_key = generate_private_key("ed25519")
    assert isinstance(ed_key, ed25519.Ed25519PrivateKey)
    for key, kind in ((rsa_key, "rsa"), (ed_key, "ed25519")):
        assert key_type(key) == key_type(key.public_key()) == kind
        signature = sign_message(key, MESSAGE)
        public = load_public_key(public_key_pem(key))
        assert verify_signature(public, MESSAGE, signature)
        assert not verify_signature(public, MESSAGE + "?limit=5", signature)
    # Ed25519 is deterministic and 64 bytes; RSA-PSS is salted and as long as the modulus
    ed_signature = sign_message(ed_key, MESSAGE)
    assert ed_signature == sign_message(ed_key, MESSAGE)
    assert len(base64.b64decode(ed_signature)) == 64
    assert len(base64.b64decode(sign_message(rsa_key, MESSAGE))) == 256
    # the independent library check: what we signed is a plain RFC 8032 signature
    ed_key.public_key().verify(base64.b64decode(ed_signature), MESSAGE.encode())


def test_a_signature_of_the_other_key_type_never_verifies(rsa_key: rsa.RSAPrivateKey) -> None:
    ed_key = generate_private_key("ed25519")
    assert not verify_signature(rsa_key.public_key(), MESSAGE, sign_message(ed_key, MESSAGE))
    assert not verify_signature(ed_key.public_key(), MESSAGE, sign_message(rsa_key, MESSAGE))
    assert not verify_signature(ed_key.public_key(), MESSAGE, "not base64!")


def test_the_auth_signs_with_whatever_key_it_was_given(rsa_key: rsa.RSAPrivateKey) -> None:
    clock = ManualClock()
    for key in (rsa_key, generate_private_key("ed25519")):
        auth = KalshiAuth("key-1", key, clock=clock)
        assert auth.key_type == key_type(key)
        request = httpx.Request("GET", "https://x.test/trade-api/v2/portfolio/orders?limit=5")
        signed = next(auth.auth_flow(request))
        message = f"{signed.headers[HEADER_TIMESTAMP]}GET/trade-api/v2/portfolio/orders"
        assert verify_signature(key.public_key(), message, signed.headers[HEADER_SIGNATURE])
        assert "BEGIN" not in repr(auth)


def test_the_auth_signs_the_path_as_sent_not_as_decoded(rsa_key: rsa.RSAPrivateKey) -> None:
    """REFERENCE.md section 2: the SDK signs `urlparse(url).path` of the request it sends, and
    the server verifies against the path it received: percent-escapes stay as they go out."""
    clock = ManualClock()
    for key in (rsa_key, generate_private_key("ed25519")):
        auth = KalshiAuth("key-1", key, clock=clock)
        request = httpx.Request(
            "GET", "https://x.test/trade-api/v2/portfolio/orders/id%20with%20%25%3F%23%C3%A9?a=1"
        )
        auth.sign(request)
        timestamp = request.headers[HEADER_TIMESTAMP]
        signature = request.headers[HEADER_SIGNATURE]
        sent = f"{timestamp}GET/trade-api/v2/portfolio/orders/id%20with%20%25%3F%23%C3%A9"
        assert verify_signature(key.public_key(), sent, signature)
        decoded = f"{timestamp}GET/trade-api/v2/portfolio/orders/id with %?#\u00e9"
        assert not verify_signature(key.public_key(), decoded, signature)


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, form: str) -> bytes:
    formats = {
        "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
        "pkcs8": serialization.PrivateFormat.PKCS8,
    }
    return key.private_bytes(
        serialization.Encoding.PEM, formats[form], serialization.NoEncryption()
    )


def test_pkcs1_and_pkcs8_pems_both_load(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    ed_key = generate_private_key("ed25519")
    cases = [
        (rsa_key, "pkcs1", b"-----BEGIN RSA PRIVATE KEY-----"),
        (rsa_key, "pkcs8", b"-----BEGIN PRIVATE KEY-----"),
        (ed_key, "pkcs8", b"-----BEGIN PRIVATE KEY-----"),
    ]
    for i, (key, form, header) in enumerate(cases):
        pem = _pem(key, form)
        assert pem.startswith(header)
        path = tmp_path / f"key{i}.pem"
        path.write_bytes(pem)
        path.chmod(0o600)
        for loaded, warnings in (load_private_key(path=path), load_private_key(pem=pem.decode())):
            assert warnings == []
            assert key_type(loaded) == key_type(key)
            assert verify_signature(key.public_key(), MESSAGE, sign_message(loaded, MESSAGE))


def test_the_pem_written_for_a_new_key_is_the_form_kalshi_hands_out(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    assert private_key_pem(rsa_key).startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    ed_pem = private_key_pem(generate_private_key("ed25519"))
    assert ed_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_key_of_another_type_is_refused_without_showing_it() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(CredentialsError, match="not an RSA or Ed25519 key") as refused:
        load_private_key(pem=pem)
    assert pem.splitlines()[1] not in refused.value.one_line()


def test_a_users_inconsistent_rsa_key_is_refused_as_it_loads(rsa_key: rsa.RSAPrivateKey) -> None:
    """Only a key this program generated skips the consistency check (`generated_here`, the
    embedded simulator's); a key a user supplies is checked, and a damaged one is refused."""
    numbers = rsa_key.private_numbers()
    damaged = rsa.RSAPrivateNumbers(
        p=numbers.p,
        q=numbers.q,
        d=numbers.d + 2,  # no longer the inverse of e
        dmp1=numbers.dmp1,
        dmq1=numbers.dmq1,
        iqmp=numbers.iqmp,
        public_numbers=numbers.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = damaged.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(CredentialsError, match="could not be loaded"):
        load_private_key(pem=pem)
    key, _ = load_private_key(pem=pem, generated_here=True)
    assert key_type(key) == "rsa"
    with pytest.raises(CredentialsError, match="could not be loaded"):
        load_private_key(pem=pem)  # loaded unchecked is not checked: refused again


def test_a_key_is_checked_once_per_process_and_a_damaged_one_every_time(
    rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consistency check (50-60 ms) runs the first time a process loads a key's PEM; the
    same bytes loaded again (each `kalshi` command run in one process: the MCP server, the
    dashboard, a notebook) are not checked again. A damaged key is never remembered, so it is
    refused on every load."""
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    checks: list[bool] = []
    load = serialization.load_pem_private_key

    def recorded(data: bytes, password: bytes | None, **kw: bool) -> object:
        checks.append(not kw.get("unsafe_skip_rsa_key_validation", False))
        return load(data, password, **kw)

    monkeypatch.setattr(serialization, "load_pem_private_key", recorded)
    monkeypatch.setattr(keys, "_CHECKED", set())  # a process that has loaded no key yet
    for _ in range(3):
        load_private_key(pem=pem)
    assert checks == [True, False, False]
