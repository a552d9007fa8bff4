"""A strategy's parameters: one frozen `msgspec.Struct` (`Params`), validated as a whole, with the
markers `Range`, `Updatable` and `Search`. `validate_params` is the one config decoder
(`vocabulary.decode`) under its name here: the config's `strategies.NAME` section, a `--params`
file, a sweep's `--param k=v` strings and each field's default all go through it, and every
refusal names the file and line of the key. See docs/strategies.md "Its params".
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import msgspec

from kalshi_cli.vocabulary.decode import decode_config
from kalshi_cli.vocabulary.errors import ConfigError


class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The base of every strategy's parameters; a subclass lists its fields with defaults."""


P = TypeVar("P", bound=Params)


@dataclass(frozen=True)
class Search:
    """The values a search tries for a field: `low`, `low + step`, ... up to `high` (both
    included), e.g. `Annotated[Decimal, Search("0.01", "0.10", "0.01")]`. Written as text or
    ints so every value is an exact decimal (no float is ever a parameter value)."""

    low: Decimal | int | str
    high: Decimal | int | str
    step: Decimal | int | str


class _Updatable:
    def __repr__(self) -> str:
        return "Updatable"


Updatable = _Updatable()
"""`Annotated[T, Updatable]`: the field may change while a loop runs (`kill -HUP`)."""


@dataclass(frozen=True)
class ParamField:
    """One field of a params type, as `kalshi strategy list` shows it."""

    name: str
    type: str
    default: Any
    updatable: bool
    search: Search | None = None  # the range a search tries, when the field declares one

    def to_json(self) -> dict[str, Any]:
        default = self.default
        found = self.search
        return {
            "name": self.name,
            "type": self.type,
            "default": str(default) if isinstance(default, Decimal) else default,
            "updatable": self.updatable,
            "search": None
            if found is None
            else {"low": str(found.low), "high": str(found.high), "step": str(found.step)},
        }


def _extras(cls: type[Params]) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """field -> (its bare type, its Annotated metadata)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for name in cls.__struct_fields__:
        hint = hints[name]
        if typing.get_origin(hint) is typing.Annotated:
            out[name] = (typing.get_args(hint)[0], tuple(hint.__metadata__))
        else:
            out[name] = (hint, ())
    return out


def updatable_fields(cls: type[Params]) -> frozenset[str]:
    return frozenset(n for n, (_, meta) in _extras(cls).items() if Updatable in meta)


def param_fields(cls: type[Params]) -> list[ParamField]:
    defaults = cls()
    ranges = search_ranges(cls)
    return [
        ParamField(
            name,
            getattr(kind, "__name__", str(kind)),
            getattr(defaults, name),
            Updatable in meta,
            ranges.get(name),
        )
        for name, (kind, meta) in _extras(cls).items()
    ]


def search_ranges(cls: type[Params]) -> dict[str, Search]:
    """field -> the `Search` range it declares, for the fields that declare one."""
    return {
        name: bound
        for name, (_, meta) in _extras(cls).items()
        for bound in meta
        if isinstance(bound, Search)
    }


# a strategy parameter as a backtest's spec keeps it: its text (a number, a name, a flag's
# value), or a list parameter's items as texts, each read back by `validate_params`
ParamValue = str | tuple[str, ...]
ParamPairs = tuple[tuple[str, ParamValue], ...]


def params_dict(params: Params) -> dict[str, Any]:
    """The params as plain values (Decimals as their text in plain digits, never `1E-7`: a
    backtest's spec keeps them so and decodes them again), for a report or `--json`."""
    return {
        k: format(v, "f") if isinstance(v, Decimal) else v
        for k, v in msgspec.structs.asdict(params).items()
    }


def params_text(params: Params) -> str:
    return ", ".join(f"{k}={v}" for k, v in msgspec.structs.asdict(params).items())


def _at(raw: Mapping[str, Any] | None, key: str | None) -> str:
    """`file:line: ` of `key` when `raw` came from the config's line-aware loader, else ''."""
    locate = getattr(raw, "where", None)
    return f"{locate(key)}: " if callable(locate) else ""


def validate_params(cls: type[P], raw: Mapping[str, Any] | None, *, where: str) -> P:
    """The params of `cls` from `raw` (None: every default), checked as a whole by the one
    config decoder (`vocabulary.decode`); a ConfigError naming `file:line` (or `where` alone
    for a mapping without lines) and the key otherwise."""
    mistyped = _mistyped_default(cls)
    if mistyped is not None:
        raise ConfigError(f"{where}.{mistyped}")
    return decode_config(cls, raw, where=where, what="parameter")


@cache
def _mistyped_default(cls: type[Params]) -> str | None:
    """`field: why` for a default that is not what its type decodes to (msgspec never checks
    a default: a float or a string given for a Decimal would reach prices as itself)."""
    for field in msgspec.structs.fields(cls):
        if field.default is msgspec.NODEFAULT:
            continue
        try:
            decoded = msgspec.convert(field.default, field.type, strict=True)
        except msgspec.ValidationError as exc:
            return f"{field.name}: default {field.default!r}: {exc}"
        if type(decoded) is not type(field.default):
            return (
                f"{field.name}: default {field.default!r} is a {type(field.default).__name__}, "
                f"not a {type(decoded).__name__}"
            )
    return None


def reload_params(current: P, raw: Mapping[str, Any] | None, *, where: str) -> tuple[P, list[str]]:
    """The params a reload would run with, and the names of the fields it changes: the whole
    of `raw` validated first, then refused if a field not marked `Updatable` would change (a
    running loop keeps `current` either way until this returns)."""
    cls = type(current)
    fresh = validate_params(cls, raw, where=where)
    changed = [k for k in cls.__struct_fields__ if getattr(fresh, k) != getattr(current, k)]
    fixed = sorted(set(changed) - updatable_fields(cls))
    if fixed:
        raise ConfigError(
            f"{_at(raw, fixed[0])}{where}.{fixed[0]} cannot change while the loop "
            f"runs (updatable: {', '.join(sorted(updatable_fields(cls))) or 'none'})",
            hint="restart the loop to change it",
        )
    return fresh, changed
