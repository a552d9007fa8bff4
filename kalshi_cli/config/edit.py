"""What `kalshi config show`, `config get KEY` and `config set KEY VALUE` read and write, by dotted
key. `set_value` edits the file as text, keeping comments and order; the new text must pass
`validate` before it atomically replaces the file (`write_whole`), keeping its mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kalshi_cli.config.secrets import shown
from kalshi_cli.config.sections import (
    NESTED_SECTIONS,
    Located,
    compose_yaml,
    lineup_entries,
    load_yaml,
    read_sections,
)
from kalshi_cli.vocabulary.decode import read_yaml_text
from kalshi_cli.vocabulary.errors import ConfigError, DataWriteError, KalshiError, UsageError
from kalshi_cli.vocabulary.files import write_whole


@dataclass(frozen=True)
class Entry:
    """One value of a nested section: as written (or defaulted), and where it came from."""

    key: str
    value: Any
    source: str  # "file" or "default"
    origin: str  # "/home/me/.config/kalshi/config.yaml:12" or "default"

    def display(self) -> str | None:
        """As `config show` prints it: text, secrets masked, None when unset."""
        if self.value is None:
            return None
        # masked by what each value is, not only by its key (config/secrets.py)
        if isinstance(self.value, list):
            return ", ".join(shown(self.key, _text(v)) for v in self.value)
        return shown(self.key, _text(self.value))


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def defaults() -> Located:
    """The documented defaults of every nested section (sections.example.yaml)."""
    from importlib.resources import files

    text = files("kalshi_cli").joinpath("sections.example.yaml").read_text(encoding="utf-8")
    document = load_yaml(text, Path("sections.example.yaml"))
    assert isinstance(document, Located)
    return document


def section_entries(path: Path | None) -> list[Entry]:
    """Every value of the nested sections, in the order they are documented (values only the
    file has, such as alert channels, after them), read strictly (`read_sections`)."""
    document = lineup_entries(read_sections(path))
    base = defaults()
    entries: list[Entry] = []
    for name in NESTED_SECTIONS:
        mine = document.get(name)
        entries += _walk(name, base.get(name), mine, document if mine is not None else None)
    return entries


def _walk(dotted: str, default: Any, mine: Any, holder: Located | None = None) -> Iterator[Entry]:
    """The leaves below `dotted`: the file's (`mine`, held by `holder`, which knows its line)
    where it has one, else the default's."""
    if isinstance(default, dict) or isinstance(mine, dict):
        d = default if isinstance(default, dict) else {}
        m = mine if isinstance(mine, Located) else None
        for key in [*d, *(k for k in (m or {}) if k not in d)]:
            here = m if m is not None and key in m else None
            yield from _walk(f"{dotted}.{key}", d.get(key), here and here[key], here)
        return
    if holder is not None:
        yield Entry(dotted, mine, "file", holder.where(dotted.rsplit(".", 1)[-1]))
    else:
        yield Entry(dotted, default, "default", "default")


def lookup(entries: list[Entry], key: str) -> list[Entry]:
    """The entry named `key`, or every entry below it (`risk`); empty when there is none."""
    exact = [e for e in entries if e.key == key]
    return exact or [e for e in entries if e.key.startswith(key + ".")]


# ------------------------------------------------------------------------------------ set


def set_value(path: Path, keys: list[str], raw: str, validate: Callable[[Path], None]) -> int:
    """Write `raw` (one YAML scalar) at `keys` in the file at `path` (made if missing), keeping
    everything else of the text; `validate` checks the new text as a file before it replaces
    the old one. Returns the line the value is on. An empty or null value is refused (a
    script's empty variable must not reset a limit): `unset_value` takes a key out."""
    dotted = ".".join(keys)
    value_text = _scalar_text(raw, dotted)
    if value_text == "null":
        raise UsageError(
            f"{dotted}: an empty or null value is not written",
            hint=f"`kalshi config unset {dotted}` puts its default back in force",
        )
    new, line = edit_text(_old_text(path), keys, value_text, path)
    _replace(path, new, validate)
    return line


def unset_value(path: Path, keys: list[str], validate: Callable[[Path], None]) -> int | None:
    """Take the line of `keys` out of the file at `path`, keeping everything else of the text
    (its default is in force again), checked by `validate` as `set_value` checks; returns the
    line it was on, or None when it was not in the file, which is then left as it was."""
    removed = remove_key(_old_text(path), keys, path)
    if removed is None:
        return None
    new, line = removed
    _replace(path, new, validate)
    return line


def _old_text(path: Path) -> str:
    try:
        return read_yaml_text(path, "config file")
    except FileNotFoundError:
        return ""


def _replace(path: Path, new: str, validate: Callable[[Path], None]) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600

    def checked(draft: Path) -> None:
        try:
            validate(draft)
        except KalshiError as exc:
            # the refusal names the line the value would have had, in the real file
            message = exc.message.replace(str(draft), str(path))
            raise UsageError(f"not written: {message}", hint=exc.hint) from None

    try:
        write_whole(path, new, mode=mode, check=checked)
    except OSError as exc:
        raise _not_written(path, exc) from None


def _not_written(path: Path, exc: OSError) -> DataWriteError:
    """The config file could not be written (a full disk, a directory this user may not write):
    the old file is untouched."""
    return DataWriteError(
        f"cannot write the config file {path}: {exc.strerror or exc}; it is unchanged",
        hint="free space, or make its directory writable (or give --config another file)",
    )


