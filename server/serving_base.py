"""What every serving class shares: the registry, in-flight gate and meter it is built with, and
the one way a request takes a model: resolve it, admit the request through the gate, borrow the
engine, and give both back however the request ends."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar, cast

from models.registry import ModelRegistry
from models.spec import ModelKind, ModelSpec
from server.deps import GateDep, RegistryDep
from server.limits import InflightGate
from server.metering import Meter, MeterDep

EngineT = TypeVar("EngineT")
ServiceT = TypeVar("ServiceT", bound="ModelService[Any]")


class Lease(Generic[EngineT]):
    """One request's hold on a model: its place among the model's requests in flight, then its
    engine. `release()` (or leaving `async with lease`) gives both back; a streamed answer
    releases when its stream ends."""

    def __init__(self, spec: ModelSpec, stack: AsyncExitStack) -> None:
        self.spec = spec
        self._stack = stack
        self._backend: EngineT | None = None

    @property
    def backend(self) -> EngineT:
        assert self._backend is not None, "the engine is not borrowed yet"
        return self._backend

    async def hold(self, engine: AbstractAsyncContextManager[EngineT]) -> EngineT:
        """Enter the registry's loan of the engine; it ends with the lease."""
        self._backend = await self._stack.enter_async_context(engine)
        return self._backend

    async def release(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> Lease[EngineT]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.release()


class ModelService(Generic[EngineT]):
    """Base of the services that answer with one model of `kind` (its engine: an EngineT)."""

    kind: ClassVar[ModelKind]

    def __init__(
        self, registry: ModelRegistry, gate: InflightGate, meter: Meter | None = None
    ) -> None:
        self.registry = registry
        self.gate = gate
        self.meter = meter or Meter.off()

    @classmethod
    async def per_request(
        cls: type[ServiceT], registry: RegistryDep, gate: GateDep, meter: MeterDep
    ) -> ServiceT:
        """The FastAPI dependency that builds the service for a request (metered to its tenant);
        async, so that FastAPI calls it on the event loop, not through its thread pool."""
        return cls(registry, gate, meter)

    def resolve(self, model: str) -> ModelSpec:
        """The spec of the model a request names; ModelNotFound (404) if it is no model of `kind`."""
        return self.registry.resolve(model, kind=self.kind)

    def admit(self, spec: ModelSpec) -> Lease[EngineT]:
        """A place among the requests in flight on `spec` (APIError 429 when they are full);
        the engine comes with `borrow`."""
        stack = AsyncExitStack()
        stack.enter_context(self.gate.enter(spec.id))
        return Lease(spec, stack)

    async def borrow(self, lease: Lease[EngineT]) -> EngineT:
        """The engine of an admitted lease, loaded first if needed; held until it is released."""
        # the registry checks on load that the engine of a `kind` model offers its interface
        engine = self.registry.use(lease.spec.id, kind=self.kind)
        return await lease.hold(cast(AbstractAsyncContextManager[EngineT], engine))

    async def lease(self, spec: ModelSpec) -> Lease[EngineT]:
        """Admit and borrow in one step; nothing is held if either fails."""
        lease = self.admit(spec)
        try:
            await self.borrow(lease)
        except BaseException:
            await lease.release()
            raise
        return lease
