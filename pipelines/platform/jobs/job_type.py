"""Job types: the input a job accepts, its stages in order, and the table of the types a server offers.

The job runtime knows no workflow: the composition root hands it a JobTypes table built from the
workflows' own `*_job.py` modules (pipelines.catalogue) and the config's extra types.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from pipelines.errors import InvalidInput
from pipelines.platform.jobs.context import JobContext, JobServices

StageFunction = Callable[[JobContext], Awaitable[None]]
# Runs at submission, before the job is stored: may resolve references (a glossary name ->
# its entries, so that editing the glossary later does not change a queued job) or reject.
PrepareFunction = Callable[[BaseModel, str, JobServices], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Stage:
    """One step of a job. A stage must be safe to run again from its start after a crash."""

    name: str
    run: StageFunction
    weight: float = 1.0  # its share of the job's progress bar


@dataclass(frozen=True)
class JobType:
    """What a pipeline registers: the input it accepts, its stages, the resource it runs on."""

    name: str
    input_model: type[BaseModel]
    stages: tuple[Stage, ...]
    resource: str = "llm"
    resumable: bool = True  # False: a job interrupted by a crash is failed, never re-run
    description: str = ""
    prepare: PrepareFunction | None = None
    stage_weights: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"job type {self.name} has no stages")
        object.__setattr__(self, "stage_weights", tuple(s.weight for s in self.stages))

    def progress(self, completed: int, fraction: float = 0.0) -> float:
        """Overall progress with `completed` stages done and the next one `fraction` done."""
        total = sum(self.stage_weights) or 1.0
        done = sum(self.stage_weights[:completed])
        if completed < len(self.stages):
            done += self.stage_weights[completed] * min(max(fraction, 0.0), 1.0)
        return min(done / total, 1.0)


class JobTypes:
    """The job types one server offers, keyed by name."""

    def __init__(self, types: Iterable[JobType]) -> None:
        self._types: dict[str, JobType] = {}
        for job_type in types:
            if job_type.name in self._types:
                raise ValueError(f"job type '{job_type.name}' is registered twice")
            self._types[job_type.name] = job_type

    @classmethod
    def from_table(cls, table: Mapping[str, str]) -> JobTypes:
        """Import each "module:attribute" of `table`; the attribute is a JobType named like its key."""
        types = []
        for name, target in table.items():
            module_name, _, attribute = target.partition(":")
            job_type = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(job_type, JobType) or job_type.name != name:
                raise ValueError(f"job type table: {target} is not a JobType named '{name}'")
            types.append(job_type)
        return cls(types)

    def get(self, name: str) -> JobType:
        job_type = self._types.get(name)
        if job_type is None:
            raise InvalidInput(
                f"Unknown job type '{name}'. Supported: {', '.join(self.names())}",
                param="type",
                code="unknown_job_type",
            )
        return job_type

    def names(self) -> list[str]:
        return sorted(self._types)

    def resources(self) -> set[str]:
        return {t.resource for t in self._types.values()}

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[JobType]:
        return iter(self._types.values())
