"""The config file's nested sections, read strictly, and the one YAML loader (`load_yaml`).
`read_sections()` refuses a key set twice, a NaN or infinity, a non-mapping section and a key
that is not a plain name, with file and line, since such a mistake can remove a safeguard
silently. docs/configuration.md "The sections of other layers".
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec

from kalshi_cli.vocabulary.decode import bounded_loader, read_yaml_text
from kalshi_cli.vocabulary.errors import ConfigError
from kalshi_cli.vocabulary.owners import AGENT

CONFIG_FILENAME = "config.yaml"
T = TypeVar("T")

# Top-level mappings read by the modules that own them (the trade loop, its risk rules and
# strategies, alerts), each with its own validation and docs; here they only have to be mappings.
NESTED_SECTIONS = {
    "strategies": "strategy parameters by name (docs/strategies.md)",
    "risk": "risk limits of the trade loop (docs/risk.md)",
    "trade": "what `kalshi trade` trades and where it logs (docs/cli.md)",
    "alerts": "webhook channels and routes (docs/alerts.md)",
    "checks": "thresholds of `kalshi check NAME` (docs/checks.md)",
    "limits": "deprecated: its keys are read as `risk:`'s (docs/risk.md)",
    "retention": "how long the state file keeps what grows with time (docs/state-file.md)",
    "agent": "what an assistant may do through `kalshi mcp` (docs/agents.md)",
}


def yaml_error_text(exc: Any, path: Path) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    return f"{where}: malformed YAML: {problem}"


# --------------------------------------------------------------------------------------------
# The nested sections, read strictly


class Located(dict[str, Any]):
    """A YAML mapping that remembers where it was written: the file, its own line (1-based; 0
    for a section that is absent) and the line of each of its keys."""

    def __init__(self, path: Path, line: int) -> None:
        super().__init__()
        self.path = path
        self.line = line
        self.lines: dict[str, int] = {}

    def where(self, key: str | None = None) -> str:
        line = self.line if key is None else self.lines.get(key, self.line)
        return f"{self.path}:{line}"


def compose_yaml(text: str, path: Path) -> Any:
    """The YAML nodes of `text` (None for an empty document), with where each starts and ends:
    what `config set` edits the text by. Read by the loader `load_yaml` reads with, and a
    malformed file refused in its words, at its line."""
    import yaml

    try:
        return yaml.compose(text, Loader=bounded_loader(path)) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_text(exc, path)) from None


def load_yaml(text: str, path: Path) -> Any:
    """Parse YAML with every mapping a `Located`; a key set twice in one mapping, or a key that
    is not a plain name, is a ConfigError with file and line (plain YAML keeps the last value)."""
    import yaml

    # a class of its own: the bounds every YAML file is read within, checked before anything
    # is built, and the dotted key of every mapping, so that a refusal names `risk.min_edge`
    strict: Any = bounded_loader(path)

    def mapping(loader: Any, node: Any) -> Iterable[Located]:
        data = Located(path, node.start_mark.line + 1)
        yield data  # first, so that an alias to this mapping resolves to the same object
        prefix = loader.dotted.get(id(node), "")
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key_node, yaml.ScalarNode) or not isinstance(key, str):
                raise ConfigError(f"{path}:{line}: keys must be plain names, not {key!r}")
            if key in data:
                raise ConfigError(
                    f"{path}:{line}: `{prefix}{key}` is set twice in one mapping "
                    f"(first on line {data.lines[key]})",
                    hint="keep one; YAML would silently use the last",
                )
            data[key] = loader.construct_object(value_node, deep=True)
            data.lines[key] = line

    strict.add_constructor("tag:yaml.org,2002:map", mapping)
    try:
        return yaml.load(text, Loader=strict)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_text(exc, path)) from None
    except ValueError as exc:  # a date YAML cannot build (2026-13-45)
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None


def read_sections(path: Path | None) -> Located:
    """The config file as a `Located` document whose nested sections passed the checks every
    section shares (see the module docstring); a missing file is an empty document. Each layer
    then checks its own section's names and values."""
    empty = Located(path or Path(CONFIG_FILENAME), 0)
    if path is None:
        return empty
    try:
        text = read_yaml_text(path, "config file")
    except FileNotFoundError:
        return empty
    document = load_yaml(text, path)
    if document is None:
        return empty
    if not isinstance(document, Located):
        raise ConfigError(f"{path}:1: expected a mapping of settings")
    for name in NESTED_SECTIONS:
        value = document.get(name)
        if value is not None and not isinstance(value, Located):
            raise ConfigError(f"{document.where(name)}: `{name}:` must be a mapping")
        if value is not None:
            _refuse_non_finite(value, name)
    return document


def read_params_file(path: Path) -> Located:
    """A strategy's params file (`--params FILE.yaml`): a mapping of parameter: value, every key
    with its line, so a refusal names `file:line`."""
    try:
        text = read_yaml_text(path, "params file")
    except FileNotFoundError as exc:
        raise ConfigError(f"params file {path} cannot be read: {exc.strerror}") from None
    document = load_yaml(text, path)
    if document is None:
        return Located(path, 1)
    if not isinstance(document, Located):
        raise ConfigError(f"{path}:1: expected a mapping of parameter: value")
    _refuse_non_finite(document, "params")
    return document


def section(document: Located, name: str) -> Located:
    """The nested section `name`, or an empty one at the document's place when it is absent."""
    value = document.get(name)
    return value if isinstance(value, Located) else Located(document.path, document.line)


LINEUP_KEYS = ("name", "source", "params", "budget")


