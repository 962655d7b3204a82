"""No log line carries a job id: the access log's paths and ``job_id`` fields are hashed."""

from __future__ import annotations

import json
import logging

from shared.logging import JsonFormatter, log_id, redact_path

JOB = "HaQZo6l5pchN1FyQ1oM1bmBf"


def test_paths_lose_their_ids_but_keep_their_shape():
    assert redact_path(f"/api/v1/jobs/{JOB}") == f"/api/v1/jobs/{log_id(JOB)}"
    assert redact_path(f"/api/v1/media/outputs/{JOB}.png") == f"/api/v1/media/outputs/{log_id(JOB)}.png"
    assert redact_path("/api/v1/generate/text-to-image") == "/api/v1/generate/text-to-image"
    assert log_id(JOB) == log_id(JOB) and log_id(JOB) != log_id(JOB + "x") and JOB not in log_id(JOB)


def test_a_job_id_field_is_written_as_its_hash():
    record = logging.LogRecord("gateway.jobs", logging.WARNING, __file__, 1, "job failed", None, None)
    record.fields = {"job_id": JOB, "kind": "moderation"}
    entry = json.loads(JsonFormatter().format(record))
    assert JOB not in json.dumps(entry)
    assert entry["job"] == log_id(JOB) and entry["kind"] == "moderation"
