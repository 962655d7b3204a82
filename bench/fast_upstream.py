"""A fast OpenAI-compatible upstream for the proxy benchmark: answers every chat completion at once.

Served by gunicorn: ``gunicorn -w 1 --threads 8 -b 127.0.0.1:PORT bench.fast_upstream:app``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "A short answer."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
).encode()


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]
