"""Safe inspection of uploaded images: type, size and pixel limits, no decompression bombs."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from shared import errors

ALLOWED = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# What Pillow raises on hostile or broken bytes (beyond its bomb checks).
_DAMAGED = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    mime_type: str
    width: int
    height: int


def check_upload(data: bytes, max_bytes: int, max_side: int) -> CheckedImage:
    if not data:
        raise errors.ValidationFailed("The image file is empty.")
    if len(data) > max_bytes:
        raise errors.PayloadTooLarge(f"The image is larger than {max_bytes // (1024 * 1024)} MiB.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED))  # no other parser sees the bytes
        except UnidentifiedImageError:
            raise errors.UnsupportedMediaType("The upload is not a PNG, JPEG or WebP image.") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise errors.ValidationFailed("The image has too many pixels.") from None
        except _DAMAGED:  # e.g. a zTXt/iTXt text-chunk bomb raises ValueError
            raise errors.ValidationFailed("The image could not be read.") from None
        with image:
            if image.format not in ALLOWED:
                raise errors.UnsupportedMediaType("The upload is not a PNG, JPEG or WebP image.")
            width, height = image.size
            if width > max_side or height > max_side or width < 1 or height < 1:
                raise errors.ValidationFailed(
                    f"The image is {width}x{height}; at most {max_side}x{max_side} pixels are accepted."
                )
            try:
                image.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise errors.ValidationFailed("The image has too many pixels.") from None
            except _DAMAGED:
                raise errors.ValidationFailed("The image is damaged or truncated.") from None
            return CheckedImage(data, ALLOWED[image.format], width, height)
