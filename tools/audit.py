"""Vulnerability audit of the pinned dependencies: pip-audit over the hashed requirements files and
`npm audit --omit=dev` over package-lock.json, one table, one verdict.

Exit codes: 0 clean (or every finding allowlisted, or an audit service could not be reached: then an
"AUDIT NOT RUN: <why>" line says so); 1 a finding that audit-allowlist.toml does not allow;
2 the audit itself is broken (bad allowlist, missing lock file, tool crashed for another reason).

The pure parts (allowlist parsing, the two tools' JSON, applying the allowlist) are plain functions,
tested in tests/unit/test_supply_chain.py without a network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.pins import DEV, ROOT, RUNTIME, canonical, pins

ALLOWLIST = ROOT / "audit-allowlist.toml"
LOCKFILE = ROOT / "package-lock.json"
NPM_AUDIT_LEVEL = "high"  # npm advisories below this are listed but do not fail (npm audit --audit-level=high)
SEVERITY_RANK = {"info": 0, "low": 1, "moderate": 2, "high": 3, "critical": 4}
MAX_ALLOW_DAYS = 366  # an allowlist entry is a dated promise to look again, not a permanent waiver
ALLOW_KEYS = {"id", "package", "reason", "expires"}
_GHSA = re.compile(r"GHSA(?:-[0-9a-z]{4}){3}", re.IGNORECASE)
# Words in a crashed pip-audit's traceback that mean "the vulnerability service was not reachable".
_NETWORK_MARKERS = (
    "ConnectionError",
    "ProxyError",
    "ConnectTimeout",
    "ReadTimeout",
    "Max retries exceeded",
    "Could not connect",
    "NameResolutionError",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection refused",
    "Network is unreachable",
    "timed out",
)
_NPM_NETWORK_CODES = {"ENOTFOUND", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EAI_AGAIN", "ENETUNREACH"}


class AllowlistError(ValueError):
    """The allowlist file is malformed; the message lists every problem."""


class AuditBroken(RuntimeError):
    """The audit could not be carried out for a reason other than an unreachable service."""


@dataclass(frozen=True)
class Finding:
    ecosystem: str  # "pypi" or "npm"
    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    severity: str = ""  # npm advisories carry one; pip-audit's PyPI service reports none
    fix: str = ""
    title: str = ""

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(i.upper() for i in (self.id, *self.aliases) if i)

    @property
    def key(self) -> str:
        return canonical(self.package) if self.ecosystem == "pypi" else self.package.lower()


@dataclass(frozen=True)
class AllowEntry:
    id: str
    package: str
    reason: str
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        """An entry allows through its expiry date, and no longer from the day after."""
        return today > self.expires

    def matches(self, finding: Finding) -> bool:
        if self.id.upper() not in finding.ids:
            return False
        wanted = canonical(self.package) if finding.ecosystem == "pypi" else self.package.lower()
        return wanted == finding.key


@dataclass(frozen=True)
class Verdict:
    finding: Finding
    status: str  # "FAIL", "allowed", "expired" (an entry matched but lapsed: fails), "below level"
    entry: AllowEntry | None = None

    @property
    def fails(self) -> bool:
        return self.status in ("FAIL", "expired")


@dataclass
class AuditResult:
    tool: str
    findings: list[Finding] = field(default_factory=list)
    not_run: str | None = None  # why the service could not be asked; None when the audit ran
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- allowlist


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_allowlist(text: str, today: dt.date) -> list[AllowEntry]:
    """Entries of the allowlist's TOML text. Each [[allow]] table needs id, package, a non-empty reason and
    expires (YYYY-MM-DD, at most MAX_ALLOW_DAYS ahead); anything else is an AllowlistError naming every problem.
    Entries that already expired are returned (they are reported, and allow nothing)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AllowlistError(f"not valid TOML: {exc}") from exc
    unknown_tables = set(data) - {"allow", "licence"}
    problems: list[str] = [f"unknown top-level key {k!r}" for k in sorted(unknown_tables)]
    raw = data.get("allow", [])
    if not isinstance(raw, list):
        raise AllowlistError("'allow' must be an array of tables: write each entry as [[allow]]")
    entries: list[AllowEntry] = []
    for n, item in enumerate(raw, start=1):
        where = f"[[allow]] #{n}"
        if not isinstance(item, dict):
            problems.append(f"{where}: not a table")
            continue
        where = f"[[allow]] #{n} ({item.get('id', 'no id')})"
        for key in sorted(set(item) - ALLOW_KEYS):
            problems.append(f"{where}: unknown key {key!r}")
        values = {key: item.get(key) for key in ("id", "package", "reason")}
        for key, value in values.items():
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where}: {key} is missing or empty")
        expires = _as_date(item.get("expires"))
        if expires is None:
            problems.append(f"{where}: expires is missing or not a YYYY-MM-DD date")
        elif (expires - today).days > MAX_ALLOW_DAYS:
            problems.append(f"{where}: expires {expires} is more than {MAX_ALLOW_DAYS} days ahead")
        if expires is not None and all(isinstance(v, str) and v.strip() for v in values.values()):
            entries.append(
                AllowEntry(
                    id=str(values["id"]).strip(),
                    package=str(values["package"]).strip(),
                    reason=str(values["reason"]).strip(),
                    expires=expires,
                )
            )
    if problems:
        raise AllowlistError("; ".join(problems))
    return entries


