"""The OpenAI-compatible surface: ``/v1/chat/completions``, ``/v1/images/generations``, ``/v1/models``.

An existing OpenAI client pointed at ``<gateway>/v1`` works unchanged. Behind it are the same use
cases as the gateway's own routes: admission (fair use), the provider routes with failover, BYOK,
the text response cache, and jobs (the usage records). Images go through the job queue; the
request waits for its job up to ``OPENAI_IMAGES_WAIT_SECONDS``, then answers 504 naming the job id
(the job goes on: ``GET /api/v1/jobs/{id}``). Errors have OpenAI's shape (``openai_views.error_body``).

Who calls: ``services.api_caller`` (a gateway API key ``sk-gw-…`` plugs in there, see
shared/gateway_keys.py); with ``OPENAI_COMPAT_ANONYMOUS=false`` a caller who is not signed in
gets a 401.
"""

from __future__ import annotations

from urllib.parse import urljoin

import flask

from shared import errors, http, wiring
from shared.api import openai_views as views
from shared.api.views import links
from shared.domain import Caller, JobSnapshot, JobStatus, Mode
from shared.failures import job_failure
from shared.openai_models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ImageGenerationRequest,
    ImagesResponse,
    ModelList,
    ModelObject,
    OpenAIError,
)


def _caller(call: http.Call) -> Caller:
    caller = wiring.services().api_caller(call.request)
    if caller.user_id is None and not call.settings.openai_compat_anonymous:
        raise errors.Unauthorized(
            "This API needs a key: send 'Authorization: Bearer' with your gateway API key or a session token."
        )
    return caller


def _refuse(param: str | None) -> None:
    if param is not None:
        message = f"The parameter '{param}' is not supported with this value here."
        details = [{"loc": [param], "msg": message, "type": "unsupported_parameter"}]
        raise errors.UnsupportedParameter(message, details=details)


def _chat(call: http.Call) -> http.Reply | flask.Response:
    from shared.services.text import TextQuery  # not at import: main.py imports every function

    body: ChatCompletionRequest = call.body
    _refuse(body.unsupported())
    services = wiring.services()
    caller = _caller(call)
    provider = services.models.resolve(body.model, Mode.TEXT)  # every cheap check before admission
    headers = services.admission.admit(caller, "text")
    messages = [message.turn() for message in body.messages]
    bounds = {"temperature": body.temperature} if body.temperature is not None else {}
    query = TextQuery(messages, body.token_limit, provider=provider, **bounds)
    cid, created = views.completion_id(), int(services.now())
    if body.stream:
        events = services.text.stream(query, caller)  # a refusal before any text is a normal error answer
        prompt_chars = sum(len(m.content) for m in messages)
        return views.event_stream(views.chat_stream(events, cid, created, prompt_chars, body.usage_wanted), headers)
    result = services.text.complete(query, caller)
    return http.Reply(views.chat_completion(result, cid, created, query.max_tokens), headers=headers)


def _unfinished(snapshot: JobSnapshot, waited: float, headers: dict[str, str]) -> errors.AppError:
    job = snapshot.job
    if job.status is JobStatus.FAILED:
        failure = job_failure(job.error)
        failure.headers.update(headers)
        return failure
    if job.status is JobStatus.CANCELED:
        return errors.Conflict("The image job was canceled.", headers=headers)
    link = links(job.id).self
    return errors.JobTimeout(
        f"The image is not ready after {waited:g} seconds: job {job.id} is {job.status.value}. "
        f"It goes on; fetch it later at {link}.",
        details=[{"job_id": job.id, "status": job.status.value}],
        # a retry would queue (and pay for) another image: fetch this one instead
        headers={**headers, "Location": link, "x-should-retry": "false"},
    )


def _images(call: http.Call) -> http.Reply:
    body: ImageGenerationRequest = call.body
    _refuse(body.unsupported())
    services = wiring.services()
    caller = _caller(call)
    provider = services.models.resolve(body.model, Mode.TEXT_TO_IMAGE)
    headers = services.admission.admit(caller, "media", enqueue=True)
    params = {"prompt": body.prompt, "aspect_ratio": body.aspect_ratio()}
    if provider is not None:
        params["provider"] = provider
    submitted, _ = services.jobs.submit(caller, Mode.TEXT_TO_IMAGE, params)
    waited = call.settings.openai_images_wait_seconds
    snapshot = services.jobs.wait(caller, submitted.job.id, waited)
    if snapshot.job.status is not JobStatus.SUCCEEDED:
        raise _unfinished(snapshot, waited, headers)
    created = int(snapshot.job.finished_at or services.now())
    headers = {**headers, "X-Job-Id": snapshot.job.id}  # the job is also the usage record
    if body.response_format == "b64_json":
        data, _ = services.jobs.result_data(snapshot)
        return http.Reply(views.images_response(created, data, None), headers=headers)
    url = urljoin(call.request.host_url, snapshot.result_url or "")  # absolute, also without PUBLIC_BASE_URL
    return http.Reply(views.images_response(created, None, url), headers=headers)


def _models(call: http.Call) -> http.Reply:
    _caller(call)
    return http.Reply(views.model_list(wiring.services().models.offers()))


def _model(call: http.Call) -> http.Reply:
    _caller(call)
    wanted = call.params["model"]
    for offer in wiring.services().models.offers():
        if offer.id == wanted:
            return http.Reply(views.model_object(offer))
    raise errors.ModelNotFound(f"The model '{wanted[:100]}' is not offered here. GET /v1/models lists the models.")


api = http.Api(
    "openai_compat",
    "/v1",
    [
        http.post(
            "/chat/completions",
            _chat,
            body=ChatCompletionRequest,
            answer=ChatCompletion,
            answer_media=("text/event-stream",),
            events=(("message", ChatCompletionChunk), ("message", "[DONE]"), ("error", OpenAIError)),
            summary="OpenAI chat completion (JSON, or chat.completion.chunk events when stream is true)",
            tag="openai",
            errors=(401, 424, 429, 502, 503),  # 404: a model not offered here
            headers=("RateLimit", "RateLimit-Policy"),
            error_answer=OpenAIError,
            invalid=400,
        ),
        http.post(
            "/images/generations",
            _images,
            body=ImageGenerationRequest,
            answer=ImagesResponse,
            summary="OpenAI image generation: queued as a text-to-image job, answered when it is done",
            tag="openai",
            # the job's own failure: 400 content policy, 409 canceled, 424 the caller's key, 502/503
            # the provider; 504: not done within OPENAI_IMAGES_WAIT_SECONDS (the job goes on)
            errors=(401, 409, 424, 429, 502, 503, 504),
            headers=("RateLimit", "RateLimit-Policy", "X-Job-Id"),
            error_answer=OpenAIError,
            invalid=400,
        ),
        http.get(
            "/models",
            _models,
            answer=ModelList,
            summary="The models this deployment offers",
            tag="openai",
            errors=(401,),
            error_answer=OpenAIError,
        ),
        http.get(
            "/models/<path:model>",
            _model,
            answer=ModelObject,
            summary="One offered model",
            tag="openai",
            errors=(401,),
            error_answer=OpenAIError,
        ),
    ],
    wiring.settings,
    error_body=views.error_body,
)
