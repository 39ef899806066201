"""Pytest plugin for the job system and the text pipelines.

- `SLOW_JOB` / `FRAGILE_JOB`: job types whose stages take a known time, write artifacts and
  checkpoint, so that queueing, cancellation and crash recovery can be observed.
- `ScriptedChat`: a test-only ChatBackend that answers from a script. It is used ONLY to check
  the verifiers' detection and retry logic; the real path runs on the tiny transformers model.
- `jobs_client`: the real app (create_app) with its lifespan, over httpx, with two tenants.
- `app_from_env`: an app factory for `python -m uvicorn --factory` in crash tests.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from models.chat.base import ChatBackend, SamplingOptions, TextDelta
from models.registry import BACKENDS, ModelRegistry
from models.spec import ModelSpec, RegistrySettings
from pipelines.platform.jobs.context import JobContext
from pipelines.platform.jobs.job_type import JobType, Stage
from pipelines.platform.jobs.settings import JobSettings
from pipelines.settings import ServerSettings, Settings
from server.app import create_app
from tests.fixtures_postgres import upgrade_database
from tests.netguard import free_port

KEYS = {"shop-a": "sk-shop-a", "shop-b": "sk-shop-b"}


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


# --- job types with observable timing ---------------------------------------------------------
class SlowInput(BaseModel):
    steps: int = Field(3, ge=1, le=1000)
    step_s: float = Field(0.05, ge=0, le=10)
    fail_at: int | None = Field(None, description="raise in this step of 'work'")
    big_bytes: int = Field(4096, ge=1, description="size of big.bin, written slowly")


async def _prepare_stage(ctx: JobContext) -> None:
    await ctx.write_artifact("prepared.txt", "prepared\n")


async def _work_stage(ctx: JobContext) -> None:
    """One checkpoint per step: a resumed job goes on from the first step not done."""
    spec = cast(SlowInput, ctx.input)
    ctx.checkpoint.setdefault("starts", []).append(ctx.checkpoint.get("steps_done", 0))
    for step in range(ctx.checkpoint.get("steps_done", 0), spec.steps):
        if spec.fail_at == step:
            raise RuntimeError(f"step {step} broke")
        await asyncio.sleep(spec.step_s)
        ctx.checkpoint["steps_done"] = step + 1
        await ctx.save((step + 1) / spec.steps)


async def _big_file_stage(ctx: JobContext) -> None:
    """Like ffmpeg writing an output file: slowly into work_dir, then published in one go."""
    spec = cast(SlowInput, ctx.input)
    path = ctx.work_dir / "big.bin"
    payload = big_payload(spec.big_bytes)
    with path.open("wb") as file:
        for offset in range(0, spec.big_bytes, 1024):
            file.write(payload[offset : offset + 1024])
            file.flush()
            await asyncio.sleep(spec.step_s)
    await ctx.adopt_artifact("big.bin", path, "video/mp4")
    ctx.result = {"steps_done": ctx.checkpoint["steps_done"], "starts": ctx.checkpoint["starts"]}


def big_payload(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


_STAGES = (
    Stage("prepare", _prepare_stage, weight=0.1),
    Stage("work", _work_stage, weight=1.0),
    Stage("write", _big_file_stage, weight=0.5),
)
SLOW_JOB = JobType(name="slow", input_model=SlowInput, stages=_STAGES, resource="test")
FRAGILE_JOB = JobType(
    name="fragile", input_model=SlowInput, stages=_STAGES, resource="test", resumable=False
)


# --- scripted chat backend (verifier tests only) ----------------------------------------------
Responder = Callable[[str, list[dict[str, Any]], int], str]


class ScriptedChat(ChatBackend):
    """Answers with `responder(user_text, messages, attempt)` (attempt counts per user text).

    The prompt it "renders" is the JSON of the messages, so generate() sees them whole; a token
    is a whitespace-separated word, streamed one delta each and cut at max_tokens as an engine
    cuts (finish_reason "length"). `stats` (a dict the test holds) gets the calls and the most
    generate calls that were in flight at once. With `reasoning_parser` in its options it stands
    for a reasoning model: the responder then writes what an R1 distill writes after its
    template's `<think>\n`.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        responder = options["responder"]
        if isinstance(responder, str):  # "module:function", for servers in a subprocess
            module, _, name = responder.partition(":")
            responder = getattr(importlib.import_module(module), name)
        self.responder: Responder = responder
        self.context_length = int(options.get("context_length", 4096))
        self.supports_json_schema = bool(options.get("json_schema", False))
        self.delay_s = float(options.get("delay_s", 0.01))
        self.stats: dict[str, Any] = options.get("stats", {})
        self.stats.update(calls=[], in_flight=0, max_in_flight=0)
        self._attempts: defaultdict[str, int] = defaultdict(int)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> ScriptedChat:
        return cls(spec.options)

    def render_chat(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        return json.dumps(list(messages), ensure_ascii=False)

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split())

    async def generate(
        self, prompt: str, options: SamplingOptions
    ) -> AsyncGenerator[TextDelta, None]:
        messages, end = json.JSONDecoder().raw_decode(prompt)
        prefill = prompt[end:]  # the start of the answer the pipeline wrote for the model
        self.stats["calls"].append((messages, options))
        self.stats["prefill"] = prefill
        self.stats.setdefault("prefills", []).append(prefill)
        user = messages[-1]["content"]
        attempt = self._attempts[user]
        self._attempts[user] += 1
        self.stats["in_flight"] += 1
        self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self.stats["in_flight"])
        try:
            await asyncio.sleep(self.delay_s)  # long enough for concurrent calls to overlap
            text = self.responder(user, messages, attempt).removeprefix(prefill)
        finally:
            self.stats["in_flight"] -= 1
        tokens = re.findall(r"\s*\S+\s*", text)
        if not tokens:
            yield TextDelta(text, 0, "stop")
        kept = tokens[: options.max_tokens]
        for n, token in enumerate(kept, 1):
            last = n == len(kept)
            cut = len(tokens) > len(kept)
            yield TextDelta(token, n, ("length" if cut else "stop") if last else None)


