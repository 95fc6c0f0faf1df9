"""A provider's published API description, as a checker of the requests a client sends.

Two kinds of document are read: a Google API Discovery document
(``discovery#restDescription``: resources, methods, ``parameters``, ``schemas``, media upload
paths) and an OpenAPI 3.0 document (``paths``, ``parameters``, ``requestBody``,
``components``). :meth:`ApiDescription.check` finds the operation a request calls (by method
and path, under the document's own base path) and lists what about the request the document
does not allow: an undeclared query parameter or one of the wrong type, a required parameter
or header left out, a body where none is taken, a JSON, form or multipart body whose fields do
not fit the operation's request schema. Objects of a request schema are closed: a field the
document does not name is a problem (it would be a typo, or a field of another operation).
A document marked ``x-case-insensitive-paths`` (an API that routes that way: Xero's) matches
literal path segments without regard to case.

The body schemas are turned into JSON Schema (Discovery ``$ref: "Event"`` and OpenAPI
``#/components/schemas/Event`` both become ``#/$defs/Event``; ``nullable`` becomes a ``null``
alternative) and checked with ``jsonschema``.

Size: the two document kinds' operation lookup, parameter, body and schema rules, one idea.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft202012Validator

__all__ = ["ApiDescription", "CheckedRequest", "Operation"]

_PLACEHOLDER = re.compile(r"^\{\+?([^}]+)\}$")
_INTEGER = re.compile(r"^-?[0-9]+$")


@dataclass(frozen=True)
class Operation:
    """One operation: its id, method, full path template (from the server root) and what it
    takes. ``upload``: a Discovery media upload path (a multipart body: metadata + media)."""

    id: str
    method: str
    template: str
    params: Mapping[str, Mapping[str, Any]]
    body: Mapping[str, Any] | None
    body_types: tuple[str, ...] = ("application/json",)
    upload: bool = False
    scopes: tuple[str, ...] = ()


@dataclass
class CheckedRequest:
    """The operation a request calls (``None``: the document has no such operation), its path
    parameters, and what is wrong with the request (empty: it fits the document)."""

    operation: Operation | None
    path_params: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _match(template: str, path: str, *, fold: bool = False) -> dict[str, str] | None:
    """The path parameters when ``path`` fits ``template`` (``fold``: literal segments compared
    without regard to case); ``None`` when it does not."""
    wanted, actual = _segments(template), _segments(path)
    if len(wanted) != len(actual):
        return None
    found: dict[str, str] = {}
    for w, a in zip(wanted, actual, strict=True):
        placeholder = _PLACEHOLDER.match(w)
        if placeholder:
            found[placeholder.group(1)] = a
        elif "{" in w:  # "{id}.json"
            prefix, rest = w.split("{", 1)
            name, suffix = rest.split("}", 1)
            if not (a.startswith(prefix) and a.endswith(suffix)) or len(a) <= len(prefix + suffix):
                return None
            found[name] = a[len(prefix) : len(a) - len(suffix)]
        elif w != a and not (fold and w.casefold() == a.casefold()):
            return None
    return found


def _json_schema(schema: Any, ref_prefix: str) -> Any:
    """A Discovery or OpenAPI 3.0 schema as JSON Schema 2020-12 with closed objects."""
    if isinstance(schema, list):
        return [_json_schema(item, ref_prefix) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            converted["$ref"] = "#/$defs/" + str(value).removeprefix(ref_prefix)
        elif key in ("properties", "$defs"):
            converted[key] = {k: _json_schema(v, ref_prefix) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"):
            converted[key] = _json_schema(value, ref_prefix)
        elif key == "type" and value == "any":
            continue
        elif key in ("type", "enum", "required", "minimum", "maximum", "maxLength", "minLength"):
            converted[key] = value
    if "$ref" in converted:
        return {"$ref": converted["$ref"]}
    if converted.get("type") in ("integer", "number") and schema.get("format") in (
        "int64",
        "uint64",
    ):
        converted["type"] = ["string", "integer"]  # Discovery sends 64-bit integers as strings
    if "properties" in converted and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    if schema.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


class ApiDescription:
    """The operations of one Discovery or OpenAPI document. ``mount`` is the path the API is
    served under on the checker's host (a simulator's prefix); ``""`` for the real root."""

    def __init__(self, document: Mapping[str, Any], *, mount: str = "") -> None:
        self.document = document
        self._mount = mount.rstrip("/")
        self._fold = bool(document.get("x-case-insensitive-paths"))
        if document.get("kind") == "discovery#restDescription":
            self._defs = {k: _json_schema(v, "") for k, v in document.get("schemas", {}).items()}
            self.operations = self._discovery_operations()
        else:
            components = document.get("components", {})
            self._defs = {
                k: _json_schema(v, "#/components/schemas/")
                for k, v in components.get("schemas", {}).items()
            }
            self._parameters = components.get("parameters", {})
            self.operations = self._openapi_operations()

    # -- reading the document ----------------------------------------------------------------

    def _discovery_operations(self) -> list[Operation]:
        doc = self.document
        base = urlsplit(doc["baseUrl"]).path.rstrip("/")
        shared = doc.get("parameters", {})
        found: list[Operation] = []

        def walk(resource: Mapping[str, Any]) -> None:
            for method in (resource.get("methods") or {}).values():
                params = {**shared, **(method.get("parameters") or {})}
                body = method.get("request")
                common = {
                    "id": method["id"],
                    "method": method["httpMethod"],
                    "params": params,
                    "body": body,
                    "scopes": tuple(method.get("scopes", ())),
                }
                found.append(Operation(template=f"{base}/{method['path']}", **common))
                simple = ((method.get("mediaUpload") or {}).get("protocols") or {}).get("simple")
                if simple:
                    found.append(Operation(template=simple["path"], upload=True, **common))
            for child in (resource.get("resources") or {}).values():
                walk(child)

        walk(doc)
        return found

    def _openapi_operations(self) -> list[Operation]:
        server = urlsplit(self.document["servers"][0]["url"]).path.rstrip("/")
        found: list[Operation] = []
        for template, item in self.document["paths"].items():
            for method, operation in item.items():
                if method == "parameters" or not isinstance(operation, dict):
                    continue
                params = {}
                for raw in [*item.get("parameters", []), *operation.get("parameters", [])]:
                    spec = self._parameter(raw)
                    params[spec["name"]] = {**spec, "location": spec["in"]}
                content = (operation.get("requestBody") or {}).get("content") or {}
                body_type = next(iter(content), None)
                found.append(
                    Operation(
                        id=operation.get("operationId") or f"{method.upper()} {template}",
                        method=method.upper(),
                        template=server + template,
                        params=params,
                        body=content[body_type].get("schema") if body_type else None,
                        body_types=tuple(content) or ("application/json",),
                        scopes=tuple(
                            scope
                            for requirement in operation.get("security", [])
                            for scopes in requirement.values()
                            for scope in scopes
                        ),
                    )
                )
        return found

    def _parameter(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = raw.get("$ref")
        if isinstance(ref, str):
            resolved: Mapping[str, Any] = self._parameters[ref.rsplit("/", 1)[1]]
            return resolved
        return raw

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation ``method path`` calls, and its path parameters."""
        if self._mount:
            if not path.startswith(self._mount + "/"):
                return None
            path = path[len(self._mount) :]
        candidates = []
        for operation in self.operations:
            if operation.method != method.upper():
                continue
            found = _match(operation.template, path, fold=self._fold)
            if found is not None:
                # A literal segment beats a placeholder (".../search" over ".../{contactId}").
                candidates.append((len(found), operation, found))
        if not candidates:
            return None
        _, operation, found = min(candidates, key=lambda c: c[0])
        return operation, found

    # -- checking a request ------------------------------------------------------------------

    def check(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
    ) -> CheckedRequest:
        """What about this request ``url`` (path and query) the document does not allow."""
        parts = urlsplit(url)
        located = self.find(method, parts.path)
        if located is None:
            return CheckedRequest(None, problems=[f"no operation {method} {parts.path}"])
        operation, path_params = located
        checked = CheckedRequest(operation, path_params)
        problems = checked.problems
        query = parse_qsl(parts.query, keep_blank_values=True)
        lowered = {k.lower(): v for k, v in headers.items()}
        for name, spec in operation.params.items():
            where = spec.get("location")
            if where == "path" and name not in path_params:
                problems.append(f"path parameter {name} is missing")
            if where == "query" and spec.get("required") and name not in dict(query):
                problems.append(f"query parameter {name} is required")
            if where == "header" and spec.get("required") and name.lower() not in lowered:
                problems.append(f"header {name} is required")
        for name, value in query:
            declared = operation.params.get(name)
            if declared is None or declared.get("location") != "query":
                problems.append(f"query parameter {name} is not a parameter of {operation.id}")
                continue
            problems.extend(self._check_value(name, value, declared))
        if operation.upload and dict(query).get("uploadType") not in ("multipart", "media"):
            problems.append("an upload names uploadType=multipart or media")
        problems.extend(self._check_body(operation, lowered.get("content-type", ""), body))
        return checked

    @staticmethod
    def _check_value(name: str, value: str, spec: Mapping[str, Any]) -> list[str]:
        kind = spec.get("type") or (spec.get("schema") or {}).get("type")
        enum = spec.get("enum") or (spec.get("schema") or {}).get("enum")
        if kind == "integer" and not _INTEGER.match(value):
            return [f"query parameter {name} must be an integer"]
        if kind == "boolean" and value not in ("true", "false"):
            return [f"query parameter {name} must be true or false"]
        if enum and value not in enum:
            return [f"query parameter {name} must be one of {', '.join(map(str, enum))}"]
        return []

    def _check_body(self, operation: Operation, content_type: str, body: bytes) -> list[str]:
        if operation.body is None:
            return [] if not body else [f"{operation.id} takes no body"]
        media = content_type.split(";", 1)[0].strip().lower()
        if operation.upload:
            if media != "multipart/related":
                return ["an upload's body is multipart/related (metadata, then media)"]
            parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
            )
            parts = list(parsed.iter_parts())
            if len(parts) != 2 or parts[0].get_content_type() != "application/json":
                return ["an upload has two parts: JSON metadata, then the media"]
            payload = parts[0].get_payload(decode=True)
            return self._check_json(operation, payload if isinstance(payload, bytes) else b"")
        if not body:
            return []  # every field of these request schemas is optional
        if media not in operation.body_types:
            return [f"{operation.id} takes {' or '.join(operation.body_types)}, not {media}"]
        if media == "application/x-www-form-urlencoded":
            fields = {name.split("[", 1)[0] for name, _ in parse_qsl(body.decode("utf-8"))}
            schema = operation.body
            allowed = set((schema.get("properties") or {}) if isinstance(schema, dict) else {})
            return [
                f"form field {name} is not a field of {operation.id}"
                for name in sorted(fields - allowed)
            ]
        return self._check_json(operation, body)

    def _check_json(self, operation: Operation, body: bytes) -> list[str]:
        try:
            value = json.loads(body)
        except ValueError:
            return ["the body is not JSON"]
        ref_prefix = "#/components/schemas/" if "components" in self.document else ""
        schema = {**_json_schema(operation.body, ref_prefix), "$defs": self._defs}
        validator = Draft202012Validator(schema)
        return [
            f"body {'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in validator.iter_errors(value)
        ]

    def scopes_of(self, operation_id: str) -> Sequence[str]:
        return next((op.scopes for op in self.operations if op.id == operation_id), ())
