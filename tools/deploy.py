"""Deployment scripts generated from the one function list: main.py's entry points and serverless.yml.

    .venv/bin/python -m tools.deploy list                  # each function: trigger, memory, timeout, access
    .venv/bin/python -m tools.deploy gen2 > gen2.sh        # `gcloud functions deploy --gen2`, one per function
    .venv/bin/python -m tools.deploy gen2-hosting > firebase.gen2.json   # rewrites to the 2nd-gen services
    .venv/bin/python -m tools.deploy gen1-iam > iam.sh     # who may invoke what, after `serverless deploy`
    .venv/bin/python -m tools.deploy schedules > sched.sh  # Pub/Sub topics, the Cloud Tasks queue, Scheduler jobs

Nothing here lists functions by hand: a function added to main.py and serverless.yml is in every
script (tests/unit/test_deploy_scripts.py runs them against a fake gcloud). The scripts are
idempotent (describe, then update or create) and read the deployment from the shell when they run:
GCP_PROJECT (required), GCP_REGION (us-central1), the variables serverless.yml reads, and for the
service accounts RUNTIME_SERVICE_ACCOUNT and CLOUD_TASKS_SERVICE_ACCOUNT (README "Deploy").
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = "python311"
TASKS_PREFIX = "/api/v1/tasks/"  # task routes: called by Cloud Tasks or Cloud Scheduler, not by browsers
_ENV = re.compile(r"\$\{env:([A-Za-z0-9_]+)(?:\s*,\s*'([^']*)')?\}")


@dataclass(frozen=True)
class Function:
    name: str
    kind: str  # "http" or "cloudevent"
    memory_mb: int
    timeout_s: int
    path: str | None  # an HTTP function's base path (its Api), None for CloudEvent functions
    topic: str | None  # a CloudEvent function's Pub/Sub topic, as serverless.yml writes it
    routes: tuple[str, ...] = ()  # its Api's route paths (``<id>`` converters); empty: anything under ``path``

    @property
    def task(self) -> bool:
        """Reached by Cloud Tasks or Cloud Scheduler only (the task token guards it)."""
        return self.path is not None and self.path.startswith(TASKS_PREFIX)


@dataclass(frozen=True)
class Schedule:
    """A Cloud Scheduler job: it POSTs to a task route, or publishes to a CloudEvent function's topic."""

    name: str
    cron: str  # in UTC
    description: str
    path: str | None = None  # HTTP target: the route (the function serving it is looked up)
    event_function: str | None = None  # Pub/Sub target: the function whose topic gets the message
    auth: str = "tasks"  # "tasks": X-Tasks-Token = TASKS_TOKEN; "api-key": X-API-Key = TASK_API_KEY


@dataclass(frozen=True)
class Queue:
    name: str
    max_dispatches_per_second: float
    max_concurrent_dispatches: int
    max_attempts: int
    min_backoff: str
    max_backoff: str


# The one list of schedules. A target that no function serves yet is skipped by the script (and
# said so), and picked up once a function serves it.
SCHEDULES = (
    Schedule(
        "redispatch", "* * * * *", "requeue expired leases, dispatch stale queued jobs", "/api/v1/tasks/redispatch"
    ),
    Schedule("daily-cleanup", "0 3 * * *", "retention cleanup, then the backup when due", event_function="cleanup"),
    # The daily run backs up when the newest backup is over 20 h old: this second trigger makes the
    # day's backup when the night's run could not (and only cleans what is left otherwise).
    Schedule(
        "daily-backup", "0 15 * * *", "the backup when due (after what cleanup is left)", event_function="cleanup"
    ),
    Schedule(
        "metrics-alerts",
        "*/5 * * * *",
        "record the deployment's metrics point, evaluate the alerts, notify",
        "/api/v1/tasks/metrics",
        auth="api-key",
    ),
)
# Task routes on purpose without a schedule, and why.
UNSCHEDULED = {
    "run_job": "the Cloud Tasks queue's target: each task is a token for the best queued job",
    "cleanup_task": "the daily cleanup over HTTP (admin, manual); the schedule publishes to cleanup's topic",
}
# Each task is a token for one job run; the queue's rates are the production throttle on providers.
# min-backoff above LEASE_SECONDS: a retry after a killed worker finds its lease expired.
QUEUES = (Queue("jobs", 2, 8, 10, "60s", "600s"),)


@cache
def serverless() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((ROOT / "serverless.yml").read_text())


def _seconds(value: str | int) -> int:
    return int(str(value).removesuffix("s"))


