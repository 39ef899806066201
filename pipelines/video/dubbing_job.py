"""The `video_dubbing` job type: its input, the check at submission, and its stages in order."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from models.registry import ModelNotFound
from pipelines.coverage import check_languages, check_voices
from pipelines.errors import InvalidInput
from pipelines.languages import load_languages
from pipelines.platform.jobs.context import JobServices
from pipelines.platform.jobs.job_type import JobType, Stage
from pipelines.platform.uploads import upload_path
from pipelines.text.glossary import load_glossary
from pipelines.video import stages
from pipelines.video.dubbing_input import JOB_TYPE, DubbingInput
from pipelines.video.ffmpeg import FFmpeg, probe
from pipelines.video.own_script import check_script
from pipelines.video.qa_stage import qa_stage

__all__ = ["DUBBING_JOB", "JOB_TYPE", "DubbingInput", "check_models", "check_scripts", "prepare"]


async def prepare(model: BaseModel, tenant: str, services: JobServices) -> BaseModel:
    """Refuse at submission what could only fail later: unknown models, missing upload, etc."""
    assert isinstance(model, DubbingInput)
    settings = services.settings.video
    if len(model.languages) > settings.max_languages:
        raise InvalidInput(
            f"At most {settings.max_languages} languages per dubbing job",
            param="languages",
            code="too_many_languages",
        )
    if model.mode == "script" and not (model.keywords or model.product_facts.strip()):
        raise InvalidInput(
            "A script needs keywords or product facts to write about",
            param="keywords",
            code="missing_keywords",
        )
    duration_s = None
    if model.upload_id is not None:
        upload = upload_path(services.settings.data_dir, tenant, model.upload_id)
        if model.mode == "own":  # the user's cues are checked against the clip now, not later
            ff = FFmpeg(upload.parent, settings.ffmpeg_timeout_s)
            duration_s = (await asyncio.to_thread(probe, ff, upload, settings)).duration_s
    check_scripts(model, duration_s)
    resolved: dict[str, Any] = await check_models(model, services)
    if model.glossary is not None:  # its entries as of now: editing it later leaves the job be
        entries = await load_glossary(services.glossaries, tenant, model.glossary)
        resolved["glossary_entries"] = [*entries, *model.glossary_entries]
    return model.model_copy(update=resolved)


# Kinds a job runs without when none is configured: without ASR a script job still runs (its
# QA says what it missed); the user's own script needs no chat model either.
OPTIONAL_MODELS = {"script": {"asr"}, "translate": set(), "own": {"asr", "chat"}}


def check_scripts(model: DubbingInput, duration_s: float | None = None) -> None:
    """Mode own: one script per language, each well-formed (and inside the clip, once its
    duration is known); in the other modes, no scripts (they would be silently ignored)."""
    if model.mode != "own":
        if model.scripts:
            raise InvalidInput(
                "scripts are spoken in mode 'own' only", param="scripts", code="invalid_script"
            )
        return
    for code in model.languages:
        if code not in model.scripts:
            raise InvalidInput(
                f"Mode 'own' needs a script for each language; none for '{code}'",
                param=f"scripts.{code}",
                code="missing_script",
            )
    for code, text in model.scripts.items():
        if code not in model.languages:
            raise InvalidInput(
                f"A script for '{code}', which is not one of the job's languages",
                param=f"scripts.{code}",
                code="invalid_script",
            )
        check_script(text, f"scripts.{code}", duration_s)


async def check_models(model: DubbingInput, services: JobServices) -> dict[str, Any]:
    """The job's models by id ("chat_model", ...), refusing the unknown ones and languages the
    chat model is measured unusable in (unless allowed) or the TTS model has no voice for."""
    registry = services.registry
    wanted = {"chat": model.chat_model, "asr": model.asr_model}
    resolved: dict[str, Any] = {}
    for kind, name in wanted.items():
        try:
            spec = registry.resolve(name, kind) if name else registry.default(kind)
        except ModelNotFound as exc:
            if name is None and kind in OPTIONAL_MODELS[model.mode]:
                continue
            raise InvalidInput(str(exc), param=f"{kind}_model", code="model_not_found") from exc
        resolved[f"{kind}_model"] = spec.id
    resolved["tts_models"] = tts_models = tts_models_of(model, registry)
    # the chat model writes or translates every language's script; the TTS model speaks it
    if model.mode != "own":
        check_languages(
            services,
            resolved["chat_model"],
            model.languages,
            "languages",
            model.allow_unusable_languages,
        )
    catalogue = load_languages()
    languages = [catalogue.get(code, "languages") for code in model.languages]
    for tts_model in dict.fromkeys(tts_models.values()):
        spoken = [lang for lang in languages if tts_models[lang.code] == tts_model]
        # from the model's config and files: an API node needs neither its weights nor memory
        check_voices(await registry.voices(tts_model), tts_model, spoken, model.voices)
    return resolved


def tts_models_of(model: DubbingInput, registry: Any) -> dict[str, str]:
    """The TTS model id of each language: as asked (tts_models, tts_model), else configured."""
    chosen: dict[str, str] = {}
    for code in model.languages:
        name = model.tts_models.get(code) or model.tts_model
        try:
            spec = registry.resolve(name, "tts") if name else registry.tts_for(code)
        except ModelNotFound as exc:
            param = "tts_models" if code in model.tts_models else "tts_model"
            raise InvalidInput(str(exc), param=param, code="model_not_found") from exc
        chosen[code] = spec.id
    return chosen


DUBBING_JOB = JobType(
    name=JOB_TYPE,
    input_model=DubbingInput,
    resource="media",
    description="Product clip in, a dubbed and subtitled MP4 per language out",
    prepare=prepare,
    stages=(
        Stage("probe", stages.probe_stage, weight=0.2),
        Stage("transcribe", stages.transcribe_stage, weight=1.5),
        Stage("script", stages.script_stage, weight=2.0),
        Stage("voice", stages.voice_stage, weight=3.0),
        Stage("mix", stages.mix_stage, weight=1.0),
        Stage("mux", stages.mux_stage, weight=1.0),
        Stage("qa", qa_stage, weight=1.5),
    ),
)
