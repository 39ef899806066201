"""Work nobody waits for is stopped: a handler's work is raced against the client going away.

After the request body is read, the next ASGI message is `http.disconnect`, sent when the client
closes the connection (uvicorn) or once the response is complete. Waiting for it, rather than
polling `request.is_disconnected()`, stops the work as soon as the client leaves (as vLLM's
`with_cancellation` does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the answer was ready; its work was cancelled."""


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`await work`, cancelling it (and raising ClientGone) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this handler is cancelled itself (server shutting down)
        watcher.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task not in done:
        raise ClientGone("the client disconnected; its work was cancelled")
    return task.result()


async def _disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
