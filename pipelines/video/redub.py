"""Re-dubbing a finished dubbing job from edited lines: a new `video_dubbing` job in mode own
whose clip comes from its parent (pipelines.video.parent); the parent stays as it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipelines.errors import InvalidInput
from pipelines.platform.jobs.service import JobService
from pipelines.platform.jobs.types import JobRecord
from pipelines.video.dubbing_input import JOB_TYPE
from pipelines.video.own_script import Cue, check_cues, to_srt
from pipelines.video.parent import check_parent, clip_duration_s


async def redub(
    jobs: JobService, tenant: str, job_id: str, lines: Mapping[str, Sequence[Cue]]
) -> JobRecord:
    """Submit the re-dub of job `job_id` with `lines` (language -> its new lines).

    404 for a job the tenant does not have; 409 for one that cannot be re-dubbed (not a dubbing,
    not finished, no dub, clip no longer kept); 400 for lines that cannot be voiced.
    """
    parent = await jobs.get(tenant, job_id)
    dubbed = check_parent(parent)
    duration_s = clip_duration_s(parent)
    for code, cues in lines.items():
        if code not in dubbed:
            raise InvalidInput(
                f"Job '{job_id}' did not dub '{code}'; it dubbed {', '.join(dubbed)}",
                param=f"lines.{code}",
                code="language_not_dubbed",
            )

        def param_of(index: int, field: str, code: str = code) -> str:
            return f"lines.{code}[{index}].{field}" if index >= 0 else f"lines.{code}"

        check_cues(cues, duration_s, param_of)
    options = {**parent.input, "upload_id": None, "glossary": None}  # its entries are resolved
    return await jobs.submit(
        tenant,
        JOB_TYPE,
        options
        | {
            "parent_job": parent.id,
            "mode": "own",
            "languages": list(lines),
            "scripts": {code: to_srt(cues) for code, cues in lines.items()},
        },
    )
