"""One error shape for every API error: problem details (RFC 9457), as `application/problem+json`.

    {"type": "urn:psychosafe:problem:invalid", "title": "Invalid input", "status": 400,
     "detail": "2 errors; nothing was saved.",
     "errors": [{"field": "text", "message": "Write the reference answer.", "line": null}]}

`errors` lists field errors (`line` is the file's line for an import, else null). The workflow
modules' own exceptions map here by kind: a state conflict (closed round, lost lease, active
run, a pair in the wrong state) is 409, a refused value 400.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from annotation import importing, pairs, pipelines, promotion, queues, rounds, rubrics, runs, splits
from annotation.api import tokens

TITLES = {
    400: ("invalid", "Invalid input"),
    401: ("unauthenticated", "Not authenticated"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict with the current state"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("throttled", "Too many requests"),
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class Invalid(exceptions.APIException):
    """400 with field errors: [{'field', 'message', 'line'}]."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, detail: str, errors=()):
        super().__init__(detail)
        self.errors = list(errors)


# The workflow modules' exceptions: their messages are written for the user.
CONFLICTS = (
    pairs.WorkflowError,
    queues.QueueError,  # closed round, lost lease, busy queue
    runs.BaseModelBusy,
    runs.RunNameTaken,
    runs.NoTrainingData,
    pipelines.PipelineError,
    rounds.RoundError,
    rubrics.RubricFrozen,
    promotion.DecisionRefused,
    splits.SplitsFrozen,
)
INVALID = (rubrics.RubricError, tokens.TokenError)


def field_errors(detail, prefix="") -> list[dict]:
    """DRF's nested error detail (or a Django ValidationError's dict) flattened to rows."""
    if isinstance(detail, dict):
        rows = []
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            rows.extend(field_errors(value, "" if name in ("non_field_errors", "__all__") else name))
        return rows
    if isinstance(detail, list):
        if detail and all(not isinstance(item, (dict, list)) for item in detail):
            return [{"field": prefix or None, "message": str(item), "line": None} for item in detail]
        rows = []
        for index, item in enumerate(detail):
            rows.extend(field_errors(item, f"{prefix}[{index}]" if prefix else str(index)))
        return rows
    return [{"field": prefix or None, "message": str(detail), "line": None}]


def problem(status_code: int, detail: str, *, errors=None, headers=None) -> Response:
    slug, title = TITLES.get(status_code, ("error", "Error"))
    body = {"type": f"urn:psychosafe:problem:{slug}", "title": title, "status": status_code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers, content_type="application/problem+json")
    return response


def _translate(exc):
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) if str(exc) else "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, CONFLICTS):
        return Conflict(str(exc))
    if isinstance(exc, importing.ImportRejected):
        return Invalid(
            str(exc), [{"field": error.field, "message": error.message, "line": error.line} for error in exc.errors]
        )
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Invalid("The input is not valid; nothing was saved.", field_errors(detail))
    if isinstance(exc, OverflowError):  # an id or number beyond what the database stores
        return Invalid("A number in the request is out of range.", [])
    if isinstance(exc, INVALID):
        return Invalid(str(exc), [])
    return exc


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error, the workflow's included, as a problem."""
    exc = _translate(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let it surface (tests fail on any 500)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled):
        if exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        return problem(429, "Too many requests; wait before trying again.", headers=headers)
    if isinstance(exc, Invalid):
        errors = exc.errors
        detail = str(exc.detail)
    elif isinstance(exc, exceptions.ValidationError):
        errors = field_errors(exc.detail)
        detail = f"{len(errors)} error(s) in the input; nothing was saved."
    else:
        errors = None
        detail = (
            str(exc.detail)
            if not isinstance(exc.detail, (dict, list))
            else "; ".join(row["message"] for row in field_errors(exc.detail))
        )
    return problem(exc.status_code, detail, errors=errors, headers=headers or None)
