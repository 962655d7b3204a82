"""Request and response models at the HTTP edge. ``extra="forbid"`` everywhere.

The OpenAPI document is generated from these classes (see ``shared.openapi``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from shared.domain import ChatTurn, JobStatus, Mode
from shared.text_input import clean_text, require_visible

# Controls, bidi overrides and invisible joiners are removed first (clean_text); then whitespace is
# trimmed and the length checked; a prompt with nothing visible left is refused like an empty one.
Prompt = Annotated[
    str,
    BeforeValidator(clean_text),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    AfterValidator(require_visible),
]
NegativePrompt = Annotated[str, BeforeValidator(clean_text), StringConstraints(strip_whitespace=True, max_length=4000)]
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
Seed = Annotated[int, Field(ge=0, le=4_294_967_294)]
AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21"]


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=20_000)


class TextToImageRequest(Edge):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    aspect_ratio: AspectRatio = "1:1"
    seed: Seed | None = None
    provider: ProviderName | None = None


class ImageToImageRequest(Edge):
    """Form fields sent beside the ``image`` file part."""

    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    strength: float = Field(default=0.5, ge=0.0, le=1.0)
    seed: Seed | None = None
    provider: ProviderName | None = None


class TextToVideoRequest(Edge):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    aspect_ratio: AspectRatio = "16:9"
    duration_seconds: float = Field(default=2.0, gt=0, le=10)
    seed: Seed | None = None
    provider: ProviderName | None = None


class ImageToVideoRequest(Edge):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    duration_seconds: float = Field(default=2.0, gt=0, le=10)
    seed: Seed | None = None
    provider: ProviderName | None = None


class ChatMessage(Edge):
    role: Literal["system", "user", "assistant"]
    content: Prompt


class TextRequest(Edge):
    prompt: Prompt | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=50)] | None = None
    stream: bool = False
    max_tokens: int = Field(default=512, ge=1, le=4096)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    provider: ProviderName | None = None

    @model_validator(mode="after")
    def _one_of_prompt_or_messages(self) -> TextRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("send either 'prompt' or 'messages', not both and not neither")
        return self

    def as_messages(self) -> list[ChatTurn]:
        if self.messages is not None:
            return [ChatTurn(m.role, m.content) for m in self.messages]
        assert self.prompt is not None
        return [ChatTurn("user", self.prompt)]


# ---- answers -------------------------------------------------------------------------------


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobLinks(Answer):
    self: str
    cancel: str


class JobAccepted(Answer):
    job_id: str
    status: JobStatus
    position: int | None
    eta_seconds: float | None
    links: JobLinks


class JobResult(Answer):
    url: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: float | None = None
    frames: int | None = None
    seed: int | None = None
    text: str | None = None


class JobError(Answer):
    error_type: str
    message: str


class JobView(Answer):
    job_id: str
    mode: Mode
    status: JobStatus
    position: int | None = None
    eta_seconds: float | None = None
    poll_after_seconds: float | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int
    provider: str | None = None
    result: JobResult | None = None
    error: JobError | None = None
    links: JobLinks


class JobList(Answer):
    jobs: list[JobView]


class TextUsage(Answer):
    prompt_tokens: int
    completion_tokens: int


class TextAnswer(Answer):
    text: str
    provider: str
    model: str
    usage: TextUsage


class ProviderHealth(Answer):
    name: str
    modes: list[Mode]
    state: Literal["closed", "open", "half_open"] = "closed"


class HealthAnswer(Answer):
    status: Literal["ok", "degraded"]
    timestamp: float
    load: float
    queue_length: int
    version: str
    providers: list[ProviderHealth]
    paid_routes_open: bool = True  # the spend guard: a paid provider can still be afforded now (no amounts)


class ErrorEnvelope(Answer):
    success: Literal[False] = False
    error_type: str
    message: str
    retry_after: int | None = None
    donation_link: str | None = None
    request_id: str
    details: list[dict[str, Any]] | None = None


class RunJobRequest(Edge):
    job_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class RunJobAnswer(Answer):
    job_id: str
    status: JobStatus


class RedispatchAnswer(Answer):
    requeued: int
    redispatched: int
