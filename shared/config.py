"""The whole configuration surface: one ``Settings`` read from the environment.

Secrets are ``SecretStr`` so they never print. README's configuration table lists every setting
(``tests/unit/test_readme_settings.py`` checks that it does).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.config_money import PaymentSettings
from shared.config_ops import AlertSettings, AnalyticsSettings, EventsSettings, MetricsSettings
from shared.domain import Mode

CsvList = Annotated[list[str], NoDecode]
Limits = Annotated[dict[str, int], NoDecode]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _parse_pairs(value: object) -> object:
    """``name=value,...`` (or JSON) -> {name: value}; the field's type converts each value."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        return json.loads(value)
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        return {name.strip(): number.strip() for name, number in pairs}
    return value


class VendorSettings(BaseModel):
    """One real vendor, read from ``<VENDOR>_<FIELD>`` (``STABILITY_BASE_URL``, ``OPENAI_MAX_CONCURRENT``).

    Keys are comma-separated and rotated; a model "" means the mode is not offered. Results are
    downloaded only from the base URL's host and ``result_hosts`` (see shared/providers/safe_fetch.py).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)  # OPENAI_API_KEY (singular) etc. are not ours

    api_keys: SecretStr | None = None
    base_url: str
    text_to_image_model: str = ""
    image_to_image_model: str = ""
    text_to_video_model: str = ""
    image_to_video_model: str = ""
    text_model: str = ""
    max_per_minute: int = Field(default=60, ge=0)  # our own dispatch throttle; 0 = no cap
    max_concurrent: int = Field(default=4, ge=1)
    result_hosts: CsvList = Field(default_factory=list)  # exact names or *.suffix

    _csv = field_validator("result_hosts", mode="before")(_split_csv)

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @property
    def keys(self) -> list[str]:
        secret = self.api_keys.get_secret_value() if self.api_keys is not None else ""
        return [key.strip() for key in secret.split(",") if key.strip()]

    @property
    def models(self) -> dict[Mode, str]:
        return {
            Mode.TEXT_TO_IMAGE: self.text_to_image_model,
            Mode.IMAGE_TO_IMAGE: self.image_to_image_model,
            Mode.TEXT_TO_VIDEO: self.text_to_video_model,
            Mode.IMAGE_TO_VIDEO: self.image_to_video_model,
            Mode.TEXT: self.text_model,
        }


class StabilitySettings(VendorSettings):
    base_url: str = "https://api.stability.ai"
    text_to_image_model: str = "core"
    image_to_image_model: str = "sd3.5-large"
    max_per_minute: int = Field(default=120, ge=0)
    # results are the answer's own bytes: no other host


class DashScopeSettings(VendorSettings):
    base_url: str = "https://dashscope-intl.aliyuncs.com"
    text_to_image_model: str = "qwen-image"
    image_to_image_model: str = "wanx2.1-imageedit"
    text_to_video_model: str = "wan2.2-t2v-plus"
    image_to_video_model: str = "wan2.2-i2v-plus"
    max_concurrent: int = Field(default=2, ge=1)
    result_hosts: CsvList = Field(default_factory=lambda: ["*.aliyuncs.com"])  # signed OSS bucket URLs


class GeminiSettings(VendorSettings):
    base_url: str = "https://generativelanguage.googleapis.com"
    text_to_image_model: str = "gemini-2.5-flash-image"
    image_to_image_model: str = "gemini-2.5-flash-image"
    text_to_video_model: str = "veo-3.0-fast-generate-001"
    image_to_video_model: str = "veo-3.0-fast-generate-001"
    text_model: str = "gemini-2.5-flash"
    # Veo files are on the API host (with the key); a redirect may hand them to Google's content host (no key)
    result_hosts: CsvList = Field(default_factory=lambda: ["*.googleusercontent.com"])


class OpenAISettings(VendorSettings):
    base_url: str = "https://api.openai.com/v1"
    text_to_image_model: str = "gpt-image-1"
    image_to_image_model: str = "gpt-image-1"
    text_model: str = "gpt-4o-mini"
    max_per_minute: int = Field(default=300, ge=0)
    max_concurrent: int = Field(default=8, ge=1)
    result_hosts: CsvList = Field(default_factory=lambda: ["oaidalleapiprodscus.blob.core.windows.net"])  # URL answers


class RouteSettings(BaseModel):
    """``ROUTE_<MODE>``: ordered provider names per mode; empty = every provider offering it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text_to_image: CsvList = Field(default_factory=list)
    image_to_image: CsvList = Field(default_factory=list)
    text_to_video: CsvList = Field(default_factory=list)
    image_to_video: CsvList = Field(default_factory=list)
    text: CsvList = Field(default_factory=list)

    _csv = field_validator("text_to_image", "image_to_image", "text_to_video", "image_to_video", "text", mode="before")(
        _split_csv
    )

    def for_mode(self, mode: Mode) -> list[str]:
        return {
            Mode.TEXT_TO_IMAGE: self.text_to_image,
            Mode.IMAGE_TO_IMAGE: self.image_to_image,
            Mode.TEXT_TO_VIDEO: self.text_to_video,
            Mode.IMAGE_TO_VIDEO: self.image_to_video,
            Mode.TEXT: self.text,
        }[mode]