@cache
def functions() -> tuple[Function, ...]:
    """Every entry point main.py exports, with what serverless.yml and its Api say of it."""
    from functions_framework._function_registry import REGISTRY_MAP

    import main
    from shared.http import APIS

    main.entry_points()  # every Api declared, every decorator registered
    paths = {api.function: api.base for api in APIS}
    routes = {api.function: tuple(sorted({r.path for r in api.routes})) for api in APIS}
    config = serverless()
    provider, blocks = config["provider"], config["functions"]
    found = []
    for name in sorted(main.__all__):
        block = blocks[name]
        event = block["events"][0].get("event") or {}
        topic = event.get("resource", "").split("/topics/")[-1] or None
        found.append(
            Function(
                name=name,
                kind=REGISTRY_MAP[name],
                memory_mb=int(block.get("memorySize", provider.get("memorySize", 256))),
                timeout_s=_seconds(block.get("timeout", provider.get("timeout", "60s"))),
                path=paths.get(name),
                topic=topic,
                routes=routes.get(name, ()),
            )
        )
    return tuple(found)


def by_name() -> dict[str, Function]:
    return {f.name: f for f in functions()}


def serving(path: str) -> Function | None:
    """The HTTP function with a route for ``path``, if any."""
    return next((f for f in functions() if f.path and _serves(f, path)), None)


def _serves(f: Function, path: str) -> bool:
    if not f.routes:
        return path == f.path or path.startswith(f"{f.path}/")
    patterns = (re.sub(r"<path:\w+>", ".+", re.sub(r"<(?:(?!path:)\w+:)?\w+>", "[^/]+", r)) for r in f.routes)
    return any(re.fullmatch(pattern, path) for pattern in patterns)


def secrets() -> dict[str, str]:
    """Required secrets: variable -> Secret Manager id (serverless.yml ``provider.secrets``)."""
    return {name: spec["secret"] for name, spec in serverless()["provider"].get("secrets", {}).items()}


def optional_secrets() -> dict[str, str]:
    """Every other secret setting (``SecretStr``), vendor keys included: used when it exists."""
    from pydantic import BaseModel, SecretStr

    from shared.config import Settings

    names = []
    for field_name, field in Settings.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            names += [f"{field_name}_{n}".upper() for n, f in sub.model_fields.items() if SecretStr in _args(f)]
        elif SecretStr in _args(field):
            names.append(field_name.upper())
    return {n: secret_id(n) for n in names if n not in secrets()}


def _args(field: Any) -> tuple[Any, ...]:
    return getattr(field.annotation, "__args__", (field.annotation,))


def gen2_id(name: str) -> str:
    """A 2nd-gen function is a Cloud Run service: its id has hyphens where the entry point has underscores."""
    return name.replace("_", "-")


def secret_id(variable: str) -> str:
    return variable.lower().replace("_", "-")


def environment() -> dict[str, str]:
    """The functions' plain settings (serverless.yml ``provider.environment``), as written there."""
    return {k: str(v) for k, v in serverless()["provider"]["environment"].items()}


def shell(value: str) -> str:
    """A serverless value as one double-quoted bash word: ``${env:X}`` must be set, ``${env:X, 'd'}``
    defaults to d."""
    out, last = [], 0

    def literal(text: str) -> str:
        return re.sub(r'([\\"$`])', r"\\\1", text)

    for match in _ENV.finditer(value):
        out.append(literal(value[last : match.start()]))
        name, default = match.group(1), match.group(2)
        out.append(f"${{{name}:?{name} is required}}" if default is None else f"${{{name}:-{literal(default)}}}")
        last = match.end()
    if "${" in value[last:]:
        raise ValueError(f"unsupported serverless variable in {value!r}")
    return '"' + "".join(out) + literal(value[last:]) + '"'


PREAMBLE = """#!/usr/bin/env bash
# Generated by `python -m tools.deploy {command}` from main.py and serverless.yml. Regenerate; do not edit.
set -euo pipefail
: "${{GCP_PROJECT:?set GCP_PROJECT}}"
REGION="${{GCP_REGION:-us-central1}}"
G=(--project="$GCP_PROJECT" --quiet)
TASKS_SA="${{CLOUD_TASKS_SERVICE_ACCOUNT:-}}"
"""


