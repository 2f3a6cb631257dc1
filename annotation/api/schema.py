"""The OpenAPI document's shared parts: every operation lists the problem responses it can give."""

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "urn:psychosafe:problem:<kind>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "line"],
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "line": {"type": ["integer", "null"], "description": "The file's line, for imports."},
                },
            },
        },
    },
}
PROBLEMS = {
    "400": "Invalid input: `errors` names each field (and line, for imports); nothing was saved.",
    "401": "No valid token or session.",
    "403": "Your roles do not allow this (or, for a session, the CSRF token is missing).",
    "404": "No such object, or not yours to act on.",
    "409": "Conflicts with the current state: a closed round, a lost lease, an active run, a pair in the wrong state.",
    "429": "Too many requests; wait Retry-After seconds.",
}


def add_problem_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the Problem schema and the error responses of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for code, description in PROBLEMS.items():
                responses.setdefault(code, {"description": description, "content": content})
    return result
