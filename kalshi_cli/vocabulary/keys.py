"""API keys: loading them, their type, and the signature over `timestamp + METHOD + path`. The
client signs with these functions and the simulator verifies with the very same ones, so the
two cannot drift apart. The key is loaded once, kept in memory only, and never logged or put in
an error message. See docs/configuration.md "Keys".
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from kalshi_cli.vocabulary.errors import CredentialsError

_CHECKED: set[bytes] = set()  # the SHA-256 of each PEM checked and loaded in this process
HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

KeyType = Literal["rsa", "ed25519"]
KEY_TYPES: tuple[KeyType, ...] = ("rsa", "ed25519")
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
# what a verifier accepts, in turn: salt = digest length, then any salt (built once: the
# simulator verifies every signed request)
_PSS_VERIFY = (
    _PSS,
    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
)


def key_type(key: PrivateKey | PublicKey) -> KeyType:
    """The `ApiKeyType` of a private or public key: "rsa" or "ed25519"."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "rsa"
    return "ed25519"


def sign_message(private_key: PrivateKey, message: str) -> str:
    """Base64 signature of `message` with the key's own algorithm."""
    data = message.encode("utf-8")
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(data, _PSS, hashes.SHA256())
    else:
        signature = private_key.sign(data)
    return base64.b64encode(signature).decode("ascii")


def signed_headers(
    private_key: PrivateKey, key_id: str, method: str, path: str, timestamp_ms: int
) -> dict[str, str]:
    """The three headers for one request; `path` as sent (escaped), any query cut off."""
    message = f"{timestamp_ms}{method.upper()}{path.split('?', 1)[0]}"
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: str(timestamp_ms),
        HEADER_SIGNATURE: sign_message(private_key, message),
    }


def verify_signature(public_key: PublicKey, message: str, signature_b64: str) -> bool:
    """True when `signature_b64` is a valid signature of `message` by the key's own algorithm:
    RSA-PSS (salt = digest or any length, as a lenient server accepts) for an RSA key, Ed25519
    for an Ed25519 key. A signature made with a key of the other type never verifies."""
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    data = message.encode("utf-8")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        try:
            public_key.verify(raw, data)
        except InvalidSignature:
            return False
        return True
    for pss in _PSS_VERIFY:
        try:
            public_key.verify(raw, data, pss, hashes.SHA256())
            return True
        except InvalidSignature:
            continue
    return False


def load_private_key(
    *,
    path: str | Path | None = None,
    pem: str | None = None,
    passphrase: str | None = None,
    refuse_loose_permissions: bool = False,
    generated_here: bool = False,
) -> tuple[PrivateKey, list[str]]:
    """Load an RSA or Ed25519 private key (PKCS#1 or PKCS#8 PEM) from a file or PEM text.

    Returns the key and a list of warnings (a key file readable by group or others); with
    `refuse_loose_permissions` (prod) such a file is refused. Every failure is a `CredentialsError`
    naming the file and the fix, never the key material. An RSA key is checked for consistency
    (OpenSSL may misbehave on an invalid one) once per process (`_CHECKED`), but not one
    `generated_here`.
    """
    warnings: list[str] = []
    source: str
    if pem is not None:
        data = pem.encode("utf-8")
        source = "KALSHI_PRIVATE_KEY"
    elif path is not None:
        key_path = Path(path).expanduser()
        source = str(key_path)
        if not key_path.exists():
            raise CredentialsError(
                f"private key file {key_path} does not exist",
                hint="set private_key_path in the config or KALSHI_PRIVATE_KEY_PATH",
            )
        try:
            mode = key_path.stat().st_mode
            data = key_path.read_bytes()
        except OSError as exc:
            raise CredentialsError(
                f"private key file {key_path} cannot be read: {exc.strerror}",
                hint="check its owner and permissions",
            ) from None
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            message = (
                f"private key file {key_path} is readable by group or others "
                f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {key_path}`"
            )
            if refuse_loose_permissions:
                raise CredentialsError(message, hint="refused on prod")
            warnings.append(message)
    else:
        raise CredentialsError(
            "no private key configured",
            hint="set KALSHI_PRIVATE_KEY_PATH or private_key_path in the config",
        )

    if b"-----BEGIN" not in data:
        raise CredentialsError(
            f"{source} is not a PEM private key", hint="expected '-----BEGIN ... PRIVATE KEY-----'"
        )
    password = passphrase.encode("utf-8") if passphrase else None
    digest = hashlib.sha256(data).digest()
    try:
        key = serialization.load_pem_private_key(
            data,
            password=password,
            unsafe_skip_rsa_key_validation=generated_here or digest in _CHECKED,
        )
    except TypeError:
        if password is None:
            raise CredentialsError(
                f"{source} is encrypted and no passphrase was given",
                hint="set KALSHI_PRIVATE_KEY_PASSPHRASE or private_key_passphrase",
            ) from None
        raise CredentialsError(f"{source} is not encrypted; remove the passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        hint = "wrong passphrase?" if password else "the PEM text is damaged"
        raise CredentialsError(
            f"{source} could not be loaded as a private key", hint=hint
        ) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise CredentialsError(
            f"{source} is not an RSA or Ed25519 key",
            hint="Kalshi API keys are RSA or Ed25519 (ApiKeyType)",
        )
    if not generated_here:
        _CHECKED.add(digest)
    return key, warnings


def generate_private_key(kind: KeyType = "rsa") -> PrivateKey:
    """A fresh key of `kind`: 2048-bit RSA (Kalshi's default) or Ed25519."""
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: PrivateKey) -> bytes:
    """The PEM Kalshi hands out for the key's type: PKCS#1 (`BEGIN RSA PRIVATE KEY`) for RSA,
    PKCS#8 (`BEGIN PRIVATE KEY`) for Ed25519."""
    form = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def public_key_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def load_public_key(pem: str) -> PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise ValueError("not an RSA or Ed25519 public key")
    return key
