"""The OpenAPI document, with 422 described as the server answers it.

FastAPI documents 422 as a list of field errors only; WeaverGen also answers 422 with one
message naming the problem (an unknown model group, data nested too deep) and, for a
rejected diagram, the problems found in it (file, element id, line, message)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the document with 422 as described above."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = spec.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = _unprocessable()
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _unprocessable() -> dict[str, Any]:
    problem = {
        "type": "object",
        "properties": {
            "file": {"type": "string"},
            "element_id": {"type": ["string", "null"]},
            "line": {"type": ["integer", "null"]},
            "message": {"type": "string"},
        },
    }
    return {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                ],
            },
            "errors": {"title": "Errors", "type": "array", "items": problem},
        },
    }
