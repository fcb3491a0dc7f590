"""The OpenAPI 3.1 document of the HTTP API, generated from :data:`routes.ROUTES` and
:data:`schema.SCHEMAS` (the same schemas validate every request body)."""

from __future__ import annotations

import copy
from typing import Any

from server import __version__
from server.http_api.routes import ROUTES, Route
from server.http_api.schema import SCHEMAS, ref

ERROR_STATUSES = ("400", "401", "403", "404", "409", "412", "413", "429", "500", "503")


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.operation, "summary": route.summary}
    if route.rpc:
        op["description"] = (
            f"Same operation, limits and errors as the gRPC call fute.v1.TaskSearch/{route.rpc}."
        )
    params: list[dict[str, Any]] = [
        {"name": seg[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for seg in route.segments
        if seg.startswith("{")
    ]
    for q in route.query:
        schema: dict[str, Any] = {"type": q.kind}
        if q.minimum is not None:
            schema["minimum"] = q.minimum
        if q.enum:
            schema["enum"] = list(q.enum)
        params.append(
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": schema,
            }
        )
    if params:
        op["parameters"] = params
    if route.request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(route.request)}},
        }
    elif route.raw_body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    responses: dict[str, Any] = {
        str(route.status): {
            "description": "OK",
            "content": {"application/json": {"schema": ref(route.response)}},
        }
    }
    if route.operation == "health":
        responses["503"] = {
            "description": "not serving",
            "content": {"application/json": {"schema": ref("Health")}},
        }
    for status in ERROR_STATUSES:
        responses.setdefault(
            status, {"description": "error", "content": {"application/json": {"schema": ref("Error")}}}
        )
    op["responses"] = responses
    if route.rpc:
        op["security"] = [{"bearer": []}, {}]
    return op


def openapi_document() -> dict[str, Any]:
    """The whole document; a fresh dict each call."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FUTE Task Search HTTP API",
            "version": __version__,
            "description": "The TaskSearch operations as JSON over HTTP (docs/service.md, section HTTP API).",
        },
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
