"""The deployment scripts (tools/deploy.py) follow main.py and serverless.yml, and do what they say.

Each script runs for real under bash against a fake ``gcloud`` that records every call and keeps
the resources it was asked to create, so idempotency (describe, then update or create) is checked
by running a script twice.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import main
from shared.config import Settings
from tools import deploy

ROOT = Path(__file__).resolve().parents[2]
FAKE_GCLOUD = r"""
import json, os, sys
args = sys.argv[1:]
state_path = os.environ["FAKE_GCLOUD_STATE"]
state = set(json.load(open(state_path))) if os.path.exists(state_path) else set()
record = {"args": args}
for arg in args:
    if arg.startswith("--env-vars-file="):
        record["env_file"] = open(arg.split("=", 1)[1]).read()
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps(record) + "\n")
words = [a for a in args if not a.startswith("-")]
group = " ".join(words[:2])
if words[:2] == ["secrets", "describe"]:
    sys.exit(0 if words[2] in os.environ.get("FAKE_SECRETS", "").split(",") else 1)
if words[:3] == ["secrets", "versions", "access"]:
    print("value-of-" + next(a for a in args if a.startswith("--secret=")).split("=", 1)[1])
    sys.exit(0)
kinds = {"pubsub topics": 2, "tasks queues": 2, "scheduler jobs": 2}
if group in kinds:
    verb = words[2]
    name = words[4] if group == "scheduler jobs" and verb in ("create", "update") else words[3]
    key = group + ":" + name
    if verb == "describe":
        sys.exit(0 if key in state else 1)
    if verb == "create":
        if key in state:
            sys.exit("ALREADY_EXISTS: " + key)
        state.add(key)
    if verb == "update" and key not in state:
        sys.exit("NOT_FOUND: " + key)
json.dump(sorted(state), open(state_path, "w"))
"""


@pytest.fixture
def gcloud(tmp_path):
    """Run a generated script with a fake gcloud first on PATH; returns (run, calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gcloud"
    fake.write_text(f"#!{sys.executable}\n{FAKE_GCLOUD}")
    fake.chmod(0o755)
    log = tmp_path / "gcloud.log"

    def run(command: str, **env: str) -> subprocess.CompletedProcess:
        script = tmp_path / f"{command}.sh"
        script.write_text(getattr(deploy, command.replace("-", "_"))())
        environment = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_GCLOUD_LOG": str(log),
            "FAKE_GCLOUD_STATE": str(tmp_path / "state.json"),
            "GCP_PROJECT": "demo-aiart",
            **env,
        }
        return subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True, timeout=60)

    def calls() -> list[dict]:
        found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return found

    return run, calls


