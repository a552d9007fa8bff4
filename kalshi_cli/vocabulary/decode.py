"""The one decoder of what a person writes (a config section, a params file) into a typed, frozen
`msgspec.Struct`, every refusal at the file and line of the key it is about, and the bounds every
YAML file a person writes (the config, a params file, a scenario) is read within (`read_yaml_text`,
`checked_yaml`). It imports only `errors` and msgspec (PyYAML deferred), so every layer that owns
a section decodes through this one function. See docs/configuration.md "The sections of other
layers" and "Limits".
"""

from __future__ import annotations

import difflib
import math
import operator
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from kalshi_cli.vocabulary.errors import ConfigError

T = TypeVar("T")


class Range(msgspec.Struct, frozen=True):
    """Bounds of a `Decimal` field: `Annotated[Decimal, Range(gt=0, le=1)]`."""

    ge: Decimal | int | str | None = None
    gt: Decimal | int | str | None = None
    le: Decimal | int | str | None = None
    lt: Decimal | int | str | None = None

    def problem(self, value: Decimal) -> str | None:
        checks: tuple[tuple[Decimal | int | str | None, Callable[[Any, Any], bool], str], ...] = (
            (self.ge, operator.ge, ">="),
            (self.gt, operator.gt, ">"),
            (self.le, operator.le, "<="),
            (self.lt, operator.lt, "<"),
        )
        for bound, holds, sign in checks:
            if bound is not None and not holds(value, Decimal(bound)):
                return f"must be {sign} {bound}, got {value}"
        return None


class _Secret:
    def __repr__(self) -> str:
        return "SECRET"


SECRET = _Secret()
"""`Annotated[T, SECRET]`: a refusal of this field never quotes what was written (a password,
a token, a webhook URL, a header), whatever its kind."""


def decode_config(
    cls: type[T], raw: Mapping[str, Any] | None, *, where: str, what: str = "key"
) -> T:
    """`raw` (None: every default) as `cls`, checked as a whole; a ConfigError naming
    `file:line` (when `raw` came from the line-aware loader), the dotted key from `where` down,
    and what is wrong. `what` names an unknown key in the refusal ("unknown parameter ...")."""
    values: Mapping[str, Any] = {} if raw is None else raw
    # before msgspec: a NaN would reach a `__post_init__` comparison (a Decimal NaN raises there)
    _refuse_non_finite(cls, values, where, _at(values, None))
    try:
        decoded = msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise _refusal(
            cls, values, str(exc), dotted=where, where=_at(values, None), what=what, root=cls
        ) from None
    _check_values(decoded, values, where, _at(values, None))
    return decoded


def did_you_mean(name: str, names: Iterable[str]) -> str | None:
    """The known name `name` was most likely meant as, or None: the same name in the other
    spelling (`market_maker` for `market-maker`) before the closest by `difflib`. Every "did you
    mean" of the product (a config key, a strategy, a dotted key of `config get`) asks here."""
    known = sorted(names)
    same = [n for n in known if n.replace("-", "_") == name.replace("-", "_")]
    # 0.7, not difflib's 0.6: a typo (`balanse`, `chanels`) scores 0.85 and more, while a word
    # only a little alike (`deposit` and `positions`, 0.62) is no guess at all
    close = same or difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    return close[0] if close else None


# --------------------------------------------------------------------------------------------
# The bounds of a YAML file a person writes: no file costs more than a moment to read

YAML_MAX_BYTES = 1_000_000  # a config is a few KB: a larger file is refused before it is parsed
YAML_MAX_VALUES = 100_000  # keys, values and items, an alias counted as all it repeats
YAML_MAX_DEPTH = 100  # mappings and lists inside one another
NUMBER_MAX_CHARS = 40
# a YAML 1.1 integer as a person means one: no sign but one, no base (0x10, 010), no digit
# groups (1_000), no sexagesimal (1:30); a float is PLAIN_DECIMAL (no exponent)
_PLAIN_INTEGER = re.compile(r"^[+-]?(?:0|[1-9][0-9]*)$")


