"""The job types of localshang's workflows, which the composition root hands to the job runtime.

A new job type is a `<domain>/<name>_job.py` module exporting one JobType, plus one line here.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipelines.platform.jobs.job_type import JobType, JobTypes
from pipelines.platform.jobs.settings import JobSettings
from pipelines.text.copywriting_job import COPYWRITING_JOB
from pipelines.text.translation_job import TRANSLATION_JOB
from pipelines.video.dubbing_job import DUBBING_JOB

WORKFLOW_JOB_TYPES: tuple[JobType, ...] = (TRANSLATION_JOB, COPYWRITING_JOB, DUBBING_JOB)


def job_types(settings: JobSettings, extra: Iterable[JobType] = ()) -> JobTypes:
    """The workflows' job types, then `extra` ones, then the config's `jobs.types` table."""
    configured = JobTypes.from_table(settings.types)
    return JobTypes([*WORKFLOW_JOB_TYPES, *extra, *configured])
