"""The OpenAPI document states what the server answers (the fuzzer holds the server to it:
tests/contract/test_openapi_contract.py), and the edge models refuse what they say they refuse."""

from __future__ import annotations

import random
import re
import sys
import unicodedata
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from shared import http, models
from shared.api import openapi as _openapi_api  # noqa: F401 - imports every function's Api
from shared.config import Settings
from shared.domain import Mode
from shared.media import CONTENT_TYPES
from shared.openapi import build

GENERATE = ["text-to-image", "image-to-image", "text-to-video", "image-to-video"]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build([route for api in http.APIS for route in api.routes], "test")


def _responses(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return document["paths"][path][method]["responses"]


def test_cancel_documents_409_for_a_finished_job(document):
    responses = _responses(document, "/api/v1/jobs/{job_id}", "delete")
    assert {"200", "403", "404", "405", "409", "503"} <= responses.keys()


@pytest.mark.parametrize("mode", GENERATE)
def test_generation_documents_202_for_a_new_job_and_200_for_an_identical_submit(document, mode):
    responses = _responses(document, f"/api/v1/generate/{mode}", "post")
    for status in ("200", "202"):
        assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("/JobAccepted")
        assert {"Location", "RateLimit", "RateLimit-Policy", "X-Request-Id"} <= responses[status]["headers"].keys()
    assert {"400", "403", "404", "405", "413", "415", "422", "429", "503"} <= responses.keys()
    assert responses["429"]["headers"]["Retry-After"]["required"] is True


def test_text_documents_its_event_stream_beside_json(document):
    responses = _responses(document, "/api/v1/generate/text", "post")
    content = responses["200"]["content"]
    assert content["application/json"]["schema"]["$ref"].endswith("/TextAnswer")
    events = content["text/event-stream"]["schema"]["anyOf"]
    assert [e["properties"]["event"]["const"] for e in events] == ["start", "message", "error", "done"]
    assert {"400", "422", "424", "429", "502", "503"} <= responses.keys()


@pytest.mark.parametrize("mode", ["image-to-image", "image-to-video"])
def test_multipart_bodies_are_flat_forms_with_a_binary_image(document, mode):
    body = document["paths"][f"/api/v1/generate/{mode}"]["post"]["requestBody"]["content"]["multipart/form-data"]
    schema = body["schema"]
    assert "allOf" not in schema and "$ref" not in schema
    assert schema["properties"]["image"] == {**schema["properties"]["image"], "type": "string", "format": "binary"}
    assert {"image", "prompt"} <= set(schema["required"]) and schema["additionalProperties"] is False
    assert schema["properties"]["seed"]["type"] == "integer"  # a form has no null: the field is left out
    assert body["encoding"]["image"]["contentType"] == "image/png, image/jpeg, image/webp"


def test_task_routes_need_the_token(document):
    for path in ("/api/v1/tasks/run-job", "/api/v1/tasks/redispatch"):
        operation = document["paths"][path]["post"]
        assert "401" in operation["responses"]
        assert operation["security"] == [{"tasksToken": []}, {"tasksTokenHeader": []}]
    assert document["components"]["securitySchemes"]["tasksToken"]["scheme"] == "bearer"


def test_media_documents_403_its_query_and_every_file_type(document):
    operation = document["paths"]["/api/v1/media/{key}"]["get"]
    assert {"200", "403", "404"} <= operation["responses"].keys()
    types = {value.split(";")[0] for value in CONTENT_TYPES.values()}
    assert set(operation["responses"]["200"]["content"]) == types
    assert {(p["name"], p["in"], p["required"]) for p in operation["parameters"]} >= {
        ("exp", "query", True),
        ("sig", "query", True),
        ("key", "path", True),
    }


def test_every_error_is_the_documented_body_with_a_request_id(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or status in ("414", "431"):  # 414/431: the HTTP server's own
                    continue
                where = f"{method.upper()} {path} {status}"
                schema = response["content"]["application/json"]["schema"]["$ref"]
                expected = "/OpenAIError" if path.startswith("/v1/") else "/ErrorEnvelope"
                assert schema.endswith(expected), where
                assert response["headers"]["X-Request-Id"]["required"] is True, where


def test_the_document_names_only_statuses_it_describes(document):
    for methods in document["paths"].values():
        for operation in methods.values():
            assert all(re.fullmatch(r"[1-5][0-9][0-9]", status) for status in operation["responses"])


# ---- the edge models -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [False, True, "42", 1.5, -1, 4_294_967_295, None])
def test_a_json_seed_is_a_strict_integer(seed):
    if seed is None:
        assert models.TextToImageRequest.model_validate({"prompt": "x", "seed": None}).seed is None
        return
    with pytest.raises(ValidationError):
        models.TextToImageRequest.model_validate({"prompt": "x", "seed": seed})


def test_an_integral_json_number_is_an_integer():
    assert models.TextToImageRequest.model_validate({"prompt": "x", "seed": 42.0}).seed == 42


@pytest.mark.parametrize(
    ("field", "value"), [("stream", "yes"), ("stream", 1), ("max_tokens", True), ("temperature", "1")]
)
def test_text_request_numbers_and_flags_are_strict(field, value):
    with pytest.raises(ValidationError):
        models.TextRequest.model_validate({"prompt": "x", field: value})


def test_form_fields_read_a_decimal_numbers_text_and_nothing_else():
    body = models.ImageToImageRequest.model_validate({"prompt": "x", "seed": "42", "strength": "0.6"})
    assert (body.seed, body.strength) == (42, 0.6)
    for fields in ({"seed": "true"}, {"seed": " 42"}, {"seed": "4_2"}, {"strength": "nan"}, {"strength": "1.5"}):
        with pytest.raises(ValidationError):
            models.ImageToImageRequest.model_validate({"prompt": "x", **fields})


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        (models.TextToImageRequest, Mode.TEXT_TO_IMAGE),
        (models.ImageToImageRequest, Mode.IMAGE_TO_IMAGE),
        (models.TextToVideoRequest, Mode.TEXT_TO_VIDEO),
        (models.ImageToVideoRequest, Mode.IMAGE_TO_VIDEO),
        (models.TextRequest, Mode.TEXT),
    ],
)
def test_the_provider_names_per_mode_are_the_vendors_that_offer_it(model, mode):
    """A vendor offers a mode when its default model for it is set (shared/config.py)."""
    named = set(get_args(get_args(model.model_fields["provider"].annotation)[0]))
    offering = {name for name, vendor in Settings().vendors.items() if type(vendor)().models[mode]}
    assert named == offering | {"local"}
    with pytest.raises(ValidationError):
        model.model_validate({"prompt": "x", "provider": "nobody"})


