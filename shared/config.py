"""The whole configuration surface: one ``Settings`` read from the environment.

Secrets are ``SecretStr`` so they never print. README's configuration table lists every setting
(``tests/unit/test_readme_settings.py`` checks that it does).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CsvList = Annotated[list[str], NoDecode]
Limits = Annotated[dict[str, int], NoDecode]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # process
    environment: Literal["local", "test", "production"] = "local"
    version: str = "0.1.0"
    log_level: str = "INFO"
    port: int = 8080
    host: str = "127.0.0.1"
    data_dir: Path = Path(".data")
    public_base_url: str = ""

    # store
    store: Literal["sqlite", "firestore"] = "sqlite"
    sqlite_path: Path | None = None
    firestore_project: str | None = None  # None: the ambient project (ADC), or a demo project on the emulator
    firestore_database: str = "(default)"
    firestore_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$")  # prepended to every collection name
    firestore_emulator_host: str | None = None  # the client library reads FIRESTORE_EMULATOR_HOST itself
    firestore_limiter_ttl_seconds: float = Field(default=7 * 86400, gt=0)  # idle limiter state lives this long

    # media
    media_backend: Literal["local", "s3"] = "local"
    media_dir: Path | None = None
    media_signing_key: SecretStr | None = None
    media_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    media_s3_bucket: str = ""  # MEDIA_BACKEND=s3: the bucket, and where it is (empty endpoint = AWS)
    media_s3_endpoint_url: str | None = None
    media_s3_region: str = "auto"
    media_s3_prefix: str = ""
    media_s3_access_key_id: SecretStr | None = None
    media_s3_secret_access_key: SecretStr | None = None

    # http edges
    cors_origins: CsvList = Field(default_factory=lambda: ["http://localhost:8080", "http://127.0.0.1:8080"])
    max_json_bytes: int = 64 * 1024
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_side: int = 4096

    # jobs
    dispatcher: Literal["inprocess", "cloudtasks", "none"] = "inprocess"
    cloud_tasks_queue: str = Field(default="", pattern=r"^(projects/[^/]+/locations/[^/]+/queues/[^/]+)?$")
    run_job_url: str = ""  # where Cloud Tasks delivers: the run_job function's URL
    cloud_tasks_service_account: str | None = None  # set: OIDC token for it instead of the bearer token
    cloud_tasks_endpoint: str | None = None  # e.g. http://127.0.0.1:PORT (emulator, tests): REST, no credentials
    cloud_tasks_retry_seconds: float = Field(default=2.0, ge=0)  # transient enqueue errors retried this long
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    provider_concurrency: int = Field(default=2, ge=1, le=64)
    lease_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    dispatch_poll_seconds: float = Field(default=0.5, gt=0)
    eta_window: int = 20
    eta_cache_seconds: float = Field(default=300.0, ge=0)  # per instance; a refresh reads ETA_WINDOW jobs
    tasks_token: SecretStr | None = None
    redispatch_after_seconds: float = Field(default=120.0, gt=0)
    submit_dedupe_seconds: float = Field(default=30.0, ge=0)  # identical media submits inside it: same job
    text_cache_ttl_seconds: float = Field(default=3600.0, ge=0)  # identical text requests answered from the store
    byok_encryption_key: SecretStr | None = None  # Fernet key(s), comma-separated: first encrypts, all decrypt

    # fair use (see README "Fair use")
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    tier_limits: Limits = Field(default_factory=lambda: {"anonymous": 3, "registered": 5, "donor": 10})
    text_tier_limits: Limits = Field(default_factory=lambda: {"anonymous": 10, "registered": 20, "donor": 40})
    grace_requests: int = Field(default=5, ge=0)
    load_threshold: float = Field(default=0.8, gt=0, le=1)
    queue_capacity: int = Field(default=40, ge=1)
    max_queue_depth: int = Field(default=500, ge=1)
    load_host_metrics: bool = True
    memory_limit_mb: int = Field(default=256, ge=64)
    load_cache_seconds: float = Field(default=2.0, ge=0)
    abuse_refusals: int = Field(default=30, ge=1)
    abuse_window_seconds: float = Field(default=60.0, gt=0)
    abuse_block_seconds: CsvList = Field(default_factory=lambda: ["60", "300", "1800"])
    hibernate_after_seconds: float = Field(default=900.0, gt=0)
    session_secret: SecretStr | None = None
    session_ttl_seconds: int = Field(default=14 * 86400, ge=60)

    # providers
    local_provider_enabled: bool = True
    route_text_to_image: CsvList = Field(default_factory=list)
    route_image_to_image: CsvList = Field(default_factory=list)
    route_text_to_video: CsvList = Field(default_factory=list)
    route_image_to_video: CsvList = Field(default_factory=list)
    route_text: CsvList = Field(default_factory=list)
    local_video_fps: int = Field(default=12, ge=1, le=30)
    local_delay_seconds: float = Field(default=0.0, ge=0, le=30)

    # real providers (shared/providers/factory.py). Keys: comma-separated, rotated; model "" = mode not offered
    stability_api_keys: SecretStr | None = None
    stability_base_url: str = "https://api.stability.ai"
    stability_text_to_image_model: str = "core"
    stability_image_to_image_model: str = "sd3.5-large"
    stability_max_per_minute: int = Field(default=120, ge=0)
    stability_max_concurrent: int = Field(default=4, ge=1)
    dashscope_api_keys: SecretStr | None = None
    dashscope_base_url: str = "https://dashscope-intl.aliyuncs.com"
    dashscope_text_to_image_model: str = "qwen-image"
    dashscope_image_to_image_model: str = "wanx2.1-imageedit"
    dashscope_text_to_video_model: str = "wan2.2-t2v-plus"
    dashscope_image_to_video_model: str = "wan2.2-i2v-plus"
    dashscope_max_per_minute: int = Field(default=60, ge=0)
    dashscope_max_concurrent: int = Field(default=2, ge=1)
    gemini_api_keys: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    gemini_text_to_image_model: str = "gemini-2.5-flash-image"
    gemini_image_to_image_model: str = "gemini-2.5-flash-image"
    gemini_text_to_video_model: str = "veo-3.0-fast-generate-001"
    gemini_image_to_video_model: str = "veo-3.0-fast-generate-001"
    gemini_text_model: str = "gemini-2.5-flash"
    gemini_max_per_minute: int = Field(default=60, ge=0)
    gemini_max_concurrent: int = Field(default=4, ge=1)
    openai_api_keys: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_text_to_image_model: str = "gpt-image-1"
    openai_image_to_image_model: str = "gpt-image-1"
    openai_text_model: str = "gpt-4o-mini"
    openai_max_per_minute: int = Field(default=300, ge=0)
    openai_max_concurrent: int = Field(default=8, ge=1)
    provider_connect_timeout: float = Field(default=5.0, gt=0)
    provider_read_timeout: float = Field(default=120.0, gt=0)
    provider_max_retries: int = Field(default=2, ge=0, le=10)
    provider_max_wait_seconds: float = Field(default=20.0, ge=0)
    provider_poll_seconds: float = Field(default=5.0, gt=0)
    provider_max_task_seconds: float = Field(default=900.0, gt=0)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=30.0, gt=0)
    breaker_cache_seconds: float = Field(default=5.0, ge=0)
    prices: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)

    @field_validator("prices", mode="before")
    @classmethod
    def _parse_prices(cls, value: object) -> object:
        """``stability/core=3,openai/gpt-4o-mini=0.06`` (or JSON) -> {"provider/model": units}."""
        if isinstance(value, str) and value.lstrip().startswith("{"):
            return json.loads(value)
        if isinstance(value, str):
            pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
            return {name.strip(): float(price) for name, price in pairs}
        return value

    _csv = field_validator(
        "cors_origins",
        "route_text_to_image",
        "route_image_to_image",
        "route_text_to_video",
        "route_image_to_video",
        "route_text",
        "abuse_block_seconds",
        mode="before",
    )(_split_csv)

    @field_validator("tier_limits", "text_tier_limits", mode="before")
    @classmethod
    def _parse_limits(cls, value: object) -> object:
        """``anonymous=3,registered=5,donor=10`` (or JSON) -> dict."""
        if isinstance(value, str) and value.lstrip().startswith("{"):
            return json.loads(value)
        if isinstance(value, str):
            pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
            return {name.strip(): int(limit) for name, limit in pairs}
        return value

    @model_validator(mode="after")
    def _check_dispatcher(self) -> Settings:
        if self.dispatcher == "cloudtasks":
            missing = [
                name
                for name, value in (
                    ("CLOUD_TASKS_QUEUE", self.cloud_tasks_queue),
                    ("RUN_JOB_URL", self.run_job_url),
                    ("TASKS_TOKEN", self.tasks_token),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"DISPATCHER=cloudtasks needs {', '.join(missing)} to be set")
        return self

    @cached_property
    def abuse_ladder(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.abuse_block_seconds) or (60.0,)

    @cached_property
    def resolved_sqlite_path(self) -> Path:
        return self.sqlite_path or self.data_dir / "gateway.sqlite3"

    @cached_property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.data_dir / "media"
