"""The OpenAPI 3.1 document of the API, served at /api/v1/openapi.json.

The answers' schemas come from the pydantic models the routes build their answers with (``schemas``); the
paths are listed here, once. tests/api runs schemathesis against this document.
"""

from __future__ import annotations

from functools import cache

from pydantic.json_schema import models_json_schema

from . import schemas

VERSION = "1.0.0"
SLUG = {"name": "slug", "in": "path", "required": True, "description": "The event's address, as in /e/<slug>/.",
        "schema": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$", "maxLength": 60}}
TALK_ID = {"name": "talk_id", "in": "path", "required": True, "description": "A talk's id (Talk.id).",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,24}$", "maxLength": 24}}
ERRORS = {
    "401": ("No valid token: send `Authorization: Bearer <token>` with a token made on your account page.",
            {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}),
    "404": ("Nothing you may see is there: no such event or talk, or one that is not open to you.", {}),
    "429": ("Too many requests: wait as long as Retry-After says.",
            {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}}),
}
# path → (operation id, summary, answer model, path parameters, error statuses)
PATHS = {
    "/api/v1/me": ("me", "The token's owner", "Me", [], ("401", "429")),
    "/api/v1/events": ("events", "The events you know: those you organize or are on the list of", "EventList", [],
                       ("401", "429")),
    "/api/v1/events/{slug}": ("event", "One event", "EventSummary", [SLUG], ("401", "404", "429")),
    "/api/v1/events/{slug}/talks": ("talks", "Every talk of the event you may see", "TalkList", [SLUG],
                                    ("401", "404", "429")),
    "/api/v1/events/{slug}/talks/{talk_id}": ("talk", "One talk", "Talk", [SLUG, TALK_ID], ("401", "404", "429")),
    "/api/v1/events/{slug}/schedule": (
        "schedule", "The latest release as you may see it: closed sessions as placeholders", "ScheduleExport",
        [SLUG], ("401", "404", "429")),
    "/api/v1/events/{slug}/signups": ("signups", "Your seats and waitlist places", "SignUpList", [SLUG],
                                      ("401", "404", "429")),
}


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


@cache
def document() -> dict:
    """The whole document (the same for every reader: it holds no data)."""
    _, definitions = models_json_schema([(model, "serialization") for model in schemas.MODELS],
                                        ref_template="#/components/schemas/{model}")
    paths = {}
    for path, (operation, summary, answer, parameters, errors) in PATHS.items():
        responses = {"200": {"description": summary, "content": _json(answer)}}
        for status in errors:
            description, headers = ERRORS[status]
            responses[status] = {"description": description, "content": _json("Error")}
            if headers:
                responses[status]["headers"] = headers
        paths[path] = {"get": {"operationId": operation, "summary": summary, "parameters": parameters,
                               "security": [{"token": []}], "responses": responses}}
    paths["/api/v1/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document", "security": [],
        "responses": {"200": {"description": "The OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Conclave API", "version": VERSION,
                 "description": "Read-only. Every answer holds what the token's owner may see in Conclave, decided "
                                "afresh on every request: revoked from an event, a token finds nothing of it; a "
                                "disabled account's tokens open nothing. Make and revoke tokens on your account "
                                "page. Times carry their UTC offset."},
        "paths": paths,
        "components": {"schemas": definitions["$defs"],
                       "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                                     "description": "A personal access token (cnc_…)."}}},
    }
