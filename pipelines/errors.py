"""Errors a pipeline raises; the server renders them as OpenAI-shaped errors, the CLI prints them."""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """A pipeline could not do what it was asked; `status` is the HTTP status that fits."""

    status = 500
    retry_after: int | None = None  # seconds, sent as Retry-After where it is set

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.details = details or []

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "param": self.param,
            "details": self.details,
        }


class InvalidInput(PipelineError):
    """The request itself is wrong (unknown language, empty text, unknown glossary...)."""

    status = 400


class NotFound(PipelineError):
    status = 404


class Conflict(PipelineError):
    """The request does not fit the current state of what it names (e.g. a job not finished)."""

    status = 409


class OutputRejected(PipelineError):
    """The model's output failed the checks (merchant guardrails, JSON schema) on every attempt."""

    status = 422


class QuotaExceeded(PipelineError):
    """The tenant is at one of its limits for now (e.g. jobs at once); retry after a while."""

    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class TimedOut(PipelineError):
    """The work took longer than it may; it was stopped (e.g. a direct request's time budget)."""

    status = 504


class StorageQuotaExceeded(PipelineError):
    """Keeping more would take the tenant past its storage quota; waiting does not help."""

    status = 403


class Unavailable(PipelineError):
    """Something every request needs is not there for now (e.g. the accounts while the server
    starts or stops): nothing is answered from a guess; retry in a moment."""

    status = 503
    retry_after = 1
