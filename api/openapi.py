"""What the generated OpenAPI document says beyond the schemas: the problems every call may
answer, the If-Match header, and fields that also take a plain name."""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from marshmallow import fields

WRITES = {"post", "put", "patch", "delete"}


class ProblemResponses(BasePlugin):  # type: ignore[misc]
    """Document the problems berth answers, so clients and fuzzers can hold it to them."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            common = {"401": "UNAUTHORIZED", "403": "FORBIDDEN", "503": "SERVICE_UNAVAILABLE"}
            if path and "{" in path:
                common["404"] = "NOT_FOUND"
            if method in WRITES:
                common.update(
                    {
                        "400": "BAD_REQUEST",
                        "409": "CONFLICT",
                        "413": "REQUEST_ENTITY_TOO_LARGE",
                        "415": "UNSUPPORTED_MEDIA_TYPE",
                        "422": "UNPROCESSABLE_ENTITY",
                        "502": "BAD_GATEWAY",
                    }
                )
            if path and path.endswith("/allocations/{service}") and method in ("put", "delete"):
                common["412"] = "PRECONDITION_FAILED"
                operation.setdefault("parameters", []).append(
                    {
                        "in": "header",
                        "name": "If-Match",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "the ETag of a GET; 412 when the allocation changed since",
                    }
                )
            for code, name in common.items():
                responses.setdefault(code, name)


def plain_name_items(self: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> dict:
    """A list whose items may also be a bare name: document both forms."""
    if isinstance(field, fields.List) and field.metadata.get("by_name") and "items" in ret:
        return {"items": {"oneOf": [{"type": "string"}, ret["items"]]}}
    return {}
