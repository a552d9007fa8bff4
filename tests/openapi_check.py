"""Validates simulator responses against the pinned openapi.yaml (3.31.0) with openapi-core.

The spec is the repository's own copy, `docs/kalshi-api/openapi.yaml`, found relative to this
file, so the suite checks against the same pinned text on every machine.

The spec is parsed once per test session. Every response is checked for its method, path,
status and body. Two rules fill gaps the spec leaves: an error status an operation does not
list (a 429 on a GET, say, which Kalshi answers on every path) and a 404/405 for a path or
method the spec does not have are checked against `ErrorResponse`; and every error body must
be one of the three shapes Kalshi was seen to answer (REFERENCE.md "Observed on the real
wire"; the wire wins over the spec): the spec's flat `ErrorResponse` with a string `code` and
`message`, the nested `{"error": {code, message, details?, service?}}` on a 4xx, or the bare
`{"msg": "Parameter validation failed for ..."}` on a 400, even where the spec gives the status
no schema.

openapi-core alone is too lenient for a simulator that stands in for the exchange, so four
stricter rules are added: a success answer to a request whose query parameters the spec refuses
(an enum value, a range, a missing required parameter) is a violation, because Kalshi would
have answered 400; a body on a 204 is a violation; a response field the schema does not declare
is a violation (no schema in the spec sets `additionalProperties: false`, but a field Kalshi
never sends is one a client could wrongly come to depend on); and fixed-point strings must
have the spec's precision: `FixedPointCount` exactly 2 decimals, `FixedPointDollars` 4 to 6.

Two places where openapi-core reads the spec more strictly than the spec means are eased, and
only those: a field written `{allOf: [$ref], nullable: true}` accepts null
(`_nullable_refs`), and a query parameter the request did not send is not checked against its
`default: null` (`_absent_with_null_default`); tests/sim/test_historical.py pins both.

The check runs on thousands of answers per test in the page-walking tests, so it does once what
depends only on the spec: openapi-core's validators are built with factories that build each
schema's validator and each parameter's deserializer once, remember the operation found for a
URL and the outcome of a parameter value already accepted; and a verdict is remembered per
distinct answer. Every answer is still validated in full, by openapi-core's own code:
tests/test_openapi_check.py holds the verdicts equal to a stock openapi-core's, and docs/
benchmarks.md has the figures.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI
from openapi_core.datatypes import Parameters, RequestParameters
from openapi_core.deserializing.styles import style_deserializers
from openapi_core.deserializing.styles.deserializers import StyleDeserializer
from openapi_core.deserializing.styles.factories import StyleDeserializersFactory
from openapi_core.exceptions import OpenAPIError
from openapi_core.schema.parameters import get_style_and_explode
from openapi_core.templating.paths.datatypes import PathOperationServer
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.util import chainiters
from openapi_core.validation.request.exceptions import (
    MissingParameter,
    ParametersError,
    ParameterValidationError,
)
from openapi_core.validation.request.validators import V30RequestParametersValidator
from openapi_core.validation.response.validators import V30ResponseValidator
from openapi_core.validation.schemas.datatypes import FormatValidatorsDict
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from openapi_core.validation.schemas.validators import SchemaValidator

SPEC_PATH = Path(__file__).resolve().parents[1] / "docs" / "kalshi-api" / "openapi.yaml"
HOST = "https://external-api.kalshi.com"


def spec_path() -> Path:
    if not SPEC_PATH.is_file():
        raise FileNotFoundError(f"the pinned spec {SPEC_PATH} is missing from the repository")
    return SPEC_PATH


@cache
def spec() -> OpenAPI:
    return OpenAPI.from_dict(_nullable_refs(copy.deepcopy(raw_spec())), base_uri=HOST)


def _nullable_refs(node: Any) -> Any:
    """The spec writes a nullable field of a shared type as `{allOf: [$ref], nullable: true}`
    (PriceDistributionHistorical: "Null if no trades occurred"). OpenAPI 3.0.3 lets `nullable`
    act only beside a `type`, so openapi-core refuses the null the spec means to allow; such a
    field is given the `type` of what it refers to instead (the fixed-point precision check
    still sees the reference in the raw spec)."""
    if isinstance(node, dict):
        all_of = node.get("allOf")
        if node.get("nullable") is True and "type" not in node and isinstance(all_of, list):
            target = raw_spec()
            for part in str((all_of[0] or {}).get("$ref", "")).removeprefix("#/").split("/"):
                target = target.get(part, {}) if part else target
            if len(all_of) == 1 and isinstance(target.get("type"), str):
                node["type"] = target["type"]  # in place of the member, which refuses null
                del node["allOf"]
        for value in node.values():
            _nullable_refs(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_refs(value)
    return node


@cache
def raw_spec() -> dict[str, Any]:
    """The pinned spec as read, loaded once a process (libyaml where it is installed): callers
    copy before they change it."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(spec_path().read_text(), Loader=loader)
    return data


