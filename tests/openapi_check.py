"""Validates simulator responses against the pinned openapi.yaml (3.30.0) with openapi-core.

The spec is parsed once per test session. Every response is checked for its method, path,
status and body. Two rules fill gaps the spec leaves: an error status an operation does not
list (a 429 on a GET, say, which Kalshi answers on every path) and a 404/405 for a path or
method the spec does not have are checked against `ErrorResponse`; and every error body must
be an `ErrorResponse` with a string `code` and `message`, even where the spec gives the status
no schema.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

SPEC_CANDIDATES = (
    os.environ.get("KALSHI_OPENAPI_SPEC", ""),
    str(Path(__file__).resolve().parents[1] / "docs" / "kalshi-api" / "openapi.yaml"),
    "/work/shared/kalshi-api/openapi.yaml",
)
HOST = "https://external-api.kalshi.com"


@cache
def spec_path() -> Path:
    for candidate in SPEC_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError(f"openapi.yaml not found; looked in {SPEC_CANDIDATES}")


@cache
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(spec_path()))


@cache
def _own_error_schemas() -> frozenset[tuple[str, str, int]]:
    """(method, path template, status) of error statuses whose body is not ErrorResponse
    (e.g. /exchange/status answers 5xx with an ExchangeStatus)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(spec_path().read_text(), Loader=loader)
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


def _error_shape_problem(body: bytes) -> str | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return "error body is not JSON"
    if not isinstance(data, dict):
        return "error body is not an object"
    for name in ("code", "message"):
        if not isinstance(data.get(name), str):
            return f"error body lacks a string {name!r}: {data}"
    extra = set(data) - {"code", "message", "details"}
    if extra or not isinstance(data.get("details", ""), str):
        return f"error body has fields outside ErrorResponse: {data}"
    return None


def check_response(  # noqa: PLR0917 (the response_hook's positional signature)
    method: str, path: str, query: str, status: int, content_type: str, body: bytes
) -> str | None:
    """None when the response conforms; otherwise a one-line description of the violation."""
    where = f"{method} {path} -> {status}"
    if status >= 400 and not _declares_own_error(method, path, status):
        problem = _error_shape_problem(body)
        if problem:
            return f"{where}: {problem}"
    args = {k: v[0] for k, v in parse_qs(query).items()}
    request = MockRequest(HOST, method.lower(), path, args=args)
    mime = content_type.split(";", maxsplit=1)[0]
    response = MockResponse(body, status_code=status, content_type=mime)
    try:
        spec().validate_response(request, response)
    except ResponseNotFound:
        if status < 400:
            return f"{where}: status not in the spec for this operation"
    except (PathNotFound, OperationNotFound):
        if status not in (404, 405):
            return f"{where}: no such operation in the spec"
    except OpenAPIError as exc:
        cause = exc.__cause__ or exc
        return f"{where}: {type(exc).__name__}: {cause}"[:2000]
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
