"""The ``local`` provider's renderer: Pillow images and PyAV H.264 video, deterministic from
prompt + seed. Kept apart from ``local`` so that listing providers (health) never imports PyAV.
"""

from __future__ import annotations

import io
import math
import textwrap

import av
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from shared.providers.local import seeded_rng as _rng

LONG_SIDE = 512


def blend(base: Image.Image, overlay: Image.Image, alpha: float) -> Image.Image:
    return Image.blend(base, overlay, alpha)


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


def open_upload(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((LONG_SIDE, LONG_SIDE))
    width, height = max(16, image.width // 16 * 16), max(16, image.height // 16 * 16)
    return image.resize((width, height))


def transform(upload: bytes, prompt: str, seed: int, strength: float) -> Image.Image:
    source = open_upload(upload)
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