def parrot(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
    """Copy as the copywriter's answer; anything else comes back as it was sent."""
    if "copywriter" in messages[0]["content"]:
        return json.dumps(
            {
                "title": "Steel Bottle",
                "selling_points": ["Cold for 24 hours", "Leak-proof", "Gift box"],
                "description": "A steel bottle.",
                "video_script": [{"visual": "The bottle", "voiceover": "Meet the bottle."}],
            }
        )
    return user


def scripted_spec(responder: Responder | str, **options: Any) -> ModelSpec:
    """A model entry for ScriptedChat; the verifier tests' only use of a scripted model."""
    return ModelSpec(
        id="scripted",
        kind="chat",
        backend="scripted",
        memory_gb=0.0,
        options={"responder": responder, **options},
    )


def system_prompts(stats: dict[str, Any], user: str) -> list[str]:
    """The system prompts of every call made for the user text `user`, in order."""
    return [str(m[0]["content"]) for m, _ in stats["calls"] if m[-1]["content"] == user]


# --- apps -------------------------------------------------------------------------------------
def job_test_settings(
    data: Path, specs: list[ModelSpec], concurrency: dict[str, int] | None = None
) -> Settings:
    return Settings(
        model_dir=data / "models",
        data_dir=data / "data",
        models=specs,
        server=ServerSettings(
            api_keys=[{"key": key, "tenant": tenant} for tenant, key in KEYS.items()]
        ),
        registry=RegistrySettings(preload=[]),
        jobs=JobSettings(concurrency=concurrency or {"llm": 2, "test": 1}),
    )


def build_app(settings: Settings) -> FastAPI:
    backends = {**BACKENDS, "scripted": "tests.fixtures_jobs:ScriptedChat"}
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry, backends)
    return create_app(settings, registry, extra_job_types=[SLOW_JOB, FRAGILE_JOB])


