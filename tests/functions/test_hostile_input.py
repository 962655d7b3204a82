"""Hostile and random input never gets a 500, and every refusal is the error envelope."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import wiring
from tests.conftest import function_client

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=20,
)
bodies = (
    st.dictionaries(
        st.sampled_from(
            [
                "prompt",
                "negative_prompt",
                "seed",
                "aspect_ratio",
                "provider",
                "stream",
                "messages",
                "duration_seconds",
                "max_tokens",
                "temperature",
                "strength",
                "extra",
            ]
        ),
        json_values,
        max_size=6,
    )
    | json_values
)

ENDPOINTS = [
    ("generate_text_to_image", "/api/v1/generate/text-to-image"),
    ("generate_text_to_video", "/api/v1/generate/text-to-video"),
    ("generate_text", "/api/v1/generate/text"),
]
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def generous(env, monkeypatch):
    monkeypatch.setenv("TIER_LIMITS", "anonymous=100000")
    monkeypatch.setenv("TEXT_TIER_LIMITS", "anonymous=100000")
    wiring.reset()


def _check(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        body = response.get_json()
        assert body["success"] is False and body["error_type"] and body["request_id"]
        assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("target", "path"), ENDPOINTS)
def test_random_json_bodies(generous, target, path):
    client = function_client(target)

    @FUZZ
    @given(body=bodies)
    def run(body):
        _check(client.post(path, json=body))

    run()


@FUZZ
@given(
    raw=st.binary(max_size=2000),
    content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1", ""]),
)
def test_random_bytes_as_json(generous, raw, content_type):
    _check(
        function_client("generate_text_to_image").post(
            "/api/v1/generate/text-to-image", data=raw, content_type=content_type
        )
    )


@FUZZ
@given(
    data=st.binary(max_size=3000),
    fields=st.dictionaries(st.sampled_from(["prompt", "strength", "seed", "x"]), st.text(max_size=30), max_size=4),
)
def test_random_uploads(generous, data, fields):
    form = {**fields, "image": (io.BytesIO(data), "f.png", "image/png")}
    response = function_client("generate_image_to_image").post(
        "/api/v1/generate/image-to-image", data=form, content_type="multipart/form-data"
    )
    _check(response)


@FUZZ
@given(
    path=st.text(alphabet=st.characters(codec="ascii", exclude_characters="?#"), max_size=60),
    method=st.sampled_from(["GET", "DELETE", "POST", "PUT", "PATCH"]),
)
def test_random_job_paths_and_methods(generous, path, method):
    _check(function_client("jobs").open("/api/v1/jobs/" + path, method=method))


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["Idempotency-Key", "X-Forwarded-For", "Authorization", "X-Request-Id", "Origin", "X-Cloud-Trace-Context"]
        ),
        st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=80),
        max_size=6,
    )
)
def test_random_headers(generous, headers):
    _check(
        function_client("generate_text_to_image").post(
            "/api/v1/generate/text-to-image", json={"prompt": "x"}, headers=headers
        )
    )
