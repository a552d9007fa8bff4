"""What a trader's code is made of, for a backtest's cache key and a run's provenance.

`code_sources(files)` follows the imports of the given Python files from their source (`ast`),
resolving each as Python would from that file: a module outside the installed distributions is the
trader's, named by the SHA-256 of its bytes and followed in turn; an installed one by its
distribution's version; the standard library and kalshi-cli are left out. An import by a name
computed at run time is not seen. `code_fingerprint` is one SHA-256 over all of it.

`exec_file` runs a trader's file, and the modules beside it that it imports, from their source
every time. Python trusts a cached bytecode file while the source keeps its size and its
modification time in whole seconds: an edit that keeps both ("5" became "7" within the second)
would run as the old code while the fingerprint, read from the source, names the new.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from pathlib import Path
from types import CodeType, ModuleType

_OWN_PACKAGE = "kalshi_cli"


def code_sources(files: Iterable[Path]) -> dict[str, str]:
    """Each file the given ones import, transitively, as `{name: "sha256:HEX"}` (the given files
    by their path, the modules they reach by their import name), and each installed distribution
    they import as `{dist: "dist==VERSION"}`."""
    out: dict[str, str] = {}
    todo = [(str(f.resolve()), f.resolve()) for f in files]
    seen: set[Path] = set()
    while todo:
        name, path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            data = path.read_bytes()
        except OSError:
            out[name] = "unreadable"
            continue
        out[name] = "sha256:" + hashlib.sha256(data).hexdigest()
        for imported, level in _imports(data):
            found = _resolve(imported, level, path)
            if found is None:
                continue
            spec, is_file = found
            top = spec.name.split(".")[0]
            if top in sys.stdlib_module_names or top == _OWN_PACKAGE:
                continue
            origin = Path(spec.origin) if is_file and spec.origin else None
            dist = None if origin is not None and origin.is_relative_to(path.parent) else _dist(top)
            if dist is not None:
                out[dist] = f"{dist}=={_version(dist)}"
            elif origin is not None:
                todo.append((_qualified(spec.name, level, name, path), origin))
    return dict(sorted(out.items()))


def code_fingerprint(files: Iterable[Path]) -> str:
    """`sha256:HEX` over `code_sources(files)`."""
    h = hashlib.sha256()
    for name, source in code_sources(files).items():
        h.update(f"{name}\0{source}\n".encode())
    return "sha256:" + h.hexdigest()


def exec_file(name: str, path: Path) -> ModuleType:
    """The module `name` made by running the file at `path` from its source, registered in
    `sys.modules` (msgspec and dataclasses resolve its annotations there) unless it raises. A
    module beside the file imports as it would with `python FILE`, also from its source."""
    spec = importlib.util.spec_from_file_location(name, path, loader=_FromSource(name, str(path)))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _beside_from_source(path.parent):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


class _FromSource(SourceFileLoader):
    """Compiles the source on every load: no bytecode file is read or written."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class _BesideFinder:
    """Finds modules as the path finder does, handing those under `root` to `_FromSource`;
    `found` names them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.found: list[str] = []

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        spec = PathFinder.find_spec(name, path, target)
        if spec is None or not isinstance(spec.loader, SourceFileLoader) or spec.origin is None:
            return None  # not a source file: the usual finders take it
        if not Path(spec.origin).is_relative_to(self.root):
            return None
        spec.loader = _FromSource(spec.name, spec.origin)
        self.found.append(spec.name)
        return spec


@contextmanager
def _beside_from_source(root: Path) -> Iterator[None]:
    """While a trader's file runs: its directory first on `sys.path`, and what is imported
    from under it compiled from its source. After it, both are taken away, and so are the
    modules imported from under it (the file keeps them): the next file importing one of
    their names, another version of this one or a file in another directory, imports its own."""
    finder = _BesideFinder(root)
    sys.path.insert(0, str(root))
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(root))
        for name in finder.found:
            sys.modules.pop(name, None)


def _imports(data: bytes) -> list[tuple[str, int]]:
    """(module name, relative level) of every import statement, wherever it stands."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return []
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            # `import a.b.c` runs a/__init__.py and a/b/__init__.py too
            for alias in node.names:
                names = alias.name.split(".")
                found += [(".".join(names[: i + 1]), 0) for i in range(len(names))]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            # `from pkg import name`: a submodule, or else an attribute of `pkg`
            found += [(f"{base}.{a.name}" if base else a.name, node.level) for a in node.names]
            if base:
                found.append((base, node.level))
    return found


def _qualified(found: str, level: int, importer: str, path: Path) -> str:
    """The import name of a module a relative import found (`from . import x` in `pkg.sub`:
    `pkg.x`); an absolute import's is its own."""
    if not level or importer.endswith(".py"):
        return found
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{found}" if package else found


def _resolve(name: str, level: int, importer: Path) -> tuple[ModuleSpec, bool] | None:
    """The spec of `name` as imported from the file `importer` (its directory first, as
    `python FILE` and the strategy loader put it), and whether it has a source file; None when
    nothing by that name is found (an attribute, a module made at run time)."""
    if level:
        base = importer.parent
        for _ in range(level - 1):
            base = base.parent
        search = [str(base)]
    else:
        search = [str(importer.parent), *sys.path]
    head, *rest = name.split(".")
    try:
        spec = PathFinder.find_spec(head, search)
        for part in rest:
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = PathFinder.find_spec(
                f"{spec.name}.{part}", list(spec.submodule_search_locations)
            )
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    return spec, bool(spec.origin and spec.origin.endswith(".py"))


def _dist(top: str) -> str | None:
    dists = _distributions().get(top) or []
    return dists[0] if dists else None


@cache
def _distributions() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"