def read_yaml_text(path: Path, what: str) -> str:
    """The text of the YAML file at `path` (`what`: "config file", "scenario"...), refused
    before it is parsed when it is over YAML_MAX_BYTES (at most that many bytes are read) or
    is not UTF-8; FileNotFoundError passes to the caller, for whom a missing file may be none."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(YAML_MAX_BYTES + 1)
        if len(data) > YAML_MAX_BYTES:
            raise ConfigError(
                f"{what} {path} is larger than {YAML_MAX_BYTES:,} bytes; not read",
                hint="a file of settings is a few KB: is this the file you meant?",
            )
        return data.decode("utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{what} {path} cannot be read: {reason}") from None


def checked_yaml(root: Any, path: Path) -> dict[int, str]:
    """The dotted key (`risk.`) of every mapping and list of a composed YAML document, by node
    id, once each node passed the checks every YAML file a person writes is held to: no alias
    inside its own anchor (no reader could reach its end), at most YAML_MAX_DEPTH deep and
    YAML_MAX_VALUES values with each alias counted as all it repeats (a billion laughs is
    refused in a moment, never expanded), and every number plain decimal digits of at most
    NUMBER_MAX_CHARS characters (YAML 1.1 reads `0x10` as 16 and `010` as 8)."""
    import yaml

    dotted: dict[int, str] = {}
    sizes: dict[int, int] = {}

    def refuse(node: Any, prefix: str, problem: str) -> ConfigError:
        key = prefix.rstrip(".") or "the document"
        return ConfigError(f"{path}:{node.start_mark.line + 1}: `{key}`{problem}")

    def size(node: Any, prefix: str, inside: frozenset[int]) -> int:
        if id(node) in inside:
            raise refuse(node, prefix, " holds itself (a YAML alias inside its own anchor)")
        if isinstance(node, yaml.ScalarNode):
            problem = _number_problem(node)
            if problem:
                raise refuse(node, prefix, f": {problem}")
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        if len(inside) >= YAML_MAX_DEPTH:
            raise refuse(node, prefix, f" is nested more than {YAML_MAX_DEPTH} deep")
        dotted[id(node)] = prefix
        total, mapping = 1, isinstance(node, yaml.MappingNode)
        for item in node.value:
            key, value = item if mapping else (None, item)
            here = f"{prefix}{key.value}." if key is not None else prefix
            total += size(value, here, inside | {id(node)}) + (key is not None)
            if total > YAML_MAX_VALUES:
                raise refuse(
                    node,
                    prefix,
                    f" holds more than {YAML_MAX_VALUES:,} values (each YAML alias counted as "
                    "all it repeats)",
                )
        sizes[id(node)] = total
        return total

    if root is not None:
        size(root, "", frozenset())
    return dotted


def bounded_loader(path: Path) -> Any:
    """The YAML loader of every file a person writes: PyYAML's safe one (libyaml's where PyYAML
    has it: a tenth of the pure one's time) that builds a document only once `checked_yaml`
    passed it, keeping the dotted keys it found (`dotted`) for the refusals of its subclasses."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Bounded(base):  # type: ignore[misc]
        dotted: dict[int, str]

        def construct_document(self, node: Any) -> Any:
            self.dotted = checked_yaml(node, path)
            return super().construct_document(node)

    return Bounded


def _number_problem(node: Any) -> str | None:
    """What is wrong with a scalar YAML reads as a number, or None (text, or a plain one; NaN
    and infinity are left to the finite checks, which name them)."""
    kind = node.tag.rsplit(":", 1)[-1]
    if kind not in ("int", "float"):
        return None
    text = str(node.value).strip()
    if len(text) > NUMBER_MAX_CHARS:
        return f"a number of {len(text):,} characters; at most {NUMBER_MAX_CHARS} are read"
    if kind == "float" and text.lower().lstrip("+-") in (".inf", ".nan"):
        return None
    plain = _PLAIN_INTEGER if kind == "int" else PLAIN_DECIMAL
    if plain.match(text):
        return None
    return f"{text} is not a plain decimal number (write it in digits, e.g. 16 or 0.25)"