@asynccontextmanager
async def serve_in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", timeout=120
        ) as client:
            yield client


JobsClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def jobs_client(tmp_path: Path) -> JobsClient:
    """`async with jobs_client([specs], concurrency={...}) as client:` a fresh real app; on
    `database=URL` (default: the SQLite file in its data dir) after that is upgraded."""

    @asynccontextmanager
    async def build(
        specs: list[ModelSpec] | None = None,
        concurrency: dict[str, int] | None = None,
        database: str | None = None,
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = job_test_settings(tmp_path, specs or [], concurrency)
        if database is not None:
            settings.jobs.database = database
            await upgrade_database(database)
        async with serve_in_process(build_app(settings)) as client:
            yield client

    return build


def app_from_env() -> FastAPI:
    """`python -m uvicorn --factory tests.fixtures_jobs:app_from_env`, settings from a JSON file."""
    path = Path(os.environ["LOCALSHANG_TEST_SETTINGS"])
    return build_app(Settings.model_validate_json(path.read_text()))


async def wait_for_job(
    client: httpx.AsyncClient,
    job_id: str,
    tenant: str,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout_s: float = 60,
) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until `until(job)` (default: finished)."""
    done = until or (lambda job: job["state"] in ("succeeded", "failed", "cancelled"))
    async with asyncio.timeout(timeout_s):
        while True:
            response = await client.get(f"/v1/jobs/{job_id}", headers=auth(tenant))
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if done(job):
                return job
            await asyncio.sleep(0.05)


REPO = Path(__file__).resolve().parent.parent


class ServerProcess:
    """`python -m uvicorn --factory tests.fixtures_jobs:app_from_env` on a loopback port."""

    def __init__(
        self,
        tmp: Path,
        specs: list[ModelSpec] | None = None,
        settings: Settings | None = None,
        admin_key: str | None = None,
    ) -> None:
        """A server on `settings` (default: the job tests' on `specs`), with the KEYS, and an
        operator's key `admin_key` of tenant "ops" where given."""
        self.tmp = tmp
        self.settings_file = tmp / "settings.json"
        dumped = (settings or job_test_settings(tmp, specs or [])).model_dump(mode="json")
        dumped["server"]["api_keys"] = [  # model_dump masks secrets
            {"key": key, "tenant": tenant} for tenant, key in KEYS.items()
        ] + ([{"key": admin_key, "tenant": "ops", "admin": True}] if admin_key else [])
        self.settings_file.write_text(json.dumps(dumped))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        log = (self.tmp / f"server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.fixtures_jobs:app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env={**os.environ, "LOCALSHANG_TEST_SETTINGS": str(self.settings_file)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        async with httpx.AsyncClient(base_url=self.url) as client:
            async with asyncio.timeout(60):
                while True:
                    assert self.process.poll() is None, self.log()
                    try:
                        if (await client.get("/health")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine loses power or OOM strikes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.tmp.glob("server-*.log"))
        )

    def job_dir(self, job_id: str) -> Path:
        return self.tmp / "data" / "jobs" / job_id


@asynccontextmanager
async def node_processes(
    tmp: Path, settings: Settings, count: int, admin_key: str | None = None
) -> AsyncIterator[list[ServerProcess]]:
    """`count` nodes on `settings` (one database, one data folder: a cluster on one machine),
    each with its settings file and logs in tmp/node-A, node-B...; none started, all stopped
    however the block ends."""
    processes: list[ServerProcess] = []
    try:
        for name in "ABCDEFGH"[:count]:
            folder = tmp / f"node-{name}"
            folder.mkdir()
            processes.append(ServerProcess(folder, settings=settings, admin_key=admin_key))
        yield processes
    finally:
        for process in reversed(processes):
            process.stop()
