"""Request and response models at the HTTP edge. ``extra="forbid"`` everywhere.

The OpenAPI document is generated from these classes (see ``shared.openapi``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import GetJsonSchemaHandler, JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

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
AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21"]

# The providers the product knows, per mode (a vendor's adapter offers these modes; see
# tests/unit/test_openapi_document.py). Any other name is refused here with 422; which of them a
# deployment has configured is decided by routing.
ImageProvider = Literal["local", "stability", "dashscope", "gemini", "openai"]
VideoProvider = Literal["local", "dashscope", "gemini"]
TextProvider = Literal["local", "gemini", "openai"]

MAX_PROMPT = 4000
# A character that survives clean_text and trimming and is visible: neither whitespace (str.isspace)
# nor a control (Cc) nor a format character (Cf), as of Python 3.11's Unicode 14. A prompt is valid
# iff it holds one (and has at most MAX_PROMPT characters as sent); the OpenAPI ``pattern`` says so.
VISIBLE = (
    "[^\\u0000-\\u0020\\u007f-\\u00a0\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891\\u08e2"
    "\\u1680\\u180e\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u2064\\u2066-\\u206f\\u3000\\ufeff\\ufff9-\\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)


@dataclass(frozen=True)
class Documented:
    """JSON-schema keywords for what validators enforce but pydantic cannot derive from them."""

    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        value.update(dict(self.keywords))
        return value


def _sent_at_most(limit: int) -> Any:
    """Refuse a text longer than ``limit`` as sent (before anything is stripped from it)."""

    def check(value: object) -> object:
        if isinstance(value, str) and len(value) > limit:
            raise PydanticCustomError(
                "string_too_long", "String should have at most {max_length} characters", {"max_length": limit}
            )
        return value

    return BeforeValidator(check)


PromptText = Annotated[Prompt, _sent_at_most(MAX_PROMPT), Documented((("pattern", VISIBLE),))]
NegativeText = Annotated[NegativePrompt, _sent_at_most(MAX_PROMPT)]


def _integral(value: object) -> object:
    """42.0 is the integer 42 (JSON Schema's "integer" says so); 42.5 stays a float and is refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON numbers are strict: ``"seed": false``, ``"seed": "42"`` or ``1.5`` are refused, not coerced.
SEED_MAX = 4_294_967_294
Seed = Annotated[int, Field(strict=True, ge=0, le=SEED_MAX), BeforeValidator(_integral)]
MaxTokens = Annotated[int, Field(strict=True, ge=1, le=4096), BeforeValidator(_integral)]

# Form fields arrive as text: exactly a decimal number's text becomes that number (what a client
# sends for a form's number field); anything else ("true", " 42", "4_2", "nan") stays text and is
# refused by the same strict check as in JSON. The document says integer/number for both.
_FORM_INT = re.compile(r"[0-9]{1,20}")
_FORM_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")


def _form_number(value: object) -> object:
    if isinstance(value, str) and len(value) <= 40:
        if _FORM_INT.fullmatch(value):
            return int(value)
        if _FORM_NUMBER.fullmatch(value):
            return float(value)
    return value


Seconds = Annotated[float, Field(strict=True, gt=0, le=10)]
FormSeed = Annotated[Seed, BeforeValidator(_form_number)]
FormStrength = Annotated[float, Field(strict=True, ge=0.0, le=1.0), BeforeValidator(_form_number)]
FormSeconds = Annotated[Seconds, BeforeValidator(_form_number)]


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=20_000)


class TextToImageRequest(Edge):
    prompt: PromptText
    negative_prompt: NegativeText | None = None
    aspect_ratio: AspectRatio = "1:1"
    seed: Seed | None = None
    provider: ImageProvider | None = None


class ImageToImageRequest(Edge):
    """Form fields sent beside the ``image`` file part (text on the wire, see ``_form_number``)."""

    prompt: PromptText
    negative_prompt: NegativeText | None = None
    strength: FormStrength = 0.5
    seed: FormSeed | None = None
    provider: ImageProvider | None = None


class TextToVideoRequest(Edge):
    prompt: PromptText
    negative_prompt: NegativeText | None = None
    aspect_ratio: AspectRatio = "16:9"
    duration_seconds: Seconds = 2.0
    seed: Seed | None = None
    provider: VideoProvider | None = None


class ImageToVideoRequest(Edge):
    """Form fields sent beside the ``image`` file part."""

    prompt: PromptText
    negative_prompt: NegativeText | None = None
    duration_seconds: FormSeconds = 2.0
    seed: FormSeed | None = None
    provider: VideoProvider | None = None


class ChatMessage(Edge):
    role: Literal["system", "user", "assistant"]
    content: PromptText


# A conversation has a user's turn (vendors refuse one made of system or assistant turns only).
_A_USER_TURN = {"type": "object", "properties": {"role": {"const": "user"}}, "required": ["role"]}
# Exactly one of prompt and messages, each non-null (a null one counts as absent).
_ONE_OF_PROMPT_OR_MESSAGES = [
    {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
    {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
]


class TextRequest(Edge):
    model_config = ConfigDict(json_schema_extra={"oneOf": _ONE_OF_PROMPT_OR_MESSAGES})

    prompt: PromptText | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=50)] | None = Field(
        default=None, json_schema_extra={"contains": _A_USER_TURN}
    )
    stream: bool = Field(default=False, strict=True)
    max_tokens: MaxTokens = 512
    temperature: float = Field(default=0.7, ge=0.0, le=2.0, strict=True)
    provider: TextProvider | None = None

    @model_validator(mode="after")
    def _one_of_prompt_or_messages(self) -> TextRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("send either 'prompt' or 'messages', not both and not neither")
        if self.messages is not None and not any(m.role == "user" for m in self.messages):
            raise ValueError("'messages' needs at least one message with the role 'user'")
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


class StreamStart(Answer):
    provider: str
    model: str


class StreamDelta(Answer):
    delta: str


class StreamError(Answer):
    error_type: str
    message: str


class StreamDone(Answer):
    chunks: int


# The events of a text/event-stream answer, by SSE event name ("message": an unnamed event).
TEXT_EVENTS = (("start", StreamStart), ("message", StreamDelta), ("error", StreamError), ("done", StreamDone))


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


class MediaQuery(Edge):
    """The query of a signed media URL (documentation: the media use case checks both)."""

    exp: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")] = Field(description="expiry, Unix seconds")
    sig: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(description="HMAC-SHA256, hex")
