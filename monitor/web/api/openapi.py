"""The OpenAPI 3.1 document of the JSON API, generated from the `Route` table and its
pydantic models, so the description cannot drift from what the handlers validate.
Served at ``GET /api/v1/openapi.json``."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from monitor.config import NAME_PATTERN
from monitor.web.api.base import PREFIX, Route
from monitor.web.api.models import MAX_ID, Error

REASONS = {
    200: "OK",
    201: "Created",
    400: "Malformed request (not JSON, inconsistent range)",
    401: "No, invalid or revoked bearer token",
    403: "The role is too low (or a cookie-authenticated write without X-CSRF-Token)",
    404: "No such id or path",
    409: "The kill switch refused the transition (state, four eyes)",
    422: "Invalid fields; details lists them",
    502: "The kill switch backend did not take the change",
    503: "The database is unavailable",
}
ROLES = {
    "viewer": "Needs the viewer role or higher.",
    "publisher": "Needs the publisher (CI/CD) or operator role.",
    "operator": "Needs the operator role.",
}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is omitted, never sent as null."""
    options = schema.get("anyOf")
    if options is None:
        return schema
    rest = [option for option in options if option.get("type") != "null"]
    out = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**out, **rest[0]} if len(rest) == 1 else {**out, "anyOf": rest}


def _path_parameter(name: str) -> dict[str, Any]:
    if name == "id":
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    else:
        schema = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 63}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": _without_null({k: v for k, v in prop.items() if k != "title"}),
        }
        for name, prop in schema["properties"].items()
    ]


def _operation(route: Route, refs: dict[Any, Any]) -> dict[str, Any]:
    def content(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return {"application/json": {"schema": refs[(model, mode)]}}

    parameters = [
        _path_parameter(part[1:-1]) for part in route.path.split("/") if part.startswith("{")
    ]
    if route.query is not None:
        parameters += _query_parameters(route.query)
    responses: dict[str, Any] = {
        str(route.status): {
            "description": REASONS[route.status],
            "content": content(route.response, "serialization"),
        }
    }
    for status in route.errors:
        responses[str(status)] = {
            "description": REASONS[status],
            "content": content(Error, "serialization"),
        }
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": ROLES[route.role],
        "parameters": parameters,
        "responses": responses,
    }
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": content(route.body, "validation")}
    return operation


@cache
def _document(routes: tuple[Route, ...]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [(Error, "serialization")]
    for route in routes:
        models.append((route.response, "serialization"))
        if route.body is not None:
            models.append((route.body, "validation"))
    refs, schemas = models_json_schema(
        list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "camcanary",
            "version": "1",
            "description": "Probe history, incidents, kill switches and change markers of "
            "a camcanary privacy monitor. Send `Authorization: Bearer <token>` "
            "(`camcanary users add NAME --role viewer|publisher|operator`).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def document(routes: list[Route]) -> dict[str, Any]:
    return _document(tuple(routes))