def load_allowlist(path: Path, today: dt.date) -> list[AllowEntry]:
    if not path.exists():
        return []
    try:
        return parse_allowlist(path.read_text(), today)
    except AllowlistError as exc:
        raise AllowlistError(f"{path.name}: {exc}") from exc


def apply_allowlist(
    findings: Iterable[Finding], entries: Sequence[AllowEntry], today: dt.date, npm_level: str = NPM_AUDIT_LEVEL
) -> list[Verdict]:
    """One verdict per finding. A live matching entry allows it; a lapsed one does not (status 'expired');
    npm advisories below npm_level are listed as 'below level' and never fail."""
    verdicts: list[Verdict] = []
    for finding in findings:
        matching = [e for e in entries if e.matches(finding)]
        live = [e for e in matching if not e.expired(today)]
        if live:
            verdicts.append(Verdict(finding, "allowed", max(live, key=lambda e: e.expires)))
        elif finding.ecosystem == "npm" and SEVERITY_RANK.get(finding.severity, 4) < SEVERITY_RANK[npm_level]:
            verdicts.append(Verdict(finding, "below level", matching[0] if matching else None))
        elif matching:
            verdicts.append(Verdict(finding, "expired", max(matching, key=lambda e: e.expires)))
        else:
            verdicts.append(Verdict(finding, "FAIL"))
    return verdicts


def unused_entries(entries: Sequence[AllowEntry], findings: Iterable[Finding]) -> list[AllowEntry]:
    found = list(findings)
    return [e for e in entries if not any(e.matches(f) for f in found)]


# ---------------------------------------------------------------- pip-audit


def parse_pip_audit(data: dict[str, Any]) -> AuditResult:
    """pip-audit's `--format json` document: {"dependencies": [{"name", "version", "vulns": [{"id",
    "fix_versions", "aliases"?, "description"?}]} | {"name", "skip_reason"}], "fixes": [...]}."""
    result = AuditResult("pip-audit")
    deps = data.get("dependencies")
    if not isinstance(deps, list):
        raise AuditBroken("pip-audit's JSON has no 'dependencies' list")
    skipped = [d for d in deps if "skip_reason" in d]
    seen: set[tuple[str, str]] = set()
    for dep in deps:
        for vuln in dep.get("vulns", []):
            name = canonical(dep["name"])
            if (name, vuln["id"]) in seen:  # pip-audit repeats an advisory that PyPI lists under two ids
                continue
            seen.add((name, vuln["id"]))
            result.findings.append(
                Finding(
                    ecosystem="pypi",
                    package=name,
                    version=str(dep.get("version", "")),
                    id=vuln["id"],
                    aliases=tuple(vuln.get("aliases", ())),
                    fix=", ".join(vuln.get("fix_versions", [])) or "none yet",
                    title=" ".join(str(vuln.get("description", "")).split())[:80],
                )
            )
    if deps and len(skipped) == len(deps):
        reasons = {re.sub(r":.*", "", str(d["skip_reason"])) for d in skipped}
        result.not_run = f"pip-audit audited none of the {len(deps)} pinned packages ({'; '.join(sorted(reasons))})"
    elif skipped:
        names = ", ".join(d["name"] for d in skipped)
        result.notes.append(f"pip-audit could not audit {len(skipped)} of {len(deps)} packages: {names}")
    return result


