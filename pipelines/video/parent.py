"""What a re-dub takes from its parent dubbing job: the kept clip, its probe and transcript, and
the files of the languages it does not re-voice."""

from __future__ import annotations

from typing import Any

from pipelines.errors import Conflict, InvalidInput
from pipelines.platform.jobs.context import JobContext
from pipelines.platform.jobs.types import JobRecord, JobState
from pipelines.video.dubbing_input import JOB_TYPE
from pipelines.video.stage_kit import job_input

# The clip a finished dubbing job keeps (an artifact, counted in the tenant's storage and
# deleted with the job) so that it can be re-dubbed; its background sound is re-extracted.
SOURCE_ARTIFACT = "source.video"
INPUT_NAME = "input.video"  # the clip in a job's work dir


def check_parent(job: JobRecord) -> dict[str, Any]:
    """The dubbed languages of `job` (its result's), if it can be re-dubbed; else a Conflict."""
    if job.type != JOB_TYPE:
        raise Conflict(
            f"Job '{job.id}' is a {job.type} job, not a video dubbing",
            param="job_id",
            code="not_a_dubbing_job",
        )
    if not job.state.finished:
        raise Conflict(
            f"Job '{job.id}' is {job.state}: re-dub it once it has finished",
            param="job_id",
            code="job_not_finished",
        )
    languages = (job.result or {}).get("languages")
    if job.state is JobState.CANCELLED or not languages:
        raise Conflict(
            f"Job '{job.id}' ended without a dub ({job.state}): there is nothing to re-dub",
            param="job_id",
            code="job_has_no_dub",
        )
    if SOURCE_ARTIFACT not in {a.name for a in job.artifacts} or "media" not in job.checkpoint:
        raise Conflict(
            f"Job '{job.id}' no longer keeps its clip: dub the clip again as a new job",
            param="job_id",
            code="source_not_kept",
        )
    result: dict[str, Any] = languages
    return result


def clip_duration_s(job: JobRecord) -> float:
    return float(job.checkpoint["media"]["duration_s"])


async def take_parent(ctx: JobContext) -> None:
    """The probe stage of a re-dub: the parent's clip into the work dir, its probe and transcript
    into the checkpoint, and the files of the languages not re-voiced published unchanged."""
    params = job_input(ctx)
    assert params.parent_job is not None
    parent = await ctx.tenant_job(params.parent_job)
    if parent is None:
        raise InvalidInput(
            f"No job with id '{params.parent_job}' to re-dub",
            param="parent_job",
            code="job_not_found",
        )
    dubbed = check_parent(parent)
    for code in params.languages:
        if code not in dubbed:
            raise InvalidInput(
                f"Job '{parent.id}' did not dub '{code}'; it dubbed {', '.join(dubbed)}",
                param=f"scripts.{code}",
                code="language_not_dubbed",
            )
    await ctx.export_artifact(parent, SOURCE_ARTIFACT, ctx.work_dir / INPUT_NAME)
    ctx.checkpoint |= {
        "media": parent.checkpoint["media"],
        "upload": INPUT_NAME,
        "transcript": parent.checkpoint.get("transcript"),
    }
    carried = {
        code: {**output, "carried_from": output.get("carried_from", parent.id)}
        for code, output in dubbed.items()
        if code not in params.languages
    }
    published: list[str] = ctx.checkpoint.setdefault("published", [])
    for artifact in parent.artifacts:
        code = artifact.name.split(".", 1)[0]
        if code in carried and artifact.name not in published:
            await ctx.carry_artifact(parent, artifact.name)
            published.append(artifact.name)
            await ctx.save()
    ctx.checkpoint["carried"] = carried
