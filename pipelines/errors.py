"""Errors a pipeline raises; the server renders them as OpenAI-shaped errors, the CLI prints them."""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """A pipeline could not do what it was asked; `status` is the HTTP status that fits."""

    status = 500

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


class OutputRejected(PipelineError):
    """The model's output failed the checks (merchant guardrails, JSON schema) on every attempt."""

    status = 422