def pip_audit_unreachable(stderr: str) -> str | None:
    """The reason a crashed pip-audit gives when it could not reach its vulnerability service, else None."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not any(marker in stderr for marker in _NETWORK_MARKERS):
        return None
    last = lines[-1] if lines else "network error"
    return f"pip-audit could not reach the vulnerability service: {last[:600]}"


def run_pip_audit(requirements: Path, timeout: int = 600) -> AuditResult:
    """pip-audit with PyPI's vulnerability data; when that cannot be had, once more with OSV's."""
    result = _pip_audit(requirements, "pypi", timeout)
    if result.not_run is None:
        return result
    fallback = _pip_audit(requirements, "osv", timeout)
    if fallback.not_run is None:
        fallback.notes.insert(0, f"used OSV's vulnerability data: {result.not_run}")
        return fallback
    return AuditResult("pip-audit", not_run=f"{result.not_run}; then with OSV: {fallback.not_run}")


def _pip_audit(requirements: Path, service: str, timeout: int) -> AuditResult:
    cmd = [
        sys.executable,
        "-m",
        "pip_audit",
        "--vulnerability-service",
        service,
        "--requirement",
        str(requirements),
        "--require-hashes",
        "--disable-pip",  # the hashed file is the complete, resolved set: audit exactly those pins
        "--format",
        "json",
        "--aliases",
        "on",
        "--desc",
        "on",
        "--progress-spinner",
        "off",
        "--timeout",
        "20",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return AuditResult("pip-audit", not_run=f"pip-audit did not finish within {timeout} s")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        reason = pip_audit_unreachable(proc.stderr)
        if reason:
            return AuditResult("pip-audit", not_run=reason)
        raise AuditBroken(f"pip-audit exited {proc.returncode}: {proc.stderr.strip()[-1500:]}") from None
    return parse_pip_audit(data)


# ---------------------------------------------------------------- npm audit


def npm_audit_unreachable(data: dict[str, Any]) -> str | None:
    """The reason in npm audit's JSON when the registry's audit endpoint failed, else None.
    npm prints {"message": "...", "error": {"summary": "", ...}} (plus "statusCode" for an HTTP answer)
    when the endpoint fails, and {"error": {"code": "ENOLOCK", ...}} for its own errors."""
    if "auditReportVersion" in data:
        return None
    error = data.get("error")
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    if "statusCode" in data or (data.get("message") and not code) or code in _NPM_NETWORK_CODES:
        why = data.get("message") or (error.get("summary") if isinstance(error, dict) else "") or code
        return f"npm audit could not use the registry's audit endpoint: {str(why)[:300]}"
    return None


def _npm_version(lock: dict[str, Any], nodes: Iterable[str]) -> str:
    packages = lock.get("packages", {})
    versions = sorted({str(packages.get(node, {}).get("version", "")) for node in nodes} - {""})
    return ", ".join(versions)


def _npm_fix(fix: object) -> str:
    if fix is True:
        return "npm audit fix"
    if isinstance(fix, dict):
        major = " (semver-major)" if fix.get("isSemVerMajor") else ""
        return f"{fix.get('name')}@{fix.get('version')}{major}"
    return "none yet"


def parse_npm_audit(data: dict[str, Any], lock: dict[str, Any] | None = None) -> AuditResult:
    """npm audit's `--json` report (auditReportVersion 2). Each entry under "vulnerabilities" names a package;
    its "via" holds advisories (objects: source, name, title, url, severity, range) or the names of packages
    it is vulnerable through (strings). One finding per advisory, on the package the advisory is about."""
    reason = npm_audit_unreachable(data)
    if reason:
        return AuditResult("npm audit", not_run=reason)
    if data.get("auditReportVersion") != 2:
        error = data.get("error")
        if isinstance(error, dict):
            raise AuditBroken(f"npm audit failed: {error.get('code', '')} {error.get('summary', '')}".strip())
        raise AuditBroken(f"unknown npm audit report version {data.get('auditReportVersion')!r}")
    result = AuditResult("npm audit")
    audited = data.get("metadata", {}).get("dependencies", {})
    if not audited.get("prod"):
        raise AuditBroken(
            "npm audit --omit=dev audited no package: the tools in package.json must be in 'dependencies' "
            "for the audit to cover them (a gate that looks at nothing is a silent pass)"
        )
    seen: set[tuple[str, str]] = set()
    for vuln in data.get("vulnerabilities", {}).values():
        for via in vuln.get("via", []):
            if not isinstance(via, dict):
                continue  # the name of the package this one is vulnerable through: reported there
            url = str(via.get("url", ""))
            ghsa = _GHSA.search(url)
            source = f"npm:{via.get('source')}" if via.get("source") is not None else ""
            advisory_id = ghsa.group(0) if ghsa else (source or url)
            name = str(via.get("name") or vuln.get("name"))
            if (name, advisory_id) in seen:
                continue
            seen.add((name, advisory_id))
            result.findings.append(
                Finding(
                    ecosystem="npm",
                    package=name,
                    version=_npm_version(lock or {}, vuln.get("nodes", [])) or str(via.get("range", "")),
                    id=advisory_id,
                    aliases=tuple(a for a in (source, url) if a and a != advisory_id),
                    severity=str(via.get("severity", "")),
                    fix=_npm_fix(vuln.get("fixAvailable")),
                    title=str(via.get("title", ""))[:80],
                )
            )
    return result


def run_npm_audit(timeout: int = 300) -> AuditResult:
    npm = shutil.which("npm")
    if npm is None:
        return AuditResult("npm audit", not_run="npm is not installed on this machine")
    if not LOCKFILE.exists():
        raise AuditBroken("package-lock.json is missing: run `make deps` and commit it")
    cmd = [npm, "audit", "--json", "--omit=dev"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return AuditResult("npm audit", not_run=f"npm audit did not finish within {timeout} s")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AuditBroken(f"npm audit exited {proc.returncode}: {proc.stderr.strip()[-1500:]}") from None
    return parse_npm_audit(data, json.loads(LOCKFILE.read_text()))


# ---------------------------------------------------------------- output


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(out)


def verdict_rows(verdicts: Sequence[Verdict], runtime: set[str]) -> list[list[str]]:
    rows = []
    for v in verdicts:
        f = v.finding
        if f.ecosystem == "pypi":
            scope = "runtime" if f.key in runtime else "dev"
        else:
            scope = "npm tool"
        status = v.status
        if v.entry is not None and v.status == "allowed":
            status = f"allowed until {v.entry.expires}: {v.entry.reason}"
        elif v.entry is not None and v.status == "expired":
            status = f"FAIL (allowlist entry expired {v.entry.expires})"
        rows.append([f.package, f.version, scope, f.id, f.severity or "-", f.fix, status[:100]])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=DEV, help="hashed requirements file (default: dev)")
    parser.add_argument("--no-npm", action="store_true", help="skip npm audit")
    parser.add_argument("--no-pip", action="store_true", help="skip pip-audit")
    args = parser.parse_args(argv)
    today = dt.date.today()
    try:
        entries = load_allowlist(ALLOWLIST, today)
        results = []
        if not args.no_pip:
            results.append(run_pip_audit(args.requirements))
        if not args.no_npm:
            results.append(run_npm_audit())
    except (AllowlistError, AuditBroken) as exc:
        print(f"AUDIT ERROR: {exc}")
        return 2
    findings = [f for r in results for f in r.findings]
    verdicts = apply_allowlist(findings, entries, today)
    for r in results:
        if r.not_run:
            print(f"AUDIT NOT RUN: {r.not_run}")
        else:
            print(f"{r.tool}: {len(r.findings)} finding(s)")
        for note in r.notes:
            print(f"AUDIT INCOMPLETE: {note}")
    if verdicts:
        headers = ["package", "version", "scope", "advisory", "severity", "fixed in", "status"]
        print(render_table(headers, verdict_rows(verdicts, set(pins(RUNTIME)))))
    if results and not any(r.not_run for r in results):
        for entry in unused_entries(entries, findings):
            print(f"note: allowlist entry {entry.id} ({entry.package}) matched no finding: remove it if fixed")
    for entry in entries:
        if entry.expired(today):
            print(f"note: allowlist entry {entry.id} ({entry.package}) expired on {entry.expires}")
    failing = [v for v in verdicts if v.fails]
    if failing:
        print(f"AUDIT FAILED: {len(failing)} finding(s) not allowed by {ALLOWLIST.name}")
        return 1
    if results and all(r.not_run for r in results):
        print("audit not run: nothing was checked (not a failure; see AUDIT NOT RUN above)")
    elif any(r.not_run for r in results):
        print("audit passed for the part that ran (see AUDIT NOT RUN above)")
    else:
        print("audit passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
