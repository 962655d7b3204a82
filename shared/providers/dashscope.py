"""Alibaba DashScope: Qwen/Wan images and Wan video through async tasks.

Create with ``X-DashScope-Async: enable`` -> ``output.task_id``; poll ``GET /api/v1/tasks/{id}``
(PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, UNKNOWN). A FAILED task still answers HTTP 200
with ``output.code``. Result URLs expire, so the bytes are downloaded at once.
"""

from __future__ import annotations

import base64
from typing import IO, Any

import requests

from shared.domain import Mode
from shared.providers.base import ErrorKind, GenerationRequest, MediaOutput, ProviderError, TaskContext
from shared.providers.vendor_base import VendorProvider, pack_task, unpack_task
from shared.providers.vendor_http import fail, json_body, kind_for_status, retry_after

_PATHS = {
    Mode.TEXT_TO_IMAGE: "/api/v1/services/aigc/text2image/image-synthesis",
    Mode.IMAGE_TO_IMAGE: "/api/v1/services/aigc/image2image/image-synthesis",
    Mode.TEXT_TO_VIDEO: "/api/v1/services/aigc/video-generation/video-synthesis",
    Mode.IMAGE_TO_VIDEO: "/api/v1/services/aigc/video-generation/video-synthesis",
}
_IMAGE_SIZES = {"1:1": "1328*1328", "16:9": "1664*928", "9:16": "928*1664", "4:3": "1472*1140", "3:4": "1140*1472"}
_VIDEO_SIZES = {"16:9": "1280*720", "9:16": "720*1280", "1:1": "960*960", "4:3": "1088*832", "3:4": "832*1088"}


def code_kind(code: str, status: int) -> ErrorKind:
    """DashScope error codes (both HTTP errors and FAILED tasks) to our kinds."""
    if code.startswith("DataInspectionFailed") or "Inappropriate" in code or code == "IPInfringementSuspect":
        return ErrorKind.MODERATION
    if code in ("InvalidApiKey", "AccessDenied", "Unauthorized") or code.startswith("AccessDenied"):
        return ErrorKind.AUTH
    if code in ("Arrearage", "Throttling.AllocationQuota", "FreeTierOnly"):
        return ErrorKind.QUOTA
    if code.startswith("Throttling"):
        return ErrorKind.RATE_LIMITED
    if code in ("InternalError", "SystemError", "ServiceUnavailable") or code.startswith("InternalError"):
        return ErrorKind.UNAVAILABLE
    if code.startswith("InvalidParameter") or code == "BadRequest":
        return ErrorKind.BAD_REQUEST
    return kind_for_status(status) if status >= 400 else ErrorKind.UNAVAILABLE


class DashScopeProvider(VendorProvider):
    name = "dashscope"
    key_check_path = "/compatible-mode/v1/models"  # check_key: a cheap authenticated GET
    supported = frozenset(_PATHS)

    def classify(self, response: requests.Response) -> ProviderError:
        code = str(json_body(response).get("code", ""))
        return fail(code_kind(code, response.status_code), self.name, retry_after(response))

    def _body(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        data_uri = None
        if request.mode.needs_image:
            if request.image is None:
                raise fail(ErrorKind.BAD_REQUEST, self.name, message="This mode needs an image.")
            mime = request.image_mime or "image/png"
            data_uri = f"data:{mime};base64,{base64.b64encode(request.image).decode()}"
        prompt: dict[str, Any] = {"prompt": request.prompt}
        if request.negative_prompt:
            prompt["negative_prompt"] = request.negative_prompt
        parameters: dict[str, Any] = {"seed": request.seed}
        if request.mode is Mode.TEXT_TO_IMAGE:
            parameters.update(n=1, size=_IMAGE_SIZES.get(request.aspect_ratio, "1328*1328"))
        elif request.mode is Mode.IMAGE_TO_IMAGE:
            prompt.update(function="description_edit", base_image_url=data_uri)
            parameters.update(n=1, strength=request.strength)
        else:
            parameters["duration"] = max(1, round(request.duration_seconds))
            if request.mode is Mode.TEXT_TO_VIDEO:
                parameters["size"] = _VIDEO_SIZES.get(request.aspect_ratio, "1280*720")
            else:
                prompt["img_url"] = data_uri
        return {"model": model, "input": prompt, "parameters": parameters}

    def generate(self, request: GenerationRequest, context: TaskContext) -> MediaOutput:
        model = self.model(request.mode)
        if context.resume_task_id:
            key_index, task_id = unpack_task(context.resume_task_id)
        else:
            reply = self.http.request(
                "POST", _PATHS[request.mode], json=self._body(request, model), headers={"X-DashScope-Async": "enable"}
            )
            task_id = str(json_body(reply.response).get("output", {}).get("task_id", ""))
            if not task_id:
                raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider accepted no task.")
            key_index = reply.key_index
            context.save_task_id(pack_task(key_index, task_id))
        data = self.poll(context, lambda: self._check(task_id, key_index))
        if request.mode.is_video:  # billed per second of the duration asked for
            return MediaOutput(
                data, "video/mp4", {"seed": request.seed, "seconds": max(1, round(request.duration_seconds))}
            )
        return MediaOutput(data, "image/png", {"seed": request.seed})

    def _check(self, task_id: str, key_index: int) -> IO[bytes] | None:
        reply = self.http.request("GET", f"/api/v1/tasks/{task_id}", key_index=key_index)
        output = json_body(reply.response).get("output")
        if not isinstance(output, dict) or "task_status" not in output:
            return None  # an answer that says nothing (not JSON, no status) is no news: poll again, within the deadline
        status = str(output["task_status"]).upper()
        if status in ("PENDING", "RUNNING"):
            return None
        if status == "SUCCEEDED":
            url = output.get("video_url") or next(
                (r.get("url") for r in output.get("results", []) if isinstance(r, dict) and r.get("url")), None
            )
            if not url:
                raise fail(ErrorKind.MODERATION, self.name)  # succeeded with every result filtered
            return self.http.download_file(str(url))
        if status == "FAILED":
            raise fail(code_kind(str(output.get("code", "")), 200), self.name)
        if status == "CANCELED":
            raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider canceled the task.")
        raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider no longer knows this task.")
