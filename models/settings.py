"""One settings object for localshang: YAML config file, overridden by LOCALSHANG_* env vars."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_ENV = "LOCALSHANG_CONFIG"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
DEFAULT_LANGUAGE_RATINGS = (
    Path(__file__).resolve().parent.parent / "configs" / "language_ratings.yaml"
)

ModelKind = Literal["chat", "asr", "tts", "embedding"]


class ModelSpec(BaseModel):
    """One entry of the model table: what to load, with which backend, from where."""

    id: str
    aliases: list[str] = Field(default_factory=list)
    kind: ModelKind
    backend: str
    path: str = Field("", description="folder (or file) relative to model_dir, or absolute")
    options: dict[str, Any] = Field(default_factory=dict)
    licence: str = "unknown"
    memory_gb: float = Field(1.0, ge=0, description="resident size counted against the budget")
    fetch: str | None = Field(None, description="name of the bundle scripts/fetch_models.py knows")

    def resolve_path(self, model_dir: Path) -> Path:
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else model_dir / path


class ApiKey(BaseModel):
    key: SecretStr
    tenant: str = "default"
    admin: bool = Field(False, description="may use the operator endpoints (/v1/admin/...)")


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(2 * 1024 * 1024, description="JSON request bodies")
    max_upload_bytes: int = Field(200 * 1024 * 1024, description="multipart uploads")
    max_inflight_per_model: int = Field(64, description="running + queued before 429")
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_from_strings(cls, value: Any) -> Any:
        """Accept `["sk-a", "sk-b"]` or a comma-separated string as shorthand for default-tenant keys."""
        if isinstance(value, str):
            text = value.strip()
            value = (
                json.loads(text)
                if text.startswith("[")
                else [part.strip() for part in text.split(",") if part.strip()]
            )
        if isinstance(value, list):
            return [{"key": item} if isinstance(item, str) else item for item in value]
        return value


class RegistrySettings(BaseModel):
    memory_budget_gb: float = Field(16.0, gt=0)
    idle_ttl_s: float = Field(900.0, gt=0, description="unload a model unused this long")
    preload: list[str] = Field(default_factory=list)
    tts_by_language: dict[str, str] = Field(
        default_factory=dict,
        description="language -> TTS model that speaks it where a request names none (dubbing "
        "jobs; /v1/audio/speech with tts-1 & co.); other languages: the first TTS model",
    )


class JobSettings(BaseModel):
    """The job system: where it keeps its database, and how many jobs run at once per resource."""

    database: Path | None = Field(
        None, description="SQLite file (default: <data_dir>/jobs.sqlite3)"
    )
    concurrency: dict[str, int] = Field(
        default_factory=lambda: {"llm": 2, "media": 1},
        description="jobs running at once per resource; more wait in the queue",
    )
    default_concurrency: int = Field(1, ge=1, description="for resources not named above")
    max_resumes: int = Field(
        2, ge=0, description="times a job interrupted by a crash is resumed before it is failed"
    )
    max_parallel_generations: int = Field(
        8, ge=1, description="concurrent generate calls one pipeline run makes (the engine batches)"
    )
    types: dict[str, str] = Field(
        default_factory=dict, description='extra job types: name -> "module:attribute"'
    )
    encryption_key: SecretStr | None = Field(
        None,
        description="base64 of a 32-byte key (e.g. Fernet.generate_key()): artifacts are kept "
        "AES-256-GCM encrypted at rest; off when null. Needs the `cryptography` package.",
    )

    @field_validator("encryption_key")
    @classmethod
    def _key_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_encryption_key(value.get_secret_value())
        return value

    def workers_for(self, resource: str) -> int:
        return max(1, self.concurrency.get(resource, self.default_concurrency))


def decode_encryption_key(text: str) -> bytes:
    """The 32 raw bytes of a base64 (standard or URL-safe) key; ValueError otherwise."""
    try:
        key = base64.urlsafe_b64decode(text.strip().replace("+", "-").replace("/", "_"))
    except (ValueError, TypeError) as exc:
        raise ValueError("encryption_key is not base64") from exc
    if len(key) != 32:
        raise ValueError(f"encryption_key must decode to 32 bytes, not {len(key)}")
    return key


class VideoQASettings(BaseModel):
    """Limits of the QA verdict of each dubbed language: within all of them, `pass`; over one,
    `review`; over `fail_factor` times one, `fail`."""

    max_wer: float = Field(
        0.3, gt=0, description="back-transcription word error rate (languages with spaces)"
    )
    max_cer: float = Field(
        0.35, gt=0, description="back-transcription character error rate (zh, ja, th...)"
    )
    max_drift_s: float = Field(0.25, gt=0, description="a line's voice off its slot start")
    max_duration_diff_s: float = Field(0.05, gt=0, description="dubbed MP4 vs the clip")
    max_loudness_diff_lu: float = Field(2.0, gt=0, description="vs the job's loudness target")
    fail_factor: float = Field(2.0, ge=1.0, description="this many times a limit fails")


class VideoSettings(BaseModel):
    """Limits of the video workflows: anything outside them is refused with a 400 up front."""

    min_duration_s: float = Field(1.0, gt=0, description="shortest clip accepted")
    max_duration_s: float = Field(120.0, gt=0, description="longest clip accepted")
    max_pixels: int = Field(3840 * 2160, gt=0, description="largest frame (width x height)")
    max_fps: float = Field(120.0, gt=0)
    max_languages: int = Field(8, ge=1, description="target languages per job")
    ffmpeg_timeout_s: float = Field(600.0, gt=0, description="per ffmpeg/ffprobe call")
    upload_ttl_s: float = Field(
        24 * 3600.0, gt=0, description="uploads never turned into a job are removed after this"
    )
    qa: VideoQASettings = Field(default_factory=VideoQASettings)


class TenantQuotas(BaseModel):
    """Limits of one tenant; null means unlimited. Overrides per tenant are kept in the database
    (`localshang keys quota`, PATCH /v1/admin/tenants/{tenant}/quotas)."""

    requests_per_minute: int | None = Field(None, ge=1, description="beyond this, 429")
    concurrent_jobs: int | None = Field(None, ge=1, description="queued + running; beyond, 429")
    max_upload_bytes: int | None = Field(
        None, ge=1, description="one upload (server.max_upload_bytes caps it too); beyond, 413"
    )
    storage_bytes: int | None = Field(None, ge=0, description="artifacts kept; beyond, 403")
    retention_s: float | None = Field(
        30 * 86400.0, gt=0, description="finished jobs (rows, artifacts) and uploads expire after"
    )


class TenantSettings(BaseModel):
    """Quotas and retention every tenant has unless the operator gave it its own."""

    defaults: TenantQuotas = Field(default_factory=TenantQuotas)
    sweep_interval_s: float = Field(300.0, gt=0, description="how often expired data is deleted")


class Settings(BaseSettings):
    """Everything localshang reads at start-up. Env: LOCALSHANG_SERVER__PORT=9000 and so on."""

    model_config = SettingsConfigDict(
        env_prefix="LOCALSHANG_", env_nested_delimiter="__", extra="ignore"
    )

    model_dir: Path = Path("~/.local/share/localshang/models")
    data_dir: Path = Path("~/.local/share/localshang/data")
    server: ServerSettings = Field(default_factory=ServerSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    models: list[ModelSpec] = Field(default_factory=list)
    jobs: JobSettings = Field(default_factory=JobSettings)
    tenants: TenantSettings = Field(default_factory=TenantSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    language_ratings: Path = Field(
        DEFAULT_LANGUAGE_RATINGS,
        description="chat quality per model and language, written by scripts/eval_languages.py",
    )

    def jobs_database(self) -> Path:
        return self.jobs.database or self.data_dir / "jobs.sqlite3"

    @field_validator("model_dir", "data_dir", "language_ratings")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from `config` (default: $LOCALSHANG_CONFIG or configs/default.yaml)."""
    path = config or Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG))

    class SettingsFromFile(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": path})

    return SettingsFromFile(**overrides)
