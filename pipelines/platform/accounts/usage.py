"""What is metered per tenant and day, and what a finished job counts for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipelines.platform.jobs.types import JobRecord, JobState

METRICS = (
    "prompt_tokens",  # tokens in: chat/completions prompts
    "completion_tokens",  # tokens out
    "audio_seconds_transcribed",  # audio in: transcriptions and translations
    "audio_seconds_synthesized",  # audio out: /v1/audio/speech
    "video_seconds_dubbed",  # seconds of clip times languages, of succeeded dubbing jobs
    "jobs_created",
)


def usage_day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def _video_seconds(result: dict[str, Any]) -> dict[str, float]:
    duration = float((result.get("input") or {}).get("duration_s") or 0.0)
    return {"video_seconds_dubbed": round(duration * len(result.get("languages") or {}), 3)}


# job type -> the usage its succeeded result counts for (read from the result, which the job
# type owns; a type not named here counts only as `jobs_created`)
JOB_USAGE: dict[str, Callable[[dict[str, Any]], dict[str, float]]] = {
    "video_dubbing": _video_seconds,
}


def job_usage(job: JobRecord) -> dict[str, float]:
    measure = JOB_USAGE.get(job.type)
    if measure is None or job.state != JobState.SUCCEEDED or not job.result:
        return {}
    return measure(job.result)
