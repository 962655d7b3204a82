"""What the OpenAPI document promises at the edge, through the real functions: strict JSON
numbers, provider names the product knows, form fields read as text; nothing stored when refused."""

from __future__ import annotations

import io

import pytest

from shared import wiring
from tests.conftest import function_client
from tests.helpers import png

T2I = "/api/v1/generate/text-to-image"
T2V = "/api/v1/generate/text-to-video"
I2I = "/api/v1/generate/image-to-image"
TEXT = "/api/v1/generate/text"


def _jobs_stored() -> int:
    queued, running = wiring.gateway().jobs.counts()
    return queued + running


def _refused(response, field: str) -> None:
    assert response.status_code == 422, response.get_data()[:300]
    body = response.get_json()
    assert body["error_type"] == "validation_error"
    assert [field] in [detail["loc"][-1:] for detail in body["details"]], body["details"]


@pytest.mark.parametrize("seed", [False, "42", 1.5])
def test_a_seed_that_is_no_integer_is_422_and_nothing_is_stored(env, seed):
    response = function_client("generate_text_to_image").post(T2I, json={"prompt": "a fox", "seed": seed})
    _refused(response, "seed")
    assert _jobs_stored() == 0


def test_an_unknown_provider_at_submit_is_422_and_nothing_is_stored(env):
    response = function_client("generate_text_to_image").post(T2I, json={"prompt": "a fox", "provider": "acme"})
    _refused(response, "provider")
    video = function_client("generate_text_to_video").post(T2V, json={"prompt": "waves", "provider": "stability"})
    _refused(video, "provider")  # a vendor that makes no video
    assert _jobs_stored() == 0


def test_an_unknown_provider_on_text_is_422_like_at_submit(env):
    _refused(function_client("generate_text").post(TEXT, json={"prompt": "hi", "provider": "acme"}), "provider")


def test_form_fields_are_read_as_a_numbers_text(env):
    client = function_client("generate_image_to_image")

    def submit(**fields: str):
        data = {"prompt": "at night", "image": (io.BytesIO(png()), "fox.png", "image/png"), **fields}
        return client.post(I2I, data=data, content_type="multipart/form-data")

    assert submit(seed="42", strength="0.6").status_code == 202
    _refused(submit(seed="true"), "seed")
    _refused(submit(strength="yes"), "strength")
    assert _jobs_stored() == 1


def test_a_text_request_without_a_user_turn_is_422(env):
    body = {"messages": [{"role": "system", "content": "be brief"}]}
    response = function_client("generate_text").post(TEXT, json=body)
    assert response.status_code == 422 and response.get_json()["error_type"] == "validation_error"
