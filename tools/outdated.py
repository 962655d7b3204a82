"""Weekly update check (`make outdated`): one table of the pinned packages, Python and npm, that have a newer
release or a known vulnerability. Made for a scheduled job (Cloud Scheduler triggering a build, or any CI's cron):
it exits 1 when a vulnerability is not allowed by audit-allowlist.toml (the same rule as `make test`'s audit),
2 when the check itself is broken, and 0 otherwise; a newer release alone is information, not a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from tools.audit import (
    ALLOWLIST,
    LOCKFILE,
    AllowlistError,
    AuditBroken,
    AuditResult,
    Verdict,
    apply_allowlist,
    load_allowlist,
    render_table,
    run_npm_audit,
    run_pip_audit,
)
from tools.pins import DEV, ROOT, RUNTIME, canonical, pins


@dataclass(frozen=True)
class Row:
    ecosystem: str
    package: str
    scope: str
    pinned: str
    latest: str
    vulnerable: str


def pip_outdated() -> dict[str, str]:
    """{canonical name: latest version} for installed packages with a newer release (pip list --outdated)."""
    cmd = [sys.executable, "-m", "pip", "list", "--outdated", "--format", "json", "--disable-pip-version-check"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise AuditBroken(f"pip list --outdated exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return {canonical(p["name"]): str(p["latest_version"]) for p in json.loads(proc.stdout or "[]")}


def npm_outdated() -> dict[str, str]:
    """{name: latest version} for package.json's direct dependencies with a newer release (npm outdated)."""
    npm = shutil.which("npm")
    if npm is None:
        return {}
    proc = subprocess.run(  # noqa: S603
        [npm, "outdated", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    data = json.loads(proc.stdout or "{}")  # exit code 1 just means "something is outdated"
    if "error" in data:
        raise AuditBroken(f"npm outdated failed: {data['error']}")
    return {
        name: str(info.get("latest", "")) for name, info in data.items() if info.get("latest") != info.get("wanted")
    }


def npm_pins() -> dict[str, str]:
    lock = json.loads(LOCKFILE.read_text())
    packages = lock.get("packages", {})
    root = packages.get("", {})
    direct = {**root.get("dependencies", {}), **root.get("devDependencies", {})}
    return {name: str(packages.get(f"node_modules/{name}", {}).get("version", "?")) for name in direct}


def vulnerable_by_package(verdicts: Sequence[Verdict]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], list[str]] = {}
    for v in verdicts:
        label = v.finding.id + ("" if v.fails else f" ({v.status})")
        out.setdefault((v.finding.ecosystem, v.finding.key), []).append(label)
    return {k: ", ".join(labels) for k, labels in out.items()}


def build_rows(
    runtime: dict[str, str],
    dev: dict[str, str],
    npm: dict[str, str],
    pip_latest: dict[str, str],
    npm_latest: dict[str, str],
    vulnerable: dict[tuple[str, str], str],
    pip_audited: bool,
    npm_audited: bool,
) -> list[Row]:
    """Rows for every pinned package that is outdated or vulnerable. Pure: tested without a network."""
    rows = []
    unknown = "not audited"
    for name, pinned in sorted(dev.items()):
        vuln = vulnerable.get(("pypi", name), "no" if pip_audited else unknown)
        latest = pip_latest.get(name, "")
        if latest or vuln not in ("no", unknown):
            scope = "runtime" if name in runtime else "dev"
            rows.append(Row("pypi", name, scope, pinned, latest or pinned, vuln))
    for name, pinned in sorted(npm.items()):
        vuln = vulnerable.get(("npm", name.lower()), "no" if npm_audited else unknown)
        latest = npm_latest.get(name, "")
        if latest or vuln not in ("no", unknown):
            rows.append(Row("npm", name, "tool", pinned, latest or pinned, vuln))
    # Vulnerable transitive npm packages are not in package.json: list them too, pinned version from the audit.
    listed = {(r.ecosystem, r.package.lower()) for r in rows}
    for (eco, name), vuln in sorted(vulnerable.items()):
        if (eco, name) not in listed and eco == "npm":
            rows.append(Row("npm", name, "tool (transitive)", "-", "-", vuln))
    return rows


def main() -> int:
    today = dt.date.today()
    try:
        entries = load_allowlist(ALLOWLIST, today)
        results: list[AuditResult] = [run_pip_audit(DEV), run_npm_audit()]
        pip_latest = pip_outdated()
        npm_latest = npm_outdated()
    except (AllowlistError, AuditBroken) as exc:
        print(f"OUTDATED CHECK ERROR: {exc}")
        return 2
    for r in results:
        if r.not_run:
            print(f"AUDIT NOT RUN: {r.not_run}")
    verdicts = apply_allowlist([f for r in results for f in r.findings], entries, today)
    rows = build_rows(
        pins(RUNTIME),
        pins(DEV),
        npm_pins(),
        pip_latest,
        npm_latest,
        vulnerable_by_package(verdicts),
        pip_audited=not results[0].not_run,
        npm_audited=not results[1].not_run,
    )
    if rows:
        table = [[r.ecosystem, r.package, r.scope, r.pinned, r.latest, r.vulnerable] for r in rows]
        print(render_table(["ecosystem", "package", "scope", "pinned", "latest", "vulnerable"], table))
    outdated = sum(1 for r in rows if r.latest not in (r.pinned, "-"))
    failing = [v for v in verdicts if v.fails]
    print(
        f"{outdated} outdated, {len(failing)} vulnerable and not allowlisted. To update: edit the pin, run `make deps`."
    )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