# --------------------------------------------------------------------------------------------
# From msgspec's error to the person's file and line


def _at(node: object, key: str | None) -> str:
    """`file:line` of `key` in a mapping from the line-aware loader (of the mapping itself for
    None), else ''."""
    locate = getattr(node, "where", None)
    return str(locate(key)) if callable(locate) else ""


def _text(where: str, key_path: str, problem: str) -> str:
    said = f"{key_path}: {problem}" if key_path else problem
    return f"{where}: {said}" if where else said


def _join(dotted: str, key: object) -> str:
    """`risk.min_edge` below `risk`; a key of the document itself (`where=""`) alone."""
    return f"{dotted}.{key}" if dotted else str(key)


def _kind_of(value: object) -> str:
    """What a value written in YAML is, in a person's words, without showing it."""
    if isinstance(value, bool):
        return "truth value"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "value"


# An amount as a person writes it: ASCII digits, one optional sign and point. `Decimal` also
# reads digit groups (`1_0` is 10), other scripts' digits (a full-width `１`) and a float's
# exponent (`1e3`), none of which a person or a file means as an amount: the flags
# (`order_terms.parse_amount`) and the config's number fields refuse them alike.
PLAIN_DECIMAL = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")


# The largest amount a person may write (a count, a price, a limit, a threshold): what the rules
# compute from it (a count times a price to 0.0001, a sum over orders) stays exact within the 28
# digits of Decimal arithmetic; a 30-digit count made `quantize` raise deep in an order's path.
AMOUNT_LIMIT = Decimal(10) ** 12


def too_large(value: object) -> str | None:
    """The refusal of a number (text, int, float or Decimal) past `AMOUNT_LIMIT` either way, else
    None; what is no finite number is left to the caller's other checks."""
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (ArithmeticError, TypeError, ValueError):
        return None
    huge = number.is_finite() and abs(number) >= AMOUNT_LIMIT
    return f"expected a number below {AMOUNT_LIMIT:,}" if huge else None


def _disguised(text: str) -> bool:
    """Text `Decimal` reads as a number that is no plain decimal (`1_000`, `１`, `1e3`); text
    that is no number at all is left to the decoder's own "expected a number"."""
    try:
        Decimal(text.strip())
    except ArithmeticError:
        return False
    return not PLAIN_DECIMAL.match(text.strip())


def _not_finite(value: object) -> bool:
    """A float NaN or infinity, or text a number field would read as one ('nan', '-inf')."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return value.strip().lower().lstrip("+-") in ("nan", "snan", "inf", "infinity")
    return False


# a step of msgspec's error path (`.key`, `[0]`, `[...]`), compiled by `re` on the first refusal:
# every command decodes its settings through here, and almost none is refused
_PATH = r"\.([^.\[]+)|\[(\d+|\.\.\.)\]"


def _refusal(
    tp: Any, raw: object, text: str, *, dotted: str, where: str, what: str, root: Any = None
) -> ConfigError:
    found = re.fullmatch(r"(.*) - at `\$(.*)`", text, re.DOTALL)
    problem, path = (found.group(1), found.group(2)) if found else (text, "")
    start = dotted
    walked = _walk(tp, raw, path, dotted=dotted, where=where, what=what)
    if isinstance(walked, ConfigError):
        return walked
    node, kind, dotted, where = walked
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", problem)
    if unknown:
        top = tp if root is None else root
        return _unknown_key(
            unknown.group(1),
            kind,
            node,
            top=top,
            start=start,
            dotted=dotted,
            where=where,
            what=what,
        )
    return _judged(problem, kind, node, dotted, where)


def _walk(
    kind: Any, node: object, path: str, *, dotted: str, where: str, what: str
) -> tuple[object, Any, str, str] | ConfigError:
    """Follow msgspec's error path down `node`: the value, its type, its key path and its line."""
    for name, index in re.findall(_PATH, path):
        if index == "...":
            return _in_mapping(kind, node, dotted, where, what)
        if index:
            items = node if isinstance(node, list) else []
            position = int(index)
            node = items[position] if position < len(items) else None
            kind = _item_type(kind)
            dotted = f"{dotted}[{index}]"
            continue
        kind = _narrow(kind, node)
        where = _at(node, name) or where
        node = node.get(name) if isinstance(node, Mapping) else None
        tags = _tags(kind, name)
        kind = _field_type(kind, name) if not tags else Literal[tuple(tags)]
        dotted = _join(dotted, name)
    return node, kind, dotted, where


