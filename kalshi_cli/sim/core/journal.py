"""The exchange's write-ahead journal (one JSON line per accepted input, flushed per write) and
the versioned MessagePack snapshot it is compacted into, so a restarted simulator rebuilds the
same state and a kill -9 loses nothing that was acknowledged. Reading a snapshot creates no
class the exchange did not name and runs no code of the file's choosing. See docs/simulator.md
"The journal and its snapshot".
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import json
import os
import shlex
import struct
import sys
import time
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO, ClassVar, cast

import msgspec

# json.dumps with `separators` builds a new encoder on every call; one encoder, the same bytes
_encode = json.JSONEncoder(separators=(",", ":")).encode


class JournalError(Exception):
    """The journal cannot be read back (a corrupt line in the middle, an unknown record)."""


class Journal:
    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        self._records, good_bytes = _read(path)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        if path.stat().st_size != good_bytes:
            # drop a torn last line so the next record starts cleanly
            self._file.truncate(good_bytes)

    def records(self) -> Iterator[dict[str, Any]]:
        """The records present when the journal was opened, then forgets them."""
        records, self._records = self._records, []
        yield from records

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(_encode(record) + "\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def restart(self, first: dict[str, Any]) -> None:
        """Replace the journal by one holding only `first`, atomically."""
        self._file.close()
        line = (json.dumps(first, separators=(",", ":")) + "\n").encode()
        _write_atomic(self.path, lambda f: f.write(line))
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._file.close()


def snapshot_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".snapshot")


# The first bytes of a snapshot; an older simulator's pickle starts with 0x80 instead.
SNAPSHOT_MAGIC = b"KSIMSNAP"
# The version of the frames' layout and tags (`_Tag`), raised when either changes; what a class
# holds is checked by name on reading (`_Reader._schema`), so a field added to a record does not
# need a new version to be refused rather than misread.
SNAPSHOT_VERSION = 1
_LENGTH = struct.Struct(">Q")


class _Tag:
    """The first item of every container or object in a snapshot's frames."""

    LIST, TUPLE, DICT, ORDERED, SET, FROZEN, DEQUE = "l", "t", "d", "o", "s", "f", "q"
    ARRAY, DECIMAL, BIG, ENUM, CLASS, OBJECT, STATE, REF = "a", "$", "n", "e", "K", "C", "S", "r"


_SIMPLE = (str, bool, float, type(None))
_INT64 = (-(2**63), 2**64 - 1)  # what MessagePack holds as an integer


def write_snapshot(journal: Path, state: dict[str, Any], types: Iterable[type]) -> None:
    """`state` is {"generation": g, "state": {name: value}}; `types`, every class whose objects
    it may hold (any other is refused: a TypeError, a bug in the exchange's list). Written a
    frame per part of the state, so the whole snapshot is never one bytes object in memory."""
    writer = _Writer(_registry(types))
    encoder = msgspec.msgpack.Encoder()

    def write(f: BinaryIO) -> None:
        def frame(value: Any) -> None:
            data = encoder.encode(value)
            f.write(_LENGTH.pack(len(data)))
            f.write(data)

        f.write(SNAPSHOT_MAGIC)
        frame({"version": SNAPSHOT_VERSION, "generation": state["generation"]})
        for name, value in state["state"].items():
            frame([name, writer.value(value)])
        frame(None)

    with _no_collection():
        _write_atomic(snapshot_path(journal), write)