@cache
def _own_error_schemas() -> frozenset[tuple[str, str, int]]:
    """(method, path template, status) of error statuses whose body is not ErrorResponse
    (e.g. /exchange/status answers 5xx with an ExchangeStatus)."""
    raw = raw_spec()
    found = set()
    for template, item in raw["paths"].items():
        for method, operation in item.items():
            for status, response in (operation.get("responses") or {}).items():
                ref = json.dumps(response)
                if (
                    status.isdigit()
                    and int(status) >= 400
                    and "content" in response
                    and ("ErrorResponse" not in ref)
                ):
                    found.add((method.upper(), template, int(status)))
    return frozenset(found)


def _declares_own_error(method: str, path: str, status: int) -> bool:
    suffix = path.removeprefix("/trade-api/v2")
    return (method.upper(), suffix, status) in _own_error_schemas()


def _flat_error_problem(data: Any, fields: frozenset[str]) -> str | None:
    if not isinstance(data, dict):
        return "error body is not an object"
    for name in ("code", "message"):
        if not isinstance(data.get(name), str):
            return f"error body lacks a string {name!r}: {data}"
    if set(data) - fields or any(not isinstance(data[k], str) for k in set(data) - {"code"}):
        return f"error body has fields outside {sorted(fields)}: {data}"
    return None


# The wire deviation (REFERENCE.md "Observed on the real wire", which wins over the spec): besides
# the spec's flat ErrorResponse (which Kalshi answers to a body that does not decode), Kalshi
# nests most 4xx errors as {"error": {code, message, details?}} (its `service` was removed from
# ErrorResponse on 2026-08-06, so the simulator sends none) and answers a query
# parameter that fails validation with a bare {"msg": "Parameter validation failed for ..."}.
# These two are accepted exactly, on the statuses they were seen with, and nothing else is.
_FLAT = frozenset({"code", "message", "details"})
_NESTED = frozenset({"code", "message", "details"})
_BARE_PREFIX = "Parameter validation failed for "