def _unknown_key(
    key: str, union: Any, node: object, *, top: Any, start: str, dotted: str, where: str, what: str
) -> ConfigError:
    """A key no field takes, with the nearest name, the union member or the section that does."""
    kind = _narrow(union, node)
    names = _field_names(kind)
    close = did_you_mean(key, names)
    hint = f"did you mean `{close}`?" if close else f"known: {', '.join(names)}"
    # a key of another member of a tagged union (`headers` of a slack channel)
    takers = [
        str(s.__struct_config__.tag)
        for s in _structs(union)
        if s is not kind and key in _hints(s) and s.__struct_config__.tag is not None
    ]
    if takers:
        hint = f"`{key}` is only for type {', '.join(takers)}"
    # a key of another section of the same document (a key id at the top level)
    homes = [h for h in _homes(top, key, start) if h != dotted]
    if homes and not takers:
        places = [f"`{h}:`" if h else "the top level" for h in homes]
        hint = f"`{key}` belongs in {' or '.join(places)}"
    place = _at(node, key) or where
    return ConfigError(
        f"{place + ': ' if place else ''}unknown {what} `{_join(dotted, key)}`", hint=hint
    )


def _judged(problem: str, kind: Any, node: object, dotted: str, where: str) -> ConfigError:
    """msgspec's `problem` with the value at `dotted`, said as a person who writes YAML would."""
    hidden = _is_secret(kind)
    shown = f"a {_kind_of(node)} (not shown: a secret)" if hidden else _shown(node)
    kind = _narrow(kind, node)
    missing = re.fullmatch(r"Object missing required field `(.+)`", problem)
    if missing:
        return ConfigError(_text(where, dotted, f"needs `{missing.group(1)}`"))
    if _not_finite(node) and not hidden:
        return ConfigError(_text(where, dotted, f"expected a finite number, not {node}"))
    mismatch = re.fullmatch(r"Expected `([\w |]+)`, got `\w+`", problem)
    kinds = [k for k in mismatch.group(1).split(" | ") if k != "null"] if mismatch else []
    if kinds and all(k in _KINDS for k in kinds):
        return _mismatch(kinds, node, shown, dotted, where)
    choices = _choices(kind)
    if problem.startswith(("Invalid enum value", "Invalid value")) and choices:
        return ConfigError(
            _text(where, dotted, f"expected one of {', '.join(choices)}, not {shown}"),
            hint=f"use one of: {', '.join(choices)}",
        )
    if problem.startswith("Invalid decimal"):
        return ConfigError(_text(where, dotted, f"expected a number, not {shown}"))
    if isinstance(node, Mapping) and not problem.startswith(("Expected", "Object")):
        # a rule between fields (a `__post_init__`): at the line of the first field it names
        named = [k for k in node if re.search(rf"\b{re.escape(str(k))}\b", problem)]
        return ConfigError(_text(_at(node, named[0]) if named else where, dotted, problem))
    if hidden:  # msgspec's own words may quote the value
        return ConfigError(_text(where, dotted, f"cannot be read: {shown}"))
    return ConfigError(_text(where, dotted, problem[:1].lower() + problem[1:]))


def _mismatch(kinds: list[str], node: object, shown: str, dotted: str, where: str) -> ConfigError:
    wanted = " or ".join(dict.fromkeys(_KINDS[k] for k in kinds))
    # YAML reads 12345678 or yes as a number or a truth value: text must then be quoted
    quote = "str" in kinds and isinstance(node, int | float | bool)
    return ConfigError(
        _text(where, dotted, f"expected {wanted}, not {shown}"),
        hint="put the value in quotes to write it as text" if quote else None,
    )