def read_snapshot(journal: Path, types: Iterable[type]) -> dict[str, Any] | None:
    """The `state` `write_snapshot` was given, or None without a snapshot. Raises JournalError
    for a snapshot this version cannot read (the exchange adds what to do: `afresh`)."""
    path = snapshot_path(journal)
    if not path.exists():
        return None
    data = path.read_bytes()
    if not data.startswith(SNAPSHOT_MAGIC):
        if data[:1] == b"\x80":
            raise JournalError(
                f"{path}: a snapshot of an older kalshi-cli (a pickle), which this version does "
                "not read (run the older version on it)"
            )
        raise JournalError(f"{path}: not a simulator snapshot")
    try:
        with _no_collection():
            return _read_frames(path, data, types)
    except (_Damaged, msgspec.DecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise JournalError(f"{path}: a damaged snapshot ({exc})") from None


def afresh(journal: Path) -> str:
    """What to do with a journal (or its snapshot) that cannot be read back: set both aside,
    by the exact commands. Everything else in its directory stays, the account's key among it
    (a served simulator registers that key again on its next start: sim/server/embed.py), so the
    account and the state files bound to it stay; its orders, positions and cash start afresh."""
    suffix = f".unreadable-{int(time.time())}"
    moves = " && ".join(
        f"mv {shlex.quote(str(p))} {shlex.quote(str(p) + suffix)}"
        for p in (journal, snapshot_path(journal))
        if p.exists()
    )
    return (
        f"to serve its directory again with the same account (its key stays; its orders, "
        f"positions and cash start afresh), set the journal aside: {moves}"
    )


def _read_frames(path: Path, data: bytes, types: Iterable[type]) -> dict[str, Any]:
    """The state of a snapshot past its magic; raises _Damaged, or JournalError for a
    newer format."""
    frames = _frames(data, len(SNAPSHOT_MAGIC))
    header = next(frames, None)
    if not isinstance(header, dict) or not isinstance(header.get("version"), int):
        raise _Damaged("no format version")
    version = header["version"]
    if version > SNAPSHOT_VERSION:
        raise JournalError(
            f"{path}: a snapshot of format {version}, newer than this kalshi-cli reads "
            f"({SNAPSHOT_VERSION}): upgrade kalshi-cli"
        )
    reader = _Reader(_registry(types))
    state: dict[str, Any] = {}
    for frame in frames:
        if frame is None:
            return {"generation": int(header["generation"]), "state": state}
        name, value = frame
        state[name] = reader.value(value)
    raise _Damaged("it ends before its last frame")


class _Damaged(Exception):
    pass


@contextmanager
def _no_collection() -> Iterator[None]:
    """The frames are a million small lists, none of them garbage: a collection every few
    thousand of them (the default thresholds) would cost more than the frames themselves."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _registry(types: Iterable[type]) -> dict[str, type]:
    """The classes a snapshot may hold, by the name it gives them (the class's own)."""
    named: dict[str, type] = {}
    for cls in types:
        if named.setdefault(cls.__qualname__, cls) is not cls:
            raise TypeError(f"two classes named {cls.__qualname__} in one snapshot")
    return named


def _frames(data: bytes, offset: int) -> Iterator[Any]:
    decoder = msgspec.msgpack.Decoder()
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise _Damaged("a frame's length is cut")
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + size > len(data):
            raise _Damaged("a frame is cut")
        yield decoder.decode(data[offset : offset + size])
        offset += size


def _slots(cls: type) -> tuple[str, ...]:
    return tuple(
        slot for c in cls.__mro__ for slot in getattr(c, "__slots__", ()) if slot != "__weakref__"
    )


def _array_bytes(values: array[Any]) -> bytes:
    """Little-endian, whatever the machine."""
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


class _Writer:
    """An object graph as tagged MessagePack values (see the module docstring)."""

    def __init__(self, types: dict[str, type]) -> None:
        self.names = {cls: name for name, cls in types.items()}
        self.refs: dict[int, int] = {}  # id of a container or object -> its number
        self.keep: list[Any] = []  # what `refs` numbers, alive until the snapshot is written
        self.schemas: dict[tuple[type, tuple[str, ...]], int] = {}
        self.slots: dict[type, tuple[str, ...]] = {}
        # one tagged value for each distinct decimal and member (the same few prices, counts
        # and sides over and over): the frames hold them once in memory, not once per use
        self.decimals: dict[str, list[Any]] = {}
        self.members: dict[enum.Enum, list[Any]] = {}

    def value(self, value: Any) -> Any:
        kind = type(value)
        if kind in _SIMPLE:
            return value
        if kind is int:
            return value if _INT64[0] <= value <= _INT64[1] else [_Tag.BIG, format(value, "x")]
        if kind is Decimal:
            text = str(value)
            tagged = self.decimals.get(text)
            if tagged is None:
                tagged = self.decimals[text] = [_Tag.DECIMAL, text]
            return tagged
        if isinstance(value, enum.Enum):
            tagged = self.members.get(value)
            if tagged is None:
                tagged = self.members[value] = [_Tag.ENUM, self._name(kind), value.value]
            return tagged
        if kind is tuple:
            return [_Tag.TUPLE, *map(self.value, value)]
        if kind is frozenset:
            return [_Tag.FROZEN, *map(self.value, value)]
        seen = self.refs.get(id(value))
        if seen is not None:
            return [_Tag.REF, seen]
        self.refs[id(value)] = len(self.refs)
        self.keep.append(value)
        return self._mutable(kind, value)

    def _mutable(self, kind: type, value: Any) -> Any:
        if kind is list:
            return [_Tag.LIST, *map(self.value, value)]
        if kind is dict or kind is OrderedDict:
            tag = _Tag.DICT if kind is dict else _Tag.ORDERED
            return [tag, *(self.value(x) for item in value.items() for x in item)]
        if kind is set:
            return [_Tag.SET, *map(self.value, value)]
        if kind is deque:
            return [_Tag.DEQUE, value.maxlen, *map(self.value, value)]
        if kind is array:
            return [_Tag.ARRAY, value.typecode, _array_bytes(value)]
        if "__setstate__" in kind.__dict__:  # it says what of it to keep
            return [_Tag.STATE, self._name(kind), self.value(value.__getstate__())]
        slots = self.slots.get(kind)
        if slots is None:
            slots = self.slots[kind] = _slots(kind)
        # the slots that are set, and the `__dict__`
        names = tuple(s for s in slots if hasattr(value, s)) + tuple(getattr(value, "__dict__", ()))
        number = self.schemas.get((kind, names))
        if number is None:  # numbered before its values, as the reader numbers it
            head: list[Any] = [_Tag.CLASS, self._name(kind), list(names)]
            self.schemas[kind, names] = len(self.schemas)
        else:
            head = [_Tag.OBJECT, number]
        return [*head, *(self.value(getattr(value, name)) for name in names)]

    def _name(self, kind: type) -> str:
        name = self.names.get(kind)
        if name is None:
            raise TypeError(f"a snapshot holds no {kind.__module__}.{kind.__qualname__}")
        return name


# a class, the attributes its objects hold in a snapshot, and its dataclass fields added since
_Schema = tuple[type, list[str], tuple["dataclasses.Field[Any]", ...]]


class _Reader:
    """The values `_Writer` made, back into the objects they were."""

    def __init__(self, types: dict[str, type]) -> None:
        self.types = types
        self.refs: list[Any] = []
        self.schemas: list[_Schema] = []
        # immutable, and the same few prices, counts and members over and over: one of each
        self.decimals: dict[str, Decimal] = {}
        self.members: dict[tuple[str, Any], Any] = {}

    def value(self, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        tag, *items = value
        read = self._by_tag.get(tag)
        if read is None:
            raise _Damaged(f"an unknown tag {tag!r}")
        return read(self, items)

    def _decimal(self, items: list[Any]) -> Any:
        made = self.decimals.get(items[0])
        if made is None:
            made = self.decimals[items[0]] = Decimal(items[0])
        return made

    def _big(self, items: list[Any]) -> Any:
        return int(items[0], 16)

    def _enum(self, items: list[Any]) -> Any:
        key = (items[0], items[1])
        member = self.members.get(key)
        if member is None:
            member = self.members[key] = self._type(items[0])(items[1])
        return member

    def _tuple(self, items: list[Any]) -> Any:
        return tuple(map(self.value, items))

    def _frozen(self, items: list[Any]) -> Any:
        return frozenset(map(self.value, items))

    def _ref(self, items: list[Any]) -> Any:
        return self.refs[items[0]]

    def _array(self, items: list[Any]) -> Any:
        values = self._made(array(items[0], items[1]))
        if sys.byteorder != "little":
            values.byteswap()
        return values

    def _list(self, items: list[Any]) -> Any:
        made: list[Any] = self._made([])
        made.extend(map(self.value, items))
        return made

    def _dict(self, items: list[Any], made: dict[Any, Any] | None = None) -> Any:
        made = self._made({} if made is None else made)
        for at in range(0, len(items), 2):
            key = self.value(items[at])
            made[key] = self.value(items[at + 1])
        return made

    def _ordered(self, items: list[Any]) -> Any:
        return self._dict(items, OrderedDict())

    def _set(self, items: list[Any]) -> Any:
        made: set[Any] = self._made(set())
        made.update(map(self.value, items))
        return made

    def _deque(self, items: list[Any]) -> Any:
        made: deque[Any] = self._made(deque(maxlen=items[0]))
        made.extend(map(self.value, items[1:]))
        return made

    def _class(self, items: list[Any]) -> Any:
        self.schemas.append(self._schema(items[0], items[1]))
        return self._object(self.schemas[-1], items[2:])

    def _of_class(self, items: list[Any]) -> Any:
        return self._object(self.schemas[items[0]], items[1:])

    def _with_state(self, items: list[Any]) -> Any:
        cls = self._type(items[0])
        if "__setstate__" not in cls.__dict__:
            raise _Damaged(f"its {items[0]} has a state, this version's has attributes")
        made = self._made(object.__new__(cls))
        made.__setstate__(self.value(items[1]))
        return made

    _by_tag: ClassVar[dict[str, Callable[[_Reader, list[Any]], Any]]] = {
        _Tag.DECIMAL: _decimal,
        _Tag.BIG: _big,
        _Tag.ENUM: _enum,
        _Tag.TUPLE: _tuple,
        _Tag.FROZEN: _frozen,
        _Tag.REF: _ref,
        _Tag.ARRAY: _array,
        _Tag.LIST: _list,
        _Tag.DICT: _dict,
        _Tag.ORDERED: _ordered,
        _Tag.SET: _set,
        _Tag.DEQUE: _deque,
        _Tag.CLASS: _class,
        _Tag.OBJECT: _of_class,
        _Tag.STATE: _with_state,
    }

    def _made(self, value: Any) -> Any:
        self.refs.append(value)
        return value

    def _type(self, name: str) -> type:
        cls = self.types.get(name)
        if cls is None:
            raise _Damaged(f"it holds a {name}, which this version does not")
        return cls

    def _schema(self, name: str, names: list[str]) -> _Schema:
        """A class and the attributes its objects hold in the file: refused when this version's
        class holds others (a field added or removed since the file was written), except a
        dataclass field added since with a default (read as its default) and a slot or field
        the class names among its `snapshot_former_slots` (its `snapshot_upgrade` turns the
        values read into this version's)."""
        cls = self._type(name)
        held = set(names)
        former = set(getattr(cls, "snapshot_former_slots", ()))
        added: tuple[dataclasses.Field[Any], ...] = ()
        if dataclasses.is_dataclass(cls):
            fields = dataclasses.fields(cls)
            known = {f.name for f in fields}
            added = tuple(f for f in fields if f.name not in held and _has_default(f))
            fits = (held - former) | {f.name for f in added} == known
        else:  # its slots, some perhaps unset, and any attribute when it has a `__dict__`
            known = {s for c in cls.__mro__ for s in getattr(c, "__slots__", ())} | former
            fits = held <= known or cls.__dictoffset__ != 0
        if not fits:
            raise _Damaged(f"its {name} holds {sorted(held)}, this version's {sorted(known)}")
        return cls, names, added

    def _object(self, schema: _Schema, values: list[Any]) -> Any:
        cls, names, added = schema
        if len(values) != len(names):
            raise _Damaged(f"a {cls.__qualname__} of {len(values)} values for {len(names)}")
        if issubclass(cls, msgspec.Struct):
            # a Struct (a market's `PriceRange`) cannot be made empty and then filled in: it is
            # built from its values, numbered first as the writer numbered it
            number = len(self.refs)
            self.refs.append(None)
            fields = {name: self.value(value) for name, value in zip(names, values, strict=True)}
            made = self.refs[number] = cls(**fields)
            return made
        made = self._made(object.__new__(cls))
        read = dict(zip(names, map(self.value, values), strict=True))
        for f in added:
            factory = cast("Callable[[], Any]", f.default_factory)
            read[f.name] = f.default if f.default is not dataclasses.MISSING else factory()
        upgrade = getattr(cls, "snapshot_upgrade", None)
        if upgrade is not None:
            read = upgrade(read)
        if not _slots(cls):  # every attribute in its `__dict__`, frozen or not
            made.__dict__.update(read)
            return made
        for name, value in read.items():
            object.__setattr__(made, name, value)
        return made


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _read(path: Path) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:
            break  # torn last line: never acknowledged
        line = data[offset:end]
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            raise JournalError(f"{path}: unreadable record at byte {offset}") from exc
        offset = end + 1
    return records, offset
