"""Key files: a private key written to disk (mode 0600, never over an existing file), and a
key the exchange makes (`kalshi key generate`) never left there without its private half."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kalshi_cli.vocabulary.errors import DataWriteError, KalshiError
from kalshi_cli.vocabulary.files import make_dir

if TYPE_CHECKING:
    from kalshi_cli.client.api_keys import GeneratedKey
    from kalshi_cli.client.client import KalshiClient


def write_private_key(path: Path, pem: bytes) -> None:
    """Create `path` with mode 0600 and write the key; refuse an existing file. A file that
    cannot be written whole is removed (a disk fault: `DataWriteError`, exit 18)."""
    fd = _create_key_file(path)
    _fill_key_file(path, fd, pem)


# room taken on disk for a key file before the exchange makes the key: a 4096-bit RSA private
# key's PEM is about 3.3 kB, an Ed25519 one's 119 bytes
KEY_FILE_RESERVE = 16_384


def _create_key_file(path: Path) -> int:
    try:
        make_dir(path.parent, private=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise typer.BadParameter(
            f"{path} exists; a key file is never replaced", param_hint="--out"
        ) from None
    except OSError as exc:
        raise _unwritable(path, exc) from exc


def _reserve_key_file(path: Path) -> int:
    """The key file created and its room taken on disk (written and synced), so that the key
    the exchange makes next has a place to land; nothing is asked of the exchange when the
    disk cannot give it."""
    fd = _create_key_file(path)
    try:
        os.write(fd, b"\0" * KEY_FILE_RESERVE)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise _unwritable(path, exc, sent=False) from exc
    return fd


def _fill_key_file(path: Path, fd: int, pem: bytes) -> None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        written = os.write(fd, pem)
        if written != len(pem):
            raise OSError(errno.ENOSPC, "the key was written in part")
        os.ftruncate(fd, len(pem))
        os.fsync(fd)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise _unwritable(path, exc) from exc
    finally:
        os.close(fd)


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
    fd = _reserve_key_file(out_path)
    try:
        made = client.api_keys.generate_api_key(
            name, key_type=key_type, scopes=scopes, subaccount=subaccount
        )
    except BaseException:
        os.close(fd)
        out_path.unlink(missing_ok=True)
        raise
    try:
        _fill_key_file(out_path, fd, made.private_key_pem.encode("ascii"))
    except DataWriteError as exc:
        # no key may stay on the exchange whose private half nobody holds
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
    return made
