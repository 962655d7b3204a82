"""The layers stay apart: walk every import with ``ast`` (function-level imports included).

- ``shared/api`` (HTTP handlers) reaches the core through the use cases only: no store, no provider.
- stores and providers know nothing of HTTP: no ``shared.models``, ``shared.http`` or ``shared.api``.
- ``shared/domain.py`` imports nothing of the project.
- ``functions/*`` only expose ``shared.api`` handlers.
- no module over 400 lines, no function over 50.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from main import MODULES

ROOT = Path(__file__).resolve().parents[2]


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every ``shared...`` module the file imports, at any depth of the file."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "shared" or name.startswith("shared.")}


def _offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in _modules(folder):
        hits = sorted(n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden))
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


def test_handlers_reach_no_store_and_no_provider():
    assert _offending("shared/api", ("shared.stores", "shared.providers")) == {}


@pytest.mark.parametrize("folder", ["shared/stores", "shared/providers"])
def test_stores_and_providers_know_nothing_of_http(folder):
    assert _offending(folder, ("shared.models", "shared.http", "shared.api", "shared.services")) == {}


def test_the_domain_imports_nothing_of_the_project():
    assert _imports(ROOT / "shared" / "domain.py") == set()


def test_functions_only_expose_api_handlers():
    for path in _modules("functions"):
        assert all(n == "shared.api" or n.startswith("shared.api.") for n in _imports(path)), path


def test_the_walker_sees_function_level_imports(tmp_path):
    sample = ROOT / "shared" / "api" / "generate.py"
    assert "shared.imaging" in _imports(sample), "imports inside functions must be seen too"


def test_no_module_over_400_lines_and_no_function_over_50():
    too_long = []
    for path in [*_modules("shared"), *_modules("functions")]:
        source = path.read_text()
        if len(source.splitlines()) > 400:
            too_long.append(f"{path.relative_to(ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 50:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.name}: {length} lines")
    assert too_long == []


def test_pillow_is_imported_only_by_the_upload_modes_and_the_renderer():
    """Importing every function and serving health, a text-to-image submit and GET /jobs loads no PIL."""
    script = """
import os, sys, tempfile
os.environ.update(DATA_DIR=tempfile.mkdtemp(), DISPATCHER="none", LOAD_HOST_METRICS="false")
import main
main.entry_points()
from werkzeug.test import Client
from functions_framework import create_app
def client(target):
    return Client(create_app(target=target, source=os.path.join(os.getcwd(), "main.py"), signature_type="http"))
assert client("health").get("/api/v1/health").status_code == 200
r = client("generate_text_to_image").post("/api/v1/generate/text-to-image", json={"prompt": "a fox"})
assert r.status_code == 202, r.get_data()
assert client("jobs").get("/api/v1/jobs").status_code == 200
print(sorted(m for m in sys.modules if m == "PIL" or m.startswith("PIL.") or m == "av"))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


COLD_PATH = """
import gc, json, os, sys
from werkzeug.test import Client
from functions_framework import create_app
target, method, path = sys.argv[1:4]
app = create_app(target=target, source=os.path.join(os.getcwd(), "main.py"), signature_type="http")
assert gc.isenabled(), "main.py turns the collector back on once the target is imported"
answer = Client(app).open(path, method=method, json={"prompt": "a fox"} if method == "POST" else None)
assert answer.status_code in (200, 202), answer.get_data()
print(json.dumps(sorted(sys.modules)))
"""
# Never on the cold path of these functions with the embedded default (SQLite, local provider, anonymous
# caller): Firebase and Google's clients, an HTTP client, Pillow, PyAV, S3.
HEAVY = ("firebase_admin", "google.auth", "google.cloud.firestore", "google.cloud.tasks_v2", "grpc", "requests")
HEAVY += ("httpx", "PIL", "av", "boto3", "botocore")
COLD_STARTS = {
    "health": ("GET", "/api/v1/health", ("shared.services.jobs", "shared.jobs", "shared.media", "shared.identity")),
    "jobs": ("GET", "/api/v1/jobs", ("shared.services.text",)),
    "generate_text_to_image": ("POST", "/api/v1/generate/text-to-image", ("shared.services.text",)),
    "generate_text": ("POST", "/api/v1/generate/text", ("shared.services.jobs", "shared.jobs", "shared.media")),
}


@pytest.mark.parametrize("target", sorted(COLD_STARTS))
def test_a_function_imports_only_what_its_first_answer_needs(target, tmp_path):
    """main.py imports only the target's module: no other function's module or handlers, nothing heavy
    the first answer does not use (cold start; bench/coldstart.py measures it)."""
    method, path, not_needed = COLD_STARTS[target]
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "DISPATCHER": "none", "LOAD_HOST_METRICS": "false"}
    env.update(STORE="sqlite", LOG_LEVEL="WARNING")
    out = subprocess.run(
        [sys.executable, "-c", COLD_PATH, target, method, path], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    main_module = f"functions.{MODULES[target]}"
    loaded_heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in (*HEAVY, *not_needed))]
    other_functions = [m for m in loaded if m.startswith("functions.") and m != main_module]
    assert loaded_heavy == [] and other_functions == []
    if target == "health":
        handlers = {m for m in loaded if m.startswith("shared.api.")}
        assert handlers == {"shared.api.health", "shared.api.views"}
