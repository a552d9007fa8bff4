"""Key files: a private key written to disk whole (mode 0600, never over an existing file), and
a key the exchange makes (`kalshi key generate`) never left there without its private half."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

import typer

from kalshi_cli.vocabulary.errors import DataWriteError, KalshiError
from kalshi_cli.vocabulary.files import whole

if TYPE_CHECKING:
    from kalshi_cli.client.api_keys import GeneratedKey
    from kalshi_cli.client.client import KalshiClient


def write_private_key(path: Path, pem: bytes) -> None:
    """Create `path` with mode 0600 holding the key, whole or not at all (`whole`); refuse an
    existing file. A disk fault is `DataWriteError`, exit 18."""
    _refuse_existing(path)
    try:
        with whole(path, mode=0o600, replace=False) as draft:
            _write_key(draft, pem)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise _unwritable(path, exc) from exc


# room taken on disk for a key file before the exchange makes the key: a 4096-bit RSA private
# key's PEM is about 3.3 kB, an Ed25519 one's 119 bytes
KEY_FILE_RESERVE = 16_384


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise _exists(path)


def _exists(path: Path) -> typer.BadParameter:
    return typer.BadParameter(f"{path} exists; a key file is never replaced", param_hint="--out")


def _reserve(draft: BinaryIO) -> None:
    """The key file's room taken on disk (written and synced), so that the key the exchange
    makes next has a place to land."""
    os.write(draft.fileno(), b"\0" * KEY_FILE_RESERVE)
    os.fsync(draft.fileno())


def _write_key(draft: BinaryIO, pem: bytes) -> None:
    fd = draft.fileno()
    os.lseek(fd, 0, os.SEEK_SET)
    written = os.write(fd, pem)
    if written != len(pem):
        raise OSError(errno.ENOSPC, "the key was written in part")
    os.ftruncate(fd, len(pem))


def _unwritable(path: Path, exc: OSError, *, sent: bool = True) -> DataWriteError:
    return DataWriteError(
        f"{path} could not be written: {exc.strerror or exc}"
        + ("" if sent else "; nothing was asked of the exchange"),
        hint="free space on that disk, or give --out a writable place, and run it again",
    )


def generate_key_file(
    client: KalshiClient,
    out_path: Path,
    *,
    name: str,
    key_type: str,
    scopes: tuple[str, ...] | None,
    subaccount: int | None,
) -> GeneratedKey:
    """Have the exchange make a key pair and write its private half to `out_path`. The file's
    room is taken on disk first (the exchange shows the private half once, in its answer);
    a write that still fails deletes the key on the exchange again."""
    _refuse_existing(out_path)
    made: GeneratedKey | None = None
    try:
        with whole(out_path, mode=0o600, replace=False) as draft:
            _reserve(draft)
            made = client.api_keys.generate_api_key(
                name, key_type=key_type, scopes=scopes, subaccount=subaccount
            )
            _write_key(draft, made.private_key_pem.encode("ascii"))
    except OSError as exc:
        if made is None:  # nothing was asked of the exchange
            raise _unwritable(out_path, exc, sent=False) from exc
        _delete_again(client, made, _unwritable(out_path, exc))
    assert made is not None
    return made


def _delete_again(client: KalshiClient, made: GeneratedKey, exc: DataWriteError) -> NoReturn:
    """No key may stay on the exchange whose private half nobody holds."""
    try:
        client.api_keys.delete_api_key(made.api_key_id)
    except KalshiError as undone:
        raise DataWriteError(
            f"API key {made.api_key_id} was made, but {exc.message}, and deleting it "
            f"failed: {undone.one_line()}",
            hint=f"nobody holds its private key: `kalshi key delete {made.api_key_id}`",
        ) from undone
    raise DataWriteError(
        f"{exc.message}; API key {made.api_key_id} was deleted again on the exchange",
        hint=exc.hint,
    ) from exc
