"""Results are never trusted to be what they claim (design: "Trust boundaries").

``check_output`` sniffs the bytes and ignores the vendor's type: an image mode's result must
decode as PNG, JPEG or WebP within the pixel limits (Pillow, decompression-bomb warnings as
errors, as uploads are checked); a video mode's result must parse as an MP4/QuickTime container
with a video stream whose first frame decodes (PyAV, demuxer forced: untrusted bytes never pick
a demuxer such as HLS that would open URLs or files). Anything else is ``BAD_OUTPUT``: the job
fails with our words, is not retried and does not fail over (the vendor has already charged).

The result is read where it is: bytes in memory, or the temporary file a download was streamed
into (``MediaOutput.open()``), so a large video is checked from disk without being held whole.
Pillow and PyAV are imported on first use, so listing providers (health) never loads them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import IO, Any

from shared.domain import ErrorKind, Mode, ProviderError
from shared.providers.base import MediaOutput

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
VIDEO_TYPE = "video/mp4"
_MP4_FAMILY = {"mov", "mp4"}  # FFmpeg's mov demuxer: "mov,mp4,m4a,3gp,3g2,mj2"
_DEMUXER_OPTIONS = {"enable_drefs": "0", "use_absolute_path": "0"}  # never follow references out of the file


@dataclass(frozen=True)
class OutputLimits:
    max_side: int = 8192
    max_pixels: int = 24_000_000


def bad(message: str) -> ProviderError:
    return ProviderError(ErrorKind.BAD_OUTPUT, message)


def check_output(output: MediaOutput, mode: Mode, limits: OutputLimits) -> MediaOutput:
    """``output`` with its real type and size, or ``ProviderError(BAD_OUTPUT)``.

    ``meta`` keeps what the adapter set (seed; ``seconds`` is the billed duration, the one asked
    for) and gains the measured ``width``, ``height`` (and ``frames``, ``seconds`` if unset).
    """
    if mode is Mode.TEXT:
        raise ValueError("text is not a media mode")
    if not output.size:
        raise bad("The provider's result is empty.")
    if mode.is_video:
        mime, facts = VIDEO_TYPE, _video_facts(output.open(), limits)
    else:
        mime, facts = _image_facts(output.open(), limits)
    meta = {**output.meta, **facts}
    if "seconds" in output.meta:
        meta["seconds"] = output.meta["seconds"]
    return MediaOutput(output.body, mime, meta)


def _within(width: int, height: int, limits: OutputLimits, what: str) -> None:
    if not (1 <= width <= limits.max_side and 1 <= height <= limits.max_side) or width * height > limits.max_pixels:
        raise bad(f"The provider's {what} is {width}x{height} pixels, more than we accept.")


def _image_facts(data: IO[bytes], limits: OutputLimits) -> tuple[str, dict[str, Any]]:
    from PIL import Image, UnidentifiedImageError

    bombs = (Image.DecompressionBombError, Image.DecompressionBombWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(data, formats=tuple(IMAGE_TYPES))
        except UnidentifiedImageError:
            raise bad("The provider's result is not a PNG, JPEG or WebP image.") from None
        except bombs:
            raise bad("The provider's image has too many pixels.") from None
        except (OSError, ValueError, SyntaxError):
            raise bad("The provider's image could not be read.") from None
        with image:
            width, height = image.size
            _within(width, height, limits, "image")
            try:
                image.load()
            except bombs:
                raise bad("The provider's image has too many pixels.") from None
            except (OSError, ValueError, SyntaxError, EOFError):
                raise bad("The provider's image is damaged or truncated.") from None
            return IMAGE_TYPES[str(image.format)], {"width": width, "height": height}


def _video_facts(data: IO[bytes], limits: OutputLimits) -> dict[str, Any]:
    import av

    try:
        with av.open(data, mode="r", format="mp4", options=_DEMUXER_OPTIONS) as container:
            if not _MP4_FAMILY & set(container.format.name.split(",")):
                raise bad("The provider's video is not an MP4.")
            if not container.streams.video:
                raise bad("The provider's video has no picture.")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            _within(width, height, limits, "video")
            if next(container.decode(stream), None) is None:
                raise bad("The provider's video has no frame that decodes.")
            facts: dict[str, Any] = {"width": width, "height": height}
            if stream.frames:
                facts["frames"] = int(stream.frames)
            if container.duration:
                facts["seconds"] = round(container.duration / av.time_base, 3)
            return facts
    except (av.FFmpegError, ValueError, OSError, EOFError, IndexError):
        raise bad("The provider's result is not a playable MP4 video.") from None
