"""The `video_dubbing` job type: its input, the check at submission, and its stages in order."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.registry import ModelNotFound
from pipelines.errors import InvalidInput
from pipelines.glossary import GlossaryEntry, load_glossary
from pipelines.jobs.context import JobServices
from pipelines.jobs.types import JobType, Stage
from pipelines.languages import LanguageCode
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
    voices: dict[str, str] = Field(default_factory=dict, description="language -> TTS voice")
    chat_model: str | None = None
    asr_model: str | None = None
    tts_model: str | None = None

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
    registry = services.registry
    wanted = {"chat": model.chat_model, "tts": model.tts_model, "asr": model.asr_model}
    resolved = {}
    for kind, name in wanted.items():
        try:
            spec = registry.resolve(name, kind) if name else registry.default(kind)
        except ModelNotFound as exc:
            if kind == "asr" and name is None and model.mode == "script":
                continue  # without ASR a script job still runs; its QA says what it missed
            raise InvalidInput(str(exc), param=f"{kind}_model", code="model_not_found") from exc
        resolved[f"{kind}_model"] = spec.id
    if model.glossary is not None:  # its entries as of now: editing it later leaves the job be
        entries = await load_glossary(services.glossaries, tenant, model.glossary)
        resolved["glossary_entries"] = [*entries, *model.glossary_entries]
    return model.model_copy(update=resolved)


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
