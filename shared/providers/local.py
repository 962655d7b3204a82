"""The offline ``local`` provider: real PNGs, H.264 MP4s and text, deterministic from prompt + seed.

It needs no key and no network, so the embedded default works on a fresh machine, and it is
the reference implementation of the provider interface. The renderer (Pillow, PyAV) is
imported on first use, so constructing the provider is cheap.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

from shared.domain import Mode
from shared.providers.base import (
    ErrorKind,
    GenerationRequest,
    MediaOutput,
    Provider,
    ProviderError,
    TaskContext,
    TextOutput,
    TextRequest,
)

_STYLES = (
    "soft morning light",
    "cinematic depth of field",
    "rich texture",
    "muted film colours",
    "high detail",
    "dramatic shadows",
    "pastel palette",
    "wide-angle composition",
)


def seeded_rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class LocalProvider(Provider):
    name = "local"
    modes = frozenset(Mode)

    def __init__(self, video_fps: int = 12, delay_seconds: float = 0.0) -> None:
        self.video_fps = video_fps
        self.delay_seconds = delay_seconds

    def model_for(self, mode: Mode) -> str:
        return f"local-{mode.value}"

    def generate(self, request: GenerationRequest, context: TaskContext) -> MediaOutput:
        from shared.providers.local_render import (
            animate,
            blend,
            encode_mp4,
            open_upload,
            png_bytes,
            render_scene,
            size_for,
            transform,
        )

        if self.delay_seconds:
            context.sleep(self.delay_seconds)
        if request.mode.needs_image:
            if request.image is None:
                raise ProviderError(ErrorKind.BAD_REQUEST, "This mode needs an image.", provider=self.name)
            base = open_upload(request.image)
        else:
            base = None
        meta = {"seed": request.seed}
        if request.mode is Mode.TEXT_TO_IMAGE:
            image = render_scene(request.prompt, request.seed, size_for(request.aspect_ratio))
        elif request.mode is Mode.IMAGE_TO_IMAGE:
            assert request.image is not None
            image = transform(request.image, request.prompt, request.seed, request.strength)
        elif request.mode.is_video:
            if base is None:
                base = render_scene(request.prompt, request.seed, size_for(request.aspect_ratio))
            else:
                base = blend(base, render_scene(request.prompt, request.seed, base.size), 0.25)
            frames = animate(base, request.prompt, request.seed, request.duration_seconds, self.video_fps)
            meta.update(
                width=base.width, height=base.height, frames=len(frames), seconds=round(len(frames) / self.video_fps, 3)
            )
            return MediaOutput(encode_mp4(frames, self.video_fps), "video/mp4", meta)
        else:
            raise ProviderError(ErrorKind.BAD_REQUEST, "Text is not a media mode.", provider=self.name)
        meta.update(width=image.width, height=image.height)
        return MediaOutput(png_bytes(image), "image/png", meta)

    def _answer(self, request: TextRequest) -> str:
        prompt = request.messages[-1].content
        rng = seeded_rng(prompt, request.temperature)
        styles = rng.sample(_STYLES, 3)
        words = prompt.split()
        subject = " ".join(words[:12])
        text = (
            f"Here is a richer version of your idea: {subject}, rendered with {styles[0]}, "
            f"{styles[1]} and {styles[2]}. Keep the main subject centred, add a clear light "
            f"source, and describe the mood in one more word ({len(words)} words in, "
            f"offline local model)."
        )
        return " ".join(text.split()[: max(request.max_tokens, 1)])

    def complete(self, request: TextRequest) -> TextOutput:
        text = self._answer(request)
        prompt_tokens = sum(len(m.content.split()) for m in request.messages)
        return TextOutput(text, self.model_for(Mode.TEXT), prompt_tokens, len(text.split()))

    def stream(self, request: TextRequest) -> Iterator[str]:
        words = self._answer(request).split(" ")
        for index, word in enumerate(words):
            yield word if index == 0 else " " + word
