"""Request and answer models of the OpenAI-compatible surface (``/v1``, shared/api/openai_compat.py).

Requests ignore fields they do not know (``extra="ignore"``), as OpenAI-compatible servers do:
clients send many optional parameters. The parameters that would change the meaning of the
answer and that the gateway cannot honour (``n > 1``, tools, JSON modes, logprobs, stop
sequences, audio) are refused by name (``unsupported()``), never silently dropped. Prompts are
cleaned and bounded (1..4000 characters) as on the other routes.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny, StringConstraints

from shared.domain import ChatTurn
from shared.models import AspectRatio
from shared.text_input import clean_text, require_visible

ModelName = Annotated[str, Field(max_length=200)]
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_RATIOS: dict[str, float] = {r: int(r.split(":")[0]) / int(r.split(":")[1]) for r in get_args(AspectRatio)}


class OpenAIRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=20_000)


def _join_parts(value: Any) -> Any:
    """OpenAI's content parts -> one text; only text parts are served (text routes take no images)."""
    if not isinstance(value, list):
        return value
    texts = []
    for part in value:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ValueError("only text content parts are supported")
        texts.append(part["text"])
    return "\n".join(texts)


# The gateway's prompt (shared.models.Prompt: cleaned, trimmed, 1..4000 characters, something
# visible), with the length constraint first so pydantic checks it as a string's. Content may be
# a list of text parts, joined first.
OpenAIPrompt = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    BeforeValidator(clean_text),
    AfterValidator(require_visible),
]
Content = Annotated[OpenAIPrompt, BeforeValidator(_join_parts, json_schema_input_type=str | list[dict[str, str]])]


class ChatMessageIn(OpenAIRequest):
    role: Literal["system", "developer", "user", "assistant"]
    content: Content

    def turn(self) -> ChatTurn:
        return ChatTurn("system" if self.role == "developer" else self.role, self.content)


class StreamOptions(OpenAIRequest):
    include_usage: bool | None = None


class ResponseFormat(OpenAIRequest):
    type: str = "text"


class ChatCompletionRequest(OpenAIRequest):
    model: ModelName = "auto"
    messages: Annotated[list[ChatMessageIn], Field(min_length=1, max_length=50)]
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)
    # accepted only at values that change nothing (see ``unsupported``)
    n: int | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: Any = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    stop: str | list[str] | None = None
    modalities: list[str] | None = None
    audio: Any = None

    def unsupported(self) -> str | None:
        """The first parameter whose value the gateway cannot honour, or None."""
        refused = {
            "n": self.n not in (None, 1),
            "tools": bool(self.tools),
            "functions": bool(self.functions),
            "tool_choice": self.tool_choice not in (None, "none"),
            "response_format": self.response_format is not None and self.response_format.type != "text",
            "logprobs": bool(self.logprobs),
            "stop": bool(self.stop),
            "modalities": self.modalities is not None and set(self.modalities) - {"text"} != set(),
            "audio": self.audio is not None,
        }
        return next((name for name, bad in refused.items() if bad), None)

    @property
    def token_limit(self) -> int:
        return self.max_completion_tokens or self.max_tokens or 512

    @property
    def usage_wanted(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ImageGenerationRequest(OpenAIRequest):
    prompt: OpenAIPrompt
    model: ModelName = "auto"
    n: int | None = None
    size: str | None = Field(default=None, max_length=20)
    response_format: Literal["url", "b64_json"] | None = None
    output_format: str | None = None
    user: str | None = Field(default=None, max_length=256)

    def unsupported(self) -> str | None:
        if self.n not in (None, 1):
            return "n"
        if self.output_format not in (None, "png"):
            return "output_format"
        if self.aspect_ratio() is None:
            return "size"
        return None

    def aspect_ratio(self) -> AspectRatio | None:
        """The gateway's aspect ratio nearest ``size`` (``WIDTHxHEIGHT`` or ``auto``); None: unreadable."""
        if self.size in (None, "auto"):
            return "1:1"
        match = _SIZE.match(self.size)
        if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
            return None
        ratio = math.log(int(match.group(1)) / int(match.group(2)))
        return min(_RATIOS, key=lambda name: abs(math.log(_RATIOS[name]) - ratio))  # type: ignore[return-value]


# ---- answers -------------------------------------------------------------------------------


class OpenAIAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantMessage(OpenAIAnswer):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class ChatChoice(OpenAIAnswer):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class CompletionUsage(OpenAIAnswer):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(OpenAIAnswer):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str  # provider/model that answered
    choices: list[ChatChoice]
    usage: CompletionUsage
    system_fingerprint: str | None = None


class ChunkDelta(OpenAIAnswer):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(OpenAIAnswer):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(OpenAIAnswer):
    """One ``data:`` event of a stream (``stream: true``); the stream ends with ``data: [DONE]``,
    or, when the provider broke off, with ``event: error`` and ``data: {"error": {...}}``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None


class ImageData(OpenAIAnswer):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(OpenAIAnswer):
    created: int
    data: list[ImageData]


class ModelObject(OpenAIAnswer):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    modes: list[str]  # ours: the modes (text, text-to-image) the model serves here


class ModelList(OpenAIAnswer):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class OpenAIErrorDetail(OpenAIAnswer):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class JobTimeoutDetail(OpenAIErrorDetail):
    job_id: str  # ours: fetch the job later at /api/v1/jobs/{job_id}


class OpenAIError(OpenAIAnswer):
    error: SerializeAsAny[OpenAIErrorDetail]