def lineup_entries(document: Located) -> Located:
    """The document with its `trade.strategies` entries ({name, source, params, budget}, one per
    strategy) read into the short forms every reader reads: `strategies.NAME` (its params,
    `strategy:` its source), `trade.budgets.NAME` and the name in `trade.strategies`. A strategy
    configured in an entry and in a short form is refused with both lines."""
    trade, sections = section(document, "trade"), section(document, "strategies")
    items = trade.get("strategies")
    if not isinstance(items, list) or not any(isinstance(i, Located) for i in items):
        return document
    document, sections, trade = _copy(document), _copy(sections), _copy(trade)
    old = trade.get("budgets")
    budgets = _copy(old) if isinstance(old, Located) else Located(trade.path, trade.line)
    names = []
    for item in items:
        if not isinstance(item, Located):
            names.append(item)
            continue
        refuse_unknown(item, LINEUP_KEYS, "trade.strategies")
        name, params = item.get("name"), item.get("params") or Located(item.path, item.line)
        if not isinstance(name, str) or not name or not isinstance(params, Located):
            raise ConfigError(
                f"{item.where()}: a trade.strategies entry is a name and a mapping of params",
                hint="e.g. - {name: spike, params: {spike_share: 0.15}}",
            )
        for form, node in (("strategies", sections), ("trade.budgets", budgets)):
            if name in node:
                raise ConfigError(
                    f"{item.where('name')}: {name} is configured twice: in this entry and in "
                    f"{form}.{name} ({node.where(name)})",
                    hint="keep the entry",
                )
        sections[name] = params = _copy(params)
        sections.lines[name] = item.line
        source = item.get("source")
        if source is not None and source != name:
            params["strategy"], params.lines["strategy"] = source, item.lines["source"]
        if "budget" in item:
            budgets[name], budgets.lines[name] = item["budget"], item.lines["budget"]
        names.append(name)
    trade["strategies"], trade["budgets"] = names, budgets
    document["strategies"], document["trade"] = sections, trade
    document.lines.setdefault("strategies", trade.line)
    return document


def _copy(node: Located) -> Located:
    copy = Located(node.path, node.line)
    copy.update(node)
    copy.lines.update(node.lines)
    return copy


def risk_section(document: Located) -> Located:
    """`risk:`, the one set of limits every order meets (docs/risk.md), with the deprecated
    `limits:` keys read as `risk:`'s, each with a one-line notice naming its new key: where
    both sections set a key the smaller value holds; a null one sets nothing."""
    merged, old = _copy(section(document, "risk")), section(document, "limits")
    for key, value in old.items():
        _deprecated(old.where(key), key)
        if value is not None and (key not in merged or not _at_most(merged[key], value)):
            merged[key] = value
            merged.lines[key] = old.lines.get(key, old.line)
    return merged


@functools.cache  # once a process, however often the file is read
def _deprecated(where: str, key: str) -> None:
    logging.getLogger(__name__).warning("%s: limits.%s is deprecated: set risk.%s", where, key, key)


def _at_most(held: Any, value: Any) -> bool:
    """`held` stays against `value`: no larger, or no number (for the decoder to refuse)."""
    from decimal import Decimal, InvalidOperation

    try:
        mine = Decimal(str(held))
    except InvalidOperation:
        return True
    try:
        return mine <= Decimal(str(value))
    except InvalidOperation:  # `value` is no number: it replaces `held`, to be refused
        return False


class _AgentName(msgspec.Struct, frozen=True, kw_only=True):
    """`agent.strategy` alone of the `agent:` section (its other keys are `kalshi mcp`'s)."""

    strategy: Annotated[str, msgspec.Meta(min_length=1)] = AGENT


def agent_strategy(document: Located, *, strategies: Collection[str]) -> str:
    """The config's `agent.strategy`: the owner `kalshi mcp` places and changes the assistant's
    orders under. The one rule `kalshi mcp`, the trade loop and `kalshi state prune` read it by:
    at most 31 letters, digits, - and _ (order ids carry it whole), and no other owner's name (a
    person's, a batch file's, a foreign order's, the stop-loss's, or one of `strategies`).
    Absent, `agent`; refused at its line."""
    from kalshi_cli.vocabulary.decode import decode_config
    from kalshi_cli.vocabulary.owners import NOT_STRATEGIES, OWNER_NAME, OWNER_NAME_RULE

    agent = section(document, "agent")
    # the decoder's refusals of a value that is not text, as every other key's read
    name = decode_config(_AgentName, agent, where="agent").strategy
    where = agent.where("strategy")
    if not OWNER_NAME.match(name):
        raise ConfigError(f"{where}: agent.strategy: {name!r}: {OWNER_NAME_RULE}")
    if name != AGENT and (name in NOT_STRATEGIES or name in strategies):
        raise ConfigError(
            f"{where}: agent.strategy: {name!r} is another owner's name (orders placed by "
            "hand, a batch file, elsewhere, the stop-loss, or a strategy); the assistant would "
            "change their orders",
            hint="give the assistant a name of its own, or leave agent.strategy out (`agent`)",
        )
    return name


def _refuse_non_finite(node: Located, dotted: str) -> None:
    for key, value in node.items():
        here = f"{dotted}.{key}"
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(
                    f"{node.where(key)}: {here}: expected a finite number, not {item}"
                )
            if isinstance(item, Located):
                _refuse_non_finite(item, here)


def refuse_unknown(node: Located, known: Iterable[str], dotted: str, *, what: str = "key") -> None:
    """A key of `node` that is not in `known` is refused at its line, with a "did you mean"."""
    from kalshi_cli.vocabulary.decode import did_you_mean

    names = sorted(known)
    for key in node:
        if key in names:
            continue
        close = did_you_mean(key, names)
        hint = f"did you mean `{close}`?" if close else f"known: {', '.join(names)}"
        raise ConfigError(f"{node.where(key)}: unknown {what} `{dotted}.{key}`", hint=hint)
