"""What a lying vendor answers with: bytes that claim to be an image or a video and are not."""

from __future__ import annotations

import io
import random
import struct
import zlib
from functools import cache

from PIL import Image

from tests.fakes.server import mp4_bytes, png_bytes

SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
    b"<script>fetch('/api/v1/me')</script><rect width='64' height='48'/></svg>"
)
HTML = b"<!doctype html><html><body><script>document.location='https://evil.invalid'</script></body></html>"
GARBAGE = bytes(random.Random(7).randrange(256) for _ in range(4096))


@cache
def gif_bytes() -> bytes:
    """A real GIF: a valid image, but not a type we store."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 10)).save(out, format="GIF")
    return out.getvalue()


@cache
def noise_png(side: int = 600) -> bytes:
    """A valid PNG that does not compress: about ``3 * side**2`` bytes."""
    noise = random.Random(side).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), noise).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header_only_png(side: int) -> bytes:
    """A PNG that claims ``side`` x ``side`` 1-bit pixels and carries a few rows: a bomb if decoded."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = zlib.compress((b"\x00" * (1 + (side + 7) // 8)) * 8)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def truncated_mp4() -> bytes:
    data = mp4_bytes()
    return data[: len(data) // 2]


# Bytes that claim ``image/png``; none of them may be stored as an image.
IMAGE_LIES: dict[str, bytes] = {
    "svg": SVG,
    "html": HTML,
    "gif": gif_bytes(),
    "garbage": GARBAGE,
    "bomb": header_only_png(30000),  # past Pillow's own bomb limit
    "huge": header_only_png(9000),  # under Pillow's limit, past ours
    "empty": b"",
}
# Bytes that claim ``video/mp4``; none of them may be stored as a video.
VIDEO_LIES: dict[str, bytes] = {
    "png": png_bytes(),
    "html": HTML,
    "gif": gif_bytes(),
    "garbage": GARBAGE,
    "truncated": truncated_mp4(),
}
