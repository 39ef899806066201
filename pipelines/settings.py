"""One settings object for localshang: YAML config file, overridden by LOCALSHANG_* env vars."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from models.spec import ModelSpec, RegistrySettings
from pipelines.platform.accounts.settings import ApiKey, TenantSettings
from pipelines.platform.jobs.settings import JobSettings
from pipelines.text.settings import TextSettings
from pipelines.video.settings import VideoSettings

CONFIG_ENV = "LOCALSHANG_CONFIG"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
DEFAULT_LANGUAGE_RATINGS = (
    Path(__file__).resolve().parent.parent / "configs" / "language_ratings.yaml"
)


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(2 * 1024 * 1024, description="JSON request bodies")
    max_upload_bytes: int = Field(200 * 1024 * 1024, description="multipart uploads")
    max_inflight_per_model: int = Field(64, description="running + queued before 429")
    rate_limit_storage: str = Field(
        "memory://",
        pattern=r"^(memory|redis|rediss|redis\+unix)://",
        description="where requests per minute are counted: memory:// (this process) or "
        "redis://host:port/db (shared by every node of a fleet)",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="origins (scheme://host[:port]) whose pages may call the API: CORS, and "
        "past the Origin check that refuses every other site's requests",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names answered besides localhost, 127.0.0.1 and [::1]; empty with "
        "API keys: any host",
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="proxies whose X-Forwarded-For/-Proto are believed (uvicorn's setting)",
    )

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
    text: TextSettings = Field(default_factory=TextSettings)
    language_ratings: Path = Field(
        DEFAULT_LANGUAGE_RATINGS,
        description="chat quality per model and language, written by scripts/eval_languages.py",
    )

    def jobs_database(self) -> str:
        """The jobs' and accounts' database: a URL, or a SQLite file's path."""
        return self.jobs.database or str(self.data_dir / "jobs.sqlite3")

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
