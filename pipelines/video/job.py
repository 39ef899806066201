"""The `video_dubbing` job type: its input, the check at submission, and its stages in order."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.registry import ModelNotFound
from pipelines.coverage import check_languages, check_voices
from pipelines.errors import InvalidInput
from pipelines.glossary import GlossaryEntry, load_glossary
from pipelines.jobs.context import JobServices
from pipelines.jobs.types import JobType, Stage
from pipelines.languages import LanguageCode, load_languages
from pipelines.video import stages
from pipelines.video.qa_stage import qa_stage
from pipelines.video.uploads import upload_path

JOB_TYPE = "video_dubbing"


class DubbingInput(BaseModel):
    """What a dubbing job is asked to do; also the body of `POST /v1/video/dubbings`."""

    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="from the upload step")
    mode: Literal["script", "translate"] = Field(
        "script",
        description="script: the LLM writes a new voice-over from keywords; "
        "translate: the clip's own speech is transcribed, translated and re-voiced",
    )
    languages: list[LanguageCode] = Field(min_length=1, description="target languages")
    keywords: list[str] = Field(default_factory=list, max_length=30)
    product_facts: str = Field("", max_length=4000)
    source_language: LanguageCode | None = Field(
        None, description="language spoken in the clip (default: detected)"
    )
    glossary: str | None = Field(None, description="name of a glossary of the tenant (translate)")
    glossary_entries: list[GlossaryEntry] = Field(default_factory=list, max_length=2000)
    audio: Literal["duck", "replace"] = Field(
        "duck", description="keep the original sound under the voice, or replace it"
    )
    ducking: Literal["sidechain", "fixed"] = "sidechain"
    duck_gain_db: float = Field(-14.0, ge=-60.0, le=0.0)
    loudness_lufs: float = Field(-16.0, ge=-36.0, le=-8.0, description="EBU R128 target")
    burn_in_subtitles: bool = False
    keep_intermediates: bool = False
    max_shortenings: int = Field(2, ge=0, le=5)
    require_pass: bool = Field(
        False,
        description="fail the job (error qa_not_passed, files and result kept) unless every "
        "language's QA verdict is pass; otherwise review and fail verdicts are only reported",
    )
    voices: dict[str, str] = Field(default_factory=dict, description="language -> TTS voice")
    chat_model: str | None = None
    asr_model: str | None = None
    tts_model: str | None = Field(
        None,
        description="one TTS model for every language (default: each language's model in the "
        "config's registry.tts_by_language, else the first TTS model)",
    )
    tts_models: dict[str, str] = Field(
        default_factory=dict,
        description="language -> TTS model, over tts_model; completed at submission",
    )

    @field_validator("languages")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a language is named twice")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(k.split()) for k in value if k.strip()]
        if any(len(k) > 100 for k in cleaned):
            raise ValueError("a keyword is longer than 100 characters")
        return cleaned


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
    upload_path(services.settings.data_dir, tenant, model.upload_id)
    resolved: dict[str, Any] = await check_models(model, services)
    if model.glossary is not None:  # its entries as of now: editing it later leaves the job be
        entries = await load_glossary(services.glossaries, tenant, model.glossary)
        resolved["glossary_entries"] = [*entries, *model.glossary_entries]
    return model.model_copy(update=resolved)


async def check_models(model: DubbingInput, services: JobServices) -> dict[str, Any]:
    """The job's models by id ("chat_model", ...), refusing the unknown ones and languages the
    chat model is rated unsupported in or the TTS model has no voice for."""
    registry = services.registry
    wanted = {"chat": model.chat_model, "asr": model.asr_model}
    resolved: dict[str, Any] = {}
    for kind, name in wanted.items():
        try:
            spec = registry.resolve(name, kind) if name else registry.default(kind)
        except ModelNotFound as exc:
            if kind == "asr" and name is None and model.mode == "script":
                continue  # without ASR a script job still runs; its QA says what it missed
            raise InvalidInput(str(exc), param=f"{kind}_model", code="model_not_found") from exc
        resolved[f"{kind}_model"] = spec.id
    resolved["tts_models"] = tts_models = tts_models_of(model, registry)
    # the chat model writes or translates every language's script; the TTS model speaks it
    check_languages(services, resolved["chat_model"], model.languages, "languages")
    catalogue = load_languages()
    languages = [catalogue.get(code, "languages") for code in model.languages]
    for tts_model in dict.fromkeys(tts_models.values()):
        spoken = [lang for lang in languages if tts_models[lang.code] == tts_model]
        async with registry.use(tts_model, kind="tts") as tts:
            check_voices(tts, tts_model, spoken, model.voices)
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
