"""Deduplicated submits share a job id that only the server can compute."""

from __future__ import annotations

import re

from shared.domain import Mode
from shared.services.jobs import dedupe_key, derived_job_id

NOW = 1_800_000_000.0


def test_identical_submits_in_one_window_share_a_key_and_anything_else_does_not():
    key = dedupe_key("ip:1.2.3.4", Mode.TEXT_TO_IMAGE, {"prompt": "fox"}, None, NOW, 30)
    assert key == dedupe_key("ip:1.2.3.4", Mode.TEXT_TO_IMAGE, {"prompt": "fox"}, None, NOW + 9, 30)
    others = {
        dedupe_key("ip:1.2.3.5", Mode.TEXT_TO_IMAGE, {"prompt": "fox"}, None, NOW, 30),
        dedupe_key("ip:1.2.3.4", Mode.TEXT_TO_VIDEO, {"prompt": "fox"}, None, NOW, 30),
        dedupe_key("ip:1.2.3.4", Mode.TEXT_TO_IMAGE, {"prompt": "fox", "seed": 1}, None, NOW, 30),
        dedupe_key("ip:1.2.3.4", Mode.TEXT_TO_IMAGE, {"prompt": "fox"}, b"image", NOW, 30),
        dedupe_key("ip:1.2.3.4", Mode.TEXT_TO_IMAGE, {"prompt": "fox"}, None, NOW + 30, 30),
    }
    assert key not in others and len(others) == 5


def test_the_derived_id_is_a_valid_job_id_that_needs_the_secret():
    key = dedupe_key("ip:1.2.3.4", Mode.TEXT_TO_IMAGE, {"prompt": "fox"}, None, NOW, 30)
    job_id = derived_job_id(b"server secret", key)
    assert job_id == derived_job_id(b"server secret", key)
    assert job_id != derived_job_id(b"another secret", key) and key not in job_id
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", job_id)