# msgspec's names of kinds, as a person who writes YAML says them
_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "decimal": "a number",
    "str": "text",
    "bool": "true or false",
    "object": "a mapping",
    "array": "a list",
}


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # as YAML spells it
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _is_secret(kind: Any) -> bool:
    """Whether `kind` (or, for an optional field, a member of it) is `Annotated[..., SECRET]`."""
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
    candidates = [kind, *(typing.get_args(kind) if optional else ())]
    return any(m is SECRET for c in candidates for m in getattr(c, "__metadata__", ()))


def _narrow(kind: Any, node: object) -> Any:
    """The member of a tagged union of Structs that `node`'s tag names, else `kind`."""
    structs = _structs(kind)
    if len(structs) < 2 or not isinstance(node, Mapping):
        return kind
    for struct in structs:
        config = struct.__struct_config__
        if config.tag_field is not None and node.get(config.tag_field) == config.tag:
            return struct
    return kind


def _tags(kind: Any, name: str) -> list[str]:
    """The tags of a tagged union of Structs whose tag field is `name` (a channel's `type`)."""
    return [
        str(s.__struct_config__.tag)
        for s in _structs(kind)
        if s.__struct_config__.tag_field == name and s.__struct_config__.tag is not None
    ]


def _choices(kind: Any) -> list[str]:
    """The values a `Literal[...]` field takes, as text."""
    return [
        str(v)
        for m in _members(kind)
        if typing.get_origin(m) is Literal
        for v in typing.get_args(m)
    ]


def _refuse_non_finite(kind: Any, raw: object, dotted: str, where: str) -> None:
    """A NaN or infinity (a YAML `.nan`, a text 'inf'), or text that is no plain decimal
    (`PLAIN_DECIMAL`), at any number field, at its line."""
    if not isinstance(raw, Mapping):
        return
    kind = _narrow(kind, raw)  # a channel's own keys, by its `type:`
    fields = {n for s in _structs(kind) for n in _hints(s)}
    for key, value in raw.items():
        if fields:
            sub = _field_type(kind, str(key)) if key in fields else None
        else:
            sub = _item_type(kind)
        if sub is None or sub is Any:
            continue
        here = _at(raw, str(key)) or where
        numeric = any(m in (int, float, Decimal) for m in _members(sub))
        if numeric and _not_finite(value):
            raise ConfigError(
                _text(here, _join(dotted, key), f"expected a finite number, not {value}")
            )
        if numeric and isinstance(value, str) and _disguised(value):
            raise ConfigError(
                _text(here, _join(dotted, key), f"expected a plain decimal number, not {value!r}")
            )
        # a field that takes text too is an identifier (a Telegram chat id), not an amount
        amount = numeric and str not in _members(sub)
        if amount and not isinstance(value, bool) and (problem := too_large(value)):
            raise ConfigError(_text(here, _join(dotted, key), problem))
        _refuse_non_finite(sub, value, _join(dotted, key), here)


def _in_mapping(kind: Any, node: object, dotted: str, where: str, what: str) -> ConfigError:
    """msgspec's `[...]`: the value of a `dict[str, X]` that failed, found by decoding each."""
    value_type = _item_type(kind)
    if _is_secret(kind):  # a secret mapping's values are secrets (a webhook's headers)
        value_type = Annotated[value_type, SECRET]
    entries = node if isinstance(node, Mapping) else {}
    for key, value in entries.items():
        try:
            msgspec.convert(value, value_type, strict=False)
        except msgspec.ValidationError as exc:
            here = _at(entries, key) or where
            return _refusal(
                value_type, value, str(exc), dotted=_join(dotted, key), where=here, what=what
            )
    return ConfigError(_text(where, dotted, "cannot be read"))  # msgspec refused it once