GEN2_SETUP = r"""SOURCE_DIR="${SOURCE_DIR:?set SOURCE_DIR: the unzipped serverless package artifact}"
RUNTIME_SA="${RUNTIME_SERVICE_ACCOUNT:-gateway-runtime@$GCP_PROJECT.iam.gserviceaccount.com}"
ENV_FILE="$(mktemp)"; trap 'rm -f "$ENV_FILE"' EXIT
q="'"
setting() { printf "%s: '%s'\n" "$1" "${2//$q/$q$q}" >> "$ENV_FILE"; }  # YAML, single-quoted"""


def gen2() -> str:
    lines = [PREAMBLE.format(command="gen2")]
    lines.append(GEN2_SETUP)
    lines += [f"setting {name} {shell(value)}" for name, value in environment().items()]
    required = ",".join(f"{name}={sid}:latest" for name, sid in secrets().items())
    lines.append(f'SECRETS="{required}"  # Secret Manager: read by each instance at start')
    lines.append(
        "optional() {  # a secret you created (a vendor key, ...) is mounted too\n"
        '  if gcloud secrets describe "$2" "${G[@]}" >/dev/null 2>&1; then SECRETS="$SECRETS,$1=$2:latest"; fi\n}'
    )
    lines += [f"optional {name} {sid}" for name, sid in optional_secrets().items()]
    lines.append(
        "TASK_ACCESS=--allow-unauthenticated  # the task token guards the task routes; with a tasks account, IAM too\n"
        '[ -z "$TASKS_SA" ] || TASK_ACCESS=--no-allow-unauthenticated\n'
        "deploy() {  # 2nd-gen ids are Cloud Run services: generate_text -> generate-text, entry point generate_text\n"
        f'  gcloud functions deploy "${{1//_/-}}" --gen2 --runtime={RUNTIME} --region="$REGION" \\\n'
        '    --source="$SOURCE_DIR" --entry-point="$1" --service-account="$RUNTIME_SA" --env-vars-file="$ENV_FILE" \\\n'
        '    --set-secrets="$SECRETS" "${G[@]}" "${@:2}"\n}'
    )
    for f in functions():
        size = f"--memory={f.memory_mb}Mi --timeout={f.timeout_s}s"
        if f.kind == "cloudevent":  # Eventarc delivers the topic's messages as the tasks account, if set
            topic = shell(f.topic or "")
            lines.append(
                f"deploy {f.name} {size} --trigger-topic={topic} ${{TASKS_SA:+--trigger-service-account=$TASKS_SA}}"
            )
        elif f.task:
            lines.append(f'deploy {f.name} {size} --trigger-http "$TASK_ACCESS"')
        else:
            lines.append(f"deploy {f.name} {size} --trigger-http --allow-unauthenticated")
        if f.task or f.kind == "cloudevent":
            lines.append(
                f'[ -z "$TASKS_SA" ] || gcloud functions add-invoker-policy-binding {gen2_id(f.name)} '
                '--region="$REGION" --member="serviceAccount:$TASKS_SA" "${G[@]}"'
            )
    return "\n".join(lines) + "\n"


def gen2_hosting() -> str:
    """firebase.json with each function rewrite aimed at its 2nd-gen Cloud Run service
    (``firebase deploy --only hosting --config firebase.gen2.json``)."""
    import json

    config = json.loads((ROOT / "firebase.json").read_text())
    region = os.environ.get("GCP_REGION", "us-central1")
    for rule in config["hosting"]["rewrites"]:
        if "function" in rule:
            rule["run"] = {"serviceId": gen2_id(rule.pop("function")), "region": region}
    return json.dumps(config, indent=2) + "\n"


def gen1_iam() -> str:
    """1st-gen functions made by `serverless deploy` are private: open the site's to everyone (Hosting
    rewrites need that), and the task routes to the tasks service account only when it is set."""
    lines = [PREAMBLE.format(command="gen1-iam")]
    lines.append(
        "invoker() {\n"
        '  gcloud functions add-iam-policy-binding "$1" --region="$REGION" --member="$2" '
        '--role=roles/cloudfunctions.invoker "${G[@]}"\n}'
    )
    lines.append('TASK_MEMBER=allUsers; [ -z "$TASKS_SA" ] || TASK_MEMBER="serviceAccount:$TASKS_SA"')
    for f in functions():
        if f.kind != "cloudevent":  # Pub/Sub triggers those; nobody invokes them over HTTP
            member = '"$TASK_MEMBER"' if f.task else "allUsers"
            lines.append(f"invoker {f.name} {member}")
    return "\n".join(lines) + "\n"


