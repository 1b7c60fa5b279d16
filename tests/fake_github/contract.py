"""GitHub's official OpenAPI description as the contract for the fake server.

Loads ``api.github.com.json`` / ``ghes-3.17.json`` from ``@octokit/openapi`` (fetched by
``tools/fetch_openapi.py`` into ``.cache/openapi/<version>/``), builds one openapi-core ``OpenAPI``
object per flavour per process (spec self-validation off: it takes ~30 s and the description is
GitHub's own), validates every request and response the fake sees, and synthesises minimal valid
instances of response schemas so the fake's answers carry every required field.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

OPENAPI_VERSION = "23.0.2"
REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / ".cache" / "openapi" / OPENAPI_VERSION
FETCH_SCRIPT = REPO_ROOT / "tools" / "fetch_openapi.py"
SPEC_FILES = {"dotcom": "api.github.com.json", "ghes": "ghes-3.17.json"}
GHES_PREFIX = "/api/v3"

_lock = threading.Lock()


def ensure_spec_files() -> Path:
    """Run ``tools/fetch_openapi.py`` when a description file is missing; return the folder."""
    if all((SPEC_DIR / name).is_file() for name in SPEC_FILES.values()):
        return SPEC_DIR
    done = subprocess.run([sys.executable, str(FETCH_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tools/fetch_openapi.py failed (exit {done.returncode}): {done.stderr.strip()}")
    return SPEC_DIR


@functools.cache
def spec_dict(flavour: str) -> dict[str, Any]:
    """The parsed description for ``dotcom`` or ``ghes`` (cached for the process)."""
    with _lock:
        path = ensure_spec_files() / SPEC_FILES[flavour]
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded


@functools.cache
def openapi(flavour: str, paths: tuple[str, ...] | None = None) -> OpenAPI:
    """The openapi-core object for ``dotcom`` or ``ghes`` (built once per process and path set).

    With ``paths``, only those path items are kept (all components stay): the operations and schemas
    are GitHub's, unchanged, and finding the operation for a request does not scan ~1,000 paths.
    """
    spec = spec_dict(flavour)
    if paths is not None:
        missing = [p for p in paths if p not in spec["paths"]]
        if missing:
            raise KeyError(f"not in GitHub's {flavour} description: {missing}")
        spec = {**spec, "paths": {p: spec["paths"][p] for p in paths}}
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@dataclass(frozen=True)
class WireRequest:
    """A request as it reached the fake: what the contract is checked against."""

    method: str
    host: str
    path: str
    #: The OpenAPI path template it matched (``/repos/{owner}/{repo}/...``).
    pattern: str
    path_params: Mapping[str, str]
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes | None


@dataclass
class _Request:
    """openapi-core's request protocol, with the path pattern supplied by the fake's router."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters
    path_pattern: str


@dataclass
class _Response:
    status_code: int
    content_type: str
    headers: Headers
    data: bytes | None


@dataclass(frozen=True)
class Violation:
    """One place where a request or response broke GitHub's published contract."""

    kind: str  # "request" | "response" | "client"
    method: str
    path: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "method": self.method, "path": self.path, "detail": self.detail}


