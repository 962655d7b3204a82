"""firebase.json sends every route of every function to that function.

Each route each ``Api`` declares (``shared.http.APIS``, built from main.py's functions) is matched
against the rewrites in order with the Hosting emulator's own matcher (superstatic's
``configMatcher``, minimatch globs, from the pinned firebase-tools in node_modules): the first rewrite
that matches must name the route's function. The emulator itself is not started: a function rewrite
there proxies to the Functions emulator, which does not run functions-framework Python functions,
or else to the deployed function on the internet.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import main
from shared.http import APIS

main.entry_points()  # every function's Api declared

ROOT = Path(__file__).resolve().parents[2]
MATCHER = ROOT / "node_modules" / "superstatic" / "lib" / "utils" / "patterns.js"
FIRST_MATCH = """
const {configMatcher} = require(process.argv[1]);
const [rewrites, paths] = JSON.parse(require("fs").readFileSync(0, "utf8"));
const found = {};
for (const path of paths) {
  const rule = rewrites.find((r) => configMatcher(path, r));
  found[path] = rule ? rule.function || rule.destination || null : null;
}
process.stdout.write(JSON.stringify(found));
"""


def _samples(path: str) -> list[str]:
    """Concrete request paths for a route: each converter filled in (a path converter twice)."""
    one = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", "sample-1", path)
    deep = re.sub(r"<path:([a-z_]+)>", "outputs/2026/sample.png", path)
    return sorted({one, deep})


def _first_rewrite(paths: list[str]) -> dict[str, str | None]:
    if shutil.which("node") is None or not MATCHER.exists():
        pytest.fail("node and node_modules (npm ci --ignore-scripts) are needed: the matcher is firebase-tools'")
    rewrites = json.loads((ROOT / "firebase.json").read_text())["hosting"]["rewrites"]
    done = subprocess.run(
        ["node", "-e", FIRST_MATCH, str(MATCHER)],
        input=json.dumps([rewrites, paths]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_every_route_of_every_function_reaches_that_function_through_hosting():
    expected = {sample: api.function for api in APIS for route in api.routes for sample in _samples(route.path)}
    assert any(path.startswith("/v1/") for path in expected) and any(p.startswith("/api/v1/") for p in expected)
    found = _first_rewrite(sorted(expected))
    wrong = {path: (found[path], function) for path, function in expected.items() if found[path] != function}
    assert wrong == {}, "path: (where hosting sends it, the function serving it)"


def test_only_api_paths_are_rewritten_to_functions():
    rewrites = json.loads((ROOT / "firebase.json").read_text())["hosting"]["rewrites"]
    for rule in rewrites:
        if "function" in rule:
            assert rule["source"].startswith(("/api/v1/", "/v1/")), rule
    found = _first_rewrite(["/", "/index.html", "/js/app.js", "/api/v2/health"])
    assert set(found.values()) == {None}, "the site's own files are served as files"
