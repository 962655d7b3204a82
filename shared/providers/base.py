"""The provider interface every adapter implements, and the error kinds they map vendors to."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from shared.domain import ChatTurn, ErrorKind, Mode, ProviderError

__all__ = [
    "ErrorKind",
    "GenerationRequest",
    "JobContext",
    "MediaOutput",
    "Provider",
    "ProviderError",
    "TaskContext",
    "TextOutput",
    "TextRequest",
]


@dataclass(frozen=True)
class GenerationRequest:
    mode: Mode
    prompt: str
    negative_prompt: str | None = None
    aspect_ratio: str = "1:1"
    seed: int = 0
    strength: float = 0.5
    duration_seconds: float = 2.0
    image: bytes | None = None
    image_mime: str | None = None


@dataclass(frozen=True)
class MediaOutput:
    """A media result. ``body`` is its bytes, or a temporary file holding them (a downloaded result:
    ``VendorHttp.download_file``), so a large video is checked and stored without being held whole."""

    body: bytes | IO[bytes]
    mime_type: str
    meta: dict[str, Any] = field(default_factory=dict)

    def open(self) -> IO[bytes]:
        """The result as a file, at its start (the body itself when it is a file)."""
        if isinstance(self.body, bytes):
            return io.BytesIO(self.body)
        self.body.seek(0)
        return self.body

    @property
    def size(self) -> int:
        if isinstance(self.body, bytes):
            return len(self.body)
        return self.body.seek(0, io.SEEK_END)

    @property
    def data(self) -> bytes:
        """The whole result in memory (small results, tests); checking and storing use ``open()``."""
        return self.body if isinstance(self.body, bytes) else self.open().read()


@dataclass(frozen=True)
class TextRequest:
    messages: list[ChatTurn]
    max_tokens: int = 512
    temperature: float = 0.7


@dataclass(frozen=True)
class TextOutput:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class TaskContext:
    """What an async adapter needs from the job it serves.

    ``resume_task_id`` is a vendor task saved by an earlier attempt: poll it instead of
    paying twice. ``save_task_id`` persists a new one before waiting. ``sleep`` is injected.
    """

    sleep: Callable[[float], None]
    resume_task_id: str | None = None
    save_task_id: Callable[[str], None] = lambda _task_id: None


@dataclass
class JobContext:
    """The job-side view the router turns into one ``TaskContext`` per provider it tries."""

    sleep: Callable[[float], None]
    resume_provider: str | None = None
    resume_task_id: str | None = None
    save_task: Callable[[str, str], None] = lambda _provider, _task_id: None

    def for_provider(self, name: str) -> TaskContext:
        resume = self.resume_task_id if self.resume_provider == name else None
        return TaskContext(self.sleep, resume, lambda task_id: self.save_task(name, task_id))


class Provider(ABC):
    name: str = ""
    modes: frozenset[Mode] = frozenset()
    paid: bool = False  # a paid provider is routed only for models with a price

    def model_for(self, mode: Mode) -> str:
        return self.name

    @abstractmethod
    def generate(self, request: GenerationRequest, context: TaskContext) -> MediaOutput:
        """Produce an image or video for a media mode."""

    @abstractmethod
    def complete(self, request: TextRequest) -> TextOutput: ...

    @abstractmethod
    def stream(self, request: TextRequest) -> Iterator[str]:
        """Yield text deltas; raise ``ProviderError`` if the upstream breaks midway."""
