"""Run a set of coroutines concurrently; the first failure cancels the rest and is raised as is."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_leaf(error)
        return error
    return group


async def run_all(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Like a TaskGroup, but callers see the first error itself (e.g. a PipelineError with its
    status), not an ExceptionGroup around it."""
    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(call)
    except BaseExceptionGroup as errors:
        raise _first_leaf(errors) from None
