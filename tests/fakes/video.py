"""A real H.264 MP4 of a chosen size (lossless noise frames do not compress): a large vendor result."""

from __future__ import annotations

import io
import os

import av
from PIL import Image


def noise_mp4(size: int, width: int = 320, height: int = 240) -> bytes:
    """A playable MP4 of about ``size`` bytes (a little over or under: whole frames)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "0"}
        while out.tell() < size - 120 * 1024:
            noise = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
            for packet in stream.encode(av.VideoFrame.from_image(noise)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()
