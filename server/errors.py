"""One error type with an OpenAI-shaped body, and the one table that maps every domain error
(pipelines' PipelineError family, the registry's and the engines' errors) onto it: routes and
services carry no mapping code."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.asr import UnknownLanguage, UnsupportedLanguage
from models.registry import ModelLoadError, ModelNotFound
from models.tts.base import UnknownVoice
from pipelines.errors import PipelineError
from server.cancellation import ClientGone

log = logging.getLogger(__name__)

# Engine errors a request's own values cause: status, param and code of the answer (the message
# is the engine's, written for the caller).
ENGINE_ERRORS: dict[type[Exception], tuple[int, str, str]] = {
    UnknownLanguage: (400, "language", "unsupported_language"),
    UnsupportedLanguage: (400, "language", "unsupported_language"),
    UnknownVoice: (400, "voice", "invalid_value"),
}

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before the answer
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    416: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class APIError(Exception):
    """Raise anywhere in a request; rendered as {"error": {message, type, param, code}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param, self.code)

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


# A request's own values come back in messages, quoted ('...'), and in `param` (a field name
# the caller may have made up): each is cut to MAX_ECHO characters, so a 100 KB model name is
# not sent back whole. MAX_MESSAGE bounds whatever else a message holds.
MAX_ECHO = 256
MAX_MESSAGE = 4096
_LONG_QUOTE = re.compile(rf"'([^']{{{MAX_ECHO}}})[^']+'")


def clipped(value: str, limit: int = MAX_ECHO) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": clipped(_LONG_QUOTE.sub(r"'\1…'", message), MAX_MESSAGE),
            "type": _TYPES.get(status, "invalid_request_error"),
            "param": None if param is None else clipped(param),
            "code": code,
        }
    }


def _validation_error(exc: RequestValidationError) -> APIError:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(loc) or None
    message = first.get("msg", "Invalid request")
    if first.get("type") == "json_invalid":
        message = "We could not parse the JSON body of your request: " + str(
            first.get("ctx", {}).get("error", "invalid JSON")
        )
        param = None
    elif param:
        message = f"{message}: '{param}'"
    return APIError(400, message, param=param, code=first.get("type"))


def as_api_error(exc: Exception) -> APIError | None:
    """The table: the APIError a domain, engine, registry or validation error is answered with;
    None for an exception no caller caused (a bug: the answer is a 500). The console renders the
    same errors as pages."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc)
    if isinstance(exc, StarletteHTTPException):
        return APIError(exc.status_code, str(exc.detail))
    if isinstance(exc, PipelineError):
        return APIError(
            exc.status, exc.message, param=exc.param, code=exc.code, retry_after=exc.retry_after
        )
    engine = next((ENGINE_ERRORS[cls] for cls in type(exc).__mro__ if cls in ENGINE_ERRORS), None)
    if engine is not None:
        status, param, code = engine
        return APIError(status, str(exc), param=param, code=code)
    if isinstance(exc, ModelNotFound):
        return APIError(404, str(exc), param="model", code="model_not_found")
    if isinstance(exc, ModelLoadError):
        log.warning("model load failed: %s", exc)
        return APIError(503, str(exc), code="model_unavailable", retry_after=5)
    return None


HANDLED: tuple[type[Exception], ...] = (
    APIError,
    RequestValidationError,
    StarletteHTTPException,
    PipelineError,
    *ENGINE_ERRORS,
    ModelNotFound,
    ModelLoadError,
)


def install_error_handlers(app: FastAPI) -> None:
    async def on_error(_: Request, exc: Exception) -> JSONResponse:
        error = as_api_error(exc)
        assert error is not None
        return error.response()

    async def on_client_gone(request: Request, exc: Exception) -> Response:
        log.info("%s %s: %s", request.method, request.url.path, exc)
        return Response(status_code=CLIENT_CLOSED_REQUEST)  # nobody reads it; the log does

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return APIError(500, "The server had an error while processing your request.").response()

    for handled in HANDLED:
        app.add_exception_handler(handled, on_error)
    app.add_exception_handler(ClientGone, on_client_gone)
    app.add_exception_handler(Exception, on_unexpected)
