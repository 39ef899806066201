"""Settings of the job runtime: its database, workers per resource, resumes, encryption at rest."""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

Role = Literal["all", "api", "worker"]


class JobSettings(BaseModel):
    """The job system: where it keeps its database, and how many jobs run at once per resource."""

    database: str | None = Field(
        None,
        description="the jobs' and accounts' database: a URL (sqlite:////abs/path.sqlite3) or a "
        "SQLite file's path (default: <data_dir>/jobs.sqlite3)",
    )
    concurrency: dict[str, int] = Field(
        default_factory=lambda: {"llm": 2, "media": 1},
        description="jobs running at once per resource; more wait in the queue",
    )
    default_concurrency: int = Field(1, ge=1, description="for resources not named above")
    max_resumes: int = Field(
        2, ge=0, description="times a job interrupted by a crash is resumed before it is failed"
    )
    max_parallel_generations: int = Field(
        8, ge=1, description="concurrent generate calls one pipeline run makes (the engine batches)"
    )
    types: dict[str, str] = Field(
        default_factory=dict, description='extra job types: name -> "module:attribute"'
    )
    role: Role = Field(
        "all",
        description="what this node does (`localshang serve --role`): api = the HTTP API, "
        "submits jobs and runs none; worker = runs jobs, answers /health and /ready only; all = "
        "both. api and worker need a PostgreSQL database (the task queue every node shares).",
    )
    queues: list[str] | None = Field(
        None,
        description="on PostgreSQL, the resources (task queues, e.g. llm, media) whose jobs this "
        "node's workers take: those whose models it hosts (default: every job type's)",
    )
    heartbeat_s: float = Field(
        10.0, gt=0, description="on PostgreSQL, how often each worker tells it is alive"
    )
    stalled_after_s: float = Field(
        30.0,
        gt=0,
        description="on PostgreSQL, a worker silent this long is taken for dead: its jobs are "
        "resumed by another node from their last finished stage (keep it > 2 x heartbeat_s)",
    )
    stalled_check_s: int = Field(
        15, ge=1, le=30, description="on PostgreSQL, how often a node looks for dead workers' jobs"
    )
    encryption_key: SecretStr | None = Field(
        None,
        description="base64 of a 32-byte key (e.g. Fernet.generate_key()): artifacts are kept "
        "AES-256-GCM encrypted at rest; off when null. Needs the `cryptography` package.",
    )

    @field_validator("encryption_key")
    @classmethod
    def _key_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_encryption_key(value.get_secret_value())
        return value

    def workers_for(self, resource: str) -> int:
        return max(1, self.concurrency.get(resource, self.default_concurrency))


def decode_encryption_key(text: str) -> bytes:
    """The 32 raw bytes of a base64 (standard or URL-safe) key; ValueError otherwise."""
    try:
        key = base64.urlsafe_b64decode(text.strip().replace("+", "-").replace("/", "_"))
    except (ValueError, TypeError) as exc:
        raise ValueError("encryption_key is not base64") from exc
    if len(key) != 32:
        raise ValueError(f"encryption_key must decode to 32 bytes, not {len(key)}")
    return key