def test_a_text_request_is_one_of_prompt_or_messages_with_a_user_turn():
    schema = models.TextRequest.model_json_schema()
    assert [branch["required"] for branch in schema["oneOf"]] == [["prompt"], ["messages"]]
    for body in ({}, {"prompt": "x", "messages": [{"role": "user", "content": "y"}]}):
        with pytest.raises(ValidationError):
            models.TextRequest.model_validate(body)
    with pytest.raises(ValidationError):
        models.TextRequest.model_validate({"messages": [{"role": "system", "content": "be brief"}]})
    assert models.TextRequest.model_validate({"prompt": None, "messages": [{"role": "user", "content": "y"}]})


def test_a_prompt_has_at_most_4000_characters_as_sent():
    models.TextToImageRequest.model_validate({"prompt": "x" * 4000})
    with pytest.raises(ValidationError):
        models.TextToImageRequest.model_validate({"prompt": "x" * 3999 + " " * 2})


def _excluded(code: int) -> bool:
    char = chr(code)
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def test_the_visible_pattern_is_every_character_but_whitespace_controls_and_format_characters():
    pattern = re.compile(models.VISIBLE)
    mismatched = [hex(c) for c in range(sys.maxunicode + 1) if bool(pattern.fullmatch(chr(c))) == _excluded(c)]
    assert mismatched == []


def test_the_visible_pattern_agrees_with_what_the_prompt_accepts():
    prompt = TypeAdapter(models.PromptText)
    pattern = re.compile(models.VISIBLE)
    rng = random.Random(7)
    excluded = [c for c in range(0x3100) if _excluded(c)] + [0x110BD, 0xE0001, 0xE0020, 0xE007F]
    # Lone surrogates are no text at all (pydantic refuses them in any string), so none is drawn.
    drawn = (rng.randrange(0x21, sys.maxunicode) for _ in range(4000))
    samples = [chr(c) for c in excluded] + [chr(c) for c in drawn if not 0xD800 <= c <= 0xDFFF]
    samples += [f" {a}\u200b{b} " for a, b in zip(samples[::2], samples[1::2], strict=False)]
    for text in samples:
        try:
            prompt.validate_python(text)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == bool(pattern.search(text)), repr(text)
