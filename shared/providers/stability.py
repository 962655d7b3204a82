"""Stability AI (images): ``POST /v2beta/stable-image/generate/{ultra|core|sd3}``, multipart.

The model id is the endpoint (``core``, ``ultra``) or an SD3 model (``sd3.5-large``), sent to the
``sd3`` endpoint with a ``model`` field. With ``Accept: image/*`` the answer is the raw image.
Video is not routed here: Stability's video API was shut down.
"""

from __future__ import annotations

import requests

from shared.domain import Mode
from shared.providers.base import ErrorKind, GenerationRequest, MediaOutput, ProviderError, TaskContext
from shared.providers.vendor_base import VendorProvider
from shared.providers.vendor_http import fail, json_body, kind_for_status, retry_after

_MODERATION_NAMES = {"content_moderation"}


class StabilityProvider(VendorProvider):
    name = "stability"
    key_check_path = "/v1/user/balance"  # check_key: a cheap authenticated GET
    supported = frozenset({Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE})

    def classify(self, response: requests.Response) -> ProviderError:
        body = json_body(response)
        name = str(body.get("name", "")).lower()
        status = response.status_code
        if status == 403 or name in _MODERATION_NAMES:
            return fail(ErrorKind.MODERATION, self.name)
        if status == 413:
            return fail(ErrorKind.BAD_REQUEST, self.name, message="The image or prompt is too large for the provider.")
        return fail(kind_for_status(status), self.name, retry_after(response))

    def generate(self, request: GenerationRequest, context: TaskContext) -> MediaOutput:
        model = self.model(request.mode)
        endpoint, sd3_model = ("sd3", model) if model.startswith("sd3") else (model, None)
        fields: dict[str, str] = {"prompt": request.prompt, "output_format": "png", "seed": str(request.seed)}
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if sd3_model:
            fields["model"] = sd3_model
        files: dict[str, tuple[str | None, bytes | str, str] | tuple[str | None, str]] = {}
        if request.mode is Mode.IMAGE_TO_IMAGE:
            if request.image is None:
                raise fail(ErrorKind.BAD_REQUEST, self.name, message="This mode needs an image.")
            fields.update(mode="image-to-image", strength=str(request.strength))
            files["image"] = ("image", request.image, request.image_mime or "application/octet-stream")
        else:
            fields["aspect_ratio"] = request.aspect_ratio
        # requests sends multipart only with ``files``: every field goes as a form part.
        for name, value in fields.items():
            files[name] = (None, value)
        path = f"/v2beta/stable-image/generate/{endpoint}"
        response = self.http.request("POST", path, files=files, headers={"Accept": "image/*"}, stream=True).response
        if response.headers.get("finish-reason", "SUCCESS").upper() == "CONTENT_FILTERED":
            response.close()
            raise fail(ErrorKind.MODERATION, self.name)
        seed = response.headers.get("seed", "")
        meta: dict[str, object] = {"seed": int(seed) if seed.isdigit() else request.seed}
        # the answer's bytes, size-capped; the router checks what they really are (not Content-Type)
        return MediaOutput(self.http.read(response), "image/png", meta)
