"""The offline ``local`` provider: real PNGs, H.264 MP4s and text, deterministic from prompt + seed.

It needs no key and no network, so the embedded default works on a fresh machine, and it is
the reference implementation of the provider interface.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import textwrap
from collections.abc import Iterator

import av
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from shared.models import Mode
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

LONG_SIDE = 512
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


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def size_for(aspect_ratio: str, long_side: int = LONG_SIDE) -> tuple[int, int]:
    w, h = (int(x) for x in aspect_ratio.split(":"))
    if w >= h:
        width, height = long_side, long_side * h / w
    else:
        width, height = long_side * w / h, long_side
    return int(width) // 16 * 16, int(height) // 16 * 16


def render_scene(prompt: str, seed: int, size: tuple[int, int]) -> Image.Image:
    rng = _rng(prompt, seed)
    width, height = size
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(6 + len(prompt) % 7):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(max(width, height) // 12, max(width, height) // 3)
        colour = (*(rng.randrange(256) for _ in range(3)), rng.randrange(90, 200))
        box = (x - r, y - r, x + r, y + r)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(radius=2))
    _caption(image, prompt)
    return image


def _caption(image: Image.Image, text: str) -> None:
    draw = ImageDraw.Draw(image, "RGBA")
    font = ImageFont.load_default(size=max(12, image.width // 32))
    lines = textwrap.wrap(text, width=max(16, image.width // 12))[:3]
    line_height = font.size + 4
    top = image.height - line_height * len(lines) - 12
    draw.rectangle((0, top - 6, image.width, image.height), fill=(0, 0, 0, 140))
    for i, line in enumerate(lines):
        draw.text((10, top + i * line_height), line, fill=(255, 255, 255, 255), font=font)


def _open_upload(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((LONG_SIDE, LONG_SIDE))
    width, height = max(16, image.width // 16 * 16), max(16, image.height // 16 * 16)
    return image.resize((width, height))


def transform(upload: bytes, prompt: str, seed: int, strength: float) -> Image.Image:
    source = _open_upload(upload)
    scene = render_scene(prompt, seed, source.size)
    stylised = ImageOps.posterize(ImageOps.autocontrast(source), 3)
    return Image.blend(stylised, scene, alpha=0.15 + 0.7 * strength)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def encode_mp4(frames: list[Image.Image], fps: int) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def animate(base: Image.Image, prompt: str, seed: int, seconds: float, fps: int) -> list[Image.Image]:
    rng = _rng(prompt, seed, "motion")
    count = max(2, int(round(seconds * fps)))
    width, height = base.size
    colour = (*(rng.randrange(256) for _ in range(3)), 200)
    frames = []
    for i in range(count):
        t = i / (count - 1)
        zoom = 1.0 + 0.15 * t
        crop_w, crop_h = width / zoom, height / zoom
        left = (width - crop_w) * t
        frame = base.crop((left, (height - crop_h) / 2, left + crop_w, (height + crop_h) / 2))
        frame = frame.resize((width, height))
        draw = ImageDraw.Draw(frame, "RGBA")
        cx = width * t
        cy = height / 2 + math.sin(t * 2 * math.pi) * height / 4
        r = min(width, height) / 10
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        frames.append(frame)
    return frames


class LocalProvider(Provider):
    name = "local"
    modes = frozenset(Mode)

    def __init__(self, video_fps: int = 12, delay_seconds: float = 0.0) -> None:
        self.video_fps = video_fps
        self.delay_seconds = delay_seconds

    def model_for(self, mode: Mode) -> str:
        return f"local-{mode.value}"

    def generate(self, request: GenerationRequest, context: TaskContext) -> MediaOutput:
        if self.delay_seconds:
            context.sleep(self.delay_seconds)
        if request.mode.needs_image:
            if request.image is None:
                raise ProviderError(ErrorKind.BAD_REQUEST, "This mode needs an image.", provider=self.name)
            base = _open_upload(request.image)
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
                base = Image.blend(base, render_scene(request.prompt, request.seed, base.size), 0.25)
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
        rng = _rng(prompt, request.temperature)
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
