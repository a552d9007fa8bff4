"""`kalshi key list|create|generate|delete`: the account's API keys, with their scopes and
subaccount restriction.

A private key is never printed. `key create` makes the key pair on this machine (`--type rsa`
or `ed25519`), writes the private key to `--out` (mode 0600, never overwriting a file) and sends
only the public key; `--public-key FILE` registers a key pair made elsewhere. `key generate`
has the exchange make the pair: its answer carries the private key once, and it goes straight
into `--out` (mode 0600), not to the screen. Scopes (`--scope`, repeatable) are the exchange's:
`read`, `write`, `write::trade`, `write::transfer`, `read::portfolio_balance`, ...; none given
means `read` and `write`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    YesOpt,
    identifier_argument,
    non_empty_text,
    subaccount_option,
)
from kalshi_cli.cli._output import Column, Output
from kalshi_cli.cli.app import command_group
from kalshi_cli.services.key_files import generate_key_file, write_private_key
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown

key_app = command_group("key")


class KeyKind(StrEnum):
    RSA = "rsa"
    ED25519 = "ed25519"


KEY_COLUMNS = (
    Column("api_key_id", "key id", identifier=True),
    Column("name", "name"),
    Column("scopes", "scopes"),
    Column("subaccount", "subaccount"),
)
NameOpt = Annotated[str, typer.Option("--name", parser=non_empty_text, help="What the key is for.")]
KeyTypeOpt = Annotated[
    KeyKind,
    typer.Option("--type", help="Type of the key pair made.", case_sensitive=False),
]
ScopeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        parser=non_empty_text,
        help="A scope to grant (repeat for more): read, write, write::trade, ... "
        "Default: read and write.",
    ),
]
RestrictOpt = Annotated[
    int | None,
    subaccount_option("Restrict the key to this subaccount: it may read and trade there only."),
]
OutOpt = Annotated[
    Path,
    typer.Option(
        "--out",
        help="Where to write the private key (mode 0600; an existing file is never replaced).",
        dir_okay=False,
    ),
]


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise typer.BadParameter(f"{path} exists; a key file is never replaced", param_hint="--out")


@key_app.command("list")
def list_command(as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None) -> None:
    """List the account's API keys with their scopes and subaccount restriction.

    Example: kalshi key list --json
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    keys = app.client(auth=True).api_keys.list_api_keys()
    docs = [
        {
            "api_key_id": k.api_key_id,
            "name": k.name,
            "scopes": list(k.scopes),
            "subaccount": k.subaccount,
        }
        for k in keys
    ]
    rows = [
        {
            "api_key_id": k.api_key_id,
            "name": k.name,
            "scopes": ", ".join(k.scopes),
            "subaccount": "any" if k.subaccount is None else str(k.subaccount),
        }
        for k in keys
    ]
    out.table(KEY_COLUMNS, rows, document={"api_keys": docs})


@key_app.command("create")
def create_command(
    *,
    name: NameOpt,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Make the key pair here and write its private key to this file (mode 0600).",
            dir_okay=False,
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="Register this public key (PEM) instead of making a pair.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    kind: KeyTypeOpt = KeyKind.RSA,
    scope: ScopeOpt = None,
    subaccount: RestrictOpt = None,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Register a public key with the exchange; the private key never leaves this machine.

    Example: kalshi key create --name bot --type ed25519 --out bot.pem --scope write::trade
    """
    if (out_path is None) == (public_key is None):
        raise typer.BadParameter("give exactly one of --out and --public-key", param_hint="--out")
    pem, kind_name, private = key_material(public_key, out_path, kind)
    app, out = begin(env, as_json=as_json)
    client = app.client(auth=True)
    if private is not None and out_path is not None:
        # the private key is safe on disk before the exchange hears of the public one
        write_private_key(out_path, private)
    try:
        key_id = client.api_keys.create_api_key(
            name, pem, scopes=tuple(scope) if scope else None, subaccount=subaccount
        )
    except OrderOutcomeUnknown as exc:
        if out_path is not None and private is not None:
            # the key may be registered, and this file holds its only private half
            exc.message += f"; its private key is kept in {out_path}"
        raise
    except BaseException:
        if out_path is not None and private is not None:
            out_path.unlink(missing_ok=True)  # registered nowhere: nothing to keep
        raise
    render_key(out, key_id, kind_name, out_path)


def key_material(
    public_key: Path | None, out_path: Path | None, kind: KeyKind
) -> tuple[str, str, bytes | None]:
    """(public key PEM, key type, private key PEM of a pair made here or None)."""
    from kalshi_cli.vocabulary.keys import (
        generate_private_key,
        key_type,
        load_public_key,
        private_key_pem,
        public_key_pem,
    )

    if public_key is not None:
        pem = public_key.read_text(encoding="ascii", errors="replace")
        try:
            return pem, key_type(load_public_key(pem)), None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--public-key") from None
    assert out_path is not None
    _refuse_existing(out_path)
    private = generate_private_key("ed25519" if kind is KeyKind.ED25519 else "rsa")
    return public_key_pem(private), kind.value, private_key_pem(private)


def render_key(out: Output, key_id: str, kind_name: str, out_path: Path | None) -> None:
    fields = [("key id", key_id), ("type", kind_name)]
    document: dict[str, object] = {"api_key_id": key_id, "key_type": kind_name}
    if out_path is not None:
        fields.append(("private key", str(out_path)))
        document["private_key_path"] = str(out_path)
    out.record(fields, document=document)


@key_app.command("generate")
def generate_command(
    *,
    name: NameOpt,
    out_path: OutOpt,
    kind: KeyTypeOpt = KeyKind.RSA,
    scope: ScopeOpt = None,
    subaccount: RestrictOpt = None,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Have the exchange make a key pair; its private key goes to --out (mode 0600), never to
    the screen, and cannot be fetched again.

    Example: kalshi key generate --name reader --out ~/.kalshi/reader.pem --scope read
    """
    _refuse_existing(out_path)
    app, out = begin(env, as_json=as_json)
    made = generate_key_file(
        app.client(auth=True),
        out_path,
        name=name,
        key_type=kind.value,
        scopes=tuple(scope) if scope else None,
        subaccount=subaccount,
    )
    render_key(out, made.api_key_id, made.key_type, out_path)


@key_app.command("delete")
def delete_command(
    key_id: Annotated[str, identifier_argument("The key id (from `kalshi key list`).")],
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    env: EnvOpt = None,
) -> None:
    """Delete an API key: it no longer authenticates. Deleting the key this command signs with
    needs --yes.

    Example: kalshi key delete 6f1c9a52-...
    """
    from kalshi_cli.cli._services import confirm_on_prod

    app, out = begin(env, as_json=as_json)
    client = app.client(auth=True)
    if key_id == app.connection(auth=True).key_id and not yes:
        raise typer.BadParameter(
            "this is the key kalshi signs with; after deleting it nothing here can sign: "
            "add --yes to delete it anyway",
            param_hint="KEY_ID",
        )
    confirm_on_prod(app, f"delete API key {key_id}", yes=yes)
    client.api_keys.delete_api_key(key_id)
    out.record([("deleted", key_id)], document={"deleted": key_id})
