"""Strategies from where a trader keeps them: a `.py` file, `package.module:attr`, or an entry point
of an installed distribution (group `kalshi_cli.strategies`).

A file is loaded by its path under a module name made from its contents' hash, so a sweep's worker
loads it the same way without the launcher's `__main__`. A module exposes a
`kalshi_cli.strategy_api.Strategy`: its `STRATEGY` attribute, else the one `Strategy` it defines.
Everything is checked before a loop or backtest starts; a refusal is one line naming the file and
line (exit 2).

Each strategy carries `source`, the fingerprint a backtest cache is keyed on: a SHA-256 over the
file, the trader's modules it imports and the versions of the libraries it imports (code.py), or an
installed distribution's name and version.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import traceback
from dataclasses import replace
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from kalshi_cli.strategies.code import code_fingerprint, exec_file
from kalshi_cli.strategy_api import Params, Strategy
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.owners import NOT_STRATEGIES, OWNER_NAME, OWNER_NAME_RULE

ENTRY_POINT_GROUP = "kalshi_cli.strategies"


def is_path_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or ":" in spec


def entry_point_names() -> list[str]:
    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def load(spec: str) -> Strategy[Any]:
    if spec.endswith(".py") or "/" in spec:
        return _from_file(Path(spec).expanduser().resolve())
    if ":" in spec:
        return _from_import_path(spec)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return _from_entry_point(ep)
    raise UsageError(f"unknown strategy {spec!r}")


def _from_file(path: Path) -> Strategy[Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"strategy file {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"strategy file {path} cannot be read: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    source = code_fingerprint([path])
    module = _exec_file(str(path), digest, source)
    strategy = _pick(module, str(path))
    return replace(strategy, spec=str(path), origin="file", source=source)


@cache
def _exec_file(path: str, digest: str, source: str) -> ModuleType:
    """The module of one version of a file and of the modules of the trader's it imports
    (`source`): a change to either is a new module."""
    try:
        return exec_file(f"kalshi_user_strategy_{digest[:16]}", Path(path))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise _import_error(path, exc) from None


def _import_error(path: str, exc: BaseException) -> UsageError:
    if isinstance(exc, SyntaxError) and exc.filename == path:
        return UsageError(f"{path}:{exc.lineno}: cannot load the strategy: {exc.msg}")
    line = 1
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path and frame.lineno is not None:
            line = frame.lineno
    return UsageError(
        f"{path}:{line}: cannot load the strategy: {type(exc).__name__}: {exc}",
        hint="run `python FILE` to see the whole error",
    )


def _from_import_path(spec: str) -> Strategy[Any]:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"strategy {spec!r}: cannot import {module_name}: {exc}") from None
    except Exception as exc:
        raise UsageError(f"strategy {spec!r}: importing {module_name} failed: {exc}") from None
    where = getattr(module, "__file__", None) or module_name
    if attr:
        try:
            value = getattr(module, attr)
        except AttributeError:
            raise UsageError(f"{where}:1: {module_name} has no attribute {attr!r}") from None
        strategy = _checked(value, str(where), module_name)
    else:
        strategy = _pick(module, str(where))
    return replace(strategy, spec=spec, origin="import path", source=_module_source(module))


def _from_entry_point(ep: metadata.EntryPoint) -> Strategy[Any]:
    try:
        value = ep.load()
    except Exception as exc:
        raise UsageError(f"entry point {ep.name} ({ep.value}): cannot load: {exc}") from None
    where = ep.value
    strategy = _pick(value, where) if isinstance(value, ModuleType) else _checked(value, where, "")
    dist = ep.dist
    source = f"{dist.name}=={dist.version}" if dist is not None else ep.value
    return replace(strategy, spec=ep.name, origin=f"entry point ({source})", source=source)


def _module_source(module: ModuleType) -> str:
    """An installed distribution's name and version; else the module file's and those of the
    modules it imports (code.py)."""
    top = module.__name__.split(".")[0]
    dists = metadata.packages_distributions().get(top) or []
    for name in dists:
        try:
            return f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    file = getattr(module, "__file__", None)
    if file and Path(file).is_file():
        return code_fingerprint([Path(file)])
    return module.__name__


def _pick(module: ModuleType, where: str) -> Strategy[Any]:
    chosen = getattr(module, "STRATEGY", None)
    if chosen is None:
        defined = [
            v
            for v in vars(module).values()
            if isinstance(v, Strategy) and getattr(v.decide_fn, "__module__", "") == module.__name__
        ]
        if len(defined) > 1:
            names = ", ".join(s.name for s in defined)
            raise UsageError(
                f"{where}:1: defines {len(defined)} strategies ({names})",
                hint="name the one to run: STRATEGY = ...",
            )
        chosen = defined[0] if defined else None
    if chosen is None:
        raise UsageError(
            f"{where}:1: defines no strategy",
            hint="add STRATEGY = Strategy(NAME, MyParams, decide) (docs/strategies.md)",
        )
    return _checked(chosen, where, module.__name__)


def _line_of(obj: Any, fallback: int = 1) -> int:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return fallback


def name_refusal(name: str) -> str | None:
    """Why no strategy may be called `name` (`strategy new` refuses it before writing a file,
    every loader when it loads one); None when it may."""
    if not OWNER_NAME.match(name):
        return f"strategy name {name!r}: {OWNER_NAME_RULE} (its order ids carry it whole)"
    if name in NOT_STRATEGIES:
        return (
            f"strategy name {name!r} is what the state file keeps orders placed without a "
            "strategy under (by hand, a batch file, the assistant, elsewhere, or the stop-loss)"
        )
    return None


def _checked(value: Any, where: str, module_name: str) -> Strategy[Any]:
    """A strategy that can run: refused here, at its line, rather than at its first tick."""
    if not isinstance(value, Strategy):
        raise UsageError(
            f"{where}:1: {type(value).__name__} is not a kalshi_cli.strategy_api.Strategy"
        )
    name = value.name
    refused = name_refusal(name)
    if refused is not None:
        raise UsageError(f"{where}:1: {refused}", hint="choose another name")
    from kalshi_cli.strategies import BUILT_IN

    if any(s.name == name and s is not value for s in BUILT_IN):
        raise UsageError(
            f"{where}:1: strategy name {name!r} is a built-in's", hint="choose another name"
        )
    params_type = value.params_type
    if not (isinstance(params_type, type) and issubclass(params_type, Params)):
        raise UsageError(
            f"{where}:{_line_of(params_type)}: {name}: params type "
            f"{getattr(params_type, '__name__', params_type)!r} is not a subclass of "
            "kalshi_cli.strategy_api.Params"
        )
    try:
        value.params(None)
    except Exception as exc:
        message = getattr(exc, "message", str(exc))
        raise UsageError(
            f"{where}:{_line_of(params_type)}: {name}: its default params are refused: {message}"
        ) from None
    decide = value.decide_fn
    try:
        arity = len(inspect.signature(decide).parameters)
    except (TypeError, ValueError):
        arity = -1
    if not callable(decide) or arity != 3:
        raise UsageError(
            f"{where}:{_line_of(decide)}: {name}: decide must take (snapshot, position, params)"
        )
    return value
