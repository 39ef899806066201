"""The engine thread both CPU chat backends run: an inbox, a waiting line and decode slots."""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from models.chat.base import TextDelta


class SlotRequest(Protocol):
    cancelled: bool

    def send(self, item: TextDelta | BaseException) -> None: ...


class SlotStats(Protocol):
    waiting: int
    running: int
    aborted: int


@dataclass
class BatchStats:
    """Counters of a CPU engine's scheduler, for metrics and tests."""

    running: int = 0  # requests in the decode batch now
    waiting: int = 0  # requests admitted to no batch yet
    max_batch: int = 0  # most requests ever decoded in one step
    decode_steps: int = 0
    completion_tokens: int = 0  # over all requests
    aborted: int = 0  # requests whose consumer went away before the end


R = TypeVar("R", bound=SlotRequest)


class SlotScheduler(ABC, Generic[R]):
    """One thread owns the engine; requests wait until a slot is free, then run until done.

    Each loop takes in what arrived (blocking only when there is nothing to do), drops
    cancelled requests, admits waiting ones into free slots (`_start`), then runs one `_step`
    over the slots. Subclasses say how a request starts, steps and frees what it holds; they
    set their own attributes before calling this __init__, which starts the thread.
    """

    def __init__(self, slots: int, stats: SlotStats, name: str) -> None:
        self._stats = stats
        self._inbox: queue.SimpleQueue[R | None] = queue.SimpleQueue()
        self._waiting: deque[R] = deque()
        self._slots: list[R | None] = [None] * slots
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"chat-{name}", daemon=True)
        self._thread.start()

    def submit(self, request: R) -> None:
        if self._closed:
            raise RuntimeError("the model was unloaded")
        self._inbox.put(request)

    def close(self) -> None:
        self._closed = True
        self._inbox.put(None)
        self._thread.join()

    def _serve(self) -> None:
        """The thread's body; subclasses wrap it in their engine's thread settings."""
        self._loop()

    def _loop(self) -> None:
        while self._admit():
            if any(self._slots):
                self._step()
        leftovers: list[R | None] = [*self._waiting, *self._slots]
        while not self._inbox.empty():
            leftovers.append(self._inbox.get())
        for request in filter(None, leftovers):
            self._release(request)
            request.send(RuntimeError("the model was unloaded"))

    def _admit(self) -> bool:
        """Take in new requests and start as many as there are free slots; False at shutdown."""
        block = not any(self._slots) and not self._waiting
        while block or not self._inbox.empty():
            item = self._inbox.get()
            if item is None:
                return False
            self._waiting.append(item)
            block = False
        for i, running in enumerate(self._slots):
            if running is not None and running.cancelled:
                self._end(i)
                self._stats.aborted += 1
        while self._waiting and None in self._slots:
            request = self._waiting.popleft()
            if request.cancelled:
                self._release(request)
                self._stats.aborted += 1
                continue
            slot = self._slots.index(None)
            if self._start(request, slot):
                self._slots[slot] = request
        self._count()
        return True

    def _end(self, slot: int) -> None:
        """Take the request out of `slot` and free what it holds."""
        request, self._slots[slot] = self._slots[slot], None
        if request is not None:
            self._release(request)

    def _count(self) -> None:
        self._stats.waiting = len(self._waiting)
        self._stats.running = sum(r is not None for r in self._slots)

    def _start(self, request: R, slot: int) -> bool:
        """Make `request` ready to run in `slot`; False if it already ended (it said why)."""
        return True

    @abstractmethod
    def _step(self) -> None:
        """One pass of the engine over the requests in the slots."""

    def _release(self, request: R) -> None:
        """Free what `request` holds in the engine (idempotent); nothing by default."""