def _flag(args: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")), None)


def _plan() -> dict:
    return yaml.safe_load((ROOT / "serverless.yml").read_text())


GEN2_ENV = {
    "SOURCE_DIR": "/tmp/artifact",
    "CLOUD_TASKS_QUEUE": "projects/demo-aiart/locations/us-central1/queues/jobs",
    "RUN_JOB_URL": "https://us-central1-demo-aiart.cloudfunctions.net/run-job",
    "CORS_ORIGINS": "https://site.example,https://it's.example",
    "FAKE_SECRETS": "stability-api-keys",
}


def test_the_gen2_script_deploys_every_entry_point_with_its_size_trigger_settings_and_secrets(gcloud):
    run, calls = gcloud
    done = run("gen2", **GEN2_ENV)
    assert done.returncode == 0, done.stderr
    deploys = {_flag(c["args"], "entry-point"): c for c in calls() if c["args"][:2] == ["functions", "deploy"]}
    assert set(deploys) == set(main.__all__), "one deploy per entry point of main.py"
    blocks = _plan()["functions"]
    for name, call in deploys.items():
        args = call["args"]
        assert args[2] == name.replace("_", "-") and "--gen2" in args and _flag(args, "runtime") == "python311"
        assert _flag(args, "memory") == f"{blocks[name]['memorySize']}Mi"
        assert _flag(args, "timeout") == str(blocks[name]["timeout"])
        assert _flag(args, "source") == "/tmp/artifact"
        settings = yaml.safe_load(call["env_file"])
        assert settings["ENVIRONMENT"] == "production" and settings["DISPATCHER"] == "cloudtasks"
        assert settings["CORS_ORIGINS"] == GEN2_ENV["CORS_ORIGINS"], "values survive quoting"
        mounted = dict(pair.split("=", 1) for pair in _flag(args, "set-secrets").split(","))
        assert mounted == {**{k: f"{v}:latest" for k, v in deploy.secrets().items()}, **_stability()}
        assert not set(settings) & set(mounted), "a secret never travels as a plain setting"
    cleanup = deploys["cleanup"]["args"]
    assert _flag(cleanup, "trigger-topic") == "daily-cleanup" and "--trigger-http" not in cleanup
    assert "--allow-unauthenticated" in deploys["health"]["args"]
    assert "--allow-unauthenticated" in deploys["run_job"]["args"], "no tasks account: the task token guards it"


def _stability() -> dict[str, str]:
    return {"STABILITY_API_KEYS": "stability-api-keys:latest"}


def test_with_a_tasks_service_account_the_task_functions_are_private_to_it(gcloud):
    run, calls = gcloud
    done = run("gen2", CLOUD_TASKS_SERVICE_ACCOUNT="tasks@demo-aiart.iam.gserviceaccount.com", **GEN2_ENV)
    assert done.returncode == 0, done.stderr
    made = calls()
    private = {c["args"][2] for c in made if "--no-allow-unauthenticated" in c["args"]}
    tasks = {f.name.replace("_", "-") for f in deploy.functions() if f.task}
    assert private == tasks >= {"run-job", "redispatch", "cleanup-task"}
    bound = [c["args"] for c in made if c["args"][:2] == ["functions", "add-invoker-policy-binding"]]
    events = {f.name.replace("_", "-") for f in deploy.functions() if f.kind == "cloudevent"}
    assert {a[2] for a in bound} == private | events, "Eventarc delivers as the tasks account too"
    cleanup = next(c["args"] for c in made if c["args"][:3] == ["functions", "deploy", "cleanup"])
    assert _flag(cleanup, "trigger-service-account") == "tasks@demo-aiart.iam.gserviceaccount.com"
    assert all(_flag(a, "member") == "serviceAccount:tasks@demo-aiart.iam.gserviceaccount.com" for a in bound)


def test_a_missing_required_setting_stops_the_gen2_script_before_any_deploy(gcloud):
    run, calls = gcloud
    done = run("gen2", **{k: v for k, v in GEN2_ENV.items() if k != "RUN_JOB_URL"})
    assert done.returncode != 0 and "RUN_JOB_URL is required" in done.stderr
    assert not [c for c in calls() if c["args"][:2] == ["functions", "deploy"]]


def test_gen1_invoker_grants_open_the_site_functions_and_keep_task_routes_to_the_tasks_account(gcloud):
    run, calls = gcloud
    assert run("gen1-iam", CLOUD_TASKS_SERVICE_ACCOUNT="tasks@x.iam.gserviceaccount.com").returncode == 0
    grants = {c["args"][2]: _flag(c["args"], "member") for c in calls()}
    http = {name for name in main.__all__ if deploy.by_name()[name].kind == "http"}
    assert set(grants) == http, "every HTTP function, no CloudEvent one"
    tasks = {f.name for f in deploy.functions() if f.task}
    assert {n for n, m in grants.items() if m != "allUsers"} == tasks >= {"run_job", "redispatch", "cleanup_task"}
    assert run("gen1-iam").returncode == 0
    assert {_flag(c["args"], "member") for c in calls()} == {"allUsers"}, "no tasks account: the token guards"


def test_the_schedules_script_creates_then_updates_the_same_resources(gcloud):
    run, calls = gcloud
    first = run("schedules")
    assert first.returncode == 0, first.stderr
    made = calls()
    creates = sorted(" ".join(c["args"][:3]) for c in made if "create" in c["args"][:3])
    served = [s for s in deploy.SCHEDULES if s.event_function or deploy.serving(s.path or "")]
    assert creates == ["pubsub topics create", *["scheduler jobs create"] * len(served), "tasks queues create"]
    redispatch = next(c["args"] for c in made if c["args"][:5] == ["scheduler", "jobs", "create", "http", "redispatch"])
    assert _flag(redispatch, "schedule") == "* * * * *" and _flag(redispatch, "http-method") == "POST"
    assert _flag(redispatch, "uri") == "https://us-central1-demo-aiart.cloudfunctions.net/redispatch"
    assert _flag(redispatch, "headers") == "X-Tasks-Token=value-of-tasks-token"
    cleanup = next(c["args"] for c in made if c["args"][:4] == ["scheduler", "jobs", "create", "pubsub"])
    assert cleanup[4] == "daily-cleanup" and _flag(cleanup, "topic") == "daily-cleanup"
    queue = next(c["args"] for c in made if c["args"][:3] == ["tasks", "queues", "create"])
    assert (_flag(queue, "max-dispatches-per-second"), _flag(queue, "max-concurrent-dispatches")) == ("2", "8")
    assert _flag(queue, "min-backoff") == "60s" and Settings().lease_seconds < 60, "a retry finds the lease expired"
    for pending in set(deploy.SCHEDULES) - set(served):
        assert f"skipped {pending.name}" in first.stderr

    again = run("schedules", GEN2="1", CLOUD_TASKS_SERVICE_ACCOUNT="tasks@x.iam.gserviceaccount.com")
    assert again.returncode == 0, again.stderr
    made = calls()
    assert not [c for c in made if "create" in c["args"][:3]], "a second run only updates"
    updated = next(c["args"] for c in made if c["args"][:5] == ["scheduler", "jobs", "update", "http", "redispatch"])
    assert _flag(updated, "update-headers") == "X-Tasks-Token=value-of-tasks-token"
    assert _flag(updated, "uri").endswith("/redispatch") and _flag(updated, "oidc-service-account-email")


def test_the_schedule_list_matches_the_functions():
    names = [s.name for s in deploy.SCHEDULES]
    assert len(names) == len(set(names))
    assert all(len(s.cron.split()) == 5 for s in deploy.SCHEDULES)
    by_name = deploy.by_name()
    events = {f.name for f in by_name.values() if f.kind == "cloudevent"}
    assert events <= {s.event_function for s in deploy.SCHEDULES}, "every CloudEvent function has a schedule"
    scheduled = {deploy.serving(s.path).name for s in deploy.SCHEDULES if s.path and deploy.serving(s.path)}
    tasks = {f.name for f in by_name.values() if f.task}
    assert tasks - scheduled == set(deploy.UNSCHEDULED), "a task route is scheduled, or says why not"
    assert set(deploy.UNSCHEDULED) <= set(by_name)
    assert {s.name for s in deploy.SCHEDULES if s.path and deploy.serving(s.path)} >= {"redispatch"}
    cadence = {s.name: s.cron for s in deploy.SCHEDULES}
    assert cadence["redispatch"] == "* * * * *" and cadence["metrics-alerts"] == "*/5 * * * *"
    assert re.fullmatch(r"\d+ \d+ \* \* \*", cadence["daily-cleanup"]) and re.fullmatch(
        r"\d+ \d+ \* \* \*", cadence["daily-backup"]
    )


def test_a_function_that_serves_a_scheduled_route_is_scheduled_without_editing_the_list(monkeypatch):
    pending = deploy.Schedule(
        "ops-extra", "*/5 * * * *", "a task no function serves yet", "/api/v1/tasks/extra", auth="api-key"
    )
    monkeypatch.setattr(deploy, "SCHEDULES", (*deploy.SCHEDULES, pending))
    assert "skipped ops-extra" in deploy.schedules()
    extra = deploy.Function("ops_extra", "http", 256, 60, "/api/v1/tasks/extra", None)
    existing = deploy.functions()
    monkeypatch.setattr(deploy, "functions", lambda: (*existing, extra))
    script = deploy.schedules()
    assert "http ops-extra" in script and "$(target ops_extra /api/v1/tasks/extra)" in script
    assert "X-API-Key=$(secret task-api-key)" in script


def test_serverless_gives_every_function_its_memory_and_timeout_within_the_plugins_limits():
    plan = _plan()
    settings = Settings()
    functions = plan["functions"]
    assert set(functions) == set(main.__all__)
    for name, block in functions.items():
        assert block["memorySize"] in (128, 256, 512, 1024, 2048, 4096), name  # the plugin's list
        assert 1 <= deploy._seconds(block["timeout"]) <= 540, name  # 1st gen's ceiling
    seconds = {f.name: f.timeout_s for f in deploy.functions()}
    submits = [n for n in functions if n.startswith("generate_") and n != "generate_text"]
    assert max(seconds[n] for n in submits) <= 60, "a submit answers at once: generators stay short"
    assert seconds["run_job"] == 540, "the worker runs a whole job: the longest 1st gen allows"
    env = plan["provider"]["environment"]
    assert seconds["cleanup"] > int(re.search(r"'(\d+)'", env["CLEANUP_MAX_SECONDS"]).group(1))
    assert seconds["openai_compat"] > settings.openai_images_wait_seconds
    secrets = deploy.secrets()
    assert secrets and all(sid == deploy.secret_id(name) for name, sid in secrets.items())
    secret_settings = set(secrets) | set(deploy.optional_secrets())
    assert {"SESSION_SECRET", "TASKS_TOKEN", "BYOK_ENCRYPTION_KEY"} <= set(secrets)
    assert not secret_settings & set(env), "secrets come from Secret Manager, never the environment block"
    excluded = plan["package"]["patterns"]
    assert excluded[0] == "!**" and "shared/**" in excluded and "functions/**" in excluded


def test_every_function_of_the_list_is_reachable_by_its_path_or_topic():
    for f in deploy.functions():
        assert (f.kind == "http") == (f.path is not None) and (f.kind == "cloudevent") == (f.topic is not None)
        for route in f.routes:
            assert deploy.serving(re.sub(r"<[^>]+>", "x", route)) == f, (f.name, route)


def test_the_gen2_hosting_config_sends_the_same_paths_to_the_2nd_gen_services(monkeypatch):
    monkeypatch.setenv("GCP_REGION", "europe-west1")
    gen1 = json.loads((ROOT / "firebase.json").read_text())["hosting"]["rewrites"]
    gen2 = json.loads(deploy.gen2_hosting())["hosting"]["rewrites"]
    assert [r["source"] for r in gen2] == [r["source"] for r in gen1]
    for before, after in zip(gen1, gen2, strict=True):
        if "function" in before:
            assert after["run"] == {"serviceId": before["function"].replace("_", "-"), "region": "europe-west1"}