def schedules() -> str:
    lines = [PREAMBLE.format(command="schedules")]
    lines.append(
        'TZONE="${SCHEDULE_TIME_ZONE:-Etc/UTC}"\n'
        "# HTTP targets: each function's own URL, or TARGET_BASE_URL + the route (a site, the container)\n"
        "# (GEN2=1: the functions were deployed by the gen2 script, whose ids have hyphens)\n"
        'target() { if [ -n "${TARGET_BASE_URL:-}" ]; then echo "$TARGET_BASE_URL$2"; '
        'elif [ -n "${GEN2:-}" ]; then echo "https://$REGION-$GCP_PROJECT.cloudfunctions.net/${1//_/-}"; '
        'else echo "https://$REGION-$GCP_PROJECT.cloudfunctions.net/$1"; fi; }\n'
        'secret() { gcloud secrets versions access latest --secret="$1" "${G[@]}"; }\n'
        'exists() { "$@" "${G[@]}" >/dev/null 2>&1; }'
    )
    lines += [_topic(f) for f in functions() if f.kind == "cloudevent"]
    lines += [_queue(q) for q in QUEUES]
    lines += [_schedule(s) for s in SCHEDULES]
    return "\n".join(lines) + "\n"


def _topic(f: Function) -> str:
    topic = shell(f.topic or "")
    return (
        f"# {f.name} runs on each message of its topic\n"
        f'exists gcloud pubsub topics describe {topic} || gcloud pubsub topics create {topic} "${{G[@]}}"'
    )


def _queue(q: Queue) -> str:
    flags = (
        f'--location="$REGION" --max-dispatches-per-second={q.max_dispatches_per_second:g} '
        f"--max-concurrent-dispatches={q.max_concurrent_dispatches} --max-attempts={q.max_attempts} "
        f"--min-backoff={q.min_backoff} --max-backoff={q.max_backoff}"
    )
    return (
        f'verb=create; exists gcloud tasks queues describe {q.name} --location="$REGION" && verb=update\n'
        f'gcloud tasks queues "$verb" {q.name} {flags} "${{G[@]}}"'
    )


def _schedule(s: Schedule) -> str:
    header = f"# {s.name} ({s.cron} UTC): {s.description}"
    check = f'verb=create; exists gcloud scheduler jobs describe {s.name} --location="$REGION" && verb=update'
    common = f'--location="$REGION" --schedule={shlex.quote(s.cron)} --time-zone="$TZONE"'
    if s.event_function is not None:
        event = by_name().get(s.event_function)
        if event is None:
            return f'{header}\necho "skipped {s.name}: no function {s.event_function} in main.py yet" >&2'
        body = f'gcloud scheduler jobs "$verb" pubsub {s.name} {common} --topic={shell(event.topic or "")} '
        return f'{header}\n{check}\n{body}--message-body=run "${{G[@]}}"'
    assert s.path is not None
    function = serving(s.path)
    if function is None:
        return f'{header}\necho "skipped {s.name}: no function serves POST {s.path} yet" >&2'
    header_name, secret = ("X-Tasks-Token", "tasks-token") if s.auth == "tasks" else ("X-API-Key", "task-api-key")
    return (
        f"{header}\n{check}\n"
        f'headers=$([ "$verb" = create ] && echo --headers || echo --update-headers)\n'
        f'oidc=(); [ -z "$TASKS_SA" ] || oidc=(--oidc-service-account-email="$TASKS_SA")\n'
        f'gcloud scheduler jobs "$verb" http {s.name} {common} --http-method=POST '
        f'--uri="$(target {function.name} {s.path})" "$headers"="{header_name}=$(secret {secret})" '
        f'--attempt-deadline={min(function.timeout_s, 1800)}s "${{oidc[@]}}" "${{G[@]}}"'
    )


def listing() -> str:
    rows = [f"{'function':24} {'trigger':34} {'memory':>7} {'timeout':>8}  access"]
    for f in functions():
        trigger = f"topic {f.topic}" if f.kind == "cloudevent" else f"http {f.path}"
        access = "Pub/Sub" if f.kind == "cloudevent" else ("tasks" if f.task else "public")
        rows.append(f"{f.name:24} {trigger:34} {f.memory_mb:>5}MB {f.timeout_s:>7}s  {access}")
    return "\n".join(rows) + "\n"


COMMANDS = {"list": listing, "gen2": gen2, "gen2-hosting": gen2_hosting, "gen1-iam": gen1_iam, "schedules": schedules}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(COMMANDS[argv[0]]())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
