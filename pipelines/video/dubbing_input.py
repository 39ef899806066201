"""What a dubbing job is asked to do: the input of the `video_dubbing` job type."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from pipelines.coverage import AllowUnusable
from pipelines.languages import LanguageCode
from pipelines.text.glossary import GLOSSARY_NAME, GlossaryEntry

JOB_TYPE = "video_dubbing"
MAX_KEYWORD_CHARS = 100
MAX_SCRIPT_CHARS = 20_000


class DubbingInput(BaseModel):
    """What a dubbing job is asked to do; also the body of `POST /v1/video/dubbings`."""

    model_config = ConfigDict(extra="forbid")

    upload_id: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{32}$",
        description="the clip, from the upload step (or parent_job)",
    )
    parent_job: str | None = Field(
        None,
        validate_default=True,
        description="a re-dub (POST /v1/video/dubbings/{id}/redub): the finished dubbing job "
        "whose clip, audio and probe this job reuses, and whose other languages it carries over",
    )
    mode: Literal["script", "translate", "own"] = Field(
        "script",
        description="script: the LLM writes a new voice-over from keywords; "
        "translate: the clip's own speech is transcribed, translated and re-voiced; "
        "own: each language's voice-over is the caller's `scripts`, spoken as written",
    )
    languages: list[LanguageCode] = Field(
        min_length=1, description="target languages", json_schema_extra={"uniqueItems": True}
    )
    keywords: list[str] = Field(
        default_factory=list,
        max_length=30,
        json_schema_extra={"items": {"type": "string", "maxLength": MAX_KEYWORD_CHARS}},
    )
    product_facts: str = Field("", max_length=4000)
    source_language: LanguageCode | None = Field(
        None, description="language spoken in the clip (default: detected)"
    )
    glossary: str | None = Field(
        None,
        description="name of a glossary of the tenant (translate)",
        json_schema_extra={
            "anyOf": [{"type": "string", "pattern": GLOSSARY_NAME.pattern}, {"type": "null"}]
        },
    )
    scripts: dict[LanguageCode, Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)]] = Field(
        default_factory=dict,
        description="mode own: language -> SRT (timed cues inside the clip) or plain text (one "
        "line per non-empty line, spread over the clip); one for each of `languages`",
    )
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
    merchant_language: LanguageCode = Field(
        "zh",
        description="the language each dubbed line is read back in (back-translation), for a "
        "merchant who cannot read the dub's languages",
    )
    back_translate: bool = Field(
        True,
        description="give each dubbed line's back_translation in the QA report (one generate "
        "call per line in a language other than merchant_language)",
    )
    seed: int = Field(
        0,
        ge=0,
        le=2**31 - 1,
        description="seed of the LLM's sampled scripts and translations: the same clip and "
        "seed give the same script, another seed another wording",
    )
    require_pass: bool = Field(
        False,
        description="fail the job (error qa_not_passed, files and result kept) unless every "
        "language's QA verdict is pass; otherwise review and fail verdicts are only reported",
    )
    allow_unusable_languages: AllowUnusable = False
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

    @field_validator("parent_job")
    @classmethod
    def _one_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (value is None) == (info.data.get("upload_id") is None):
            raise ValueError("give either upload_id (the clip) or parent_job (a re-dub), not both")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(k.split()) for k in value if k.strip()]
        if any(len(k) > MAX_KEYWORD_CHARS for k in cleaned):
            raise ValueError(f"a keyword is longer than {MAX_KEYWORD_CHARS} characters")
        return cleaned