def _bare(kind: Any) -> Any:
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _members(kind: Any) -> tuple[Any, ...]:
    kind = _bare(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return tuple(_bare(k) for k in typing.get_args(kind) if k is not type(None))
    return (kind,)


@cache
def _fields(cls: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """A Struct's fields, each with its type (Annotated kept), read once per Struct: a type's
    hints are evaluated from text, slow enough to show at every command's start."""
    return msgspec.structs.fields(cls)


@cache
def _hints(cls: type[msgspec.Struct]) -> dict[str, Any]:
    """field's encoded name (`from` for `sender`) -> its type, Annotated kept."""
    return {f.encode_name: f.type for f in _fields(cls)}


def _structs(kind: Any) -> list[type[msgspec.Struct]]:
    return [k for k in _members(kind) if isinstance(k, type) and issubclass(k, msgspec.Struct)]


def _field_type(kind: Any, name: str) -> Any:
    for struct in _structs(kind):
        if name in _hints(struct):
            return _hints(struct)[name]
    return Any


def _homes(kind: Any, key: str, dotted: str) -> list[str]:
    """The dotted paths, from `kind` down through its Struct fields, of every Struct that has a
    field `key` ("" for `kind` itself)."""
    found = [dotted] if any(key in _hints(s) for s in _structs(kind)) else []
    for struct in _structs(kind):
        for name, hint in _hints(struct).items():
            if _structs(hint):
                found += _homes(hint, key, _join(dotted, name))
    return found


def _field_names(kind: Any) -> list[str]:
    return sorted({name for struct in _structs(kind) for name in _hints(struct)})


def _item_type(kind: Any) -> Any:
    for member in _members(kind):
        args = typing.get_args(member)
        if typing.get_origin(member) in (dict, Mapping) and len(args) == 2:
            return args[1]
        if typing.get_origin(member) in (list, tuple) and args:
            return args[0]
    return Any


# --------------------------------------------------------------------------------------------
# What msgspec decoded but does not check: non-finite numbers and Decimal ranges


def _ranges(hint: Any) -> list[Range]:
    """The `Range`s of a field's type: `Annotated[Decimal, Range(...)]`, optional or not."""
    kinds = (
        [hint, *typing.get_args(hint)]
        if typing.get_origin(hint) is not typing.Annotated
        else [hint]
    )
    return [
        bound
        for kind in kinds
        if typing.get_origin(kind) is typing.Annotated
        for bound in kind.__metadata__
        if isinstance(bound, Range)
    ]


@cache
def _bounded_fields(cls: type[msgspec.Struct]) -> tuple[tuple[str, str, list[Range]], ...]:
    """Each field's attribute, encoded name and `Range`s."""
    return tuple((f.name, f.encode_name, _ranges(f.type)) for f in _fields(cls))


def _check_number(
    item: object, raw: object, ranges: list[Range], key_path: str, where: str
) -> None:
    """A decoded number is finite and within its field's `Range`s."""
    if (isinstance(item, Decimal) and not item.is_finite()) or (
        isinstance(item, float) and not math.isfinite(item)
    ):
        shown = raw if raw is not None else item
        raise ConfigError(_text(where, key_path, f"expected a finite number, not {shown}"))
    for bound in ranges:
        if isinstance(item, Decimal):
            refused = bound.problem(item)
            if refused:
                raise ConfigError(_text(where, key_path, refused))


def _check_values(value: object, raw: object, dotted: str, where: str) -> None:
    if isinstance(value, msgspec.Struct):
        for attribute, name, ranges in _bounded_fields(type(value)):
            item = getattr(value, attribute)
            here = _at(raw, name) or where
            key_path = _join(dotted, name)
            sub = raw.get(name) if isinstance(raw, Mapping) else None
            _check_number(item, sub, ranges, key_path, here)
            _check_values(item, sub, key_path, here)
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = raw.get(key) if isinstance(raw, Mapping) else None
            _check_values(item, sub, _join(dotted, key), _at(raw, key) or where)
    elif isinstance(value, list | tuple):
        items = raw if isinstance(raw, list) else []
        for i, item in enumerate(value):
            _check_values(item, items[i] if i < len(items) else None, f"{dotted}[{i}]", where)
