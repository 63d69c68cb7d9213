"""Every service's OpenAPI document says what the service does, checked by schemathesis in the test suite.

FastAPI documents its own 422 body (a list of errors) while we send `{"error", "detail"}`, and it cannot know
which statuses a route raises by hand. So: routes name their own statuses with `errors(404, 409)`, and
`truthful_openapi` swaps every 422 for our body and adds what any request may get at any service: 413 (the
body cap), 500 (a bug, still JSON) and 503 with Retry-After (a database, Redis or peer away).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

#: What each status means here, for the document's descriptions.
MEANING = {400: "Bad request: the detail says what was wrong", 401: "No valid token (send Authorization: Bearer)",
           402: "Payment declined", 403: "Not yours", 404: "No such resource",
           409: "Conflicts with the current state (or an Idempotency-Key in use or reused)",
           413: "Request body over the cap (MAX_BODY_BYTES)", 422: "Invalid request: the detail says which field",
           429: "Rate limited: retry after Retry-After seconds", 500: "A bug: the detail names the exception",
           502: "A service behind this one answered nonsense",
           503: "A database, Redis or service this one needs is away: retry after Retry-After seconds",
           504: "A service behind this one did not answer in time"}
#: Statuses any request may get from any service.
EVERYWHERE = (413, 422, 500, 503)

#: An id we only accept as a UUID: documented as one, refused with 400 and a message when it is not.
UuidPath = Annotated[str, Path(json_schema_extra={"format": "uuid"})]


class ErrorBody(BaseModel):
    """Every error any service sends; some add context (the order, the retries, the state)."""
    model_config = ConfigDict(extra="allow")
    error: str
    detail: str


def errors(*codes: int) -> dict:
    """`responses=` for a route that raises these statuses itself."""
    return {code: {"model": ErrorBody, "description": MEANING.get(code, "Error")} for code in codes}


def _error_response(code: int) -> dict:
    out = {"description": MEANING[code],
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    if code in (429, 503):
        out["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return out


def truthful_openapi(app: FastAPI, everywhere: tuple[int, ...] = EVERYWHERE, security: dict | None = None) -> None:
    """Replace `app.openapi` with one whose error responses are the ones we send (see the module docstring).
    `security`: a securitySchemes entry, for the operations that declare `security` themselves."""

    def build() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            comps = doc.setdefault("components", {})
            comps.setdefault("schemas", {})["ErrorBody"] = ErrorBody.model_json_schema()
            for name in ("HTTPValidationError", "ValidationError"):
                comps["schemas"].pop(name, None)
            if security:
                comps["securitySchemes"] = security
            for ops in doc.get("paths", {}).values():
                for op in ops.values():
                    for code in everywhere:
                        if code != 422 or op.get("parameters") or op.get("requestBody"):
                            op["responses"][str(code)] = _error_response(code)
                    if op.get("requestBody"):     # a body that is not even text: FastAPI's own 400
                        op["responses"].setdefault("400", _error_response(400))
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = build