class Settings(BaseSettings):
    # A nested model reads its fields from PREFIX_FIELD: STABILITY_BASE_URL -> stability.base_url,
    # ROUTE_TEXT_TO_IMAGE -> route.text_to_image (one split, at the first underscore).
    model_config = SettingsConfigDict(
        env_file=None,
        extra="ignore",
        frozen=True,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        hide_input_in_errors=True,  # a refusal must never print the environment (secrets) it was given
    )

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
    sqlite_busy_timeout_seconds: float = Field(default=15.0, gt=0)  # a write waits this long for a lock, then 503
    firestore_project: str | None = None  # None: the ambient project (ADC), or a demo project on the emulator
    firestore_database: str = "(default)"
    firestore_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$")  # prepended to every collection name
    firestore_emulator_host: str | None = None  # the client library reads FIRESTORE_EMULATOR_HOST itself
    firestore_timeout_seconds: float = Field(default=10.0, gt=0)  # one operation, retries included, then 503
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

    # the OpenAI-compatible surface (/v1, shared/api/openai_compat.py)
    openai_compat_anonymous: bool = True  # false: /v1 answers 401 to callers who are not signed in
    openai_images_wait_seconds: float = Field(default=50.0, gt=0, le=530)  # then 504 naming the job id

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
    queue_aging_seconds: float = Field(default=60.0, ge=0, le=86400)  # a priority step is worth this wait (README)
    submit_dedupe_seconds: float = Field(default=30.0, ge=0)  # identical media submits inside it: same job
    text_cache_ttl_seconds: float = Field(default=3600.0, ge=0)  # identical text requests answered from the store
    byok_encryption_key: SecretStr | None = None  # Fernet key(s), comma-separated: first encrypts, all decrypt

    # operations (README "Cleanup", "Backup and restore")
    task_api_key: SecretStr | None = None  # X-API-Key of POST /api/v1/tasks/daily-cleanup; unset = refused
    retention_days: float = Field(default=30.0, gt=0)  # jobs (usage records), their media and inputs live this long
    cleanup_batch_size: int = Field(default=200, ge=1, le=500)  # rows or files per cleanup batch
    cleanup_max_seconds: float = Field(default=45.0, gt=0)  # one run stops after this; the next resumes
    backup_keep: int = Field(default=7, ge=1)  # SQLite backups kept in the media store
    backup_bucket: str = Field(default="", pattern=r"^(gs://[a-z0-9][a-z0-9._-]{1,220}(/[^\s]*)?)?$")  # Firestore
    # analytics, events, metrics history and alerts (shared/config_ops.py): ANALYTICS_*, EVENTS_*, METRICS_*, ALERT_*
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    alert: AlertSettings = Field(default_factory=AlertSettings)

    # fair use (see README "Fair use")
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    ipv6_prefix_length: int = Field(default=64, ge=32, le=128)  # an IPv6 caller's limits cover its whole /64
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
    session_secret: SecretStr | None = None  # keys the derived ids of identical submits
    session_ttl_seconds: int = Field(default=14 * 86400, ge=300, le=14 * 86400)  # Firebase session cookie lifetime

    # accounts (README "Sign-in", "Users"): Firebase Auth
    firebase_project: str | None = None  # None: the ambient project; demo-aiart-gateway on the emulator
    firebase_auth_emulator_host: str | None = None  # host:port of the Auth emulator; refused in production
    user_cache_seconds: float = Field(default=60.0, ge=0)  # how long an instance reuses a user record it read
    usage_page_size: int = Field(default=50, ge=1, le=500)  # records per page of GET /api/v1/user/usage
    payment: PaymentSettings = Field(default_factory=PaymentSettings)  # PAYMENT_* (shared/config_money.py)
    api_key_cache_seconds: float = Field(default=60.0, ge=0, le=3600)  # a gateway key looked up is reused this long
    api_key_touch_seconds: float = Field(default=3600.0, ge=60)  # a key's last_used_at is written at most this often

    # providers
    local_provider_enabled: bool = True
    local_video_fps: int = Field(default=12, ge=1, le=30)
    local_delay_seconds: float = Field(default=0.0, ge=0, le=30)
    route: RouteSettings = Field(default_factory=RouteSettings)  # ROUTE_TEXT_TO_IMAGE, ..., ROUTE_TEXT

    # real providers (shared/providers/factory.py): STABILITY_API_KEYS, STABILITY_BASE_URL, ...
    stability: StabilitySettings = Field(default_factory=StabilitySettings)
    dashscope: DashScopeSettings = Field(default_factory=DashScopeSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    provider_connect_timeout: float = Field(default=5.0, gt=0)
    provider_read_timeout: float = Field(default=120.0, gt=0)
    provider_max_retries: int = Field(default=2, ge=0, le=10)
    provider_max_wait_seconds: float = Field(default=20.0, ge=0)
    provider_max_defer_seconds: float = Field(default=600.0, ge=0)  # a rate-limited job waits queued this long in all
    provider_poll_seconds: float = Field(default=5.0, gt=0)
    provider_max_task_seconds: float = Field(default=900.0, gt=0)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=30.0, gt=0)
    breaker_cache_seconds: float = Field(default=5.0, ge=0)
    provider_max_result_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)  # a result download is cut off past it
    provider_max_result_side: int = Field(default=8192, ge=64)  # a result image or video frame, either side
    provider_max_result_pixels: int = Field(default=24_000_000, ge=4096)  # decoded to check it: memory bound
    prices: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)  # "stability/core=3" or JSON

    # spend guard (README "Spend guard"): budgets in cost units (PRICES' units); unset = no cap
    budget_daily_units: float | None = Field(default=None, ge=0)
    budget_monthly_units: float | None = Field(default=None, ge=0)
    budget_provider_daily_units: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    budget_anonymous_daily_units: float | None = Field(default=None, ge=0)
    budget_user_monthly_units: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)  # per tier
    budget_timezone: str = "UTC"  # days and months of the budgets (an IANA zone)
    budget_fallback: Literal["refuse", "local"] = "refuse"  # over a cap: 429 budget_exhausted, or the local provider

    _csv = field_validator("cors_origins", "abuse_block_seconds", mode="before")(_split_csv)
    _pairs = field_validator(
        "prices",
        "tier_limits",
        "text_tier_limits",
        "budget_provider_daily_units",
        "budget_user_monthly_units",
        mode="before",
    )(_parse_pairs)

    @model_validator(mode="after")
    def _no_auth_emulator_in_production(self) -> Settings:
        """firebase-admin skips token signature checks with the emulator (see shared/firebase.py)."""
        import os

        if self.firebase_auth_emulator_host and (self.environment == "production" or os.environ.get("K_SERVICE")):
            raise ValueError("FIREBASE_AUTH_EMULATOR_HOST is set in production: unsigned tokens would pass. Unset it.")
        return self

    @field_validator("budget_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @cached_property
    def vendors(self) -> dict[str, VendorSettings]:
        """Every real vendor's settings by provider name (the order is the default route order)."""
        return {"stability": self.stability, "dashscope": self.dashscope, "gemini": self.gemini, "openai": self.openai}

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

    @field_validator(
        "session_secret", "media_signing_key", "tasks_token", "byok_encryption_key", "task_api_key", mode="before"
    )
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        """``SESSION_SECRET=`` is no secret at all: treated as unset, never as the empty key."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check_production_secrets(self) -> Settings:
        """Production refuses missing, short or trivially guessable secrets (shared/secret_checks.py)."""
        if self.environment != "production":
            return self
        from shared.secret_checks import InsecureSettings, production_problems

        def plain(secret: SecretStr | None) -> str | None:
            return secret.get_secret_value() if secret is not None else None

        needed = {
            "SESSION_SECRET": (plain(self.session_secret), False),
            "TASKS_TOKEN": (plain(self.tasks_token), False),
            "BYOK_ENCRYPTION_KEY": (plain(self.byok_encryption_key), True),
        }
        if self.media_backend == "local":
            needed["MEDIA_SIGNING_KEY"] = (plain(self.media_signing_key), False)
        if self.task_api_key is not None:  # optional (unset: the cleanup task is refused), never weak
            needed["TASK_API_KEY"] = (plain(self.task_api_key), False)
        needed.update(self.payment.production_secrets())  # optional (unset: webhooks refused), never weak
        problems = production_problems(needed)
        if problems:  # not a ValueError: pydantic would print the (secret) input along with it
            raise InsecureSettings("ENVIRONMENT=production refuses weak secrets: " + "; ".join(problems))
        return self

    @cached_property
    def abuse_ladder(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.abuse_block_seconds) or (60.0,)

    @cached_property
    def resolved_sqlite_path(self) -> Path:
        return self.sqlite_path or self.data_dir / "gateway.sqlite3"

    @property
    def retention_seconds(self) -> float:
        return self.retention_days * 86400.0

    @cached_property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.data_dir / "media"