def _error_text(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    for attr in ("schema_errors", "errors"):
        for inner in getattr(exc, attr, None) or []:
            parts.append(str(getattr(inner, "message", inner)))
    if exc.__cause__ is not None:
        parts.append(_error_text(exc.__cause__))
    return " | ".join(parts)


class ContractChecker:
    """Validates exchanges against one flavour of the description and collects violations."""

    def __init__(self, flavour: str, paths: tuple[str, ...] | None = None) -> None:
        self.flavour = flavour
        self.api = openapi(flavour, paths)
        self.spec = spec_dict(flavour)

    def _request(self, wire: WireRequest) -> _Request:
        if self.flavour == "ghes":
            host_url, full_pattern = f"http://{wire.host}", GHES_PREFIX + wire.pattern
        else:
            host_url, full_pattern = "https://api.github.com", wire.pattern
        headers = wire.headers
        content_type = headers.get("Content-Type", headers.get("content-type", "")) if wire.body else ""
        return _Request(
            host_url=host_url,
            path=wire.path,
            method=wire.method.lower(),
            body=wire.body or None,
            content_type=content_type.lower(),
            parameters=RequestParameters(
                path=dict(wire.path_params),
                query=ImmutableMultiDict(wire.query),
                header=Headers(list(headers.items())),
                cookie=ImmutableMultiDict(),
            ),
            path_pattern=full_pattern,
        )

    def check_request(self, wire: WireRequest) -> str | None:
        """Return why the request breaks the contract, or None."""
        request = self._request(wire)
        try:
            self.api.validate_request(request)
        except Exception as exc:  # openapi-core raises a family of errors; all mean "mismatch"
            return _error_text(exc)
        return None

    def declared_statuses(self, method: str, pattern: str) -> set[str]:
        operation = self.spec["paths"][pattern][method.lower()]
        return set(operation["responses"])

    def check_response(
        self, wire: WireRequest, status: int, response_headers: Mapping[str, str], data: bytes | None
    ) -> str | None:
        """Return why the response breaks the contract, or None.

        GitHub answers errors the operation does not declare (401, 429, 5xx, a 403 on a GET...);
        those must still carry GitHub's ``basic-error`` shape, which is what is checked for them.
        """
        if str(status) not in self.declared_statuses(wire.method, wire.pattern):
            if status < 400:
                return f"status {status} is not declared for {wire.method.upper()} {wire.pattern}"
            if not data:
                return None if status in (502, 503, 504) else f"status {status} without a body"
            try:
                document = json.loads(data)
            except ValueError as exc:
                return f"status {status} with a body that is not JSON: {exc}"
            return validate_instance(self.spec, {"$ref": "#/components/schemas/basic-error"}, document)
        request = self._request(wire)
        response = _Response(
            status_code=status,
            content_type=response_headers.get("Content-Type", "").lower() if data else "",
            headers=Headers(list(response_headers.items())),
            data=data or None,
        )
        try:
            self.api.validate_response(request, response)
        except Exception as exc:
            return _error_text(exc)
        return None


def resolve(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow ``$ref`` chains inside the description."""
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


_SPEC_URI = "urn:github-openapi"
_registries: dict[int, Any] = {}


def _registry(spec: Mapping[str, Any]) -> Any:
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    key = id(spec)
    if key not in _registries:
        resource = DRAFT4.create_resource(dict(spec))
        _registries[key] = Registry().with_resource(_SPEC_URI, resource)
    return _registries[key]


def validate_instance(spec: Mapping[str, Any], schema: Mapping[str, Any], instance: Any) -> str | None:
    """Validate ``instance`` against one schema of the description (OpenAPI 3.0 dialect)."""
    from openapi_schema_validator import OAS30Validator

    registry = _registry(spec)
    if "$ref" in schema and str(schema["$ref"]).startswith("#"):
        schema = {"$ref": _SPEC_URI + schema["$ref"]}
    validator = OAS30Validator(dict(schema), registry=registry)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    if not errors:
        return None
    return "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5])


_STRING_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "uri": "https://example.invalid/",
    "uri-template": "https://example.invalid/{id}",
    "email": "nobody@example.invalid",
}


def synthesize(spec: Mapping[str, Any], schema: Mapping[str, Any], depth: int = 0) -> Any:
    """A minimal instance of ``schema``: every required property, nullable ones as null.

    The fake overlays its real state (ids, bodies, SHAs, URLs) on top; the rest is filler that
    satisfies the schema so the response validates like one from GitHub would.
    """
    schema = resolve(spec, schema)
    if depth > 40:
        raise RecursionError("schema nests too deep to synthesise")
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = synthesize(spec, part, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [resolve(spec, option) for option in schema[key]]
            concrete = [o for o in options if o.get("type") != "null"] or options
            return synthesize(spec, concrete[0], depth + 1)
    if schema.get("nullable"):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            name: synthesize(spec, properties[name], depth + 1)
            for name in schema.get("required", [])
            if name in properties
        }
    if kind == "array":
        return []
    if kind == "string":
        return _STRING_FORMATS.get(schema.get("format", ""), "x" * max(1, int(schema.get("minLength", 1))))
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


@functools.cache
def _component_template(flavour: str, name: str) -> str:
    return json.dumps(synthesize(spec_dict(flavour), {"$ref": f"#/components/schemas/{name}"}))


def instance_of(flavour: str, name: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A valid ``components/schemas/<name>`` object with ``overrides`` deep-merged on top."""
    base: dict[str, Any] = json.loads(_component_template(flavour, name))
    return deep_merge(base, overrides)


def deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = deep_merge(base[key], value)
        else:
            base[key] = value
    return base