def _wire_error_shape(status: int, body: bytes) -> tuple[str, str | None]:
    """("flat" | "nested" | "bare", problem or None) for an error body."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return "flat", "error body is not JSON"
    if isinstance(data, dict) and set(data) == {"error"} and isinstance(data["error"], dict):
        if not 400 <= status < 500:
            return "nested", f"a nested error body on a {status}"
        return "nested", _flat_error_problem(data["error"], _NESTED)
    if isinstance(data, dict) and set(data) == {"msg"}:
        msg = data["msg"]
        if status != 400 or not isinstance(msg, str) or not msg.startswith(_BARE_PREFIX):
            return "bare", f"a bare msg body must be a 400 {_BARE_PREFIX!r}...: {data}"
        return "bare", None
    return "flat", _flat_error_problem(data, _FLAT)


COUNT_RE = re.compile(r"-?\d+\.\d{2}")
DOLLARS_RE = re.compile(r"-?\d+\.\d{4,6}")
_FIXED_POINT = {
    "#/components/schemas/FixedPointCount": (COUNT_RE, "FixedPointCount (2 decimals)"),
    "#/components/schemas/FixedPointDollars": (DOLLARS_RE, "FixedPointDollars (4-6 decimals)"),
}
_PRICE_LEVEL = "#/components/schemas/PriceLevelDollarsCountFp"


def _deref(schema: Any) -> tuple[Any, list[str]]:
    """The schema behind any chain of $ref, and the refs followed on the way."""
    refs: list[str] = []
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        refs.append(ref)
        node: Any = raw_spec()
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema, refs


_BRANCHES: dict[int, tuple[Any, tuple[list[Any], list[str]]]] = {}


def _branches(schema: Any) -> tuple[list[Any], list[str]]:
    """The schema and every allOf/oneOf/anyOf member, dereferenced, and the refs seen: worked
    out once per schema node of the spec, known by its id (the entry keeps the node alive, so
    no other object can take that id); the callers only read what is returned."""
    known = _BRANCHES.get(id(schema))
    if known is None:
        known = _BRANCHES[id(schema)] = (schema, _find_branches(schema))
    return known[1]


def _find_branches(schema: Any) -> tuple[list[Any], list[str]]:
    schema, refs = _deref(schema)
    out = [schema]
    for key in ("allOf", "oneOf", "anyOf"):
        for member in schema.get(key, []) if isinstance(schema, dict) else []:
            more, more_refs = _branches(member)
            out.extend(more)
            refs.extend(more_refs)
    return out, refs


def strict_problems(schema: Any, value: Any, where: str = "$") -> list[str]:
    """Undeclared fields and wrongly scaled fixed-point strings in `value`."""
    if value is None:
        return []
    branches, refs = _branches(schema)
    problems = _fixed_point_problems(refs, value, where)
    if isinstance(value, dict):
        problems.extend(_object_problems(branches, value, where))
    elif isinstance(value, list):
        problems.extend(_list_problems(branches, value, where))
    return problems


def _fixed_point_problems(refs: list[str], value: Any, where: str) -> list[str]:
    problems: list[str] = []
    for ref in refs:
        if ref in _FIXED_POINT and isinstance(value, str):
            pattern, name = _FIXED_POINT[ref]
            if not pattern.fullmatch(value):
                problems.append(f"{where}={value!r} is not a {name}")
        if ref == _PRICE_LEVEL and isinstance(value, list) and len(value) == 2:
            price, count = value
            if not (isinstance(price, str) and DOLLARS_RE.fullmatch(price)):
                problems.append(f"{where}[0]={price!r} is not a FixedPointDollars")
            if not (isinstance(count, str) and COUNT_RE.fullmatch(count)):
                problems.append(f"{where}[1]={count!r} is not a FixedPointCount")
    return problems


def _object_problems(branches: list[Any], value: dict[str, Any], where: str) -> list[str]:
    declared: dict[str, Any] = {}
    open_ended = False
    for branch in branches:
        if not isinstance(branch, dict):
            continue
        declared.update(branch.get("properties") or {})
        if branch.get("additionalProperties") not in (None, False):
            open_ended = True
        if branch.get("type") == "object" and "properties" not in branch:
            open_ended = True
    problems: list[str] = []
    for name, item in value.items():
        if name in declared:
            problems.extend(strict_problems(declared[name], item, f"{where}.{name}"))
        elif not open_ended:
            problems.append(f"{where}.{name} is not declared by the spec")
    return problems


def _list_problems(branches: list[Any], value: list[Any], where: str) -> list[str]:
    for branch in branches:
        if isinstance(branch, dict) and "items" in branch:
            return [
                problem
                for i, item in enumerate(value)
                for problem in strict_problems(branch["items"], item, f"{where}[{i}]")
            ]
    return []


@cache
def _templates() -> list[tuple[re.Pattern[str], dict[str, Any]]]:
    """Each path of the spec as a pattern, with its path item: a literal segment first, so it
    wins over a template one (/markets/trades, not /markets/{ticker})."""
    paths = raw_spec()["paths"]
    return [
        (re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))), paths[template])
        for template in sorted(paths, key=lambda tpl: tpl.count("{"))
    ]


@lru_cache(maxsize=4096)
def _response_schema(method: str, path: str, status: int) -> Any | None:
    """The JSON schema the spec gives this answer, or None (no such operation or status)."""
    suffix = path.removeprefix("/trade-api/v2")
    for pattern, item in _templates():
        if pattern.fullmatch(suffix) and method.lower() in item:
            responses = item[method.lower()].get("responses") or {}
            response, _ = _deref(responses.get(str(status)))
            if not isinstance(response, dict):
                return None
            content = response.get("content") or {}
            return (content.get("application/json") or {}).get("schema")
    return None


def _absent_with_null_default(error: Exception, args: dict[str, str]) -> bool:
    """openapi-core validates the `default: null` of a nullable enum parameter the request did
    not send against the enum (GetHistoricalMarkets' `mve_filter`): not the request's fault."""
    name = getattr(error, "name", None)
    location = getattr(error, "location", None)
    return (
        location == "query"
        and name is not None
        and name not in args
        and "None" in str(error.__cause__ or error)
    )


# --- openapi-core, built once -------------------------------------------------------------------
# openapi-core rebuilds, for every answer, the objects that depend only on the spec: it finds the
# path among the spec's templates, builds a jsonschema validator for each schema it meets (with a
# deep copy of the format checker) and a style deserializer for each query parameter. That was
# most of the check's cost (docs/benchmarks.md). The validators below are openapi-core's own
# classes, given through their constructors (openapi-core's extension points) factories that build
# each of those objects once, with openapi-core's own code, and hand the same one back after: every
# answer still goes through openapi-core's whole validation, against the same validator, schema
# and format checks. tests/test_openapi_check.py holds the result equal to a stock openapi-core's
# on good and bad answers.

_MEMO_LIMIT = 4096  # distinct request paths remembered (paths carry ids: bound the memory)


class _BuiltOnceValidators(SchemaValidatorsFactory):
    """openapi-core's schema validator factory, building each schema's validator once."""

    def __init__(self, stock: SchemaValidatorsFactory) -> None:
        super().__init__(stock.schema_validator_cls, stock.format_checker)
        self._built: dict[tuple[Any, ...], SchemaValidator] = {}

    def create(  # noqa: PLR0917 (openapi-core's signature)
        self,
        spec: SchemaPath,
        schema: SchemaPath,
        format_validators: FormatValidatorsDict | None = None,
        extra_format_validators: FormatValidatorsDict | None = None,
        forbid_unspecified_additional_properties: bool = False,
        enforce_properties_required: bool = False,
    ) -> SchemaValidator:
        key = (
            schema.parts,
            id(format_validators),
            id(extra_format_validators),
            forbid_unspecified_additional_properties,
            enforce_properties_required,
        )
        built = self._built.get(key)
        if built is None:
            built = super().create(
                spec,
                schema,
                format_validators,
                extra_format_validators,
                forbid_unspecified_additional_properties,
                enforce_properties_required,
            )
            # the schema with its plain references written in, resolved by the validator's
            # own resolver: about half of validating a long list (10,000 candles) went to
            # looking the same references up again for each item
            jsonschema_validator = built.validator
            lookup = jsonschema_validator._resolver.lookup  # what its $ref keyword follows
            inlined = _inline_refs(
                jsonschema_validator.schema, lambda ref: lookup(ref).contents, frozenset()
            )
            built = SchemaValidator(schema, jsonschema_validator.evolve(schema=inlined))
            self._built[key] = built
        return built


# the keywords of an OpenAPI 3.0 schema object whose values are schemas, lists of schemas, or
# maps of names to schemas; every other keyword's value is data (an enum, a default, an example)
_ONE_SCHEMA = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_MAPS = ("properties", "patternProperties")
# words for people beside a `$ref`, which no keyword of the validator reads
_ANNOTATIONS = ("description", "title")


def _inline_refs(schema: Any, lookup: Callable[[str], Any], within: frozenset[str]) -> Any:
    """`schema` with each schema that is only a `$ref` into the same document (and words for
    people) replaced by what it refers to: the same validation, without a lookup per instance.
    A `$ref` beside other keywords (they apply too: the OpenAPI 3.0 validator does not ignore
    them, and `required` reads a property's `readOnly`) or one met again inside itself (a
    recursive schema) is kept."""
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if (
        isinstance(ref, str)
        and ref.startswith("#/")
        and ref not in within
        and set(schema) <= {"$ref", *_ANNOTATIONS}
    ):
        return _inline_refs(lookup(ref), lookup, within | {ref})
    out = dict(schema)
    for key in _ONE_SCHEMA:
        if key in out:
            out[key] = _inline_refs(out[key], lookup, within)
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_inline_refs(s, lookup, within) for s in out[key]]
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _inline_refs(s, lookup, within) for name, s in out[key].items()}
    return out


class _BuiltOnceStyles(StyleDeserializersFactory):
    """openapi-core's parameter style deserializer factory, building each one once."""

    def __init__(self, stock: type[V30RequestParametersValidator | V30ResponseValidator]) -> None:
        super().__init__(stock.schema_casters_factory, style_deserializers=style_deserializers)
        self._built: dict[tuple[Any, ...], StyleDeserializer] = {}

    def create(
        self, spec: SchemaPath, schema: SchemaPath, style: str, explode: bool, name: str
    ) -> StyleDeserializer:
        key = (schema.parts, style, explode, name)
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = super().create(spec, schema, style, explode, name)
        return built


class _RememberingPathFinder(APICallPathFinder):
    """openapi-core's path finder, remembering the operation it found for a method and URL (not
    a failure: that one is found again, and raised afresh)."""

    def __init__(self, spec: SchemaPath, base_url: str | None = None) -> None:
        super().__init__(spec, base_url=base_url)
        self._found: dict[tuple[str, str], PathOperationServer] = {}

    def find(self, method: str, name: str) -> PathOperationServer:
        found = self._found.get((method, name))
        if found is None:
            found = super().find(method, name)
            if len(self._found) >= _MEMO_LIMIT:
                self._found.clear()
            self._found[method, name] = found
        return found


_ABSENT = object()  # the outcome of an optional parameter the request did not send


class _RememberingParametersValidator(V30RequestParametersValidator):
    """openapi-core's query and path parameter validator, remembering for each parameter the
    values it accepted and the absence it let pass (a value it refuses is refused afresh, so its
    error is openapi-core's own each time). Only parameters whose outcome depends on nothing but
    their own value are remembered: `form` or `simple` style (what reads the one name), not
    deprecated (openapi-core warns for each use), not given as `content`."""

    def __init__(self, spec: SchemaPath, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self._facts: dict[tuple[Any, ...], tuple[str, str, bool]] = {}
        self._lists: dict[tuple[Any, ...], list[SchemaPath]] = {}
        self._outcomes: dict[tuple[Any, ...], Any] = {}

    def _get_parameters(
        self, parameters: RequestParameters, operation: SchemaPath, path: SchemaPath
    ) -> Parameters:
        """openapi-core's own loop (APICallRequestParametersValidator._get_parameters), reading
        each declared parameter's name and location once rather than per request."""
        errors: list[ParameterValidationError] = []
        seen = set()
        validated = Parameters()
        for param in self._declared(operation, path):
            param_name, param_location, _ = self._param_facts(param)
            if (param_name, param_location) in seen:
                continue  # the operation overrides a parameter of its path item
            seen.add((param_name, param_location))
            try:
                value = self._get_parameter(parameters, param)
            except MissingParameter:
                continue
            except ParameterValidationError as exc:
                errors.append(exc)
                continue
            getattr(validated, param_location)[param_name] = value
        if errors:
            raise ParametersError(errors=errors, parameters=validated)
        return validated

    def _declared(self, operation: SchemaPath, path: SchemaPath) -> list[SchemaPath]:
        """The operation's parameters, then its path item's, as openapi-core lists them."""
        key = (operation.parts, path.parts)
        declared = self._lists.get(key)
        if declared is None:
            operation_params = operation.get("parameters", SchemaPath.from_dict({}))
            path_params = path.get("parameters", SchemaPath.from_dict({}))
            declared = self._lists[key] = list(chainiters(operation_params, path_params))
        return declared

    def _param_facts(self, param: SchemaPath) -> tuple[str, str, bool]:
        """(name, location, whether its outcome can be remembered)."""
        facts = self._facts.get(param.parts)
        if facts is None:
            style, _ = get_style_and_explode(param)
            own_value_only = (
                style in {"form", "simple"}
                and not (param / "deprecated").read_bool(default=False)
                and "content" not in param
            )
            facts = ((param / "name").read_str(), (param / "in").read_str(), own_value_only)
            self._facts[param.parts] = facts
        return facts

    def _get_parameter(self, parameters: Any, param: SchemaPath) -> Any:
        name, where, own_value_only = self._param_facts(param)
        if not own_value_only:
            return super()._get_parameter(parameters, param)
        location = parameters[where]
        # every value the request gives the name, as openapi-core's form style reads them
        read_all = getattr(location, "getall", None) or getattr(location, "getlist", None)
        values = tuple(read_all(name)) if read_all else (location.get(name, _ABSENT),)
        key = (param.parts, values)
        if key in self._outcomes:
            outcome = self._outcomes[key]
            if outcome is _ABSENT:
                raise MissingParameter(name, where)
            return outcome
        try:
            outcome = super()._get_parameter(parameters, param)
        except MissingParameter:
            self._remember(key, _ABSENT)
            raise
        self._remember(key, outcome)
        return outcome

    def _remember(self, key: tuple[Any, ...], outcome: Any) -> None:
        if len(self._outcomes) >= _MEMO_LIMIT:
            self._outcomes.clear()
        self._outcomes[key] = outcome


@cache
def _parameters_validator() -> V30RequestParametersValidator:
    stock = V30RequestParametersValidator
    return _RememberingParametersValidator(
        spec().spec,
        style_deserializers_factory=_BuiltOnceStyles(stock),
        schema_validators_factory=_BuiltOnceValidators(stock.schema_validators_factory),
        path_finder_cls=_RememberingPathFinder,
    )


@cache
def _response_validator() -> V30ResponseValidator:
    """What `spec().validate_response` builds (openapi_core.app.OpenAPI.response_validator),
    with the factories above."""
    config = spec().config
    stock = V30ResponseValidator
    return stock(
        spec().spec,
        base_url=config.server_base_url,
        style_deserializers_factory=_BuiltOnceStyles(stock),
        schema_validators_factory=_BuiltOnceValidators(stock.schema_validators_factory),
        path_finder_cls=_RememberingPathFinder,
        extra_format_validators=config.extra_format_validators,
        extra_media_type_deserializers=config.extra_media_type_deserializers,
        forbid_unspecified_additional_properties=(
            config.additional_properties_default_policy == "forbid"
        ),
        enforce_properties_required=config.response_properties_default_policy == "required",
    )


def mock_call(  # noqa: PLR0917 (check_response's signature)
    method: str, path: str, query: str, status: int, content_type: str, body: bytes
) -> tuple[MockRequest, MockResponse]:
    """The answer as the request and response openapi-core validates (a fresh pair: openapi-core
    writes the path's variables into the request it validates)."""
    args = {k: v[0] for k, v in parse_qs(query).items()}
    request = MockRequest(HOST, method.lower(), path, args=args)
    mime = content_type.split(";", maxsplit=1)[0]
    return request, MockResponse(body, status_code=status, content_type=mime)


_VERDICTS: dict[tuple[Any, ...], str | None] = {}


def check_response(  # noqa: PLR0917 (the response_hook's positional signature)
    method: str, path: str, query: str, status: int, content_type: str, body: bytes
) -> str | None:
    """None when the response conforms; otherwise a one-line description of the violation.
    The check depends on nothing but its arguments and the spec, so an answer met before (a
    poll, a page read twice) is given the verdict it was given then, by a digest of its body."""
    digest = hashlib.blake2b(body, digest_size=16).digest()
    key = (method, path, query, status, content_type, digest)
    if key in _VERDICTS:
        return _VERDICTS[key]
    verdict = _check(method, path, query, status, content_type, body)
    if len(_VERDICTS) >= _MEMO_LIMIT:
        _VERDICTS.clear()
    _VERDICTS[key] = verdict
    return verdict


def _check(  # noqa: PLR0917 (check_response's signature)
    method: str, path: str, query: str, status: int, content_type: str, body: bytes
) -> str | None:
    where = f"{method} {path} -> {status}"
    if status >= 400 and not _declares_own_error(method, path, status):
        shape, problem = _wire_error_shape(status, body)
        if problem:
            return f"{where}: {problem}"
        if shape != "flat":
            return None  # checked above against the shape seen on the wire, not the spec's
    request, response = mock_call(method, path, query, status, content_type, body)
    args = dict(request.args or {})
    mime = response.content_type
    if status < 400:
        bad_params = [
            str(error.__cause__ or error)
            for error in _parameters_validator().iter_errors(request)
            if not isinstance(error, (PathNotFound, OperationNotFound))
            and not _absent_with_null_default(error, args)
        ]
        if bad_params:
            return f"{where}: answered a request the spec refuses: {'; '.join(bad_params)}"
    if status == 204 and body:
        return f"{where}: a 204 must have no body"
    try:
        _response_validator().validate(request, response)
    except ResponseNotFound:
        if status < 400:
            return f"{where}: status not in the spec for this operation"
    except (PathNotFound, OperationNotFound):
        if status not in (404, 405):
            return f"{where}: no such operation in the spec"
    except OpenAPIError as exc:
        cause = exc.__cause__ or exc
        return f"{where}: {type(exc).__name__}: {cause}"[:2000]
    schema = _response_schema(method, path, status)
    if schema is not None and mime == "application/json":
        problems = strict_problems(schema, json.loads(body))
        if problems:
            return f"{where}: {'; '.join(problems[:10])}"[:2000]
    return None


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    status: int
    content_type: str
    body: bytes


class ResponseRecorder:
    """The simulator's `response_hook`: records cheaply on the server thread, checks later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Recorded] = []

    def hook(  # noqa: PLR0917 (the response_hook's positional signature)
        self, method: str, path: str, query: str, status: int, content_type: str, body: bytes
    ) -> None:
        with self._lock:
            self._pending.append(Recorded(method, path, query, status, content_type, body))

    def drain_violations(self) -> list[str]:
        with self._lock:
            pending, self._pending = self._pending, []
        problems = (
            check_response(r.method, r.path, r.query, r.status, r.content_type, r.body)
            for r in pending
        )
        return [p for p in problems if p]


RECORDER = ResponseRecorder()