def _scalar_text(raw: str, key: str) -> str:
    """`raw` as the YAML text of one value; a number as typed (`0x10`, `010` and a number too
    long are then refused by the file's reader, `checked_yaml`, with the key and its line)."""
    import yaml

    try:
        node = yaml.compose(raw) if raw.strip() else None
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
            return raw.strip()
        value = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, ValueError):  # ValueError: a date YAML cannot build (2026-13-45)
        value = raw
    if isinstance(value, (dict, list)):
        raise UsageError(f"{key}: give one value, not a list or mapping", hint="edit the file")
    if value is None:
        return "null"
    text: str = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.removesuffix("\n...\n").strip()


def edit_text(text: str, keys: list[str], value_text: str, path: Path) -> tuple[str, int]:
    """`text` with `keys` set to `value_text`, and the (1-based) line of the value."""
    import yaml

    root = compose_yaml(text, path)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:1: expected a mapping of settings, not edited")
    node, depth = _deepest(root, keys, path)
    if depth == len(keys):
        return _replaced(text, node, keys, value_text, path)
    # insert what is missing, below the deepest mapping that exists
    if node is not None and isinstance(node, yaml.MappingNode) and node.value:
        indent = node.value[0][0].start_mark.column
        at = _line_end(text, node.value[-1][1].end_mark)
    elif node is not None and depth > 0 and _is_empty(node):
        # `risk:` with nothing after it: the new keys go below it
        indent = _key_column(root, keys[:depth]) + 2
        at = _line_end(text, node.end_mark)
        text, at = _drop_null(text, node)
    elif depth == 0:
        indent, at = 0, len(text)
        if text and not text.endswith("\n"):
            text += "\n"
            at += 1
    else:
        raise UsageError(f"{path}: `{'.'.join(keys[:depth])}` holds one value, not a mapping")
    lines = []
    for i, key in enumerate(keys[depth:]):
        last = i == len(keys) - depth - 1
        lines.append(" " * (indent + 2 * i) + f"{key}:" + (f" {value_text}" if last else ""))
    block = "\n".join(lines) + "\n"
    line = text[:at].count("\n") + len(lines)
    return text[:at] + block + text[at:], line


def _deepest(root: Any, keys: list[str], path: Path) -> tuple[Any, int]:
    """The deepest node of `keys` the document has, and how many of the keys lead to it."""
    import yaml

    node, depth = root, 0
    while node is not None and depth < len(keys):
        if not isinstance(node, yaml.MappingNode):
            break
        if node.flow_style:
            raise UsageError(
                f"{path}:{node.start_mark.line + 1}: `{'.'.join(keys[:depth])}` is written in "
                "flow style ({...}); not edited",
                hint="edit that line by hand, or write it as a block mapping",
            )
        child = next((v for k, v in node.value if k.value == keys[depth]), None)
        if child is None:
            break
        node, depth = child, depth + 1
    return node, depth


def _replaced(
    text: str, node: Any, keys: list[str], value_text: str, path: Path
) -> tuple[str, int]:
    """`text` with the scalar `node` at `keys` written as `value_text`, and the value's line."""
    import yaml

    assert node is not None
    if not isinstance(node, yaml.ScalarNode):
        raise UsageError(
            f"{path}:{node.start_mark.line + 1}: `{'.'.join(keys)}` is a mapping or a "
            "list here, not one value"
        )
    start, end = node.start_mark.index, node.end_mark.index
    if start == end and text[start - 1 : start] == ":":
        value_text = " " + value_text
    return text[:start] + value_text + text[end:], node.start_mark.line + 1


def remove_key(text: str, keys: list[str], path: Path) -> tuple[str, int] | None:
    """`text` without the line of the scalar at `keys` (its comments and every other line
    kept), and the (1-based) line it was on; None when `keys` is not in the text."""
    import yaml

    node: Any = compose_yaml(text, path)
    key_node: Any = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        pair = next(((k, v) for k, v in node.value if k.value == key), None)
        if pair is None:
            return None
        key_node, node = pair
    if not isinstance(node, yaml.ScalarNode) or node.end_mark.line != key_node.start_mark.line:
        raise UsageError(
            f"{path}:{key_node.start_mark.line + 1}: `{'.'.join(keys)}` is not one value on one "
            "line; not edited",
            hint="edit the file by hand",
        )
    start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    if text[start : key_node.start_mark.index].strip():
        raise UsageError(
            f"{path}:{key_node.start_mark.line + 1}: `{'.'.join(keys)}` shares its line with "
            "another key; not edited",
            hint="edit the file by hand",
        )
    return text[:start] + text[_line_end(text, node.end_mark) :], key_node.start_mark.line + 1


def _line_end(text: str, mark: Any) -> int:
    """The index just after the line `mark` ends on (a mark at a line's start is that line)."""
    if mark.column == 0:
        return int(mark.index)
    newline = text.find("\n", mark.index)
    return len(text) if newline < 0 else newline + 1


def _is_empty(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _drop_null(text: str, node: Any) -> tuple[str, int]:
    """Remove an explicit `null` / `~` after a key that now gets children."""
    start, end = node.start_mark.index, node.end_mark.index
    at = _line_end(text, node.end_mark)
    if start == end:
        return text, at
    return text[:start] + text[end:], at - (end - start)


def _key_column(root: Any, keys: list[str]) -> int:
    node, column = root, 0
    for key in keys:
        for k, v in node.value:
            if k.value == key:
                column, node = k.start_mark.column, v
                break
    return column
