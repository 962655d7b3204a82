"""``check_output``: a result is what its bytes are, never what the vendor says it is."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from shared.domain import ErrorKind, Mode, ProviderError
from shared.providers.base import MediaOutput
from shared.providers.results import OutputLimits, check_output
from tests.fakes.payloads import IMAGE_LIES, VIDEO_LIES, header_only_png
from tests.fakes.server import mp4_bytes
from tests.helpers import png

ROOT = Path(__file__).resolve().parents[2]
LIMITS = OutputLimits(max_side=4096, max_pixels=4096 * 4096)


def _bad(data: bytes, mode: Mode, mime: str, limits: OutputLimits = LIMITS) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        check_output(MediaOutput(data, mime), mode, limits)
    assert caught.value.kind is ErrorKind.BAD_OUTPUT and not caught.value.kind.fails_over
    return caught.value


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
@pytest.mark.parametrize("claimed", ["image/png", "image/gif", "application/octet-stream"])
def test_an_image_gets_its_real_type_and_size_whatever_was_claimed(fmt, mime, claimed):
    checked = check_output(MediaOutput(png(80, 60, fmt=fmt), claimed, {"seed": 7}), Mode.TEXT_TO_IMAGE, LIMITS)
    assert checked.mime_type == mime
    assert checked.meta == {"seed": 7, "width": 80, "height": 60}


@pytest.mark.parametrize("name", sorted(IMAGE_LIES))
@pytest.mark.parametrize("mode", [Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE])
def test_what_is_not_a_png_jpeg_or_webp_image_is_refused(name, mode):
    _bad(IMAGE_LIES[name], mode, "image/png")


def test_a_truncated_image_is_refused():
    data = png(300, 200, colour=(1, 2, 3))
    error = _bad(data[: len(data) // 2], Mode.TEXT_TO_IMAGE, "image/png")
    assert "damaged" in error.message or "read" in error.message


def test_image_limits_are_checked_before_decoding():
    _bad(png(200, 20), Mode.TEXT_TO_IMAGE, "image/png", OutputLimits(max_side=100, max_pixels=10**6))
    _bad(png(100, 100), Mode.TEXT_TO_IMAGE, "image/png", OutputLimits(max_side=1000, max_pixels=9999))
    _bad(header_only_png(5000), Mode.TEXT_TO_IMAGE, "image/png")  # never decoded: 25M pixels claimed


def test_a_video_is_an_mp4_with_a_frame_that_decodes():
    checked = check_output(
        MediaOutput(mp4_bytes(), "application/octet-stream", {"seconds": 3}), Mode.TEXT_TO_VIDEO, LIMITS
    )
    assert checked.mime_type == "video/mp4"
    assert checked.meta["width"] == 64 and checked.meta["height"] == 48 and checked.meta["frames"] == 4
    assert checked.meta["seconds"] == 3  # the billed duration the adapter set is kept
    measured = check_output(MediaOutput(mp4_bytes(), "video/mp4"), Mode.IMAGE_TO_VIDEO, LIMITS)
    assert measured.meta["seconds"] == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(VIDEO_LIES))
def test_what_is_not_an_mp4_is_refused(name):
    _bad(VIDEO_LIES[name], Mode.TEXT_TO_VIDEO, "video/mp4")


def test_a_video_larger_than_the_limits_is_refused():
    _bad(mp4_bytes(), Mode.TEXT_TO_VIDEO, "video/mp4", OutputLimits(max_side=32, max_pixels=10**6))


def test_an_image_where_a_video_was_asked_for_is_refused_and_the_reverse():
    _bad(png(), Mode.TEXT_TO_VIDEO, "video/mp4")
    _bad(mp4_bytes(), Mode.TEXT_TO_IMAGE, "image/png")


def test_decoded_pixels_are_what_was_sent():
    data = png(8, 8, colour=(9, 99, 199))
    checked = check_output(MediaOutput(data, "image/png"), Mode.TEXT_TO_IMAGE, LIMITS)
    assert checked.data == data and Image.open(io.BytesIO(checked.data)).getpixel((0, 0)) == (9, 99, 199)


def test_the_check_loads_no_pillow_or_pyav_until_it_runs():
    script = (
        "import sys, shared.providers.router, shared.providers.factory\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'av')))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
